// Partition reassignment, the leader's part: a pure decision of the next membership change that
// moves a partition's Raft group towards a reassignment's target (metadata_image.h, Reassignment),
// taken by the partition's leader every heartbeat until the group's committed membership is the
// target. The order keeps the group available and never waits on a broker still catching up:
//   1. every target broker not yet a voter joins as a learner (learners of an earlier target that
//      this one leaves out are dropped in the same change);
//   2. a learner in sync (its log matches the leader's up to the commit index) is promoted to
//      voter, one at a time (the single-server rule, raft::Membership::CheckSingleStep);
//   3. once every target broker votes and is in sync, the voters left out are removed one at a
//      time, the leader last (raft::Node hands leadership on once its own removal is committed);
//   4. then the group is the target: the controller sees it in the leader's heartbeat and records
//      the reassignment completed.
#pragma once

#include <optional>
#include <vector>

#include "broker/cluster/metadata_image.h"
#include "raft/membership.h"
#include "raft/types.h"
#include "runnel/v1/controller.pb.h"

namespace runnel::broker {

struct ReassignmentStep {
  // The membership to propose next; none when waiting (a learner catching up) or done.
  std::optional<raft::Membership> next;
  bool done = false;  // the committed membership is the target
};

// `current` is the group's committed membership, `target` the reassignment's replicas (non-empty,
// distinct), `in_sync` the members the leader counts in sync and `leader` the leader's id.
ReassignmentStep NextReassignmentStep(const raft::Membership& current,
                                      const std::vector<raft::NodeId>& target,
                                      const std::vector<raft::NodeId>& in_sync,
                                      raft::NodeId leader);

// The controller's side: whether a partition leader's heartbeat `report` completes `reassignment`
// of the topic with id `topic_id` — the leader found its group's committed membership to be
// exactly this target, on an image that already had this target (a report made before the
// target changed, even to the same list again, does not count).
bool CompletesReassignment(const v1::PartitionLeader& report, const std::string& topic_id,
                           const Reassignment& reassignment);

}  // namespace runnel::broker
