// StreamsConfig: the settings of a Streams application, with Kafka Streams' names
// (`application.id`, `num.stream.threads`, `commit.interval.ms`, `state.dir`, ...). Each key's
// default is its field's initialiser below; its range and doc are written once, in the table of
// streams_config.cc (StreamsConfigDef(), rendered in docs/CONFIG.md). `consumer.<key>` and
// `producer.<key>` are passed to the threads' consumers and producers (Kafka's prefixes); the keys
// the runtime sets itself (group.id, enable.auto.commit, group.remote.assignor, ...) are refused.
//
// Plain data; Validate names the bad key.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/properties.h"
#include "streams/exception_handlers.h"

namespace runnel::config {
template <typename O>
class ConfigDef;  // common/config_def.h
}  // namespace runnel::config

namespace runnel::streams {

// processing.guarantee: at-least-once only (exactly-once needs transactions).
enum class ProcessingGuarantee { kAtLeastOnce };
// default.deserialization.exception.handler and default.production.exception.handler: the
// built-in handlers of streams/exception_handlers.h, by Kafka's class names.
enum class DeserializationHandlerName { kLogAndFail, kLogAndContinue };
enum class ProductionHandlerName { kDefault, kAlwaysContinue };

struct StreamsConfig {
  std::string application_id;  // required
  std::string bootstrap_servers = "127.0.0.1:7070";
  int32_t num_stream_threads = 1;
  int64_t commit_interval_ms = 30000;  // Kafka Streams' at-least-once default
  std::string state_dir = "/tmp/runnel-streams";
  int64_t cache_max_bytes = 10 * 1024 * 1024;  // statestore.cache.max.bytes
  int64_t window_idle_close_ms = 0;            // window.idle.close.ms; 0: off
  ProcessingGuarantee processing_guarantee = ProcessingGuarantee::kAtLeastOnce;
  int32_t replication_factor = 0;          // 0: the broker's default
  client::Properties consumer_properties;  // without the "consumer." prefix
  client::Properties producer_properties;  // without the "producer." prefix
  DeserializationHandlerName default_deserialization_exception_handler =
      DeserializationHandlerName::kLogAndFail;
  ProductionHandlerName default_production_exception_handler = ProductionHandlerName::kDefault;
  // Set through the C++ API only: used instead of the handler the key above names.
  DeserializationExceptionHandler deserialization_exception_handler;
  ProductionExceptionHandler production_exception_handler;

  // The handler in force: the function given above, else the one the key names (for
  // DefaultProductionExceptionHandler an empty function, which means the same: fail).
  DeserializationExceptionHandler DeserializationHandler() const;
  ProductionExceptionHandler ProductionHandler() const;

  absl::Status Validate() const;
  // Unknown keys ("<key>: unknown streams setting") and bad values are errors naming the key.
  static absl::StatusOr<StreamsConfig> FromProperties(const client::Properties& properties);
};

// The application's keys: names, types, ranges, docs, defaults from StreamsConfig{}.
const config::ConfigDef<StreamsConfig>& StreamsConfigDef();

}  // namespace runnel::streams
