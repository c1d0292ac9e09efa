#include "client/internal/record_accumulator.h"

#include <algorithm>
#include <utility>

#include "common/check.h"
#include "common/record/record_batch.h"

namespace runnel::client::internal {

RecordAccumulator::RecordAccumulator(const ProducerOptions& options)
    : batch_size_(options.batch_size),
      linger_ms_(options.linger_ms),
      retries_(options.retries),
      retry_backoff_ms_(options.retry_backoff_ms),
      delivery_timeout_ms_(options.delivery_timeout_ms),
      max_request_size_(options.max_request_size),
      max_in_flight_(options.max_in_flight),
      idempotent_(options.idempotent()) {
  builder_options_.compression = options.compression;
}

bool RecordAccumulator::Fits(const TopicPartition& tp, int64_t timestamp,
                             const ProducerRecord& record,
                             absl::Span<const record::RecordHeader> headers) const {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || it->second.queue.empty()) return false;
  const ProducerBatch& last = *it->second.queue.back();
  return !last.closed && static_cast<int64_t>(last.builder.SizeAfterAppend(
                             timestamp, record.key, record.value, headers)) <= batch_size_;
}

RecordAccumulator::Appended RecordAccumulator::Append(
    const TopicPartition& tp, int64_t timestamp, const ProducerRecord& record,
    absl::Span<const record::RecordHeader> headers, int64_t footprint, SendCallback callback,
    int64_t now_ms) {
  Appended appended;
  PartitionQueue& p = partitions_[tp];
  if (!Fits(tp, timestamp, record, headers)) {
    if (!p.queue.empty()) p.queue.back()->closed = true;
    const uint64_t id = next_batch_id_++;
    p.queue.push_back(std::make_unique<ProducerBatch>(id, tp, builder_options_, now_ms));
    incomplete_.insert(id);
    appended.new_batch = true;
  }
  ProducerBatch& batch = *p.queue.back();
  batch.builder.Append(timestamp, record.key, record.value, headers);
  batch.completions.push_back({std::move(callback), timestamp});
  batch.bytes += footprint;
  buffered_bytes_ += footprint;
  if (static_cast<int64_t>(batch.builder.EstimatedSize()) >= batch_size_) {
    batch.closed = true;
    appended.batch_full = true;
  }
  return appended;
}

bool RecordAccumulator::Ready(const PartitionQueue& p, int64_t now_ms, bool send_now,
                              int64_t* wake) const {
  if (p.queue.empty()) return false;
  if (p.resync && p.in_flight > 0) return false;
  // The broker recognises retries of a producer's last 5 batches per partition only.
  if (idempotent_ && p.in_flight >= max_in_flight_) return false;
  const ProducerBatch& front = *p.queue.front();
  if (front.attempts > 0) {
    if (front.retry_at_ms <= now_ms) return true;
    *wake = std::min(*wake, front.retry_at_ms);
    return false;
  }
  if (front.closed || p.queue.size() > 1 || send_now) return true;
  const int64_t due = front.created_ms + linger_ms_;
  if (due <= now_ms) return true;
  *wake = std::min(*wake, due);
  return false;
}

int64_t RecordAccumulator::Drain(int64_t now_ms, bool send_now, int64_t producer_id,
                                 int16_t producer_epoch, std::vector<BatchPtr>* out) {
  return Drain(
      now_ms, send_now, producer_id, producer_epoch, [](const TopicPartition&) { return true; },
      out);
}

int64_t RecordAccumulator::Drain(int64_t now_ms, bool send_now, int64_t producer_id,
                                 int16_t producer_epoch,
                                 absl::FunctionRef<bool(const TopicPartition&)> sendable,
                                 std::vector<BatchPtr>* out) {
  int64_t wake = now_ms + 1000;
  int64_t bytes = 0;
  for (auto& [tp, p] : partitions_) {
    if (p.resync && p.in_flight == 0) p.resync = false;
    if (!Ready(p, now_ms, send_now, &wake) || !sendable(tp)) continue;
    // Every ready batch of the partition that fits, each as its own entry of the request (so a
    // single busy partition is not limited to one batch per round trip).
    while (Ready(p, now_ms, send_now, &wake)) {
      ProducerBatch& front = *p.queue.front();
      const int64_t size = front.encoded.empty()
                               ? static_cast<int64_t>(front.builder.EstimatedSize())
                               : static_cast<int64_t>(front.encoded.size());
      if (!out->empty() && bytes + size > max_request_size_) {
        wake = now_ms;  // more is ready than fits in one request
        break;
      }
      bytes += size;
      front.closed = true;
      if (idempotent_ && front.base_sequence < 0) {
        RUNNEL_CHECK(producer_id >= 0, "idempotent batch for %s drained without a producer id",
                     ToString(tp));
        front.base_sequence = p.next_sequence;
        p.next_sequence = record::IncrementSequence(p.next_sequence, front.builder.record_count());
        front.builder.SetProducer(producer_id, producer_epoch, front.base_sequence);
      }
      if (front.drain_order < 0) front.drain_order = p.next_drain_order++;
      ++p.in_flight;
      out->push_back(std::move(p.queue.front()));
      p.queue.pop_front();
    }
  }
  return wake;
}

void RecordAccumulator::Returned(const TopicPartition& tp) {
  PartitionQueue& p = partitions_[tp];
  RUNNEL_CHECK(p.in_flight > 0, "%s: a batch returned with none in flight", ToString(tp));
  --p.in_flight;
}

bool RecordAccumulator::CanRetry(const ProducerBatch& batch, int64_t now_ms) const {
  return batch.attempts < retries_ && now_ms - batch.created_ms < delivery_timeout_ms_;
}

void RecordAccumulator::Requeue(BatchPtr batch, int64_t now_ms) {
  ++batch->attempts;
  batch->retry_at_ms = now_ms + retry_backoff_ms_;
  PartitionQueue& p = partitions_[batch->tp];
  if (idempotent_) p.resync = true;
  // Keep the queue in the order batches were first sent (for idempotent batches, sequence
  // order): a resent batch goes before later-sent ones and before any that was never sent.
  auto pos = std::find_if(p.queue.begin(), p.queue.end(), [&](const BatchPtr& b) {
    return b->drain_order < 0 || b->drain_order > batch->drain_order;
  });
  p.queue.insert(pos, std::move(batch));
}

void RecordAccumulator::Acknowledged(const ProducerBatch& batch) {
  PartitionQueue& p = partitions_[batch.tp];
  if (batch.base_sequence >= 0 && batch.base_sequence == p.next_ack_sequence) {
    p.next_ack_sequence = record::IncrementSequence(batch.base_sequence,
                                                    static_cast<int32_t>(batch.completions.size()));
  }
}

bool RecordAccumulator::BehindAResend(const ProducerBatch& batch) const {
  auto it = partitions_.find(batch.tp);
  if (it == partitions_.end()) return false;
  // Answers may arrive out of request order, so "earlier" is judged by the sequence acknowledged
  // so far.
  return it->second.resync || batch.base_sequence != it->second.next_ack_sequence;
}

void RecordAccumulator::Renumber(int64_t producer_id, int16_t producer_epoch) {
  for (auto& [tp, p] : partitions_) {
    RUNNEL_CHECK(p.in_flight == 0, "%s: renumbered with %d batches in flight", ToString(tp),
                 p.in_flight);
    p.next_sequence = 0;
    p.next_ack_sequence = 0;
    p.resync = false;
    for (BatchPtr& batch : p.queue) {
      if (batch->base_sequence < 0) continue;
      batch->base_sequence = p.next_sequence;
      p.next_sequence = record::IncrementSequence(p.next_sequence,
                                                  static_cast<int32_t>(batch->completions.size()));
      record::RewriteProducerFields(&batch->encoded, producer_id, producer_epoch,
                                    batch->base_sequence);
    }
  }
}

void RecordAccumulator::Expire(int64_t now_ms, std::vector<BatchPtr>* expired) {
  for (auto& [tp, p] : partitions_) {
    // The queue is in creation order (a resent batch goes back before the later ones), so the
    // oldest batches are at the front.
    while (!p.queue.empty() && now_ms - p.queue.front()->created_ms >= delivery_timeout_ms_) {
      expired->push_back(std::move(p.queue.front()));
      p.queue.pop_front();
    }
  }
}

void RecordAccumulator::TakeAll(std::vector<BatchPtr>* out) {
  for (auto& [tp, p] : partitions_) {
    for (BatchPtr& batch : p.queue) out->push_back(std::move(batch));
    p.queue.clear();
  }
}

void RecordAccumulator::Release(const ProducerBatch& batch) {
  RUNNEL_CHECK(incomplete_.erase(batch.id) == 1, "batch %d of %s released twice", batch.id,
               ToString(batch.tp));
  buffered_bytes_ -= batch.bytes;
  RUNNEL_CHECK(buffered_bytes_ >= 0, "buffer.memory accounting below zero (%d)", buffered_bytes_);
}

}  // namespace runnel::client::internal
