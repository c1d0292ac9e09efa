#include "broker/server/error_codes.h"

#include <string>

#include "storage/data_dir_failure.h"

namespace runnel::broker {

void SetError(const absl::Status& status, v1::Error* error, v1::ErrorCode not_found) {
  error->set_message(std::string(status.message()));
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
