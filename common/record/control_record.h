// Control records: the one record of a control batch (attribute bit 5), Kafka's layout. Its key is
// int16 version (0) then int16 type, big-endian; its value is the type's payload. Consumers skip
// control batches. Runnel writes two types into replicated partition logs (docs/FORMAT.md section
// 23), with Kafka's type numbers and Runnel's own payloads: kLeaderChange (a new Raft leader's
// first entry) and kVoters (a membership change, `Membership::Encode`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/record/record_batch.h"

namespace runnel::record {

enum class ControlType : int16_t {
  kAbort = 0,
  kCommit = 1,
  kLeaderChange = 2,
  kVoters = 6,
};

struct ControlRecord {
  ControlType type = ControlType::kAbort;
  std::string value;
};

// A control batch of one record: base offset and partitionLeaderEpoch as given (a log stamps
// them again), CreateTime `timestamp_ms`, no producer.
std::string BuildControlBatch(ControlType type, std::string_view value, int64_t timestamp_ms,
                              int64_t base_offset = 0, int32_t leader_epoch = 0);

// The record of a control batch. InvalidArgument naming what is wrong when `batch` is not a
// control batch, does not hold exactly one record, or its key is not version 0 and a type.
absl::StatusOr<ControlRecord> ParseControlBatch(const RecordBatchView& batch);

}  // namespace runnel::record
