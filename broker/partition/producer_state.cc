#include "broker/partition/producer_state.h"

#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace runnel::broker {
namespace {

std::string Describe(int64_t producer_id, const BatchSequence& batch) {
  return absl::StrCat("producer ", producer_id, " epoch ", batch.epoch, " batch with sequences ",
                      batch.base_sequence, "..", batch.last_sequence);
}

}  // namespace

absl::StatusOr<BatchSequence> BatchSequence::FromBatch(const record::RecordBatchView& batch) {
  BatchSequence s;
  s.producer_id = batch.producer_id();
  if (s.producer_id < 0) return s;  // not idempotent: no sequence to check
  s.epoch = batch.producer_epoch();
  s.base_sequence = batch.base_sequence();
  if (s.epoch < 0 || s.base_sequence < 0) {
    return WithCause(
        absl::InvalidArgumentError(absl::StrCat(
            "producer ", s.producer_id, ": invalid producerEpoch ", s.epoch, " / baseSequence ",
            s.base_sequence, " (an idempotent batch needs both >= 0)")),
        ProducerError::kInvalidSequence);
  }
  s.last_sequence = record::IncrementSequence(s.base_sequence, batch.last_offset_delta());
  return s;
}

absl::StatusOr<std::optional<ProducerBatch>> ProducerStateTable::Check(
    const BatchSequence& batch) const {
  const auto it = producers_.find(batch.producer_id);
  if (it == producers_.end()) return std::nullopt;
  const ProducerEntry& entry = it->second;
  if (batch.epoch < entry.epoch) {
    return WithCause(absl::FailedPreconditionError(
                         absl::StrCat(Describe(batch.producer_id, batch),
                                      " is fenced: the producer's epoch is now ", entry.epoch)),
                     ProducerError::kProducerFenced);
  }
  if (batch.epoch > entry.epoch) {
    if (batch.base_sequence == 0) return std::nullopt;
    return WithCause(
        absl::FailedPreconditionError(absl::StrCat(
            Describe(batch.producer_id, batch), ": expected sequence 0 for a new epoch (was ",
            entry.epoch, "), received ", batch.base_sequence)),
        ProducerError::kOutOfOrderSequence);
  }
  for (const ProducerBatch& retained : entry.batches) {
    if (retained.base_sequence == batch.base_sequence &&
        retained.last_sequence == batch.last_sequence) {
      return retained;
    }
  }
  const int32_t expected = record::IncrementSequence(entry.batches.back().last_sequence, 1);
  if (batch.base_sequence == expected) return std::nullopt;
  return WithCause(absl::FailedPreconditionError(absl::StrCat(
                       Describe(batch.producer_id, batch), ": out of order sequence, expected ",
                       expected, ", received ", batch.base_sequence)),
                   ProducerError::kOutOfOrderSequence);
}

void ProducerStateTable::Record(const BatchSequence& batch, int64_t base_offset,
                                int64_t last_offset, int64_t timestamp) {
  ProducerEntry& entry = producers_[batch.producer_id];
  if (entry.batches.empty() || batch.epoch != entry.epoch) {
    entry.epoch = batch.epoch;
    entry.batches.clear();
  }
  entry.batches.push_back({batch.base_sequence, batch.last_sequence, base_offset, last_offset});
  if (entry.batches.size() > kRetainedBatches) entry.batches.pop_front();
  entry.last_timestamp = timestamp;
}

void ProducerStateTable::RecordFromLog(const BatchSequence& batch, int64_t base_offset,
                                       int64_t last_offset, int64_t timestamp) {
  const auto it = producers_.find(batch.producer_id);
  if (it != producers_.end() && last_offset <= it->second.batches.back().last_offset) return;
  Record(batch, base_offset, last_offset, timestamp);
}

int ProducerStateTable::ExpireBefore(int64_t cutoff, int64_t now) {
  int expired = 0;
  for (auto it = producers_.begin(); it != producers_.end();) {
    if (it->second.last_timestamp < 0) it->second.last_timestamp = now;
    if (it->second.last_timestamp < cutoff) {
      it = producers_.erase(it);
      ++expired;
    } else {
      ++it;
    }
  }
  return expired;
}

void ProducerStateTable::Restore(int64_t producer_id, ProducerEntry entry) {
  producers_[producer_id] = std::move(entry);
}

}  // namespace runnel::broker
