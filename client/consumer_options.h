// ConsumerOptions: the settings of a Consumer (client/consumer.h), named after Kafka's consumer
// configs, and their checks. Filled field by field or from Kafka-named properties
// (FromProperties); Consumer::Create validates them. Each key's range and doc are written once, in
// the table of consumer_options.cc (ConsumerConfigDef(), rendered in docs/CONFIG.md). A plain
// value: it owns nothing, and a const one may be read from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/properties.h"

namespace runnel::config {
template <typename O>
class ConfigDef;  // common/config_def.h
}  // namespace runnel::config

namespace runnel::client {

enum class AutoOffsetReset { kEarliest, kLatest, kNone };

struct ConsumerOptions {
  std::string bootstrap_servers = "127.0.0.1:7070";  // bootstrap.servers (HOST:PORT,...)
  std::string client_id;                             // client.id
  int32_t fetch_min_bytes = 1;                       // fetch.min.bytes
  int32_t fetch_max_bytes = 52428800;                // fetch.max.bytes
  int32_t fetch_max_wait_ms = 500;                   // fetch.max.wait.ms
  int32_t max_partition_fetch_bytes = 1048576;       // max.partition.fetch.bytes
  int32_t max_poll_records = 500;                    // max.poll.records
  AutoOffsetReset auto_offset_reset = AutoOffsetReset::kLatest;  // auto.offset.reset
  int32_t request_timeout_ms = 30000;                            // request.timeout.ms
  int32_t retry_backoff_ms = 100;                                // retry.backoff.ms
  // default.api.timeout.ms: how long offset lookups (Seek*, BeginningOffsets, EndOffsets,
  // OffsetsForTimes) keep trying while a partition has no leader or its leader is unreachable.
  int32_t default_api_timeout_ms = 60000;
  bool check_crcs = true;  // check.crcs
  // group.id: with it, a partition without a position starts at the group's committed offset
  // (auto.offset.reset only when there is none), Commit stores positions for the group, and
  // Subscribe makes the consumer a member of the group.
  std::string group_id;
  std::string group_instance_id;           // group.instance.id: a static member
  std::string group_remote_assignor;       // group.remote.assignor: uniform|range (broker default)
  int32_t max_poll_interval_ms = 300000;   // max.poll.interval.ms: the rebalance timeout
  bool enable_auto_commit = true;          // enable.auto.commit (with group.id)
  int32_t auto_commit_interval_ms = 5000;  // auto.commit.interval.ms

  // Errors name the key: "max.poll.records: 0 must be at least 1".
  absl::Status Validate() const;
  // From Kafka-named properties; unknown keys ("group.idd: unknown consumer setting") and bad
  // values are errors naming the key.
  static absl::StatusOr<ConsumerOptions> FromProperties(const Properties& properties);
};

// The consumer's keys: names, types, ranges, docs, defaults from ConsumerOptions{}.
const config::ConfigDef<ConsumerOptions>& ConsumerConfigDef();

}  // namespace runnel::client
