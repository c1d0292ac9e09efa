// Reconciliation's rules, one step at a time, without a coordinator: a member gives up what its
// target drops before it gets anything new, gains only partitions nobody else holds, and waits
// while it still reports partitions it was told to revoke.
#include "broker/group/reconciliation.h"

#include <gtest/gtest.h>

namespace runnel::broker {
namespace {

const auto kNobodyElse = [](const TopicPartitions&) { return TopicPartitions{}; };

CurrentAssignment At(int32_t epoch, TopicPartitions assigned, TopicPartitions revoking = {}) {
  CurrentAssignment a;
  a.epoch = epoch;
  a.assigned = std::move(assigned);
  a.revoking = std::move(revoking);
  return a;
}

TEST(ReconciliationTest, AStableMemberIsLeftAsItIs) {
  const CurrentAssignment current = At(3, {{"t", {0, 1}}});
  const ReconcileStep step = Reconcile(current, {{"t", {0, 1}}}, {{"t", {0, 1}}}, 3, kNobodyElse);
  EXPECT_EQ(step.next, current);
  EXPECT_FALSE(step.revocation_started);
  EXPECT_TRUE(step.gained.empty());
}

TEST(ReconciliationTest, ANewMemberTakesItsWholeFreeTargetAndTheTargetEpoch) {
  const ReconcileStep step = Reconcile(At(0, {}), {}, {{"t", {0, 1}}}, 5, kNobodyElse);
  EXPECT_EQ(step.next.epoch, 5);
  EXPECT_EQ(step.next.previous_epoch, 0);
  EXPECT_EQ(step.next.assigned, (TopicPartitions{{"t", {0, 1}}}));
  EXPECT_EQ(step.gained, (TopicPartitions{{"t", {0, 1}}}));
}

TEST(ReconciliationTest, PartitionsTheTargetDropsAreRevokedFirstWithTheEpochKept) {
  const ReconcileStep step =
      Reconcile(At(3, {{"t", {0, 1}}}), {{"t", {0, 1}}}, {{"t", {0, 2}}}, 4, kNobodyElse);
  EXPECT_TRUE(step.revocation_started);
  EXPECT_EQ(step.next.epoch, 3) << "no new epoch before the revocation is confirmed";
  EXPECT_EQ(step.next.assigned, (TopicPartitions{{"t", {0}}}));
  EXPECT_EQ(step.next.revoking, (TopicPartitions{{"t", {1}}}));
  EXPECT_TRUE(step.gained.empty()) << "nothing new while giving partitions up";
}

TEST(ReconciliationTest, WhileTheMemberStillOwnsWhatItRevokesNothingChanges) {
  const CurrentAssignment revoking = At(3, {{"t", {0}}}, {{"t", {1}}});
  const ReconcileStep step = Reconcile(revoking, {{"t", {0, 1}}}, {{"t", {0, 2}}}, 4, kNobodyElse);
  EXPECT_EQ(step.next, revoking);
  EXPECT_FALSE(step.revocation_started);
}

TEST(ReconciliationTest, OnceRevokedTheMemberMovesToTheTargetEpochAndGains) {
  const ReconcileStep step =
      Reconcile(At(3, {{"t", {0}}}, {{"t", {1}}}), {{"t", {0}}}, {{"t", {0, 2}}}, 4, kNobodyElse);
  EXPECT_TRUE(step.next.revoking.empty());
  EXPECT_EQ(step.next.epoch, 4);
  EXPECT_EQ(step.next.previous_epoch, 3);
  EXPECT_EQ(step.next.assigned, (TopicPartitions{{"t", {0, 2}}}));
  EXPECT_EQ(step.gained, (TopicPartitions{{"t", {2}}}));
}

TEST(ReconciliationTest, PartitionsAnotherMemberHoldsWaitUntilItLetsGo) {
  TopicPartitions asked;
  const auto other_holds_1 = [&asked](const TopicPartitions& wanted) {
    asked = wanted;
    return TopicPartitions{{"t", {1}}};
  };
  const ReconcileStep step = Reconcile(At(2, {}), {}, {{"t", {0, 1}}}, 3, other_holds_1);
  EXPECT_EQ(asked, (TopicPartitions{{"t", {0, 1}}})) << "asked about what it wants only";
  EXPECT_EQ(step.next.epoch, 3);
  EXPECT_EQ(step.next.assigned, (TopicPartitions{{"t", {0}}}));
  // The other member let go: the next step takes it.
  const ReconcileStep later = Reconcile(step.next, {{"t", {0}}}, {{"t", {0, 1}}}, 3, kNobodyElse);
  EXPECT_EQ(later.next.assigned, (TopicPartitions{{"t", {0, 1}}}));
  EXPECT_EQ(later.gained, (TopicPartitions{{"t", {1}}}));
}

TEST(ReconciliationTest, OthersAreNotAskedWhenNothingIsWanted) {
  const auto must_not_ask = [](const TopicPartitions&) {
    ADD_FAILURE() << "asked who holds partitions while wanting none";
    return TopicPartitions{};
  };
  const ReconcileStep step =
      Reconcile(At(2, {{"t", {0}}}), {{"t", {0}}}, {{"t", {0}}}, 3, must_not_ask);
  EXPECT_EQ(step.next.epoch, 3);
  EXPECT_EQ(step.next.assigned, (TopicPartitions{{"t", {0}}}));
}

}  // namespace
}  // namespace runnel::broker
