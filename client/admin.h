// Admin: topic and cluster administration over the Admin gRPC service
// (proto/runnel/v1/admin.proto). Errors come back as absl::Status naming what was wrong; the
// broker's per-topic error codes map to codes a caller can branch on (AlreadyExists, NotFound,
// InvalidArgument, ...).
//
// A call goes to the bootstrap.servers entry that answered last; one that finds it UNAVAILABLE (not
// listening, starting, restarting) goes to each other entry in turn (any broker answers admin
// calls), and when none answers, to all of them again after 100, 200 and 400 ms. Thread-safety:
// an Admin may be used from several threads at once.
//
// Everything here is plain C++: the gRPC stubs and protobuf messages stay in admin.cc.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runnel::config {
template <typename O>
class ConfigDef;  // common/config_def.h
}  // namespace runnel::config

namespace runnel::client {

struct AdminOptions {
  std::string bootstrap_servers = "127.0.0.1:7070";  // bootstrap.servers (HOST:PORT,...)
  int32_t request_timeout_ms = 30000;                // request.timeout.ms

  // Errors name the key: "request.timeout.ms: 0 must be at least 1".
  absl::Status Validate() const;
  // From Kafka-named properties; unknown keys ("<key>: unknown admin setting") and bad values are
  // errors naming the key.
  static absl::StatusOr<AdminOptions> FromProperties(
      const std::map<std::string, std::string>& properties);
};

// The admin client's keys: names, types, ranges, docs, defaults from AdminOptions{}.
const config::ConfigDef<AdminOptions>& AdminConfigDef();

struct TopicSpec {
  std::string name;
  int32_t partitions = 0;          // 0: the broker's num.partitions
  int32_t replication_factor = 0;  // 0: the broker default
  std::map<std::string, std::string> configs;
};

// One row of ListTopics.
struct TopicListing {
  std::string name;
  int32_t partitions = 0;
  int32_t replication_factor = 0;
  bool internal = false;  // the broker's own (__consumer_offsets); listed with include_internal
};

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = 0;  // -1: no leader known (an election is running)
  std::vector<int32_t> replicas;
  int64_t log_start_offset = 0;
  int64_t high_watermark = 0;
  int64_t size_bytes = 0;
  std::vector<int32_t> isr;  // in-sync replicas, as the leader counts them
  int64_t log_end_offset = 0;
  int32_t leader_epoch = 0;
  // A reassignment in progress: the brokers joining the replicas and those leaving them.
  std::vector<int32_t> adding_replicas;
  std::vector<int32_t> removing_replicas;
};

struct TopicDescription {
  std::string name;
  std::vector<PartitionInfo> partitions;
  // name -> (value, is_default)
  std::map<std::string, std::pair<std::string, bool>> configs;
};

struct BrokerDescription {
  int32_t node_id = 0;
  std::string address;
  int32_t partitions_led = 0;
  std::string rack;
  bool alive = true;        // registered and heartbeating (not fenced)
  bool controller = false;  // a voter of the metadata log
};

struct GroupListing {
  std::string group_id;
  std::string state;  // "Empty": no members
  int32_t members = 0;
};

// One row of a group description: a partition the group committed an offset for.
struct GroupPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t committed = -1;
  int64_t end_offset = -1;  // -1 if the topic or partition no longer exists
  int64_t lag = -1;         // end_offset - committed, -1 when unknown
  std::string member_id;    // empty: no member owns it
  std::string client_host;
};

// Where ResetGroupOffsets moves a group's offsets.
struct OffsetResetSpec {
  enum class Kind { kEarliest, kLatest, kOffset } kind = Kind::kEarliest;
  int64_t offset = 0;                // for kOffset; must lie within the partition's log
  std::optional<int32_t> partition;  // only this partition (default: every partition)
};

struct ClusterDescription {
  std::string cluster_id;
  int32_t controller_id = 0;
  std::vector<BrokerDescription> brokers;
};

class Admin {
 public:
  static absl::StatusOr<std::unique_ptr<Admin>> Create(const AdminOptions& options);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  absl::Status CreateTopic(const TopicSpec& topic);
  absl::Status DeleteTopic(const std::string& name);
  absl::StatusOr<std::vector<TopicListing>> ListTopics(bool include_internal = false);
  absl::StatusOr<TopicDescription> DescribeTopic(const std::string& name);
  absl::Status AlterTopicConfigs(const std::string& name,
                                 const std::map<std::string, std::string>& set,
                                 const std::vector<std::string>& remove = {});
  absl::StatusOr<ClusterDescription> DescribeCluster();
  // Moves partitions of `topic` to the brokers listed for each (the preferred leader first; the
  // current list again cancels a move in progress). A cluster only. OK once every move began;
  // DescribeTopic shows the progress (adding_replicas / removing_replicas empty again: done).
  absl::Status ReassignPartitions(const std::string& topic,
                                  const std::map<int32_t, std::vector<int32_t>>& replicas);
  // Removes the registration of broker `node_id` (Kafka's UnregisterBroker): stopped (fenced), no
  // partition left on it (ReassignPartitions), not a controller. NotFound when it is not
  // registered; InvalidArgument naming why otherwise. A cluster only.
  absl::Status UnregisterBroker(int32_t node_id);

  // Consumer groups.
  absl::StatusOr<std::vector<GroupListing>> ListGroups();
  // One row per partition the group committed or a member owns (with the member and its host).
  // NotFound for a group without members and committed offsets.
  absl::StatusOr<std::vector<GroupPartition>> DescribeGroup(const std::string& group);
  // NotFound for an unknown group; FailedPrecondition while it has members.
  absl::Status DeleteGroup(const std::string& group);
  // Commits new offsets for `topic` (all partitions, or spec.partition) and returns them, as
  // Kafka's kafka-consumer-groups --reset-offsets --execute. Refused (FailedPrecondition) while
  // the group has members; an offset outside a partition's log is an error naming it.
  absl::StatusOr<std::vector<GroupPartition>> ResetGroupOffsets(const std::string& group,
                                                                const std::string& topic,
                                                                const OffsetResetSpec& spec);

 private:
  struct Impl;  // the channel and stubs (admin.cc)
  explicit Admin(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace runnel::client
