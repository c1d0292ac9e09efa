// CoordinatorShards: which consumer groups this broker coordinates in a cluster. A group's
// coordinator is the leader of the group's partition of __consumer_offsets (OffsetsPartitionFor),
// as in Kafka, so it moves with that partition's leadership and finds the group's state in the
// partition's replicated log.
//
// A background pass (every kRefreshMs) compares what this broker leads with what the
// GroupCoordinator holds: a partition led here, once the leader's first entry of its term is
// committed (so everything an earlier leader committed is too), is loaded from this broker's
// replica up to the high watermark (GroupCoordinator::LoadPartition); a partition no longer led
// here, or led in a newer term than it was loaded in, is unloaded (or reloaded). Check() is what
// the GroupsService asks before it serves a group: NONE only for a group of a partition loaded in
// the leader's current term.
//
// Ownership: borrows the ClusterNode, the GroupCoordinator and the OffsetStore, which outlive it.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "broker/cluster/cluster_node.h"
#include "broker/group/group_coordinator.h"
#include "broker/group/offset_store.h"
#include "common/mutex.h"
#include "raft/types.h"
#include "runnel/v1/groups.pb.h"

namespace runnel::broker {

class CoordinatorShards {
 public:
  static constexpr int64_t kRefreshMs = 50;
  // How long Find waits for a newly created offsets partition to elect a leader.
  static constexpr int64_t kLeaderWaitMs = 5'000;

  CoordinatorShards(ClusterNode* cluster, GroupCoordinator* coordinator, OffsetStore* offsets)
      : cluster_(cluster), coordinator_(coordinator), offsets_(offsets) {}
  ~CoordinatorShards();  // Stop()
  CoordinatorShards(const CoordinatorShards&) = delete;
  CoordinatorShards& operator=(const CoordinatorShards&) = delete;

  // Starts the refresh thread. Idempotent; nothing after Stop().
  void Start();
  // Stops and joins it; the groups stay loaded. Idempotent.
  void Stop();

  // One refresh pass (what the thread runs every kRefreshMs).
  void Refresh();

  // Whether this broker serves `group` now: NONE; COORDINATOR_LOAD_IN_PROGRESS while it loads
  // the group's partition; NOT_COORDINATOR naming the partition's leader when another broker
  // leads it; COORDINATOR_NOT_AVAILABLE when no leader is known (or the topic does not exist).
  v1::Error Check(const std::string& group) const;

  // The FindCoordinator answer for `group`: creates __consumer_offsets when it does not exist
  // (`num_partitions` partitions, compacted) and waits up to kLeaderWaitMs for the group's
  // partition to have a leader. Blocks: call it off the gRPC event threads' hot path.
  v1::FindCoordinatorResponse Find(const std::string& group, int32_t num_partitions);

 private:
  // What is loaded: partition -> the leader term it was loaded in.
  std::map<int32_t, raft::Term> LoadedCopy() const;
  void RefreshLoop();

  ClusterNode* const cluster_;
  GroupCoordinator* const coordinator_;
  OffsetStore* const offsets_;
  // Serialises passes (the thread's and a test's), so loads and unloads never interleave.
  Mutex refresh_mu_;
  mutable Mutex mu_;
  CondVar cv_;
  std::map<int32_t, raft::Term> loaded_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
