// Kafka RecordBatch v2 (magic 2): the layout of the 61-byte batch header and a read-only view of
// one batch. docs/FORMAT.md has the layout byte by byte; this header is its code counterpart.
//
// RecordBatchView borrows the bytes it was parsed from: they must outlive the view. It is a
// cheap value type, safe to copy and to use from several threads at once (it never writes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/big_endian.h"
#include "common/record/compression.h"

namespace runnel::record {

// Byte offsets of the header fields (all big-endian).
namespace layout {
inline constexpr size_t kBaseOffset = 0;             // int64
inline constexpr size_t kBatchLength = 8;            // int32: bytes after this field
inline constexpr size_t kPartitionLeaderEpoch = 12;  // int32
inline constexpr size_t kMagic = 16;                 // int8 = 2
inline constexpr size_t kCrc = 17;                   // uint32: CRC32C of [kAttributes, end)
inline constexpr size_t kAttributes = 21;            // int16
inline constexpr size_t kLastOffsetDelta = 23;       // int32
inline constexpr size_t kBaseTimestamp = 27;         // int64
inline constexpr size_t kMaxTimestamp = 35;          // int64
inline constexpr size_t kProducerId = 43;            // int64
inline constexpr size_t kProducerEpoch = 51;         // int16
inline constexpr size_t kBaseSequence = 53;          // int32
inline constexpr size_t kRecordCount = 57;           // int32
inline constexpr size_t kRecords = 61;               // start of the (maybe compressed) records
}  // namespace layout

inline constexpr size_t kBatchHeaderSize = layout::kRecords;
// baseOffset (8) + batchLength (4): the bytes batchLength does not count.
inline constexpr size_t kLogOverhead = 12;
inline constexpr int8_t kMagicV2 = 2;

// Attribute bits.
inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeMask = 0x08;
inline constexpr int16_t kTransactionalMask = 0x10;
inline constexpr int16_t kControlMask = 0x20;
inline constexpr int16_t kDeleteHorizonMask = 0x40;  // set by compaction (KIP-534)

enum class TimestampType : int8_t { kCreateTime = 0, kLogAppendTime = 1 };

inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
inline constexpr int32_t kNoSequence = -1;
inline constexpr int32_t kNoPartitionLeaderEpoch = -1;

// Kafka's producer sequence arithmetic, for the client and the broker alike: sequences are
// non-negative int32s and wrap from INT32_MAX to 0.
inline int32_t IncrementSequence(int32_t sequence, int32_t increment) {
  constexpr int64_t kWrap = int64_t{2147483647} + 1;
  return static_cast<int32_t>((int64_t{sequence} + increment) % kWrap);
}

class RecordBatchView {
 public:
  // Parses the batch at the start of `bytes`: needs the 61-byte header, magic 2, and the whole
  // batch (batchLength + 12 bytes) present. Bytes after the batch are allowed and ignored, so a
  // buffer of several batches can be walked with bytes.substr(view.size()). CRC and records are
  // not checked here: ValidateBatch does that.
  static absl::StatusOr<RecordBatchView> Parse(std::string_view bytes);

  std::string_view bytes() const { return bytes_; }  // the whole batch, header included
  size_t size() const { return bytes_.size(); }
  std::string_view records_section() const { return bytes_.substr(kBatchHeaderSize); }

  int64_t base_offset() const { return Field<int64_t>(layout::kBaseOffset); }
  int32_t batch_length() const { return Field<int32_t>(layout::kBatchLength); }
  int32_t partition_leader_epoch() const { return Field<int32_t>(layout::kPartitionLeaderEpoch); }
  int8_t magic() const { return Field<int8_t>(layout::kMagic); }
  uint32_t crc() const { return Field<uint32_t>(layout::kCrc); }
  int16_t attributes() const { return Field<int16_t>(layout::kAttributes); }
  int32_t last_offset_delta() const { return Field<int32_t>(layout::kLastOffsetDelta); }
  int64_t base_timestamp() const { return Field<int64_t>(layout::kBaseTimestamp); }
  int64_t max_timestamp() const { return Field<int64_t>(layout::kMaxTimestamp); }
  int64_t producer_id() const { return Field<int64_t>(layout::kProducerId); }
  int16_t producer_epoch() const { return Field<int16_t>(layout::kProducerEpoch); }
  int32_t base_sequence() const { return Field<int32_t>(layout::kBaseSequence); }
  int32_t record_count() const { return Field<int32_t>(layout::kRecordCount); }

  int64_t last_offset() const { return base_offset() + last_offset_delta(); }
  // The raw codec id; a valid batch has one of Compression's values (ValidateBatch checks).
  int compression_id() const { return attributes() & kCompressionMask; }
  Compression compression() const { return static_cast<Compression>(compression_id()); }
  TimestampType timestamp_type() const {
    return (attributes() & kTimestampTypeMask) ? TimestampType::kLogAppendTime
                                               : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return attributes() & kTransactionalMask; }
  bool is_control() const { return attributes() & kControlMask; }
  // Set by compaction on a batch holding tombstones it kept (KIP-534): baseTimestamp then holds
  // the time after which those tombstones may be dropped; record timestamps stay relative to it.
  std::optional<int64_t> delete_horizon_ms() const {
    if (!(attributes() & kDeleteHorizonMask)) return std::nullopt;
    return base_timestamp();
  }

  // CRC32C over [attributes, end): compare with crc().
  uint32_t ComputeCrc() const;

 private:
  explicit RecordBatchView(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  T Field(size_t offset) const {
    return LoadBigEndian<T>(bytes_.data() + offset);
  }

  std::string_view bytes_;
};

}  // namespace runnel::record
