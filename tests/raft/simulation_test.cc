// The deterministic simulation at CI's seed count: 16,000 seeds over 8 shards (each a ctest case,
// so they run in parallel; about 25 s on 2 cores), 2,000 under the sanitizers, which run the same
// code several times slower. `build/bin/raft_sim --seeds 100000 --jobs 2` runs many more, and
// scripts/raft-mutations.sh shows that planted bugs are found within this count.
#include "tests/raft/sim/simulation.h"

#include <gtest/gtest.h>

namespace runnel::raft::sim {
namespace {

constexpr int kShards = 8;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kSeedsPerShard = 250;
#else
constexpr uint64_t kSeedsPerShard = 2000;
#endif

class RaftSimulationTest : public ::testing::TestWithParam<int> {
 protected:
  static void SetUpTestSuite() { InstallAbortReporter(); }
};

TEST_P(RaftSimulationTest, EverySeedKeepsSafetyAndElectsAndCommitsAfterTheFaults) {
  const uint64_t first = 1 + static_cast<uint64_t>(GetParam()) * kSeedsPerShard;
  int64_t committed = 0;
  int64_t crashes = 0;
  int64_t snapshots = 0;
  int64_t reads = 0;
  for (uint64_t seed = first; seed < first + kSeedsPerShard; ++seed) {
    SimConfig config;
    config.seed = seed;
    SimResult result = RunSimulation(config);
    ASSERT_TRUE(result.status.ok()) << result.status << "\nreplay: " << ReplayCommand(config);
    committed += result.committed_entries;
    crashes += result.crashes;
    snapshots += result.snapshots_installed;
    reads += result.reads;
  }
  // The faults happened and the cluster still made progress (a simulation that commits nothing
  // or never crashes a node proves nothing).
  EXPECT_GT(committed, static_cast<int64_t>(kSeedsPerShard) * 20);
  EXPECT_GT(crashes, static_cast<int64_t>(kSeedsPerShard) / 4);
  EXPECT_GT(snapshots, 0);
  EXPECT_GT(reads, static_cast<int64_t>(kSeedsPerShard));
}

INSTANTIATE_TEST_SUITE_P(Seeds, RaftSimulationTest, ::testing::Range(0, kShards));

}  // namespace
}  // namespace runnel::raft::sim
