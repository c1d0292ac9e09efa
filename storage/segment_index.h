// SegmentIndex: the sparse offset index and the time index of one segment, kept in memory and
// written to `<base>.index` / `<base>.timeindex` when the segment is closed (rolled or the log is
// shut down cleanly). After a crash the active segment's indexes are rebuilt by scanning it, so
// they never need to be synced on the append path. Layouts are in docs/FORMAT.md.
//
// An offset entry is added for a batch when at least `interval_bytes` have been appended since
// the previous entry (the first batch always gets one). A time entry (max timestamp so far, base
// offset of the batch that set it) is added beside an offset entry when the max timestamp grew.
// Not thread-safe: the owning Segment guards it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace runnel::storage {

struct OffsetIndexEntry {
  uint32_t relative_offset;  // batch base offset - segment base offset
  uint32_t position;         // byte position of the batch in the .log file
};

struct TimeIndexEntry {
  int64_t timestamp;         // max timestamp of the segment up to and including this batch
  uint32_t relative_offset;  // base offset (relative) of the batch holding that timestamp
};

inline constexpr size_t kOffsetIndexEntrySize = 8;
inline constexpr size_t kTimeIndexEntrySize = 12;
inline constexpr int64_t kNoTimestamp = -1;

class SegmentIndex {
 public:
  SegmentIndex(int64_t base_offset, uint32_t interval_bytes)
      : base_offset_(base_offset), interval_bytes_(interval_bytes) {}

  // Records a batch appended at `position` with `size` bytes.
  void OnBatch(int64_t batch_base_offset, int64_t batch_max_timestamp, uint32_t position,
               uint32_t size);

  // Byte position from which to scan for the batch holding `offset`: the position of the last
  // indexed batch whose base offset is <= offset (0 if none).
  uint32_t LookupOffset(int64_t offset) const;
  // Byte position from which to scan for the first record with timestamp >= `timestamp`: every
  // batch before it has only smaller timestamps.
  uint32_t LookupTimestamp(int64_t timestamp) const;

  int64_t max_timestamp() const { return max_timestamp_; }
  // Raises the max timestamp to `timestamp` (of the batch at `batch_base_offset`) if it is later:
  // for batches a loaded time index may not cover.
  void ObserveMaxTimestamp(int64_t timestamp, int64_t batch_base_offset);
  size_t entry_count() const { return offsets_.size(); }

  std::string EncodeOffsetIndex() const;
  std::string EncodeTimeIndex() const;

  // Loads the index files of a closed segment whose .log is `log_size` bytes and whose max
  // timestamp is unknown until loaded. Fails (the caller rebuilds by scanning) if a file's size
  // is not a whole number of entries, entries go backwards, or a position is past the log's end.
  static absl::StatusOr<SegmentIndex> Decode(int64_t base_offset, uint32_t interval_bytes,
                                             std::string_view offset_index,
                                             std::string_view time_index, uint64_t log_size);

 private:
  int64_t base_offset_;
  uint32_t interval_bytes_;
  std::vector<OffsetIndexEntry> offsets_;
  std::vector<TimeIndexEntry> times_;
  uint64_t bytes_since_last_entry_ = 0;
  bool any_batch_ = false;
  int64_t max_timestamp_ = kNoTimestamp;
  uint32_t max_timestamp_relative_offset_ = 0;
};

}  // namespace runnel::storage
