#include "broker/server/error_codes.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "storage/data_dir_failure.h"

namespace runnel::broker {
namespace {

// The payload of a NotLeaderError: "<leader id>@<leader address>" ("" when none is known).
constexpr char kNotLeaderPayload[] = "runnel.dev/not-leader";

}  // namespace

absl::Status NotLeaderError(const std::string& message, int32_t leader_id,
                            const std::string& leader_addr) {
  absl::Status status = absl::UnavailableError(message);
  status.SetPayload(
      kNotLeaderPayload,
      absl::Cord(leader_addr.empty() ? std::string() : absl::StrCat(leader_id, "@", leader_addr)));
  return status;
}

void SetError(const absl::Status& status, v1::Error* error, v1::ErrorCode not_found) {
  error->set_message(std::string(status.message()));
  if (const auto leader = status.GetPayload(kNotLeaderPayload); leader.has_value()) {
    error->set_code(v1::NOT_LEADER);
    const std::string hint(*leader);
    const size_t at = hint.find('@');
    int32_t id = 0;
    if (at != std::string::npos && absl::SimpleAtoi(hint.substr(0, at), &id)) {
      error->set_leader_id(id);
      error->set_leader_addr(hint.substr(at + 1));
    }
    return;
  }
  if (storage::IsDataDirFailure(status)) {  // Kafka's answer for an offline log dir
    error->set_code(v1::KAFKA_STORAGE_ERROR);
    return;
  }
  switch (status.code()) {
    case absl::StatusCode::kOk:
      error->set_code(v1::NONE);
      return;
    case absl::StatusCode::kNotFound:
      error->set_code(not_found);
      return;
    case absl::StatusCode::kDataLoss:  // CRC mismatch, undecodable compressed data
      error->set_code(v1::CORRUPT_MESSAGE);
      return;
    case absl::StatusCode::kInvalidArgument:
      error->set_code(v1::INVALID_REQUEST);
      return;
    case absl::StatusCode::kOutOfRange:
      error->set_code(v1::OFFSET_OUT_OF_RANGE);
      return;
    case absl::StatusCode::kAlreadyExists:
      error->set_code(v1::TOPIC_ALREADY_EXISTS);
      return;
    case absl::StatusCode::kPermissionDenied:  // a client touching a broker-internal topic
      error->set_code(v1::INVALID_TOPIC);
      return;
    case absl::StatusCode::kResourceExhausted:
      error->set_code(v1::KAFKA_STORAGE_ERROR);
      return;
    case absl::StatusCode::kDeadlineExceeded:
      error->set_code(v1::REQUEST_TIMED_OUT);
      return;
    default:
      error->set_code(v1::UNKNOWN_SERVER_ERROR);
      return;
  }
}

}  // namespace runnel::broker
