#include "common/record/control_record.h"

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/check.h"
#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"

namespace runnel::record {

std::string BuildControlBatch(ControlType type, std::string_view value, int64_t timestamp_ms,
                              int64_t base_offset, int32_t leader_epoch) {
  BatchBuilderOptions options;
  options.is_control = true;
  options.base_offset = base_offset;
  options.partition_leader_epoch = leader_epoch;
  RecordBatchBuilder builder(options);
  char key[4];
  StoreBigEndian<int16_t>(key, 0);
  StoreBigEndian<int16_t>(key + 2, static_cast<int16_t>(type));
  builder.Append(timestamp_ms, std::string_view(key, sizeof(key)), value);
  absl::StatusOr<std::string> batch = builder.Build();
  // Uncompressed with one record: Build cannot fail.
  RUNNEL_CHECK(batch.ok(), "control batch: %s", batch.status().ToString());
  return *std::move(batch);
}

absl::StatusOr<ControlRecord> ParseControlBatch(const RecordBatchView& batch) {
  if (!batch.is_control()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch at offset ", batch.base_offset(), " is not a control batch"));
  }
  ASSIGN_OR_RETURN(RecordIterator it, RecordIterator::Create(batch));
  Record record;
  if (!it.Next(&record)) {
    RETURN_IF_ERROR(it.status());
    return absl::InvalidArgumentError(
        absl::StrCat("control batch at offset ", batch.base_offset(), " has no record"));
  }
  if (!record.key.has_value() || record.key->size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("control batch at offset ", batch.base_offset(), ": the key is not 4 bytes"));
  }
  const int16_t version = LoadBigEndian<int16_t>(record.key->data());
  if (version != 0) {
    return absl::InvalidArgumentError(absl::StrCat("control batch at offset ", batch.base_offset(),
                                                   ": key version ", version, " is not 0"));
  }
  ControlRecord out;
  out.type = static_cast<ControlType>(LoadBigEndian<int16_t>(record.key->data() + 2));
  if (record.value.has_value()) out.value = std::string(*record.value);
  Record extra;
  if (it.Next(&extra)) {
    return absl::InvalidArgumentError(
        absl::StrCat("control batch at offset ", batch.base_offset(), " has more than one record"));
  }
  RETURN_IF_ERROR(it.status());
  return out;
}

}  // namespace runnel::record
