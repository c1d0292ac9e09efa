// StreamsConfig: the settings of a Streams application, with Kafka Streams' names.
//
//   application.id              required; the consumer group id, the prefix of internal topics
//                               ("<id>-<name>-repartition", "<id>-<store>-changelog") and the
//                               directory of the application's stores under state.dir
//   bootstrap.servers           default 127.0.0.1:7070
//   num.stream.threads          default 1; each thread is one member of the group
//   commit.interval.ms          default 30000 (Kafka Streams' at-least-once default): how often
//                               caches are flushed, output is flushed and offsets are committed
//   state.dir                   default /tmp/runnel-streams; persistent (RocksDB) stores live in
//                               <state.dir>/<application.id>/<task id>/rocksdb/<store>
//   statestore.cache.max.bytes  default 10485760; each task's record caches may hold this
//                               divided by num.stream.threads
//   processing.guarantee        at_least_once (the only one; exactly_once needs transactions)
//   replication.factor          of the internal topics the runtime creates; default 0, the
//                               broker's default
//   consumer.<key>, producer.<key>
//                               passed to the threads' consumers and producers (Kafka's prefixes);
//                               the keys the runtime sets itself (group.id, enable.auto.commit,
//                               group.remote.assignor, ...) are refused; consumer.group.instance.id
//                               makes each thread a static member "<id>-<thread number>"
//
// Plain data; Validate names the bad key.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/properties.h"

namespace runnel::streams {

struct StreamsConfig {
  std::string application_id;
  std::string bootstrap_servers = "127.0.0.1:7070";
  int32_t num_stream_threads = 1;
  int64_t commit_interval_ms = 30000;
  std::string state_dir = "/tmp/runnel-streams";
  int64_t cache_max_bytes = 10 * 1024 * 1024;
  int32_t replication_factor = 0;
  client::Properties consumer_properties;  // without the "consumer." prefix
  client::Properties producer_properties;  // without the "producer." prefix

  absl::Status Validate() const;
  // Unknown keys and bad values are errors naming the key.
  static absl::StatusOr<StreamsConfig> FromProperties(const client::Properties& properties);
};

}  // namespace runnel::streams
