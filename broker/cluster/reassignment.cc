#include "broker/cluster/reassignment.h"

#include <algorithm>
#include <set>

#include "common/check.h"

namespace runnel::broker {

ReassignmentStep NextReassignmentStep(const raft::Membership& current,
                                      const std::vector<raft::NodeId>& target,
                                      const std::vector<raft::NodeId>& in_sync,
                                      raft::NodeId leader) {
  RUNNEL_CHECK(!target.empty(), "a reassignment with no target replicas");
  const std::set<raft::NodeId>& voters = current.voters();
  std::set<raft::NodeId> joining;  // target brokers not voting yet
  for (raft::NodeId id : target) {
    if (!voters.contains(id)) joining.insert(id);
  }
  // 1. The learners are exactly the target brokers that do not vote yet.
  if (current.learners() != joining) return {raft::Membership(voters, joining), false};
  // 2. Promote a learner in sync, in the target's order.
  if (!joining.empty()) {
    for (raft::NodeId id : target) {
      if (!joining.contains(id)) continue;
      if (std::find(in_sync.begin(), in_sync.end(), id) == in_sync.end()) continue;
      std::set<raft::NodeId> next_voters = voters;
      next_voters.insert(id);
      joining.erase(id);
      return {raft::Membership(std::move(next_voters), std::move(joining)), false};
    }
    return {std::nullopt, false};  // catching up
  }
  // 3. Remove a voter the target leaves out, the leader last — only while every target voter is
  // in sync, so the smaller group has an in-sync majority (Kafka waits for the whole target in
  // the ISR too): removing a live voter while target voters are down could leave no majority.
  const std::set<raft::NodeId> wanted(target.begin(), target.end());
  const bool target_in_sync = std::all_of(target.begin(), target.end(), [&](raft::NodeId id) {
    return std::find(in_sync.begin(), in_sync.end(), id) != in_sync.end();
  });
  raft::NodeId remove = raft::kNoNode;
  for (raft::NodeId id : voters) {
    if (wanted.contains(id)) continue;
    if (remove == raft::kNoNode || remove == leader) remove = id;
  }
  if (remove != raft::kNoNode) {
    if (!target_in_sync) return {std::nullopt, false};
    std::set<raft::NodeId> next_voters = voters;
    next_voters.erase(remove);
    return {raft::Membership(std::move(next_voters), {}), false};
  }
  // 4. The group is the target.
  return {std::nullopt, true};
}

bool CompletesReassignment(const v1::PartitionLeader& report, const std::string& topic_id,
                           const Reassignment& reassignment) {
  return report.topic_id() == topic_id && report.image_version() >= reassignment.started_at &&
         std::equal(report.reassigned_to().begin(), report.reassigned_to().end(),
                    reassignment.target.begin(), reassignment.target.end());
}

}  // namespace runnel::broker
