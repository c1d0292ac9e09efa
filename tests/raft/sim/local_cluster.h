// LocalCluster: N raft::Node over MemoryLogs in one thread, messages carried in order from one
// queue, each persistence round completed on the spot (the MemoryLog stands for a synced disk).
// The unit tests drive it step by step; the benchmarks measure the state machine with it, without
// a network or a disk in the way.
//
// Thread-safety: none.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "raft/memory_log.h"
#include "raft/node.h"

namespace runnel::raft::sim {

class LocalCluster {
 public:
  // Nodes 1..n, all voters; `tweak` adjusts each node's options.
  explicit LocalCluster(int n, const std::function<void(Options&)>& tweak = nullptr);

  Node& node(NodeId id) { return *nodes_[id - 1]; }
  MemoryLog& log(NodeId id) { return *logs_[id - 1]; }
  HardState stored(NodeId id) const { return states_[id - 1]; }
  // Node `id`'s options, used from its next Restart or Wipe.
  Options& options(NodeId id) { return options_[id - 1]; }
  std::deque<Message>& queue() { return queue_; }
  int size() const { return static_cast<int>(nodes_.size()); }

  // A new Node over what node `id` stored (still catching up if it was: a driver persists that).
  void Restart(NodeId id);
  // A new Node over an empty log and no hard state: node `id`'s disk was wiped. With
  // `catching_up`, the node knows it lost its state (Options::catching_up).
  void Wipe(NodeId id, bool catching_up = false);
  // Queues node `id`'s messages, completing its persistence rounds. False if it kept producing
  // rounds past a bound (a bug).
  bool Flush(NodeId id);
  // Carries queued messages until none are left (unless `drop` says to lose one). False past
  // `max_messages` deliveries.
  bool Deliver(const std::function<bool(const Message&)>& drop = nullptr,
               int max_messages = 100000);
  // Ticks node `id` until it campaigns, then carries the election through.
  bool Elect(NodeId id);

 private:
  std::vector<std::unique_ptr<MemoryLog>> logs_;
  std::vector<Options> options_;
  std::vector<HardState> states_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::deque<Message> queue_;
};

// Options for node `id` of a group with these voters, as the tests and benchmarks use them.
Options LocalOptions(NodeId id, std::set<NodeId> voters);

}  // namespace runnel::raft::sim
