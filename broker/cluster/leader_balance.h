// Preferred-leader balancing (Kafka's auto.leader.rebalance.enable): a partition's preferred
// leader is the first broker of its replica list, which the controller's placement spreads over
// the brokers; after failovers and restarts leadership piles up on the brokers that stayed, and
// this moves it back. A pure decision, taken by each broker for the partitions it leads (it then
// transfers leadership, raft::Node's TransferLeadership), every leader.imbalance.check.interval.ms:
// a partition moves to its preferred leader when that broker is alive (registered, not fenced),
// in sync (a voter whose log matches up to the commit index) and its imbalance — the share of the
// partitions it prefers that others lead — is over leader.imbalance.per.broker.percentage, as in
// Kafka.
#pragma once

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "storage/log_manager.h"

namespace runnel::broker {

// What the balancer knows of one partition.
struct PartitionLeadership {
  std::vector<raft::NodeId> replicas;   // the preferred leader first
  raft::NodeId leader = raft::kNoNode;  // as last reported (kNoNode: none known)
  // When this broker leads it: the replicas in sync (the leader included); empty otherwise.
  std::vector<raft::NodeId> in_sync;
};

struct LeaderBalanceOptions {
  raft::NodeId self = raft::kNoNode;
  int32_t imbalance_percentage = 10;  // leader.imbalance.per.broker.percentage
};

// The partitions `options.self` leads that should go to their preferred leader now, with that
// leader; in partition order. `alive` holds the brokers registered and not fenced.
std::vector<std::pair<storage::TopicPartition, raft::NodeId>> PreferredLeaderMoves(
    const LeaderBalanceOptions& options,
    const std::map<storage::TopicPartition, PartitionLeadership>& partitions,
    const std::set<raft::NodeId>& alive);

}  // namespace runnel::broker
