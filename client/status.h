// Broker answers as absl::Status: the per-partition / per-request Error of Runnel's API and
// failed gRPC calls, each message saying what was being done.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "runnel/v1/common.pb.h"

namespace runnel::client {

// The absl::Status for a broker Error (OK for NONE), message prefixed with `what`. Group
// membership errors (UNKNOWN_MEMBER_ID, FENCED_*, STALE_MEMBER_EPOCH) are FailedPrecondition and
// name their code.
absl::Status ToStatus(const v1::Error& error, const std::string& what);

// Unavailable, naming what was being done, the broker `target` and gRPC's message and code.
absl::Status RpcError(const grpc::Status& s, const std::string& target, const std::string& what);

}  // namespace runnel::client
