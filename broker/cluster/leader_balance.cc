#include "broker/cluster/leader_balance.h"

#include <algorithm>

namespace runnel::broker {

std::vector<std::pair<storage::TopicPartition, raft::NodeId>> PreferredLeaderMoves(
    const LeaderBalanceOptions& options,
    const std::map<storage::TopicPartition, PartitionLeadership>& partitions,
    const std::set<raft::NodeId>& alive) {
  // Per preferred broker: the partitions with a known leader it prefers, and those led by others.
  std::map<raft::NodeId, std::pair<int64_t, int64_t>> preferred;  // id -> {total, led elsewhere}
  for (const auto& [tp, p] : partitions) {
    if (p.replicas.empty() || p.leader == raft::kNoNode) continue;
    auto& [total, elsewhere] = preferred[p.replicas.front()];
    ++total;
    if (p.leader != p.replicas.front()) ++elsewhere;
  }
  std::vector<std::pair<storage::TopicPartition, raft::NodeId>> moves;
  for (const auto& [tp, p] : partitions) {
    if (p.leader != options.self || p.replicas.empty()) continue;
    const raft::NodeId target = p.replicas.front();
    if (target == options.self || !alive.contains(target)) continue;
    if (std::find(p.in_sync.begin(), p.in_sync.end(), target) == p.in_sync.end()) continue;
    const auto& [total, elsewhere] = preferred.at(target);
    // elsewhere / total > percentage / 100, in integers.
    if (elsewhere * 100 <= total * options.imbalance_percentage) continue;
    moves.emplace_back(tp, target);
  }
  return moves;
}

}  // namespace runnel::broker
