// What a Streams application does with a record it cannot read or cannot write, as Kafka
// Streams' DeserializationExceptionHandler and ProductionExceptionHandler decide it:
//
//   deserialization (a source record whose key or value its serde refuses, e.g. 3 bytes for an
//   Int64 serde or text that is not JSON):
//     LogAndFailExceptionHandler()      the default: the task fails with the error naming
//                                       `topic-partition@offset`; the application goes to ERROR
//                                       and nothing past the record is committed
//     LogAndContinueExceptionHandler()  logs a warning, skips the record (counted in
//                                       dropped_records) and goes on; its offset is committed
//                                       with the next ones, so a restart does not read it again
//   production (a record the task's output, a repartition topic or a changelog could not take:
//   larger than the producer's max.request.size, refused by the broker, not delivered in time):
//     DefaultProductionExceptionHandler()         the default: the task fails; the input offsets
//                                                 that caused the record are not committed
//     AlwaysContinueProductionExceptionHandler()  logs a warning, drops the record (counted in
//                                                 dropped_records) and goes on; the input is
//                                                 committed as if the record had been written
//   A failure that may pass (IsRetriableProductionError: the brokers unreachable or without a
//   leader past delivery.timeout.ms, the producer's buffer full past max.block.ms, the producer
//   closing) is not the record's fault: no handler is asked, the task fails, nothing past its
//   input is committed, and a restart writes it again (a continue would lose it to an outage).
//
// Chosen by name with `default.deserialization.exception.handler` and
// `default.production.exception.handler` (StreamsConfig), or given as functions
// (StreamsConfig::deserialization_exception_handler / production_exception_handler,
// TestDriverOptions) to decide per record.
//
// Threading: a deserialization handler is called on the stream thread that runs the task; a
// production handler on the thread that learns of the failure (the stream thread, or the
// producer's I/O thread for a record the broker refused). One handler serves every thread of an
// application at once, so one that keeps state must guard it. A handler must not throw.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace runnel::streams {

// Kafka's DeserializationHandlerResponse / ProductionExceptionHandlerResponse.
enum class HandlerResponse { kContinue, kFail };

// The record a handler is asked about, as bytes.
struct ErrorRecord {
  std::string topic;                 // the full name (internal topics prefixed)
  std::optional<int32_t> partition;  // nullopt: an output record the producer was to place
  int64_t offset = -1;               // of a source record; -1 for an output record
  std::optional<std::string> key;    // nullopt: Kafka's null
  std::optional<std::string> value;
  int64_t timestamp = 0;
};

// `task_id` is the task that read the record ("<sub-topology>_<partition>"); `error` names the
// record (topic-partition@offset) and says what the serde refused.
using DeserializationExceptionHandler = std::function<HandlerResponse(
    const std::string& task_id, const ErrorRecord& record, const absl::Status& error)>;
// `error` says why the record could not be written.
using ProductionExceptionHandler =
    std::function<HandlerResponse(const ErrorRecord& record, const absl::Status& error)>;

// The built-in handlers (see the top of this file); each logs on the `streams` logger.
DeserializationExceptionHandler LogAndFailExceptionHandler();
DeserializationExceptionHandler LogAndContinueExceptionHandler();
ProductionExceptionHandler DefaultProductionExceptionHandler();
ProductionExceptionHandler AlwaysContinueProductionExceptionHandler();

// Whether a production failure may pass by itself (Unavailable, DeadlineExceeded,
// ResourceExhausted, Cancelled, Aborted): the production handler is not asked about those.
bool IsRetriableProductionError(const absl::Status& error);

// "topic-partition@offset" of a source record, "topic" (or "topic-partition") of an output one.
std::string Where(const ErrorRecord& record);

}  // namespace runnel::streams
