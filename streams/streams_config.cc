#include "streams/streams_config.h"

#include <cctype>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::streams {

namespace {
// Client settings the runtime owns: a thread's consumer and producer work only with these.
const std::set<std::string> kRuntimeConsumerKeys = {"bootstrap.servers",  "group.id",
                                                    "enable.auto.commit", "auto.offset.reset",
                                                    "client.id",          "group.remote.assignor"};
const std::set<std::string> kRuntimeProducerKeys = {"bootstrap.servers", "client.id"};
}  // namespace

absl::Status StreamsConfig::Validate() const {
  if (application_id.empty()) return absl::InvalidArgumentError("application.id is not set");
  for (char c : application_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "application.id: '", application_id,
          "' may hold only letters, digits, '.', '_' and '-' (it prefixes topic names)"));
    }
  }
  if (bootstrap_servers.empty()) return absl::InvalidArgumentError("bootstrap.servers is empty");
  RETURN_IF_ERROR(client::CheckAtLeast("num.stream.threads", num_stream_threads, 1));
  RETURN_IF_ERROR(client::CheckAtLeast("commit.interval.ms", commit_interval_ms, 1));
  RETURN_IF_ERROR(client::CheckAtLeast("statestore.cache.max.bytes", cache_max_bytes, 0));
  RETURN_IF_ERROR(client::CheckAtLeast("replication.factor", replication_factor, 0));
  if (state_dir.empty()) return absl::InvalidArgumentError("state.dir is empty");
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

absl::StatusOr<StreamsConfig> StreamsConfig::FromProperties(const client::Properties& properties) {
  StreamsConfig c;
  for (const auto& [key, value] : properties) {
    if (key == "application.id") {
      c.application_id = value;
    } else if (key == "bootstrap.servers") {
      c.bootstrap_servers = value;
    } else if (key == "num.stream.threads") {
      RETURN_IF_ERROR(client::ParseProperty(key, value, &c.num_stream_threads));
    } else if (key == "commit.interval.ms") {
      RETURN_IF_ERROR(client::ParseProperty(key, value, &c.commit_interval_ms));
    } else if (key == "state.dir") {
      c.state_dir = value;
    } else if (key == "statestore.cache.max.bytes" || key == "cache.max.bytes.buffering") {
      RETURN_IF_ERROR(client::ParseProperty(key, value, &c.cache_max_bytes));
    } else if (key == "replication.factor") {
      RETURN_IF_ERROR(client::ParseProperty(key, value, &c.replication_factor));
    } else if (key == "processing.guarantee") {
      if (value != "at_least_once") {
        return absl::InvalidArgumentError(absl::StrCat("processing.guarantee: '", value,
                                                       "' is not supported (only at_least_once)"));
      }
    } else if (absl::StartsWith(key, "consumer.")) {
      c.consumer_properties[key.substr(9)] = value;
    } else if (absl::StartsWith(key, "producer.")) {
      c.producer_properties[key.substr(9)] = value;
    } else {
      return client::UnknownProperty(key, "streams");
    }
  }
  RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace runnel::streams
