// ReplicatedOffsetsAppender: the OffsetsAppender of a cluster's broker. The topic is created by
// the controller through its internal path (ClusterNode::EnsureInternalTopic: replicas
// min(3, brokers), cleanup.policy=compact); a batch is checked and stamped by the partition's log
// (Log::PrepareAppend) and proposed to the partition's Raft group (ReplicaManager::Produce with
// wait_commit), so `done` is called once the batch is committed: fsync'd on a majority.
//
// Thread-safety: Append may be called from any thread; `done` runs on the replication thread.
#pragma once

#include "broker/cluster/cluster_node.h"
#include "broker/group/offsets_appender.h"

namespace runnel::broker {

class ReplicatedOffsetsAppender final : public OffsetsAppender {
 public:
  // How long Append waits for a newly created topic's partition to elect a leader.
  static constexpr int64_t kLeaderWaitMs = 5'000;

  // Borrows `cluster`, which must outlive this.
  explicit ReplicatedOffsetsAppender(ClusterNode* cluster) : cluster_(cluster) {}

  // As OffsetsAppender; FailedPrecondition naming the leader when this broker does not lead the
  // group's partition, Unavailable when the topic cannot be created or has no leader yet.
  absl::Status Append(const std::string& group, int32_t num_partitions, std::string batch,
                      std::function<void(absl::Status)> done) override;

 private:
  ClusterNode* const cluster_;
};

}  // namespace runnel::broker
