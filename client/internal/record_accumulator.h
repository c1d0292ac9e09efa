// RecordAccumulator: the producer's per-partition queues of record batches, in the shape of
// Kafka's RecordAccumulator. Internal to client/ (not installed).
//
// Append() encodes a record straight into its partition's open RecordBatch v2 and accounts its
// footprint against buffer.memory. Drain() takes the batches ready to send — full, lingered
// linger.ms, behind another batch, flushing, or due for a retry — one request's worth
// (max.request.size), numbering idempotent batches with the partition's next sequence. A batch
// that failed retriably goes back with Requeue() in the order it was first sent; with
// idempotence its partition then sends nothing new until every outstanding batch is back
// ("resync"), so sequences reach the broker in order. Expire() gives up on batches older than
// delivery.timeout.ms.
//
// Time: it never reads a clock. Every method that decides by time takes `now_ms`, a steady
// millisecond count, so tests drive it with any numbers they like.
//
// Thread-safety: none; the Producer calls it under its own mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "client/producer.h"
#include "client/types.h"
#include "common/record/batch_builder.h"

namespace runnel::client::internal {

// One partition's records, built into one RecordBatch v2.
struct ProducerBatch {
  struct Completion {
    SendCallback callback;
    int64_t timestamp;
  };

  ProducerBatch(uint64_t id, TopicPartition tp, const record::BatchBuilderOptions& options,
                int64_t now_ms)
      : id(id), tp(std::move(tp)), builder(options), created_ms(now_ms) {}

  const uint64_t id;  // creation order across all partitions (for Flush)
  const TopicPartition tp;
  record::RecordBatchBuilder builder;
  std::vector<Completion> completions;  // one per record, in offset order
  const int64_t created_ms;
  int64_t bytes = 0;    // held against buffer.memory
  std::string encoded;  // built when first sent, resent unchanged
  int32_t base_sequence = -1;
  int64_t drain_order = -1;  // order of first sending within the partition; -1: never sent
  int32_t attempts = 0;
  int64_t retry_at_ms = 0;
  bool closed = false;  // full, or already sent: no more appends
};
using BatchPtr = std::unique_ptr<ProducerBatch>;

class RecordAccumulator {
 public:
  // Reads batch.size, linger.ms, compression, retries, retry.backoff.ms, delivery.timeout.ms,
  // max.request.size, max.in.flight and idempotence from `options`.
  explicit RecordAccumulator(const ProducerOptions& options);

  // Whether `tp`'s open batch has room for the record.
  bool Fits(const TopicPartition& tp, int64_t timestamp, const ProducerRecord& record,
            absl::Span<const record::RecordHeader> headers) const;

  struct Appended {
    bool new_batch = false;   // a batch was started (its linger begins)
    bool batch_full = false;  // the record filled its batch: it is ready to send
  };
  // Appends the record to `tp`'s open batch, or to a new one when it does not fit there. The
  // record's `footprint` is added to buffered_bytes() until the batch is Released.
  Appended Append(const TopicPartition& tp, int64_t timestamp, const ProducerRecord& record,
                  absl::Span<const record::RecordHeader> headers, int64_t footprint,
                  SendCallback callback, int64_t now_ms);

  // Moves the batches ready to send into `out` (several per partition when ready, in sequence
  // order; at most max.request.size bytes unless one batch alone is larger) and counts them in
  // flight. `send_now` (Flush, Close) ignores linger.ms. Idempotent batches sent for the first time
  // get the next sequence of their partition under `producer_id`/`producer_epoch`. Returns when
  // to look again if nothing more became ready meanwhile (at most now_ms + 1000).
  int64_t Drain(int64_t now_ms, bool send_now, int64_t producer_id, int16_t producer_epoch,
                std::vector<BatchPtr>* out);
  // The same for the partitions `sendable` says may send now (their leader is known and its link
  // has room: Kafka's drain by node); the ready batches of the others stay queued. `sendable` is
  // asked once per partition with a ready batch, before that batch is taken.
  int64_t Drain(int64_t now_ms, bool send_now, int64_t producer_id, int16_t producer_epoch,
                absl::FunctionRef<bool(const TopicPartition&)> sendable,
                std::vector<BatchPtr>* out);

  // A batch Drain gave out came back (answered, failed, or its stream broke).
  void Returned(const TopicPartition& tp);

  // Whether a batch that failed retriably may be sent again: attempts left (retries) and time
  // left (delivery.timeout.ms since it was created).
  bool CanRetry(const ProducerBatch& batch, int64_t now_ms) const;
  // Puts `batch` back for another attempt after retry.backoff.ms, before every batch of its
  // partition sent after it and every batch never sent. With idempotence, the partition resyncs.
  void Requeue(BatchPtr batch, int64_t now_ms);

  // The broker stored `batch` (or had it already): the partition's acknowledged sequence moves
  // past it when it was the next expected.
  void Acknowledged(const ProducerBatch& batch);
  // Whether an OUT_OF_ORDER_SEQUENCE_NUMBER answer for `batch` only means an earlier batch of its
  // partition is being resent (so `batch` should be retried behind it, not failed).
  bool BehindAResend(const ProducerBatch& batch) const;
  // After a new producer id: every queued batch that had a sequence is renumbered from 0 in its
  // order, its encoded bytes rewritten with the new id and epoch.
  void Renumber(int64_t producer_id, int16_t producer_epoch);

  // Moves queued batches created delivery.timeout.ms or more before `now_ms` into `expired`.
  void Expire(int64_t now_ms, std::vector<BatchPtr>* expired);
  // Moves every queued batch into `out`.
  void TakeAll(std::vector<BatchPtr>* out);

  // A batch given out is done with (completed or failed): its memory and id are released.
  void Release(const ProducerBatch& batch);
  int64_t buffered_bytes() const { return buffered_bytes_; }
  // The id the next batch will get: Flush waits for the batches below it.
  uint64_t next_batch_id() const { return next_batch_id_; }
  bool HasIncompleteBefore(uint64_t end) const {
    return !incomplete_.empty() && *incomplete_.begin() < end;
  }
  bool HasIncomplete() const { return !incomplete_.empty(); }

 private:
  struct PartitionQueue {
    std::deque<BatchPtr> queue;  // front: next to send
    int32_t next_sequence = 0;
    // The sequence after the last acknowledged batch: an OUT_OF_ORDER answer for a batch that
    // does not start here means an earlier batch is still outstanding.
    int32_t next_ack_sequence = 0;
    int64_t next_drain_order = 0;
    int32_t in_flight = 0;  // batches given out and not returned
    // A batch failed retriably: send nothing more until every outstanding batch is back, then
    // resend in sequence order.
    bool resync = false;
  };

  bool Ready(const PartitionQueue& p, int64_t now_ms, bool send_now, int64_t* wake) const;

  const int64_t batch_size_;
  const int64_t linger_ms_;
  const int32_t retries_;
  const int64_t retry_backoff_ms_;
  const int64_t delivery_timeout_ms_;
  const int64_t max_request_size_;
  const int32_t max_in_flight_;
  const bool idempotent_;
  record::BatchBuilderOptions builder_options_;

  std::map<TopicPartition, PartitionQueue> partitions_;
  int64_t buffered_bytes_ = 0;
  uint64_t next_batch_id_ = 0;
  std::set<uint64_t> incomplete_;  // ids of batches not released yet
};

}  // namespace runnel::client::internal
