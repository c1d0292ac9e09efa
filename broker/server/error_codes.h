// Mapping from storage/broker absl::Status to the API's per-partition Error (Kafka-style codes).
#pragma once

#include "absl/status/status.h"
#include "runnel/v1/common.pb.h"

namespace runnel::broker {

// Fills `*error` from `status`. `not_found` is the code a NotFound status maps to (unknown topic
// or partition in most calls).
void SetError(const absl::Status& status, v1::Error* error,
              v1::ErrorCode not_found = v1::UNKNOWN_TOPIC_OR_PARTITION);

}  // namespace runnel::broker
