#include "tests/raft/sim/local_cluster.h"

namespace runnel::raft::sim {

Options LocalOptions(NodeId id, std::set<NodeId> voters) {
  Options options;
  options.id = id;
  options.membership = Membership(std::move(voters));
  options.election_ticks = 10;
  options.heartbeat_ticks = 1;
  options.seed = 7;
  return options;
}

LocalCluster::LocalCluster(int n, const std::function<void(Options&)>& tweak) {
  std::set<NodeId> voters;
  for (NodeId id = 1; id <= n; ++id) voters.insert(id);
  for (NodeId id = 1; id <= n; ++id) {
    logs_.push_back(std::make_unique<MemoryLog>());
    options_.push_back(LocalOptions(id, voters));
    if (tweak) tweak(options_.back());
    states_.emplace_back();
    nodes_.push_back(nullptr);
  }
  for (NodeId id = 1; id <= n; ++id) Restart(id);
}

void LocalCluster::Restart(NodeId id) {
  if (nodes_[id - 1] != nullptr) options_[id - 1].catching_up = nodes_[id - 1]->catching_up();
  nodes_[id - 1] = std::make_unique<Node>(options_[id - 1], logs_[id - 1].get(), states_[id - 1]);
}

void LocalCluster::Wipe(NodeId id, bool catching_up) {
  logs_[id - 1] = std::make_unique<MemoryLog>();
  states_[id - 1] = HardState{};
  nodes_[id - 1].reset();
  options_[id - 1].catching_up = catching_up;
  Restart(id);
}

bool LocalCluster::Flush(NodeId id) {
  for (int i = 0; i < 100; ++i) {
    for (Message& m : node(id).TakeMessages()) queue_.push_back(std::move(m));
    if (!node(id).HasReady()) return true;
    Ready ready = node(id).TakeReady();
    if (ready.hard_state.has_value()) states_[id - 1] = *ready.hard_state;
    for (Message& m : ready.messages) queue_.push_back(std::move(m));
    node(id).Advance();
  }
  return false;
}

bool LocalCluster::Deliver(const std::function<bool(const Message&)>& drop, int max_messages) {
  for (NodeId id = 1; id <= size(); ++id) {
    if (!Flush(id)) return false;
  }
  for (int i = 0; i < max_messages && !queue_.empty(); ++i) {
    Message m = std::move(queue_.front());
    queue_.pop_front();
    if (drop && drop(m)) continue;
    node(m.to).Step(m);
    if (!Flush(m.to)) return false;
  }
  return queue_.empty();
}

bool LocalCluster::Elect(NodeId id) {
  for (int i = 0; i < 100 && node(id).role() == Role::kFollower; ++i) node(id).Tick();
  return Deliver() && node(id).role() == Role::kLeader;
}

}  // namespace runnel::raft::sim
