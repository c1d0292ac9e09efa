// ServingLog: the log a client call (produce, fetch, list offsets) may use for a partition on
// this broker. On a single node that is the partition's log; in a cluster it is this broker's
// replica when it leads the partition, and otherwise a NOT_LEADER answer naming the leader
// (error_codes.h), so the client goes there.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "broker/cluster/cluster_node.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/blocking_calls.h"
#include "common/mutex.h"
#include "storage/log.h"

namespace runnel::broker {

// Creates a cluster's missing topics for produce requests on `calls`' threads, so that a request
// thread never waits for the controller (up to its propose timeout) — a burst of produces to
// missing topics while the controller is away would otherwise hold every one of them. One
// creation per topic is under way at a time, and at most kMaxCreating in all (the threads are
// shared with FindCoordinator and InitProducerId). Thread-safe; `calls` must be stopped before
// this goes (its queued work uses it).
class BackgroundTopicCreator {
 public:
  static constexpr size_t kMaxCreating = 2;
  // How long a creation the controller refused (a bad replication factor, partition count or
  // config) is the answer to produces to the topic, before one is tried again.
  static constexpr std::chrono::seconds kRefusalKept{10};
  static constexpr size_t kMaxRefusalsKept = 1024;

  // All borrowed.
  BackgroundTopicCreator(PartitionManager* partitions, ClusterNode* cluster, BlockingCalls* calls)
      : partitions_(partitions), cluster_(cluster), calls_(calls) {}

  // For a produce to missing `topic` (a valid name, not an internal topic): starts creating it
  // unless that is under way, and returns the answer — NOT_LEADER (retry), or, after the
  // controller refused to create it, NotFound naming why.
  absl::Status Start(const std::string& topic);

 private:
  PartitionManager* const partitions_;
  ClusterNode* const cluster_;
  BlockingCalls* const calls_;
  Mutex mu_;
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  struct Refusal {
    absl::Status why;
    std::chrono::steady_clock::time_point at;
  };
  absl::flat_hash_map<std::string, Refusal> refused_ ABSL_GUARDED_BY(mu_);
};

// `cluster` is null on a single node. With `allow_auto_create` a missing topic is created when
// auto-creation is on (in a cluster by the controller, with the default replication factor):
// here and now, or, given `background`, by it while the answer is NOT_LEADER (no leader named:
// retry). A cluster's broker that has not caught up with the metadata log answers a topic it does
// not know yet with NOT_LEADER too, not as unknown.
absl::StatusOr<std::shared_ptr<storage::Log>> ServingLog(
    PartitionManager& partitions, ClusterNode* cluster, const std::string& topic, int32_t partition,
    bool allow_auto_create, BackgroundTopicCreator* background = nullptr);

// False while this broker leads the partition with a high watermark that has not reached the
// start of its term: the previous leader's last commits are not known committed here yet, so the
// high watermark (a ListOffsets answer) could be below one the previous leader gave out. Kafka's
// leader answers OFFSET_NOT_AVAILABLE then (KIP-207).
bool OffsetsSettled(const ClusterNode& cluster, const std::string& topic, int32_t partition);

// The NOT_LEADER answer for a partition this broker does not lead.
absl::Status NotLeaderFor(const ClusterNode& cluster, const std::string& topic, int32_t partition,
                          const PartitionRoute& route);

}  // namespace runnel::broker
