#include "streams/streams_config.h"

#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/config_def.h"
#include "common/status_macros.h"

namespace runnel::streams {

namespace {
// Client settings the runtime owns: a thread's consumer and producer work only with these.
const std::set<std::string> kRuntimeConsumerKeys = {"bootstrap.servers",  "group.id",
                                                    "enable.auto.commit", "auto.offset.reset",
                                                    "client.id",          "group.remote.assignor"};
const std::set<std::string> kRuntimeProducerKeys = {"bootstrap.servers", "client.id"};
}  // namespace

const config::ConfigDef<StreamsConfig>& StreamsConfigDef() {
  using O = StreamsConfig;
  using config::AtLeast;
  using config::NotEmpty;
  using config::Unit;
  static const auto* def = [] {
    auto* d = new config::ConfigDef<O>("unknown streams setting");
    d->String("application.id", &O::application_id, NotEmpty(),
              "Required: the consumer group id, the prefix of internal topics "
              "(`<id>-<name>-repartition`, `<id>-<store>-changelog`) and the directory of the "
              "application's stores under state.dir; letters, digits, `.`, `_` and `-` only.");
    d->String("bootstrap.servers", &O::bootstrap_servers, NotEmpty(),
              "Brokers as HOST:PORT,...; the client starts from any that answers, then follows the "
              "partition leaders.");
    d->Int("num.stream.threads", &O::num_stream_threads, AtLeast(1), Unit::kNone,
           "Stream threads; each is one member of the group.");
    d->Int("commit.interval.ms", &O::commit_interval_ms, AtLeast(1), Unit::kMs,
           "How often caches are flushed, output is flushed and offsets are committed.");
    d->String("state.dir", &O::state_dir, NotEmpty(),
              "Persistent (RocksDB) stores live in "
              "`<state.dir>/<application.id>/<task id>/rocksdb/<store>`.");
    d->Int("statestore.cache.max.bytes", &O::cache_max_bytes, AtLeast(0), Unit::kBytes,
           "Each task's record caches may hold this divided by num.stream.threads.");
    d->Alias("cache.max.bytes.buffering");
    d->Int("window.idle.close.ms", &O::window_idle_close_ms, AtLeast(0), Unit::kMs,
           "Beyond Kafka Streams; 0 (the default) is off. Once no record has advanced a task's "
           "stream time for this long of wall-clock time, its stream time follows the wall "
           "clock: it becomes T + (R - W), T being the stream time a record last raised it to "
           "at wall-clock time W and R the last time its input was read to the end (now while "
           "it is), checked after each poll; windows, suppressed results and "
           "join windows whose end + grace it passes close and are emitted, and later records "
           "for them are late.");
    d->Enum("processing.guarantee", &O::processing_guarantee,
            {{"at_least_once", ProcessingGuarantee::kAtLeastOnce}},
            "Input offsets are committed only after the output they caused is acknowledged; "
            "exactly-once needs transactions, which Runnel has not.");
    d->Enum("default.deserialization.exception.handler",
            &O::default_deserialization_exception_handler,
            {{"LogAndFailExceptionHandler", DeserializationHandlerName::kLogAndFail},
             {"org.apache.kafka.streams.errors.LogAndFailExceptionHandler",
              DeserializationHandlerName::kLogAndFail},
             {"LogAndContinueExceptionHandler", DeserializationHandlerName::kLogAndContinue},
             {"org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
              DeserializationHandlerName::kLogAndContinue}},
            "A source record whose key or value does not deserialize: LogAndFail stops the "
            "application in ERROR naming topic-partition@offset, nothing past it committed; "
            "LogAndContinue logs it, skips it (counted in dropped_records) and commits past it.");
    d->Enum("default.production.exception.handler", &O::default_production_exception_handler,
            {{"DefaultProductionExceptionHandler", ProductionHandlerName::kDefault},
             {"org.apache.kafka.streams.errors.DefaultProductionExceptionHandler",
              ProductionHandlerName::kDefault},
             {"AlwaysContinueProductionExceptionHandler", ProductionHandlerName::kAlwaysContinue}},
            "A record the application could not write (output, repartition or changelog topic): "
            "Default stops the application in ERROR without committing the input that caused "
            "it; AlwaysContinue logs it, drops it (counted in dropped_records) and goes on.");
    d->Int("replication.factor", &O::replication_factor, AtLeast(0), Unit::kNone,
           "Of the internal topics the runtime creates; 0: the broker's default.");
    d->Prefix("consumer.", &O::consumer_properties,
              "Passed to the threads' consumers (a consumer key above). The runtime's own "
              "(bootstrap.servers, client.id, group.id, enable.auto.commit, auto.offset.reset, "
              "group.remote.assignor) are refused; consumer.group.instance.id makes each thread a "
              "static member `<id>-<thread number>`.");
    d->Prefix("producer.", &O::producer_properties,
              "Passed to the threads' producers (a producer key above); bootstrap.servers and "
              "client.id are refused.");
    return d;
  }();
  return *def;
}

absl::Status StreamsConfig::Validate() const {
  RETURN_IF_ERROR(StreamsConfigDef().Validate(*this));
  for (char c : application_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "application.id: '", application_id,
          "' may hold only letters, digits, '.', '_' and '-' (it prefixes topic names)"));
    }
  }
  for (const auto& [key, value] : consumer_properties) {
    if (kRuntimeConsumerKeys.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("consumer.", key, ": set by the Streams runtime, not configurable"));
    }
  }
  for (const auto& [key, value] : producer_properties) {
    if (kRuntimeProducerKeys.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("producer.", key, ": set by the Streams runtime, not configurable"));
    }
  }
  return absl::OkStatus();
}

DeserializationExceptionHandler StreamsConfig::DeserializationHandler() const {
  if (deserialization_exception_handler) return deserialization_exception_handler;
  switch (default_deserialization_exception_handler) {
    case DeserializationHandlerName::kLogAndContinue:
      return LogAndContinueExceptionHandler();
    case DeserializationHandlerName::kLogAndFail:
      break;
  }
  return LogAndFailExceptionHandler();
}

ProductionExceptionHandler StreamsConfig::ProductionHandler() const {
  if (production_exception_handler) return production_exception_handler;
  switch (default_production_exception_handler) {
    case ProductionHandlerName::kAlwaysContinue:
      return AlwaysContinueProductionExceptionHandler();
    case ProductionHandlerName::kDefault:
      break;
  }
  // DefaultProductionExceptionHandler's answer without it: the collector then keeps no copy of
  // each record for a handler that would only say fail.
  return nullptr;
}

absl::StatusOr<StreamsConfig> StreamsConfig::FromProperties(const client::Properties& properties) {
  StreamsConfig c;
  RETURN_IF_ERROR(StreamsConfigDef().Parse(properties, &c));
  RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace runnel::streams
