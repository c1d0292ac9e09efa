#include "client/internal/grpc_status.h"

#include "absl/strings/str_cat.h"
#include "common/status_cause.h"

namespace runnel::client {

namespace {

absl::Status Convert(const v1::Error& error, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", error.message());
  if (IsMembershipError(error.code())) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, " (", v1::ErrorCode_Name(error.code()), ")"));
  }
  // NOT_LEADER: leadership moved or an election is running (Kafka's NOT_LEADER_OR_FOLLOWER, a
  // retriable error): asked again once the metadata names the leader, the call succeeds.
  // OFFSET_NOT_AVAILABLE: a new leader whose high watermark has not caught up yet; asked again
  // shortly, it answers.
  if (IsCoordinatorError(error.code()) || error.code() == v1::NOT_LEADER ||
      error.code() == v1::OFFSET_NOT_AVAILABLE) {
    return absl::UnavailableError(
        absl::StrCat(message, " (", v1::ErrorCode_Name(error.code()), ")"));
  }
  switch (error.code()) {
    case v1::NONE:
      return absl::OkStatus();
    case v1::TOPIC_ALREADY_EXISTS:
      return absl::AlreadyExistsError(message);
    case v1::GROUP_ID_NOT_FOUND:
      return absl::NotFoundError(message);
    case v1::NON_EMPTY_GROUP:
      return absl::FailedPreconditionError(message);
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
    case v1::BROKER_ID_NOT_REGISTERED:
      return absl::NotFoundError(message);
    case v1::OFFSET_OUT_OF_RANGE:
      return absl::OutOfRangeError(message);
    case v1::INVALID_TOPIC:
    case v1::INVALID_PARTITIONS:
    case v1::INVALID_REPLICATION_FACTOR:
    case v1::INVALID_CONFIG:
    case v1::INVALID_REQUEST:
    case v1::INVALID_RECORD:
    case v1::INVALID_TIMESTAMP:
    case v1::CORRUPT_MESSAGE:
    case v1::RECORD_TOO_LARGE:
    case v1::UNSUPPORTED_ASSIGNOR:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(
          absl::StrCat(message, " (", v1::ErrorCode_Name(error.code()), ")"));
  }
}

}  // namespace

absl::Status ToStatus(const v1::Error& error, const std::string& what) {
  return WithCause(Convert(error, what), error.code());
}

v1::ErrorCode ErrorCodeOf(const absl::Status& s) {
  return CauseOf<v1::ErrorCode>(s).value_or(v1::NONE);
}

bool IsMembershipError(v1::ErrorCode code) {
  switch (code) {
    case v1::UNKNOWN_MEMBER_ID:
    case v1::FENCED_MEMBER_EPOCH:
    case v1::FENCED_INSTANCE_ID:
    case v1::STALE_MEMBER_EPOCH:
      return true;
    default:
      return false;
  }
}

bool IsCoordinatorError(v1::ErrorCode code) {
  switch (code) {
    case v1::NOT_COORDINATOR:
    case v1::COORDINATOR_NOT_AVAILABLE:
    case v1::COORDINATOR_LOAD_IN_PROGRESS:
      return true;
    default:
      return false;
  }
}

absl::Status RpcError(const grpc::Status& s, const std::string& target, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, " at ", target, ": ", s.error_message(),
                                             " (gRPC code ", static_cast<int>(s.error_code()),
                                             ")"));
}

}  // namespace runnel::client
