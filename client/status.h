// What an application may ask of a status the client returned. The messages name the call, the
// broker address and the error; the broker's error code rides along as the status's cause, read
// here for the one question applications branch on. (Converting the broker's answers and gRPC
// failures to absl::Status is the client's own business: client/internal/grpc_status.h.)
#pragma once

#include "absl/status/status.h"

namespace runnel::client {

// The coordinator no longer counts this consumer as the member it was (UNKNOWN_MEMBER_ID,
// FENCED_MEMBER_EPOCH, FENCED_INSTANCE_ID, STALE_MEMBER_EPOCH), Kafka's CommitFailedException: a
// commit refused with it is not worth retrying, and the consumer's partitions may already be
// someone else's, so what was processed but not committed is another member's to redo.
bool IsNoLongerMember(const absl::Status& s);

}  // namespace runnel::client
