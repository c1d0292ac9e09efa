#include "storage/batch_checks.h"

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/record/record_iterator.h"
#include "common/status_cause.h"
#include "common/status_macros.h"
#include "storage/log.h"

namespace runnel::storage {

using record::RecordBatchView;

void StampOffsets(std::string* batch, int64_t base_offset, int32_t leader_epoch) {
  char* h = batch->data();
  StoreBigEndian<int64_t>(h + record::layout::kBaseOffset, base_offset);
  StoreBigEndian<int32_t>(h + record::layout::kPartitionLeaderEpoch, leader_epoch);
}

void StampLogAppendTime(std::string* batch, int64_t time_ms) {
  char* h = batch->data();
  const int16_t attributes = LoadBigEndian<int16_t>(h + record::layout::kAttributes);
  StoreBigEndian<int16_t>(h + record::layout::kAttributes,
                          static_cast<int16_t>(attributes | record::kTimestampTypeMask));
  StoreBigEndian<int64_t>(h + record::layout::kMaxTimestamp, time_ms);
  StoreBigEndian<uint32_t>(
      h + record::layout::kCrc,
      crc32c::Value(h + record::layout::kAttributes, batch->size() - record::layout::kAttributes));
}

absl::Status RequireKeys(std::string_view batch) {
  ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(batch));
  ASSIGN_OR_RETURN(record::RecordIterator it, record::RecordIterator::Create(view));
  record::Record r;
  while (it.Next(&r)) {
    if (!r.key.has_value()) {
      return WithCause(
          absl::InvalidArgumentError(absl::StrCat("record ", it.records_read() - 1,
                                                  " has no key, which a compacted topic requires")),
          AppendError::kMissingKey);
    }
  }
  return it.status();
}

absl::Status CheckTimestamps(const RecordBatchView& batch, const LogConfig& config, int64_t now) {
  const int64_t latest = batch.max_timestamp();
  if (latest > now && latest - now > config.message_timestamp_after_max_ms) {
    return WithCause(
        absl::InvalidArgumentError(absl::StrCat(
            "timestamp ", latest, " is ", latest - now, " ms after the broker's time ", now,
            ", more than message.timestamp.after.max.ms ", config.message_timestamp_after_max_ms)),
        AppendError::kInvalidTimestamp);
  }
  const int64_t earliest = batch.base_timestamp();
  if (earliest >= 0 && earliest < now && now - earliest > config.message_timestamp_before_max_ms) {
    return WithCause(
        absl::InvalidArgumentError(absl::StrCat("timestamp ", earliest, " is ", now - earliest,
                                                " ms before the broker's time ", now,
                                                ", more than message.timestamp.before.max.ms ",
                                                config.message_timestamp_before_max_ms)),
        AppendError::kInvalidTimestamp);
  }
  return absl::OkStatus();
}

absl::Status CheckSize(size_t batch_bytes, const LogConfig& config) {
  if (batch_bytes <= static_cast<size_t>(config.max_message_bytes)) return absl::OkStatus();
  return WithCause(
      absl::InvalidArgumentError(absl::StrCat(
          "batch of ", batch_bytes, " bytes exceeds max.message.bytes ", config.max_message_bytes)),
      AppendError::kTooLarge);
}

}  // namespace runnel::storage
