#include "storage/segment_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"

namespace runnel::storage {

void SegmentIndex::OnBatch(int64_t batch_base_offset, int64_t batch_max_timestamp,
                           uint32_t position, uint32_t size) {
  const auto relative = static_cast<uint32_t>(batch_base_offset - base_offset_);
  if (batch_max_timestamp > max_timestamp_) {
    max_timestamp_ = batch_max_timestamp;
    max_timestamp_relative_offset_ = relative;
  }
  if (!any_batch_ || bytes_since_last_entry_ >= interval_bytes_) {
    offsets_.push_back({relative, position});
    if (max_timestamp_ != kNoTimestamp &&
        (times_.empty() || max_timestamp_ > times_.back().timestamp)) {
      times_.push_back({max_timestamp_, max_timestamp_relative_offset_});
    }
    bytes_since_last_entry_ = 0;
  }
  any_batch_ = true;
  bytes_since_last_entry_ += size;
}

void SegmentIndex::ObserveMaxTimestamp(int64_t timestamp, int64_t batch_base_offset) {
  if (timestamp <= max_timestamp_) return;
  max_timestamp_ = timestamp;
  max_timestamp_relative_offset_ = static_cast<uint32_t>(batch_base_offset - base_offset_);
}

uint32_t SegmentIndex::LookupOffset(int64_t offset) const {
  if (offset < base_offset_) return 0;
  const int64_t relative = offset - base_offset_;
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), relative,
                             [](int64_t r, const OffsetIndexEntry& e) {
                               return r < static_cast<int64_t>(e.relative_offset);
                             });
  return it == offsets_.begin() ? 0 : std::prev(it)->position;
}

uint32_t SegmentIndex::LookupTimestamp(int64_t timestamp) const {
  // The last entry whose max-so-far is below `timestamp`: no record up to its batch can match.
  auto it = std::lower_bound(times_.begin(), times_.end(), timestamp,
                             [](const TimeIndexEntry& e, int64_t ts) { return e.timestamp < ts; });
  if (it == times_.begin()) return 0;
  return LookupOffset(base_offset_ + std::prev(it)->relative_offset);
}

std::string SegmentIndex::EncodeOffsetIndex() const {
  std::string out(offsets_.size() * kOffsetIndexEntrySize, '\0');
  char* p = out.data();
  for (const OffsetIndexEntry& e : offsets_) {
    StoreBigEndian<uint32_t>(p, e.relative_offset);
    StoreBigEndian<uint32_t>(p + 4, e.position);
    p += kOffsetIndexEntrySize;
  }
  return out;
}

std::string SegmentIndex::EncodeTimeIndex() const {
  // A closed segment's file always ends with its true max timestamp (retention and timestamp
  // lookups read it from there), even if the batch that set it got no sparse entry.
  std::vector<TimeIndexEntry> entries = times_;
  if (max_timestamp_ != kNoTimestamp &&
      (entries.empty() || max_timestamp_ > entries.back().timestamp)) {
    entries.push_back({max_timestamp_, max_timestamp_relative_offset_});
  }
  std::string out(entries.size() * kTimeIndexEntrySize, '\0');
  char* p = out.data();
  for (const TimeIndexEntry& e : entries) {
    StoreBigEndian<int64_t>(p, e.timestamp);
    StoreBigEndian<uint32_t>(p + 8, e.relative_offset);
    p += kTimeIndexEntrySize;
  }
  return out;
}

absl::StatusOr<SegmentIndex> SegmentIndex::Decode(int64_t base_offset, uint32_t interval_bytes,
                                                  std::string_view offset_index,
                                                  std::string_view time_index, uint64_t log_size) {
  if (offset_index.size() % kOffsetIndexEntrySize != 0) {
    return absl::DataLossError(absl::StrCat("offset index: size ", offset_index.size(),
                                            " is not a multiple of ", kOffsetIndexEntrySize));
  }
  if (time_index.size() % kTimeIndexEntrySize != 0) {
    return absl::DataLossError(absl::StrCat("time index: size ", time_index.size(),
                                            " is not a multiple of ", kTimeIndexEntrySize));
  }
  // Index files are written without fsync; after a power loss one can be empty.
  if (log_size > 0 && offset_index.empty()) {
    return absl::DataLossError("offset index: empty for a non-empty segment");
  }
  if (log_size > 0 && time_index.empty()) {
    return absl::DataLossError("time index: empty for a non-empty segment");
  }
  SegmentIndex index(base_offset, interval_bytes);
  for (size_t i = 0; i < offset_index.size(); i += kOffsetIndexEntrySize) {
    const OffsetIndexEntry e{LoadBigEndian<uint32_t>(offset_index.data() + i),
                             LoadBigEndian<uint32_t>(offset_index.data() + i + 4)};
    const bool first = index.offsets_.empty();
    if ((first && e.position != 0) || e.position >= log_size ||
        (!first && (e.relative_offset <= index.offsets_.back().relative_offset ||
                    e.position <= index.offsets_.back().position))) {
      return absl::DataLossError(absl::StrCat("offset index: entry ", i / kOffsetIndexEntrySize,
                                              " (offset +", e.relative_offset, ", position ",
                                              e.position, ") is out of order or out of range"));
    }
    index.offsets_.push_back(e);
  }
  for (size_t i = 0; i < time_index.size(); i += kTimeIndexEntrySize) {
    const TimeIndexEntry e{LoadBigEndian<int64_t>(time_index.data() + i),
                           LoadBigEndian<uint32_t>(time_index.data() + i + 8)};
    if (!index.times_.empty() && e.timestamp <= index.times_.back().timestamp) {
      return absl::DataLossError(absl::StrCat("time index: entry ", i / kTimeIndexEntrySize,
                                              " timestamp ", e.timestamp, " is not increasing"));
    }
    index.times_.push_back(e);
  }
  index.any_batch_ = !index.offsets_.empty();
  if (!index.times_.empty()) {
    index.max_timestamp_ = index.times_.back().timestamp;
    index.max_timestamp_relative_offset_ = index.times_.back().relative_offset;
  }
  return index;
}

}  // namespace runnel::storage
