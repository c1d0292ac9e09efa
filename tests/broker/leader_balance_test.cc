#include "broker/cluster/leader_balance.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

namespace runnel::broker {
namespace {

using Moves = std::vector<std::pair<storage::TopicPartition, raft::NodeId>>;

storage::TopicPartition Tp(int32_t partition) { return {"t", partition}; }

// Three brokers, three partitions preferring 1, 2 and 3; broker 1 leads all of them (2 and 3
// were restarted), everything in sync.
std::map<storage::TopicPartition, PartitionLeadership> AllOnOne() {
  std::map<storage::TopicPartition, PartitionLeadership> partitions;
  partitions[Tp(0)] = {{1, 2, 3}, 1, {1, 2, 3}};
  partitions[Tp(1)] = {{2, 3, 1}, 1, {1, 2, 3}};
  partitions[Tp(2)] = {{3, 1, 2}, 1, {1, 2, 3}};
  return partitions;
}

TEST(LeaderBalanceTest, ALeaderHandsPartitionsBackToTheirPreferredLeaders) {
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, AllOnOne(), {1, 2, 3}),
            (Moves{{Tp(1), 2}, {Tp(2), 3}}));
  // Only the leader moves its partitions: broker 2 leads none of them.
  EXPECT_TRUE(
      PreferredLeaderMoves({.self = 2, .imbalance_percentage = 10}, AllOnOne(), {1, 2, 3}).empty());
}

TEST(LeaderBalanceTest, APreferredLeaderThatIsFencedOrBehindGetsNothing) {
  // Broker 3 is fenced (not alive): only partition 1 moves.
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, AllOnOne(), {1, 2}),
            (Moves{{Tp(1), 2}}));
  // Broker 2 is alive but not in sync for partition 1 (catching up after a wipe).
  auto partitions = AllOnOne();
  partitions[Tp(1)].in_sync = {1, 3};
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, partitions, {1, 2, 3}),
            (Moves{{Tp(2), 3}}));
}

TEST(LeaderBalanceTest, AnImbalanceAtOrBelowThePercentageIsLeftAlone) {
  // Broker 2 prefers 10 partitions and leads 9 of them: 10% led elsewhere, not over 10%.
  std::map<storage::TopicPartition, PartitionLeadership> partitions;
  for (int32_t p = 0; p < 10; ++p) {
    partitions[Tp(p)] = {{2, 1, 3},
                         p == 0 ? 1 : 2,
                         p == 0 ? std::vector<raft::NodeId>{1, 2, 3} : std::vector<raft::NodeId>{}};
  }
  EXPECT_TRUE(
      PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, partitions, {1, 2, 3}).empty());
  // Two of ten (20%) is over it: both that broker 1 leads move.
  partitions[Tp(1)] = {{2, 1, 3}, 1, {1, 2, 3}};
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, partitions, {1, 2, 3}),
            (Moves{{Tp(0), 2}, {Tp(1), 2}}));
  // 0% moves any partition not on its preferred leader.
  partitions[Tp(1)] = {{2, 1, 3}, 2, {}};
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 0}, partitions, {1, 2, 3}),
            (Moves{{Tp(0), 2}}));
}

TEST(LeaderBalanceTest, PartitionsWithoutAKnownLeaderDoNotCount) {
  auto partitions = AllOnOne();
  partitions[Tp(3)] = {{2, 3, 1}, raft::kNoNode, {}};
  partitions[Tp(4)] = {{}, 1, {1}};  // no replica list: nothing to prefer
  EXPECT_EQ(PreferredLeaderMoves({.self = 1, .imbalance_percentage = 10}, partitions, {1, 2, 3}),
            (Moves{{Tp(1), 2}, {Tp(2), 3}}));
}

}  // namespace
}  // namespace runnel::broker
