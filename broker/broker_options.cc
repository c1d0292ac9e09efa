#include "broker/broker_options.h"

#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "broker/server/fetch_scheduler.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {
namespace {

// The topic config a TOML key of kLogDefaultSettings sets, nullptr for other keys.
const char* LogDefaultFor(const std::string& toml_key) {
  for (const auto& [flag, topic_config] : kLogDefaultSettings) {
    std::string key = flag;
    std::replace(key.begin(), key.end(), '-', '_');
    if (key == toml_key) return topic_config;
  }
  return nullptr;
}

// The string settings: TOML key (the flag is the same with '-' for '_'), field and help.
struct StringSetting {
  const char* key;
  std::string BrokerOptions::*field;
  const char* help;
};
const StringSetting kStringSettings[] = {
    {"data_dir", &BrokerOptions::data_dir, "data directory (default ./data)"},
    {"grpc_addr", &BrokerOptions::grpc_addr,
     "gRPC listen address HOST:PORT (default 127.0.0.1:7070)"},
    {"advertised_grpc_addr", &BrokerOptions::advertised_grpc_addr,
     "the HOST:PORT clients are told to use for this broker (Kafka's advertised.listeners; "
     "default the bound --grpc-addr, which must then not be 0.0.0.0 in a cluster)"},
    {"http_addr", &BrokerOptions::http_addr,
     "metrics/health address HOST:PORT (default 127.0.0.1:7080)"},
    {"peers", &BrokerOptions::peers,
     "ID@HOST:PORT,... every broker's inter-broker address (this one's may be listed): forms a "
     "cluster; without it the broker runs alone"},
    {"inter_broker_addr", &BrokerOptions::inter_broker_addr,
     "this broker's inter-broker listener HOST:PORT (default: its --peers entry, else "
     "127.0.0.1:7071)"},
    {"controllers", &BrokerOptions::controllers,
     "ID,... the controller nodes (1 or 3; default: the three lowest ids of --peers)"},
    {"cluster_id", &BrokerOptions::cluster_id,
     "the cluster's id (default: the one in the data dir, else derived from --peers)"},
    {"rack", &BrokerOptions::rack, "this broker's rack, for rack-aware replica placement"},
    {"log_level", &BrokerOptions::log_level, "trace|debug|info|warn|error|critical|off"},
};

const StringSetting* StringSettingFor(const std::string& toml_key) {
  for (const StringSetting& setting : kStringSettings) {
    if (toml_key == setting.key) return &setting;
  }
  return nullptr;
}

// The integer settings: their TOML key (the flag is the same with '-' for '_'), the field they
// set and the flag's help.
struct IntSetting {
  const char* key;
  std::variant<int32_t BrokerOptions::*, int64_t BrokerOptions::*> field;
  const char* help;
};
const IntSetting kIntSettings[] = {
    {"node_id", &BrokerOptions::node_id, "this broker's id (default 0)"},
    {"num_partitions", &BrokerOptions::num_partitions, "partitions of auto-created topics"},
    {"default_replication_factor", &BrokerOptions::default_replication_factor,
     "replicas of a topic created without a replication factor, auto-created ones included "
     "(default 1)"},
    {"broker_heartbeat_interval_ms", &BrokerOptions::broker_heartbeat_interval_ms,
     "how often a broker of a cluster heartbeats to the controller (default 500)"},
    {"broker_session_timeout_ms", &BrokerOptions::broker_session_timeout_ms,
     "a broker that does not heartbeat for this long is fenced (default 6000)"},
    {"replica_lag_time_max_ms", &BrokerOptions::replica_lag_time_max_ms,
     "a follower that has not answered its leader for this long leaves the in-sync replicas "
     "(default 30000)"},
    {"leader_imbalance_check_interval_ms", &BrokerOptions::leader_imbalance_check_interval_ms,
     "how often a broker of a cluster hands partitions back to their preferred leaders (the "
     "first replica) when they are in sync; 0 never (default 300000)"},
    {"leader_imbalance_per_broker_percentage",
     &BrokerOptions::leader_imbalance_per_broker_percentage,
     "partitions go back to a preferred leader only when more than this share of those it "
     "prefers are led by others (default 10)"},
    {"offsets_topic_partitions", &BrokerOptions::offsets_topic_partitions,
     "partitions of __consumer_offsets when it is created (default 50)"},
    {"group_session_timeout_ms", &BrokerOptions::group_session_timeout_ms,
     "a consumer-group member that does not heartbeat for this long is removed (default 45000)"},
    {"group_heartbeat_interval_ms", &BrokerOptions::group_heartbeat_interval_ms,
     "how often consumer-group members heartbeat (default 5000)"},
    {"max_partitions_per_topic", &BrokerOptions::max_partitions_per_topic,
     "a topic create asking for more partitions is refused (default 10000)"},
    {"produce_max_in_flight", &BrokerOptions::produce_max_in_flight,
     "produce requests of one stream waiting for their answer before the broker stops reading "
     "it (default 1000)"},
    {"max_uncompressed_batch_bytes", &BrokerOptions::max_uncompressed_batch_bytes,
     "a batch whose records decompress to more is refused (default 64 MiB)"},
    {"log_flush_max_waiting", &BrokerOptions::log_flush_max_waiting,
     "appends waiting for their sync at once (acks=all produce, commits); one more is answered "
     "KAFKA_STORAGE_ERROR and retried by the producer (default 100000)"},
    {"log_flush_threads", &BrokerOptions::log_flush_threads,
     "partition logs synced (fdatasync) at once (default 4)"},
    {"log_dir_min_free_bytes", &BrokerOptions::log_dir_min_free_bytes,
     "produce is refused while the data dir has less free space (default 1 GiB)"},
    {"log_dir_reserve_bytes", &BrokerOptions::log_dir_reserve_bytes,
     "space held in reserve for metadata writes on a full disk (default 8 MiB)"},
    {"fetch_threads", &BrokerOptions::fetch_threads,
     "fetches read at once, off the gRPC threads (default 0: one per core, at least 2)"},
    {"fetch_max_bytes", &BrokerOptions::fetch_max_bytes,
     "the most record bytes of one fetch response (default 55 MiB)"},
    {"fetch_memory_bytes", &BrokerOptions::fetch_memory_bytes,
     "record bytes of all fetch responses being built or sent; a fetch that finds it spent "
     "waits (default 256 MiB)"},
    {"fetch_max_parked", &BrokerOptions::fetch_max_parked,
     "long-poll fetches waiting for data at once; one more is refused and the client fetches "
     "again after its back-off (default 10000)"},
    {"log_cleaner_dedupe_buffer_bytes", &BrokerOptions::log_cleaner_dedupe_buffer_bytes,
     "memory of the log cleaner's key map, 24 bytes per key; a log with more dirty keys is "
     "cleaned in several rounds (default 128 MiB)"},
    {"log_cleaner_backoff_ms", &BrokerOptions::log_cleaner_backoff_ms,
     "how long the log cleaner sleeps when no compacted log needs cleaning (default 15000)"},
    {"producer_id_expiration_ms", &BrokerOptions::producer_id_expiration_ms,
     "an idempotent producer whose last batch is older is forgotten; its next batch is accepted "
     "whatever its sequence (default 86400000)"},
    {"producer_id_expiration_check_interval_ms",
     &BrokerOptions::producer_id_expiration_check_interval_ms,
     "how often idle idempotent producers are looked for (default 600000)"},
    {"max_partitions", &BrokerOptions::max_partitions,
     "partitions on this broker (default 0: from the file descriptor limit)"},
};

const IntSetting* IntSettingFor(const std::string& toml_key) {
  for (const IntSetting& setting : kIntSettings) {
    if (toml_key == setting.key) return &setting;
  }
  return nullptr;
}

void SetInt(const IntSetting& setting, int64_t value, BrokerOptions* o) {
  std::visit([&](auto field) { o->*field = static_cast<std::decay_t<decltype(o->*field)>>(value); },
             setting.field);
}

absl::Status ApplyToml(const std::string& path, BrokerOptions* o) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": ", e.what()));
  }
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    auto bad = [&](const char* want) {
      return absl::InvalidArgumentError(
          absl::StrCat("--config ", path, ": key '", name, "' must be ", want));
    };
    if (const StringSetting* setting = StringSettingFor(name)) {
      const auto v = node.value<std::string>();
      if (!v) return bad("a string");
      o->*(setting->field) = *v;
    } else if (const IntSetting* setting = IntSettingFor(name)) {
      const auto v = node.value<int64_t>();
      if (!v) return bad("an integer");
      SetInt(*setting, *v, o);
    } else if (const char* topic_config = LogDefaultFor(name)) {
      if (node.is_integer()) {
        o->log_defaults[topic_config] = absl::StrCat(*node.value<int64_t>());
      } else if (const auto d = node.value<double>()) {
        o->log_defaults[topic_config] = absl::StrCat(*d);
      } else if (const auto s = node.value<std::string>()) {
        o->log_defaults[topic_config] = *s;
      } else {
        return bad("a number or a string");
      }
    } else if (name == "auto_create_topics" || name == "auto_create_topics_enable") {
      // The flag's own name, and Kafka's auto.create.topics.enable.
      const auto v = node.value<bool>();
      if (!v) return bad("true or false");
      o->auto_create_topics = *v;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--config ", path, ": unknown key '", name, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BrokerOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data-dir: empty");
  for (const auto& [flag, addr] :
       {std::pair{"--grpc-addr", &grpc_addr}, {"--http-addr", &http_addr}}) {
    const size_t colon = addr->rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == addr->size()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", *addr, "' is not HOST:PORT"));
    }
  }
  if (!advertised_grpc_addr.empty()) {
    const size_t colon = advertised_grpc_addr.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == advertised_grpc_addr.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--advertised-grpc-addr: '", advertised_grpc_addr, "' is not HOST:PORT"));
    }
  }
  if (node_id < 0) return absl::InvalidArgumentError("--node-id: must be 0 or more");
  if (num_partitions < 1) return absl::InvalidArgumentError("num_partitions: must be at least 1");
  if (offsets_topic_partitions < 1) {
    return absl::InvalidArgumentError("offsets_topic_partitions: must be at least 1");
  }
  if (group_heartbeat_interval_ms < 1) {
    return absl::InvalidArgumentError("group_heartbeat_interval_ms: must be at least 1");
  }
  if (group_session_timeout_ms <= group_heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("group_session_timeout_ms: must be more than group_heartbeat_interval_ms (",
                     group_heartbeat_interval_ms, ")"));
  }
  if (peers.empty()) {
    for (const auto& [flag, value] : {std::pair{"--inter-broker-addr", &inter_broker_addr},
                                      {"--controllers", &controllers},
                                      {"--cluster-id", &cluster_id}}) {
      if (!value->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, ": only for a cluster (it needs --peers)"));
      }
    }
  }
  if (default_replication_factor < 1) {
    return absl::InvalidArgumentError("--default-replication-factor: must be at least 1");
  }
  if (broker_heartbeat_interval_ms < 10 ||
      broker_session_timeout_ms < 2 * broker_heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("--broker-heartbeat-interval-ms (", broker_heartbeat_interval_ms,
                     ") must be at least 10 and --broker-session-timeout-ms (",
                     broker_session_timeout_ms, ") at least twice it"));
  }
  if (replica_lag_time_max_ms < 1) {
    return absl::InvalidArgumentError("--replica-lag-time-max-ms: must be at least 1");
  }
  if (leader_imbalance_check_interval_ms < 0) {
    return absl::InvalidArgumentError(
        "--leader-imbalance-check-interval-ms: must be 0 (never) or more");
  }
  if (leader_imbalance_per_broker_percentage < 0 || leader_imbalance_per_broker_percentage > 100) {
    return absl::InvalidArgumentError(
        "--leader-imbalance-per-broker-percentage: must be between 0 and 100");
  }
  if (max_partitions_per_topic < 1) {
    return absl::InvalidArgumentError("--max-partitions-per-topic: must be at least 1");
  }
  if (produce_max_in_flight < 1) {
    return absl::InvalidArgumentError("--produce-max-in-flight: must be at least 1");
  }
  if (max_uncompressed_batch_bytes < 1024) {
    return absl::InvalidArgumentError("--max-uncompressed-batch-bytes: must be at least 1024");
  }
  if (log_flush_max_waiting < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-flush-max-waiting: must be at least 1 (got ", log_flush_max_waiting, ")"));
  }
  if (log_flush_threads < 1 || log_flush_threads > storage::Flusher::kMaxThreads) {
    return absl::InvalidArgumentError(absl::StrCat("--log-flush-threads: must be 1..",
                                                   storage::Flusher::kMaxThreads, " (got ",
                                                   log_flush_threads, ")"));
  }
  if (fetch_threads < 0 || fetch_threads > FetchOptions::kMaxThreads) {
    return absl::InvalidArgumentError(absl::StrCat("--fetch-threads: must be 0 (one per core) to ",
                                                   FetchOptions::kMaxThreads, " (got ",
                                                   fetch_threads, ")"));
  }
  // runneld's gRPC messages are at most 64 MiB; a response's first batch may pass the limit by
  // up to max.message.bytes, so one MiB stays free.
  if (fetch_max_bytes < 1024 || fetch_max_bytes > (63 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("--fetch-max-bytes: must be 1024..", 63 << 20,
                                                   " (got ", fetch_max_bytes, ")"));
  }
  if (fetch_max_parked < 1 || fetch_max_parked > FetchOptions::kMaxParkedLimit) {
    return absl::InvalidArgumentError(absl::StrCat("--fetch-max-parked: must be 1..",
                                                   FetchOptions::kMaxParkedLimit, " (got ",
                                                   fetch_max_parked, ")"));
  }
  if (fetch_memory_bytes < fetch_max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--fetch-memory-bytes: must be at least --fetch-max-bytes (", fetch_max_bytes,
                     "; got ", fetch_memory_bytes, ")"));
  }
  // One batch (max.message.bytes of records of a few bytes each) must fit in the cleaner's map.
  if (log_cleaner_dedupe_buffer_bytes < (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-cleaner-dedupe-buffer-bytes: must be at least 1 MiB (got ",
                     log_cleaner_dedupe_buffer_bytes, ")"));
  }
  if (producer_id_expiration_ms < 1 || producer_id_expiration_check_interval_ms < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--producer-id-expiration-ms and --producer-id-expiration-check-interval-ms: must be at "
        "least 1 (got ",
        producer_id_expiration_ms, " and ", producer_id_expiration_check_interval_ms, ")"));
  }
  if (log_cleaner_backoff_ms < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-cleaner-backoff-ms: must be at least 1 (got ", log_cleaner_backoff_ms, ")"));
  }
  if (log_dir_min_free_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-dir-min-free-bytes: must be 0 or more (got ", log_dir_min_free_bytes, ")"));
  }
  if (log_dir_reserve_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-dir-reserve-bytes: must be 0 or more (got ", log_dir_reserve_bytes, ")"));
  }
  if (max_partitions < 0) {
    return absl::InvalidArgumentError("--max-partitions: must be 0 (from ulimit -n) or more");
  }
  RETURN_IF_ERROR(LogDefaults().status());
  return logging::ParseLevel(log_level).status();
}

absl::StatusOr<storage::LogConfig> BrokerOptions::LogDefaults() const {
  for (const auto& [name, value] : log_defaults) {
    absl::StatusOr<storage::LogConfigOverrides> one =
        storage::ParseLogConfigOverrides({{name, value}});
    if (!one.ok()) {
      for (const auto& [flag, topic_config] : kLogDefaultSettings) {
        if (name == topic_config) {
          return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", one.status().message()));
        }
      }
      return one.status();
    }
  }
  ASSIGN_OR_RETURN(const storage::LogConfigOverrides overrides,
                   storage::ParseLogConfigOverrides(log_defaults));
  const storage::LogConfig config = overrides.ApplyTo(storage::LogConfig{});
  RETURN_IF_ERROR(config.Validate());
  return config;
}

absl::StatusOr<BrokerOptions> ParseBrokerOptions(int argc, const char* const* argv, bool* help,
                                                 std::string* help_text) {
  *help = false;
  CLI::App app{"runneld: the Runnel broker"};
  std::optional<std::string> config;
  std::vector<std::optional<std::string>> string_flags(std::size(kStringSettings));
  std::optional<bool> auto_create;
  std::map<std::string, std::optional<std::string>> log_flags;  // topic config -> flag value
  // Per kIntSettings entry, the flag's value, of the field's type (CLI11 checks the range).
  using IntFlag = std::variant<std::optional<int32_t>, std::optional<int64_t>>;
  std::vector<IntFlag> int_flags;
  for (const IntSetting& setting : kIntSettings) {
    int_flags.push_back(std::holds_alternative<int32_t BrokerOptions::*>(setting.field)
                            ? IntFlag(std::optional<int32_t>())
                            : IntFlag(std::optional<int64_t>()));
  }
  for (size_t i = 0; i < string_flags.size(); ++i) {
    std::string flag = absl::StrCat("--", kStringSettings[i].key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    app.add_option(flag, string_flags[i], kStringSettings[i].help);
  }
  app.add_option("--config", config, "TOML file with the same settings (names with _)");
  for (size_t i = 0; i < int_flags.size(); ++i) {
    std::string flag = absl::StrCat("--", kIntSettings[i].key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    std::visit([&](auto& value) { app.add_option(flag, value, kIntSettings[i].help); },
               int_flags[i]);
  }
  app.add_option("--auto-create-topics", auto_create,
                 "create unknown topics on produce (true/false)");
  for (const auto& [flag, topic_config] : kLogDefaultSettings) {
    app.add_option(absl::StrCat("--", flag), log_flags[topic_config],
                   absl::StrCat("default ", topic_config, " of every topic"));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *help = true;
    *help_text = app.help();
    return BrokerOptions{};
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  BrokerOptions o;
  if (config) RETURN_IF_ERROR(ApplyToml(*config, &o));
  for (size_t i = 0; i < string_flags.size(); ++i) {
    if (string_flags[i]) o.*(kStringSettings[i].field) = *string_flags[i];
  }
  for (size_t i = 0; i < int_flags.size(); ++i) {
    std::visit(
        [&](const auto& value) {
          if (value.has_value()) SetInt(kIntSettings[i], *value, &o);
        },
        int_flags[i]);
  }
  if (auto_create) o.auto_create_topics = *auto_create;
  for (const auto& [topic_config, value] : log_flags) {
    if (value) o.log_defaults[topic_config] = *value;
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace runnel::broker
