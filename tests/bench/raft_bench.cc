// The Raft state machine's own cost (docs/BENCHMARKS.md): no network, no disk — LocalCluster
// carries messages in memory and completes persistence rounds on the spot, so these are upper
// bounds set by raft::Node alone.
//   BM_RaftCommit3Nodes       entries committed per second by one group of 3 nodes, proposals in
//                             batches of `range(0)` between deliveries (group commit)
//   BM_RaftTick10kGroups      one tick of 10,000 idle groups of 3 nodes (heartbeats and their
//                             answers delivered): the per-partition cost of carrying a group
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/raft/sim/local_cluster.h"

namespace runnel::raft::sim {
namespace {

void BM_RaftCommit3Nodes(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  LocalCluster cluster(3, [](Options& o) { o.max_inflight = 256; });
  if (!cluster.Elect(1)) {
    state.SkipWithError("no leader");
    return;
  }
  const std::string payload(100, 'x');
  int64_t committed = 0;
  for (auto _ : state) {
    const Index before = cluster.node(1).commit_index();
    for (int i = 0; i < batch; ++i) {
      if (!cluster.node(1).Propose(payload).ok()) {
        state.SkipWithError("proposal refused");
        return;
      }
    }
    if (!cluster.Deliver()) {
      state.SkipWithError("delivery did not settle");
      return;
    }
    committed += cluster.node(1).commit_index() - before;
    // Retention keeps the logs small (what a partition's log does).
    if (cluster.log(1).entries().size() > 100000) {
      for (NodeId id = 1; id <= 3; ++id) {
        const Index through =
            std::min(cluster.node(id).commit_index(), cluster.log(id).LastIndex());
        cluster.log(id).CompactThrough(through, "");
      }
    }
  }
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RaftCommit3Nodes)->Arg(1)->Arg(64)->Arg(1024);

void BM_RaftTick10kGroups(benchmark::State& state) {
  constexpr int kGroups = 10000;
  std::vector<std::unique_ptr<LocalCluster>> groups;
  groups.reserve(kGroups);
  for (int g = 0; g < kGroups; ++g) {
    groups.push_back(std::make_unique<LocalCluster>(3));
    if (!groups.back()->Elect(1)) {
      state.SkipWithError("no leader");
      return;
    }
  }
  int64_t group_ticks = 0;
  for (auto _ : state) {
    for (auto& group : groups) {
      for (NodeId id = 1; id <= 3; ++id) group->node(id).Tick();
      if (!group->Deliver()) {
        state.SkipWithError("delivery did not settle");
        return;
      }
    }
    group_ticks += kGroups;
  }
  state.counters["group_ticks/s"] =
      benchmark::Counter(static_cast<double>(group_ticks), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RaftTick10kGroups)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace runnel::raft::sim
