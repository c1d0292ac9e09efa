// ProducerStateTable: one partition's idempotent-producer bookkeeping (Kafka's
// ProducerStateManager, simplified). For each producer id it keeps the epoch and the last
// kRetainedBatches batches appended for it, so the broker can tell a new batch (append it), a
// retry of a batch already in the log (answer with its original offsets, do not append) and a
// sequence gap (refuse it).
//
// The rules, for a batch of producer P with epoch E and sequences [base, last]:
//   - P unknown on this partition: append, whatever the sequence (its earlier batches, if any,
//     are older than what the table covers);
//   - E older than P's epoch: refused, ProducerError::kProducerFenced;
//   - E newer than P's epoch: append if base is 0 (a new epoch restarts the sequence), else
//     kOutOfOrderSequence;
//   - [base, last] equals one of P's retained batches: a duplicate of it;
//   - base is the sequence after P's last batch (wrapping from INT32_MAX to 0): append;
//   - anything else: kOutOfOrderSequence, naming the expected and the received sequence.
//
// Not thread-safe: its owner (ProducerStateManager) guards it with the partition's mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/record/record_batch.h"
#include "common/status_cause.h"

namespace runnel::broker {

// The producer fields of one batch header.
struct BatchSequence {
  int64_t producer_id = record::kNoProducerId;
  int16_t epoch = record::kNoProducerEpoch;
  int32_t base_sequence = record::kNoSequence;
  int32_t last_sequence = record::kNoSequence;  // base + lastOffsetDelta, wrapping like Kafka

  // Reads them from `batch`. InvalidArgument (ProducerError::kInvalidSequence) when the batch
  // has a producer id but a negative epoch or base sequence.
  static absl::StatusOr<BatchSequence> FromBatch(const record::RecordBatchView& batch);

  friend bool operator==(const BatchSequence&, const BatchSequence&) = default;
};

// A batch appended for a producer: its sequences and the offsets the log gave it.
struct ProducerBatch {
  int32_t base_sequence = 0;
  int32_t last_sequence = 0;
  int64_t base_offset = 0;
  int64_t last_offset = 0;

  friend bool operator==(const ProducerBatch&, const ProducerBatch&) = default;
};

struct ProducerEntry {
  int16_t epoch = 0;
  std::deque<ProducerBatch> batches;  // oldest first, 1 to kRetainedBatches of them
  // The broker's time (ms) when its last batch was appended: producer.id.expiration.ms counts
  // from it. Not the batch's own timestamps (Kafka's lastTimestamp is its max timestamp): those
  // are the producer's CreateTime, years old for a backfill or a Streams application reprocessing
  // history, and such a producer would be forgotten at once — at the first load of the state,
  // which a replica does when it becomes leader — and its retries stored twice. -1 until known
  // (an entry from a version 1 snapshot, or a batch found by a scan of the log).
  int64_t last_timestamp = -1;

  friend bool operator==(const ProducerEntry&, const ProducerEntry&) = default;
};

// What refused a batch, carried in the absl::Status so the RPC layer can pick the error code.
enum class ProducerError { kOutOfOrderSequence, kProducerFenced, kInvalidSequence };
constexpr const char* CauseTypeUrl(ProducerError) { return "runnel.broker.ProducerError"; }

class ProducerStateTable {
 public:
  // Kafka's max.in.flight.requests.per.connection bound for idempotence.
  static constexpr size_t kRetainedBatches = 5;

  // The verdict on a batch before it is appended: std::nullopt means append it, a ProducerBatch
  // means it duplicates that retained batch. Errors: FailedPrecondition with
  // kOutOfOrderSequence or kProducerFenced (see the rules above).
  absl::StatusOr<std::optional<ProducerBatch>> Check(const BatchSequence& batch) const;

  // Records a batch that was just appended at [base_offset, last_offset], at the broker's time
  // `timestamp` (-1: unknown). A newer epoch replaces what was kept for the producer; the oldest
  // retained batch goes when there are more than kRetainedBatches.
  void Record(const BatchSequence& batch, int64_t base_offset, int64_t last_offset,
              int64_t timestamp);

  // Records a batch found in the log while rebuilding the table (`timestamp`: -1, when it was
  // appended is not in the log); one at or below the producer's last recorded offset is already
  // covered (by a snapshot) and ignored.
  void RecordFromLog(const BatchSequence& batch, int64_t base_offset, int64_t last_offset,
                     int64_t timestamp);

  // producer.id.expiration.ms (Kafka's removeExpiredProducers): forgets every producer whose last
  // timestamp is below `cutoff`; one whose timestamp is unknown gets `now` instead, so it goes one
  // expiration period from now. A forgotten producer's next batch is accepted whatever its
  // sequence (as for a producer never seen), so a retry that old is stored again. Returns how
  // many were forgotten.
  int ExpireBefore(int64_t cutoff, int64_t now);

  const std::map<int64_t, ProducerEntry>& producers() const { return producers_; }
  // Installs an entry read from a snapshot, replacing any for that producer.
  void Restore(int64_t producer_id, ProducerEntry entry);

 private:
  std::map<int64_t, ProducerEntry> producers_;  // ordered: snapshots come out the same each time
};

}  // namespace runnel::broker
