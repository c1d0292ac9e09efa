// The checks and stamps a partition log applies to a produced batch before storing it (Log::Append
// and, for replicas, Log::PrepareAppend / AppendReplicated). Pure functions over the batch bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/record/record_batch.h"
#include "storage/log_config.h"

namespace runnel::storage {

// Writes the batch's base offset and partitionLeaderEpoch (outside its CRC), in place.
void StampOffsets(std::string* batch, int64_t base_offset, int32_t leader_epoch);
// Marks the batch LogAppendTime with the broker's time as its max timestamp (inside the CRC,
// which is recomputed), in place.
void StampLogAppendTime(std::string* batch, int64_t time_ms);

// Kafka refuses unkeyed records on compacted topics: compaction could never drop them.
// InvalidArgument with cause AppendError::kMissingKey naming the record.
absl::Status RequireKeys(std::string_view batch);

// message.timestamp.after.max.ms / before.max.ms (KIP-937) for a CreateTime batch: its max
// timestamp bounds every record from above; its base timestamp (the first record's) is the check
// from below. InvalidArgument with cause AppendError::kInvalidTimestamp.
absl::Status CheckTimestamps(const record::RecordBatchView& batch, const LogConfig& config,
                             int64_t now);

// max.message.bytes: InvalidArgument with cause AppendError::kTooLarge.
absl::Status CheckSize(size_t batch_bytes, const LogConfig& config);

}  // namespace runnel::storage
