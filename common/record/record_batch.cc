#include "common/record/record_batch.h"

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"

namespace runnel::record {

absl::StatusOr<RecordBatchView> RecordBatchView::Parse(std::string_view bytes) {
  if (bytes.size() < kBatchHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch header: truncated (needs ", kBatchHeaderSize, " bytes, has ", bytes.size(), ")"));
  }
  const int8_t magic = LoadBigEndian<int8_t>(bytes.data() + layout::kMagic);
  if (magic != kMagicV2) {
    return absl::InvalidArgumentError(absl::StrCat("magic: expected ", kMagicV2, ", got ", magic));
  }
  const int32_t batch_length = LoadBigEndian<int32_t>(bytes.data() + layout::kBatchLength);
  if (batch_length < static_cast<int32_t>(kBatchHeaderSize - kLogOverhead)) {
    return absl::InvalidArgumentError(absl::StrCat("batchLength: ", batch_length,
                                                   " is less than the minimum ",
                                                   kBatchHeaderSize - kLogOverhead));
  }
  const size_t total = static_cast<size_t>(batch_length) + kLogOverhead;
  if (total > bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("batchLength: batch truncated (batchLength ",
                                                   batch_length, " needs ", total, " bytes, has ",
                                                   bytes.size(), ")"));
  }
  return RecordBatchView(bytes.substr(0, total));
}

uint32_t RecordBatchView::ComputeCrc() const {
  return crc32c::Value(bytes_.substr(layout::kAttributes));
}

}  // namespace runnel::record
