#include "streams/exception_handlers.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::streams {

bool IsRetriableProductionError(const absl::Status& error) {
  switch (error.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

std::string Where(const ErrorRecord& record) {
  std::string out = record.topic;
  if (record.partition.has_value()) absl::StrAppend(&out, "-", *record.partition);
  if (record.offset >= 0) absl::StrAppend(&out, "@", record.offset);
  return out;
}

DeserializationExceptionHandler LogAndFailExceptionHandler() {
  return [](const std::string& task_id, const ErrorRecord&, const absl::Status& error) {
    logging::Get("streams")->error(
        "task {}: {}; failing (default.deserialization.exception.handler "
        "LogAndFailExceptionHandler)",
        task_id, std::string(error.message()));
    return HandlerResponse::kFail;
  };
}

DeserializationExceptionHandler LogAndContinueExceptionHandler() {
  return [](const std::string& task_id, const ErrorRecord&, const absl::Status& error) {
    logging::Get("streams")->warn(
        "task {}: {}; skipped (default.deserialization.exception.handler "
        "LogAndContinueExceptionHandler)",
        task_id, std::string(error.message()));
    return HandlerResponse::kContinue;
  };
}

ProductionExceptionHandler DefaultProductionExceptionHandler() {
  return [](const ErrorRecord&, const absl::Status&) {
    // The task's failure carries the error; the stream thread logs it.
    return HandlerResponse::kFail;
  };
}

ProductionExceptionHandler AlwaysContinueProductionExceptionHandler() {
  return [](const ErrorRecord& record, const absl::Status& error) {
    logging::Get("streams")->warn(
        "a record for {} could not be written: {}; dropped "
        "(default.production.exception.handler AlwaysContinueProductionExceptionHandler)",
        Where(record), std::string(error.message()));
    return HandlerResponse::kContinue;
  };
}

}  // namespace runnel::streams
