// RecordBatchBuilder: accumulates records and encodes them as one Kafka RecordBatch v2, compressed
// with the chosen codec. Records are encoded as they are appended, so the builder always knows the
// batch's size: callers cap a batch at N bytes by checking SizeAfterAppend() before Append().
//
// Timestamps follow the Java client: baseTimestamp is the first record's timestamp (later records
// may have negative deltas), maxTimestamp the largest. Offset deltas run 0..n-1.
// Not thread-safe: one builder per producer batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/record/compression.h"
#include "common/record/record.h"
#include "common/record/record_batch.h"

namespace runnel::record {

struct BatchBuilderOptions {
  Compression compression = Compression::kNone;
  TimestampType timestamp_type = TimestampType::kCreateTime;
  int64_t base_offset = 0;
  int32_t partition_leader_epoch = kNoPartitionLeaderEpoch;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  bool is_transactional = false;
  // A control batch (attribute bit 5): markers and metadata consumers skip (control_record.h).
  bool is_control = false;
  // Compaction keeps a batch's original offset range even when records are gone: with this set,
  // lastOffsetDelta is written as this value instead of the last appended record's delta.
  std::optional<int32_t> last_offset_delta = std::nullopt;
  // Compaction stamps a batch whose tombstones it keeps with the time after which they may go
  // (KIP-534): attribute bit 6 set and baseTimestamp = this; record timestamps are encoded
  // relative to it, so every record keeps its own.
  std::optional<int64_t> delete_horizon_ms = std::nullopt;
};

class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(const BatchBuilderOptions& options = {});

  // Appends one record. Null key/value/header value is std::nullopt.
  void Append(int64_t timestamp, std::optional<std::string_view> key,
              std::optional<std::string_view> value, absl::Span<const RecordHeader> headers = {});

  // Appends a record with an explicit offset delta, which must be greater than the previous
  // record's (compaction rewrites batches keeping their records' original offsets).
  void AppendWithOffsetDelta(int32_t offset_delta, int64_t timestamp,
                             std::optional<std::string_view> key,
                             std::optional<std::string_view> value,
                             absl::Span<const RecordHeader> headers = {});

  // Sets the idempotent-producer fields of the batch being built (a producer assigns the sequence
  // only when it sends the batch).
  void SetProducer(int64_t producer_id, int16_t producer_epoch, int32_t base_sequence) {
    options_.producer_id = producer_id;
    options_.producer_epoch = producer_epoch;
    options_.base_sequence = base_sequence;
  }

  int32_t record_count() const { return record_count_; }
  bool empty() const { return record_count_ == 0; }

  // Size of the batch if built now without compression: exact for Compression::kNone, and an
  // estimate (usually an over-estimate) of the compressed batch otherwise.
  size_t EstimatedSize() const { return buffer_.size(); }

  // EstimatedSize() after appending this record.
  size_t SizeAfterAppend(int64_t timestamp, std::optional<std::string_view> key,
                         std::optional<std::string_view> value,
                         absl::Span<const RecordHeader> headers = {}) const;

  // Encodes the batch (header, CRC, compressed records) and resets the builder to empty with
  // the same options. Fails only if the compressor fails or the builder is empty.
  absl::StatusOr<std::string> Build();

 private:
  size_t EncodedRecordSize(int64_t timestamp_delta, int32_t offset_delta,
                           std::optional<std::string_view> key,
                           std::optional<std::string_view> value,
                           absl::Span<const RecordHeader> headers) const;
  void Reset();

  BatchBuilderOptions options_;
  std::string buffer_;  // kBatchHeaderSize placeholder bytes, then the encoded records
  int32_t record_count_ = 0;
  int32_t last_delta_ = -1;
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = 0;
};

// Rewrites the producer id, epoch and base sequence of an encoded batch (`batch` holds at least a
// whole header) and its CRC: a producer renumbering batches it has not had acknowledged.
void RewriteProducerFields(std::string* batch, int64_t producer_id, int16_t producer_epoch,
                           int32_t base_sequence);

}  // namespace runnel::record
