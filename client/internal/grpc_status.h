// Broker answers as absl::Status (client-internal: it speaks the generated gRPC and protobuf
// types, which stay out of the installed headers): the per-partition / per-request Error of
// Runnel's API and failed gRPC calls, each message saying what was being done. The public side,
// IsNoLongerMember, is in client/status.h.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "runnel/v1/common.pb.h"

namespace runnel::v1 {

// The broker's error code as a status cause (common/status_cause.h; found by ADL).
constexpr const char* CauseTypeUrl(ErrorCode) { return "runnel.v1.ErrorCode"; }

}  // namespace runnel::v1

namespace runnel::client {

// The absl::Status for a broker Error (OK for NONE), message prefixed with `what`. Group
// membership errors (UNKNOWN_MEMBER_ID, FENCED_*, STALE_MEMBER_EPOCH) are FailedPrecondition,
// coordinator errors and NOT_LEADER (retriable: the call succeeds once sent where the metadata
// then says) are Unavailable; all of these name their code. The code itself rides along as the
// status's cause (ErrorCodeOf; common/status_cause.h; WithContext keeps it).
absl::Status ToStatus(const v1::Error& error, const std::string& what);

// The broker error code behind a status ToStatus made; NONE for OK and for any other status.
v1::ErrorCode ErrorCodeOf(const absl::Status& s);

// Whether `code` says the coordinator no longer counts the sender as the member it claimed to
// be (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, FENCED_INSTANCE_ID, STALE_MEMBER_EPOCH).
bool IsMembershipError(v1::ErrorCode code);
// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS: the group's coordinator
// moved or is not ready; the call is retried (on the coordinator found again).
bool IsCoordinatorError(v1::ErrorCode code);

// Unavailable, naming what was being done, the broker `target` and gRPC's message and code.
absl::Status RpcError(const grpc::Status& s, const std::string& target, const std::string& what);

}  // namespace runnel::client
