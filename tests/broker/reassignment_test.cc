// The leader's reassignment steps (broker/cluster/reassignment.h).
#include "broker/cluster/reassignment.h"

#include <gtest/gtest.h>

#include <vector>

namespace runnel::broker {
namespace {

using raft::Membership;

// Applies steps to `group` as the leader would (each change committed before the next), with
// `in_sync` as the members in sync at each step; the memberships it went through, the last one
// the one it stopped at (done, or waiting).
std::vector<Membership> Walk(Membership group, const std::vector<raft::NodeId>& target,
                             const std::vector<raft::NodeId>& in_sync, raft::NodeId leader,
                             bool* done) {
  std::vector<Membership> seen = {group};
  *done = false;
  for (int step = 0; step < 20; ++step) {
    const ReassignmentStep next = NextReassignmentStep(group, target, in_sync, leader);
    if (next.done) {
      *done = true;
      break;
    }
    if (!next.next.has_value()) break;
    EXPECT_TRUE(group.CheckSingleStep(*next.next).ok())
        << group.ToString() << " -> " << next.next->ToString();
    group = *next.next;
    seen.push_back(group);
  }
  return seen;
}

TEST(ReassignmentTest, NewReplicasJoinAsLearnersArePromotedThenTheOldOnesLeaveTheLeaderLast) {
  bool done = false;
  const std::vector<Membership> steps =
      Walk(Membership({1, 2, 3}), {4, 5, 3}, {1, 2, 3, 4, 5}, /*leader=*/1, &done);
  EXPECT_TRUE(done);
  EXPECT_EQ(steps, (std::vector<Membership>{
                       Membership({1, 2, 3}),
                       Membership({1, 2, 3}, {4, 5}),
                       Membership({1, 2, 3, 4}, {5}),  // the target's order: 4 first
                       Membership({1, 2, 3, 4, 5}),
                       Membership({1, 3, 4, 5}),  // 2 before the leader
                       Membership({3, 4, 5}),
                   }));
}

TEST(ReassignmentTest, ALearnerNotInSyncIsWaitedFor) {
  bool done = false;
  const std::vector<Membership> steps =
      Walk(Membership({1, 2}), {2, 3}, /*in_sync=*/{1, 2}, /*leader=*/1, &done);
  EXPECT_FALSE(done);
  EXPECT_EQ(steps.back(), Membership({1, 2}, {3}));  // added, never promoted, nobody removed
  const ReassignmentStep waiting = NextReassignmentStep(steps.back(), {2, 3}, {1, 2}, 1);
  EXPECT_FALSE(waiting.next.has_value());
  EXPECT_FALSE(waiting.done);
}

TEST(ReassignmentTest, NoVoterIsRemovedWhileATargetVoterIsOutOfSync) {
  // Moving {1, 2, 3} to {4, 5, 6}: all promoted, then 5 and 6 fall behind. Removing 2 and 3 would
  // leave {1, 4, 5, 6} with two live voters of four: no majority.
  const Membership all({1, 2, 3, 4, 5, 6});
  const ReassignmentStep waiting = NextReassignmentStep(all, {4, 5, 6}, {1, 2, 3, 4}, 1);
  EXPECT_FALSE(waiting.next.has_value());
  EXPECT_FALSE(waiting.done);
  const ReassignmentStep going = NextReassignmentStep(all, {4, 5, 6}, {1, 2, 3, 4, 5, 6}, 1);
  ASSERT_TRUE(going.next.has_value());
  EXPECT_EQ(*going.next, Membership({1, 3, 4, 5, 6}));
}

TEST(ReassignmentTest, AChangedTargetDropsTheEarlierTargetsLearnersAndVoters) {
  // Moving {1, 2} to {2, 3} got as far as promoting 3 and adding nobody else; the target is now
  // {2, 4}: 4 joins, then 1 and 3 leave.
  bool done = false;
  const std::vector<Membership> steps =
      Walk(Membership({1, 2, 3}), {2, 4}, {1, 2, 3, 4}, /*leader=*/2, &done);
  EXPECT_TRUE(done);
  EXPECT_EQ(steps.back(), Membership({2, 4}));
  EXPECT_EQ(steps[1], Membership({1, 2, 3}, {4}));
  // A learner of an earlier target the new one leaves out is dropped in the first change.
  const ReassignmentStep drop = NextReassignmentStep(Membership({1, 2}, {3}), {1, 2}, {1, 2}, 1);
  ASSERT_TRUE(drop.next.has_value());
  EXPECT_EQ(*drop.next, Membership({1, 2}));
}

TEST(ReassignmentTest, AGroupAlreadyAtItsTargetIsDone) {
  const ReassignmentStep step = NextReassignmentStep(Membership({1, 2, 3}), {3, 1, 2}, {1}, 1);
  EXPECT_TRUE(step.done);
  EXPECT_FALSE(step.next.has_value());
}

TEST(ReassignmentTest, OnlyAReportOfThisVeryReassignmentCompletesIt) {
  const Reassignment moving{{2, 3}, {1, 2, 3}, /*started_at=*/10};
  v1::PartitionLeader report;
  report.set_topic_id("id-1");
  report.add_reassigned_to(2);
  report.add_reassigned_to(3);
  report.set_image_version(10);
  EXPECT_TRUE(CompletesReassignment(report, "id-1", moving));
  // A report decided on an image from before this target was set (a cancel and a new move to the
  // same list since): the group may have moved meanwhile.
  report.set_image_version(9);
  EXPECT_FALSE(CompletesReassignment(report, "id-1", moving));
  report.set_image_version(12);
  EXPECT_FALSE(CompletesReassignment(report, "id-2", moving)) << "another topic of that name";
  report.clear_reassigned_to();
  report.add_reassigned_to(3);
  report.add_reassigned_to(2);
  EXPECT_FALSE(CompletesReassignment(report, "id-1", moving)) << "another preferred leader";
  report.clear_reassigned_to();
  EXPECT_FALSE(CompletesReassignment(report, "id-1", moving)) << "not done";
}

}  // namespace
}  // namespace runnel::broker
