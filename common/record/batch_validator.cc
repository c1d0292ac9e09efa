#include "common/record/batch_validator.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace runnel::record {

absl::Status ValidateBatch(std::string_view bytes, const ValidateOptions& options) {
  ASSIGN_OR_RETURN(const RecordBatchView batch, RecordBatchView::Parse(bytes));
  if (batch.size() != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("batchLength: ", batch.batch_length(),
                                                   " makes the batch ", batch.size(),
                                                   " bytes but the buffer holds ", bytes.size()));
  }
  const uint32_t computed = batch.ComputeCrc();
  if (computed != batch.crc()) {
    return absl::DataLossError(absl::StrFormat(
        "crc: CRC32C mismatch (stored 0x%08x, computed 0x%08x)", batch.crc(), computed));
  }
  if (batch.compression_id() > kMaxCompressionId) {
    return absl::InvalidArgumentError(
        absl::StrCat("attributes: unknown compression codec id ", batch.compression_id()));
  }
  const int32_t count = batch.record_count();
  const int32_t last_delta = batch.last_offset_delta();
  if (last_delta < 0) {
    return absl::InvalidArgumentError(absl::StrCat("lastOffsetDelta: negative (", last_delta, ")"));
  }
  // baseOffset is outside the CRC; offsets are never negative and the last one must fit an int64.
  const int64_t base_offset = batch.base_offset();
  if (base_offset < 0 || base_offset > std::numeric_limits<int64_t>::max() - last_delta) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseOffset: ", base_offset, " is negative or overflows with lastOffsetDelta ",
                     last_delta));
  }
  if (options.allow_offset_gaps) {
    if (count < 0 || static_cast<int64_t>(count) > static_cast<int64_t>(last_delta) + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("recordCount: ", count, " does not fit lastOffsetDelta ", last_delta));
    }
  } else {
    if (count <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("recordCount: ", count, " (a batch must hold at least one record)"));
    }
    if (static_cast<int64_t>(count) != static_cast<int64_t>(last_delta) + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("recordCount: ", count, " but lastOffsetDelta is ", last_delta,
                       " (expected recordCount ", last_delta + 1, ")"));
    }
  }

  ASSIGN_OR_RETURN(RecordIterator it,
                   RecordIterator::Create(batch, options.max_uncompressed_bytes));
  Record record;
  int32_t previous_delta = -1;
  while (it.Next(&record)) {
    const int32_t index = it.records_read() - 1;
    const bool ok = options.allow_offset_gaps
                        ? record.offset_delta > previous_delta && record.offset_delta <= last_delta
                        : record.offset_delta == index;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "record ", index, " offsetDelta: ", record.offset_delta,
          options.allow_offset_gaps
              ? absl::StrCat(" is not between ", previous_delta + 1, " and ", last_delta)
              : absl::StrCat(", expected ", index)));
    }
    previous_delta = record.offset_delta;
  }
  return it.status();
}

}  // namespace runnel::record
