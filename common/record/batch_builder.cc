#include "common/record/batch_builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/check.h"
#include "common/crc32c.h"
#include "common/status_macros.h"
#include "common/varint.h"

namespace runnel::record {
namespace {

size_t NullableFieldSize(std::optional<std::string_view> field) {
  if (!field) return VarintSize(-1);
  return VarintSize(static_cast<int32_t>(field->size())) + field->size();
}

char* PutNullableField(char* p, std::optional<std::string_view> field) {
  if (!field) return PutVarint(p, -1);
  p = PutVarint(p, static_cast<int32_t>(field->size()));
  std::memcpy(p, field->data(), field->size());
  return p + field->size();
}

}  // namespace

RecordBatchBuilder::RecordBatchBuilder(const BatchBuilderOptions& options) : options_(options) {
  Reset();
}

void RecordBatchBuilder::Reset() {
  buffer_.assign(kBatchHeaderSize, '\0');
  record_count_ = 0;
  last_delta_ = -1;
  base_timestamp_ = 0;
  max_timestamp_ = 0;
}

size_t RecordBatchBuilder::EncodedRecordSize(int64_t timestamp_delta, int32_t offset_delta,
                                             std::optional<std::string_view> key,
                                             std::optional<std::string_view> value,
                                             absl::Span<const RecordHeader> headers) const {
  size_t size = 1 /* attributes */ + VarlongSize(timestamp_delta) + VarintSize(offset_delta) +
                NullableFieldSize(key) + NullableFieldSize(value) +
                VarintSize(static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers)
    size += NullableFieldSize(h.key) + NullableFieldSize(h.value);
  return size;
}

size_t RecordBatchBuilder::SizeAfterAppend(int64_t timestamp, std::optional<std::string_view> key,
                                           std::optional<std::string_view> value,
                                           absl::Span<const RecordHeader> headers) const {
  const int64_t base =
      record_count_ == 0 ? options_.delete_horizon_ms.value_or(timestamp) : base_timestamp_;
  const size_t body = EncodedRecordSize(timestamp - base, last_delta_ + 1, key, value, headers);
  return buffer_.size() + VarintSize(static_cast<int32_t>(body)) + body;
}

void RecordBatchBuilder::Append(int64_t timestamp, std::optional<std::string_view> key,
                                std::optional<std::string_view> value,
                                absl::Span<const RecordHeader> headers) {
  AppendWithOffsetDelta(last_delta_ + 1, timestamp, key, value, headers);
}

void RecordBatchBuilder::AppendWithOffsetDelta(int32_t offset_delta, int64_t timestamp,
                                               std::optional<std::string_view> key,
                                               std::optional<std::string_view> value,
                                               absl::Span<const RecordHeader> headers) {
  RUNNEL_CHECK(offset_delta > last_delta_, "offset delta %d after %d: offsets only grow in a batch",
               offset_delta, last_delta_);
  if (record_count_ == 0) {
    base_timestamp_ = options_.delete_horizon_ms.value_or(timestamp);
    max_timestamp_ = timestamp;
  }
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  const int64_t timestamp_delta = timestamp - base_timestamp_;
  const size_t body = EncodedRecordSize(timestamp_delta, offset_delta, key, value, headers);
  const size_t start = buffer_.size();
  buffer_.resize(start + VarintSize(static_cast<int32_t>(body)) + body);
  char* p = buffer_.data() + start;
  p = PutVarint(p, static_cast<int32_t>(body));
  *p++ = 0;  // record attributes
  p = PutVarlong(p, timestamp_delta);
  p = PutVarint(p, offset_delta);
  p = PutNullableField(p, key);
  p = PutNullableField(p, value);
  p = PutVarint(p, static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    p = PutNullableField(p, h.key);
    p = PutNullableField(p, h.value);
  }
  ++record_count_;
  last_delta_ = offset_delta;
}

absl::StatusOr<std::string> RecordBatchBuilder::Build() {
  if (record_count_ == 0) {
    return absl::FailedPreconditionError("RecordBatchBuilder::Build: no records appended");
  }
  std::string batch;
  if (options_.compression == Compression::kNone) {
    batch.swap(buffer_);
  } else {
    batch.reserve(buffer_.size() / 2 + kBatchHeaderSize);
    batch.assign(kBatchHeaderSize, '\0');
    RETURN_IF_ERROR(
        Compress(options_.compression, std::string_view(buffer_).substr(kBatchHeaderSize), &batch));
  }
  int16_t attributes = static_cast<int16_t>(options_.compression);
  if (options_.timestamp_type == TimestampType::kLogAppendTime) attributes |= kTimestampTypeMask;
  if (options_.is_transactional) attributes |= kTransactionalMask;
  if (options_.is_control) attributes |= kControlMask;
  if (options_.delete_horizon_ms.has_value()) attributes |= kDeleteHorizonMask;

  char* h = batch.data();
  StoreBigEndian<int64_t>(h + layout::kBaseOffset, options_.base_offset);
  StoreBigEndian<int32_t>(h + layout::kBatchLength,
                          static_cast<int32_t>(batch.size() - kLogOverhead));
  StoreBigEndian<int32_t>(h + layout::kPartitionLeaderEpoch, options_.partition_leader_epoch);
  StoreBigEndian<int8_t>(h + layout::kMagic, kMagicV2);
  StoreBigEndian<int16_t>(h + layout::kAttributes, attributes);
  StoreBigEndian<int32_t>(h + layout::kLastOffsetDelta,
                          options_.last_offset_delta.value_or(last_delta_));
  StoreBigEndian<int64_t>(h + layout::kBaseTimestamp, base_timestamp_);
  StoreBigEndian<int64_t>(h + layout::kMaxTimestamp, max_timestamp_);
  StoreBigEndian<int64_t>(h + layout::kProducerId, options_.producer_id);
  StoreBigEndian<int16_t>(h + layout::kProducerEpoch, options_.producer_epoch);
  StoreBigEndian<int32_t>(h + layout::kBaseSequence, options_.base_sequence);
  StoreBigEndian<int32_t>(h + layout::kRecordCount, record_count_);
  StoreBigEndian<uint32_t>(
      h + layout::kCrc, crc32c::Value(h + layout::kAttributes, batch.size() - layout::kAttributes));
  Reset();
  return batch;
}

void RewriteProducerFields(std::string* batch, int64_t producer_id, int16_t producer_epoch,
                           int32_t base_sequence) {
  RUNNEL_CHECK(batch->size() >= kBatchHeaderSize, "rewriting the producer of a %d-byte batch",
               batch->size());
  char* h = batch->data();
  StoreBigEndian<int64_t>(h + layout::kProducerId, producer_id);
  StoreBigEndian<int16_t>(h + layout::kProducerEpoch, producer_epoch);
  StoreBigEndian<int32_t>(h + layout::kBaseSequence, base_sequence);
  StoreBigEndian<uint32_t>(h + layout::kCrc, crc32c::Value(h + layout::kAttributes,
                                                           batch->size() - layout::kAttributes));
}

}  // namespace runnel::record
