// SubscriptionState (client/internal/subscription_state.h) on its own: assignment, positions and
// their epochs, pause / resume, the positions auto.offset.reset looks up, and the reset a fetch
// asks for when a position is out of range. No broker: it is state only.
#include "client/internal/subscription_state.h"

#include <gtest/gtest.h>

namespace runnel::client::internal {
namespace {

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};

TEST(SubscriptionStateTest, ANewPartitionHasNoPositionUntilOneIsSet) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  EXPECT_EQ(state.Position(kP0), std::nullopt);
  EXPECT_EQ(state.WithoutPosition(), std::vector<TopicPartition>{kP0});
  EXPECT_TRUE(state.Positions().empty());
  EXPECT_FALSE(SubscriptionState::IsFetchable(*state.Find(kP0)));

  state.SetPosition(kP0, 42);
  EXPECT_EQ(state.Position(kP0), 42);
  EXPECT_TRUE(state.WithoutPosition().empty());
  EXPECT_EQ(state.Positions(), (std::map<TopicPartition, int64_t>{{kP0, 42}}));
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP0)));
}

TEST(SubscriptionStateTest, AssignKeepsTheStateOfPartitionsItKeepsAndDropsTheRest) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0, kP1}).ok());
  ASSERT_TRUE(state.Seek(kP0, 7).ok());
  ASSERT_TRUE(state.SetPaused({kP0}, true).ok());
  const TopicPartition p2{"t", 2};
  ASSERT_TRUE(state.Assign({p2, kP0}).ok());
  EXPECT_EQ(state.Assignment(), (std::vector<TopicPartition>{kP0, p2}));
  EXPECT_EQ(state.Position(kP0), 7);
  EXPECT_EQ(state.Paused(), std::vector<TopicPartition>{kP0});
  EXPECT_FALSE(state.IsAssigned(kP1));
  EXPECT_EQ(state.Position(p2), std::nullopt);
}

TEST(SubscriptionStateTest, AssignRefusesAnEmptyTopicOrANegativePartitionAndChangesNothing) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  EXPECT_EQ(state.Assign({kP1, {"", 0}}).code(), absl::StatusCode::kInvalidArgument);
  const absl::Status negative = state.Assign({{"t", -1}});
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(negative.message(), "assign: partition -1 of t is negative");
  EXPECT_EQ(state.Assignment(), std::vector<TopicPartition>{kP0});
}

TEST(SubscriptionStateTest, SeekNeedsAnAssignedPartitionAndANonNegativeOffset) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  const absl::Status unassigned = state.Seek(kP1, 3);
  EXPECT_EQ(unassigned.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(unassigned.message(), "seek: partition t-1 is not assigned");
  EXPECT_EQ(state.Seek(kP0, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state.Position(kP0), std::nullopt);
  EXPECT_FALSE(state.IsAssigned(kP1));
}

TEST(SubscriptionStateTest, EverySeekStartsANewEpochButHandingOutRecordsDoesNot) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0, kP1}).ok());
  EXPECT_EQ(state.Find(kP0)->epoch, 0u);
  ASSERT_TRUE(state.Seek(kP0, 10).ok());
  const uint64_t first = state.Find(kP0)->epoch;
  EXPECT_GT(first, 0u);

  state.Advance(kP0, 15);
  EXPECT_EQ(state.Position(kP0), 15);
  EXPECT_EQ(state.Find(kP0)->epoch, first);

  ASSERT_TRUE(state.Seek(kP0, 15).ok());  // even to the same offset
  EXPECT_GT(state.Find(kP0)->epoch, first);
}

TEST(SubscriptionStateTest, APartitionAssignedAgainNeverReusesAnEpoch) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  ASSERT_TRUE(state.Seek(kP0, 1).ok());
  const uint64_t before = state.Find(kP0)->epoch;
  state.Remove({kP0});
  state.Add({kP0});
  EXPECT_EQ(state.Position(kP0), std::nullopt);
  state.SetPosition(kP0, 1);
  // A fetch still in flight for the old assignment carries `before`: it must not match.
  EXPECT_GT(state.Find(kP0)->epoch, before);
}

TEST(SubscriptionStateTest, AddKeepsPartitionsAlreadyAssigned) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  state.Add({kP0});
  state.SetPosition(kP0, 9);
  state.Add({kP0, kP1});
  EXPECT_EQ(state.Position(kP0), 9);
  EXPECT_EQ(state.AssignedSet(), (std::set<TopicPartition>{kP0, kP1}));
  state.Clear();
  EXPECT_TRUE(state.empty());
}

TEST(SubscriptionStateTest, PausedPartitionsAreNotFetchableUntilResumed) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0, kP1}).ok());
  state.SetPosition(kP0, 0);
  state.SetPosition(kP1, 0);
  ASSERT_TRUE(state.SetPaused({kP1}, true).ok());
  EXPECT_EQ(state.Paused(), std::vector<TopicPartition>{kP1});
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP0)));
  EXPECT_FALSE(SubscriptionState::IsFetchable(*state.Find(kP1)));
  EXPECT_EQ(state.Position(kP1), 0);  // a paused partition keeps its position

  ASSERT_TRUE(state.SetPaused({kP1}, false).ok());
  EXPECT_TRUE(state.Paused().empty());
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP1)));
}

TEST(SubscriptionStateTest, PausingAPartitionNotAssignedPausesNothing) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  const absl::Status s = state.SetPaused({kP0, kP1}, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "pause: partition t-1 is not assigned");
  EXPECT_TRUE(state.Paused().empty());
  EXPECT_EQ(state.SetPaused({kP1}, false).message(), "resume: partition t-1 is not assigned");
}

TEST(SubscriptionStateTest, PartitionsWithoutPositionAreLookedUpByAutoOffsetReset) {
  SubscriptionState earliest(AutoOffsetReset::kEarliest);
  ASSERT_TRUE(earliest.Assign({kP0, kP1}).ok());
  earliest.SetPosition(kP1, 5);
  auto queries = earliest.ResetQueries();
  ASSERT_TRUE(queries.ok());
  EXPECT_EQ(*queries, (std::map<TopicPartition, int64_t>{{kP0, kEarliest}}));

  SubscriptionState latest(AutoOffsetReset::kLatest);
  ASSERT_TRUE(latest.Assign({kP0}).ok());
  EXPECT_EQ(*latest.ResetQueries(), (std::map<TopicPartition, int64_t>{{kP0, kLatest}}));

  SubscriptionState none(AutoOffsetReset::kNone);
  ASSERT_TRUE(none.Assign({kP0}).ok());
  const auto refused = none.ResetQueries();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "partition t-0 has no position and auto.offset.reset is none");
  none.SetPosition(kP0, 3);
  EXPECT_TRUE(none.ResetQueries()->empty());  // nothing to look up, so no error
}

TEST(SubscriptionStateTest, AnOutOfRangePositionAwaitsAResetAndIsNotFetchedMeanwhile) {
  SubscriptionState state(AutoOffsetReset::kEarliest);
  ASSERT_TRUE(state.Assign({kP0, kP1}).ok());
  state.SetPosition(kP0, 500);
  state.SetPosition(kP1, 0);
  ASSERT_TRUE(state.RequestReset(kP0, "offset 500 is out of range for t-0 (log 0..50)").ok());
  EXPECT_FALSE(SubscriptionState::IsFetchable(*state.Find(kP0)));
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP1)));
  EXPECT_EQ(state.Position(kP0), 500);  // until the reset's offset is known
  const auto pending = state.PendingResets();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending.at(kP0).query, kEarliest);
  EXPECT_EQ(pending.at(kP0).why, "offset 500 is out of range for t-0 (log 0..50)");

  const uint64_t epoch = state.Find(kP0)->epoch;
  state.SetPosition(kP0, 0);  // the looked-up log start
  EXPECT_EQ(state.Position(kP0), 0);
  EXPECT_GT(state.Find(kP0)->epoch, epoch);
  EXPECT_TRUE(state.PendingResets().empty());
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP0)));
}

TEST(SubscriptionStateTest, AnOutOfRangePositionResetsToTheLatestOffsetUnderLatest) {
  SubscriptionState state(AutoOffsetReset::kLatest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  state.SetPosition(kP0, 500);
  ASSERT_TRUE(state.RequestReset(kP0, "out of range").ok());
  EXPECT_EQ(state.PendingResets().at(kP0).query, kLatest);
}

TEST(SubscriptionStateTest, AnOutOfRangePositionUnderNoneIsAnErrorAndStays) {
  SubscriptionState state(AutoOffsetReset::kNone);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  state.SetPosition(kP0, 500);
  const absl::Status s = state.RequestReset(kP0, "offset 500 is out of range for t-0 (log 0..50)");
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(),
            "offset 500 is out of range for t-0 (log 0..50) and auto.offset.reset is none");
  EXPECT_TRUE(state.PendingResets().empty());
  EXPECT_EQ(state.Position(kP0), 500);
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP0)));
}

TEST(SubscriptionStateTest, ACancelledResetLeavesThePositionToBeFetchedAgain) {
  SubscriptionState state(AutoOffsetReset::kEarliest);
  ASSERT_TRUE(state.Assign({kP0}).ok());
  state.SetPosition(kP0, 500);
  const uint64_t epoch = state.Find(kP0)->epoch;
  ASSERT_TRUE(state.RequestReset(kP0, "out of range").ok());
  state.CancelResets();
  EXPECT_TRUE(state.PendingResets().empty());
  EXPECT_EQ(state.Position(kP0), 500);
  EXPECT_EQ(state.Find(kP0)->epoch, epoch);
  EXPECT_TRUE(SubscriptionState::IsFetchable(*state.Find(kP0)));
}

TEST(SubscriptionStateTest, PartitionsNotAssignedAreIgnoredBySetPositionAndResets) {
  SubscriptionState state(AutoOffsetReset::kEarliest);
  state.SetPosition(kP0, 3);
  state.Advance(kP0, 4);
  EXPECT_TRUE(state.RequestReset(kP0, "out of range").ok());
  EXPECT_TRUE(state.empty());
  EXPECT_TRUE(state.PendingResets().empty());
}

}  // namespace
}  // namespace runnel::client::internal
