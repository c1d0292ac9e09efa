// runneld's settings: command-line flags (docs/ARCHITECTURE.md section 6) and the same names,
// with '_' instead of '-', in a TOML file given by --config. Flags win over the file; defaults are
// here.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "storage/flusher.h"
#include "storage/log_config.h"

namespace runnel::broker {

struct BrokerOptions {
  std::string data_dir = "./data";
  std::string grpc_addr = "127.0.0.1:7070";
  std::string http_addr = "127.0.0.1:7080";
  std::string advertised_grpc_addr;  // empty: the bound gRPC address
  int32_t node_id = 0;
  // Clustering (empty peers: a single node). peers: ID@HOST:PORT,... every broker's inter-broker
  // address; controllers: ID,... (default the three lowest ids of peers); cluster_id: default the
  // data dir's, else derived from peers.
  std::string peers;
  std::string inter_broker_addr;
  std::string controllers;
  std::string cluster_id;
  std::string rack;
  int32_t default_replication_factor = 1;      // default.replication.factor
  int32_t broker_heartbeat_interval_ms = 500;  // broker.heartbeat.interval.ms
  int32_t broker_session_timeout_ms = 6'000;   // broker.session.timeout.ms
  int32_t replica_lag_time_max_ms = 30'000;    // replica.lag.time.max.ms
  // Preferred-leader balancing (broker/cluster/leader_balance.h); 0 turns it off.
  int64_t leader_imbalance_check_interval_ms = 300'000;  // leader.imbalance.check.interval.ms
  int32_t leader_imbalance_per_broker_percentage = 10;   // leader.imbalance.per.broker.percentage
  std::string log_level = "info";
  int32_t num_partitions = 1;             // num.partitions
  bool auto_create_topics = true;         // auto.create.topics.enable
  int32_t offsets_topic_partitions = 50;  // offsets.topic.num.partitions (of __consumer_offsets)
  // Consumer-group members: the broker decides, as in Kafka's consumer protocol.
  int32_t group_session_timeout_ms = 45000;    // group.consumer.session.timeout.ms
  int32_t group_heartbeat_interval_ms = 5000;  // group.consumer.heartbeat.interval.ms
  // Broker-wide topic defaults (Kafka's log.retention.ms and friends, kLogDefaultSettings), by
  // topic config name ("retention.ms" -> "86400000"); a topic's own configs override them.
  std::map<std::string, std::string> log_defaults;
  int32_t max_partitions_per_topic = 10'000;  // a create asking for more is refused
  // Partitions on the broker; 0: derived from the file descriptor limit (each partition holds
  // one), which runneld raises to its hard limit at start.
  int64_t max_partitions = 0;
  int32_t produce_max_in_flight = 1000;             // per Produce stream (BrokerServiceOptions)
  int64_t max_uncompressed_batch_bytes = 64 << 20;  // a batch's records, decompressed
  int32_t log_flush_threads = 4;                    // logs fdatasynced at once (storage::Flusher)
  // acks=all appends waiting for a sync at once (storage::Flusher)
  int64_t log_flush_max_waiting = storage::Flusher::kDefaultMaxWaiting;
  // The fetch path (FetchScheduler): reads done at once, the largest response, and the record
  // bytes of every response being built or sent together.
  int32_t fetch_threads = 0;           // 0: one per core, at least 2 (FetchOptions::ThreadsFor)
  int64_t fetch_max_bytes = 55 << 20;  // Kafka's fetch.max.bytes
  int64_t fetch_memory_bytes = int64_t{256} << 20;
  int64_t fetch_max_parked = 10'000;  // long polls waiting for data at once
  // Below this much free space in the data dir, produce is refused (storage::DiskSpace).
  int64_t log_dir_min_free_bytes = int64_t{1} << 30;
  // The reserve file metadata writes may release on a full disk (storage::DiskSpace).
  int64_t log_dir_reserve_bytes = int64_t{8} << 20;
  // The log cleaner (storage::LogCleaner): its dedupe map's memory and its sleep when idle.
  int64_t log_cleaner_dedupe_buffer_bytes = int64_t{128} << 20;
  int64_t log_cleaner_backoff_ms = 15'000;
  // Idempotent producers idle this long are forgotten (Kafka's producer.id.expiration.ms), checked
  // this often.
  int64_t producer_id_expiration_ms = 86'400'000;
  int64_t producer_id_expiration_check_interval_ms = 600'000;

  absl::Status Validate() const;
  // The LogConfig every topic starts from: Runnel's defaults with log_defaults applied.
  absl::StatusOr<storage::LogConfig> LogDefaults() const;
};

// The broker settings that set topic defaults: flag/TOML name (without "--", '_' in TOML) and the
// topic config it sets (Kafka's broker names: log.retention.ms, log.roll.ms, ...).
inline constexpr std::pair<const char*, const char*> kLogDefaultSettings[] = {
    {"log-retention-ms", "retention.ms"},
    {"log-retention-bytes", "retention.bytes"},
    {"log-segment-bytes", "segment.bytes"},
    {"log-roll-ms", "segment.ms"},
    {"log-cleanup-policy", "cleanup.policy"},
    {"message-max-bytes", "max.message.bytes"},
    {"log-cleaner-min-cleanable-ratio", "min.cleanable.dirty.ratio"},
    {"log-cleaner-delete-retention-ms", "delete.retention.ms"},
};

// Parses argv (and the --config file it names). Returns InvalidArgument naming the bad flag or
// key; `help` is set (and OK returned with defaults) when --help was asked for, with the text in
// `*help_text`.
absl::StatusOr<BrokerOptions> ParseBrokerOptions(int argc, const char* const* argv, bool* help,
                                                 std::string* help_text);

}  // namespace runnel::broker
