#include "broker/server/error_codes.h"

#include <string>

namespace runnel::broker {

void SetError(const absl::Status& status, v1::Error* error, v1::ErrorCode not_found) {
  error->set_message(std::string(status.message()));
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
