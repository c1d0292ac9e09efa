#include "storage/batch_scanner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/record/batch_validator.h"
#include "common/status_macros.h"

namespace runnel::storage {

using record::kBatchHeaderSize;
using record::RecordBatchView;

absl::Status BatchScanner::Fill(size_t n) {
  const uint64_t buffer_end = buffer_start_ + buffer_.size();
  if (position_ >= buffer_start_ && position_ + n <= buffer_end) return absl::OkStatus();
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(n, read_ahead_), end_ - position_));
  buffer_start_ = position_;
  return file_.ReadAt(position_, want, &buffer_);
}

absl::StatusOr<std::optional<std::string_view>> BatchScanner::Peek(bool need_body) {
  if (position_ >= end_) return std::nullopt;
  const uint64_t left = end_ - position_;
  if (left < kBatchHeaderSize) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": ", left,
                                            " trailing bytes, less than a batch header"));
  }
  RETURN_IF_ERROR(Fill(kBatchHeaderSize));
  std::string_view available =
      std::string_view(buffer_).substr(static_cast<size_t>(position_ - buffer_start_));
  if (available.size() < kBatchHeaderSize) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": file ends early"));
  }
  if (LoadBigEndian<int8_t>(available.data() + record::layout::kMagic) != record::kMagicV2) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": magic is not 2"));
  }
  const int32_t batch_length =
      LoadBigEndian<int32_t>(available.data() + record::layout::kBatchLength);
  const int64_t total = static_cast<int64_t>(batch_length) + record::kLogOverhead;
  if (total < static_cast<int64_t>(kBatchHeaderSize) || static_cast<uint64_t>(total) > left) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": batchLength ", batch_length,
                                            " does not fit the ", left, " bytes left"));
  }
  if (!need_body) return available.substr(0, kBatchHeaderSize);
  RETURN_IF_ERROR(Fill(static_cast<size_t>(total)));
  available = std::string_view(buffer_).substr(static_cast<size_t>(position_ - buffer_start_));
  if (available.size() < static_cast<uint64_t>(total)) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": file ends early"));
  }
  return available.substr(0, static_cast<size_t>(total));
}

absl::StatusOr<std::optional<BatchScanner::Batch>> BatchScanner::Next() {
  ASSIGN_OR_RETURN(std::optional<std::string_view> bytes, Peek(/*need_body=*/true));
  if (!bytes.has_value()) return std::nullopt;
  const absl::Status valid = record::ValidateBatch(*bytes, {.allow_offset_gaps = true});
  if (!valid.ok()) {
    return absl::DataLossError(absl::StrCat("position ", position_, ": ", valid.message()));
  }
  Batch batch{position_, *RecordBatchView::Parse(*bytes)};
  position_ += bytes->size();
  return batch;
}

absl::StatusOr<std::optional<BatchScanner::Header>> BatchScanner::NextHeaderOnly() {
  ASSIGN_OR_RETURN(std::optional<std::string_view> bytes, Peek(/*need_body=*/false));
  if (!bytes.has_value()) return std::nullopt;
  const char* h = bytes->data();
  Header header;
  header.position = position_;
  header.size = static_cast<uint64_t>(LoadBigEndian<int32_t>(h + record::layout::kBatchLength)) +
                record::kLogOverhead;
  header.base_offset = LoadBigEndian<int64_t>(h + record::layout::kBaseOffset);
  header.last_offset =
      header.base_offset + LoadBigEndian<int32_t>(h + record::layout::kLastOffsetDelta);
  header.max_timestamp = LoadBigEndian<int64_t>(h + record::layout::kMaxTimestamp);
  header.partition_leader_epoch = LoadBigEndian<int32_t>(h + record::layout::kPartitionLeaderEpoch);
  position_ += header.size;
  return header;
}

}  // namespace runnel::storage
