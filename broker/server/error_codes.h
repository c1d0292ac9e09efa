// Mapping from storage/broker absl::Status to the API's per-partition Error (Kafka-style codes).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "runnel/v1/common.pb.h"

namespace runnel::broker {

// A status that SetError answers as NOT_LEADER naming the leader (`leader_addr` empty: none is
// known; the client refreshes its metadata and retries).
absl::Status NotLeaderError(const std::string& message, int32_t leader_id,
                            const std::string& leader_addr);

// Fills `*error` from `status`. `not_found` is the code a NotFound status maps to (unknown topic
// or partition in most calls).
void SetError(const absl::Status& status, v1::Error* error,
              v1::ErrorCode not_found = v1::UNKNOWN_TOPIC_OR_PARTITION);

}  // namespace runnel::broker
