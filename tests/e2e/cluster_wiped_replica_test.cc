// A wiped broker must not elect a replica that misses acknowledged records. Four brokers, one
// controller (node 1, never touched), a partition on nodes 2, 3 and 4: one follower is paused while
// records are acknowledged at acks=all by the other two; then the other follower's disk is wiped
// and the leader killed. The wiped broker has forgotten the records it helped commit, so its vote
// for the paused replica (whose log looks longer than its own empty one) would elect a leader
// without them — and the old leader, on its return, would be truncated to match. It waits instead
// (raft::Options::catching_up: the replica is older than the broker's new data dir), and once the
// leader is back every acknowledged record is there.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using storage::testing::MakeBatch;
using storage::testing::TempDir;

constexpr char kTopic[] = "kept";

TEST(ClusterWipedReplicaTest, AWipedFollowerDoesNotElectAReplicaMissingAcknowledgedRecords) {
  TempDir dir;
  ClusterProcesses cluster(dir.path(), 4, {"--controllers", "1"});
  ASSERT_TRUE(cluster.StartAll());
  ASSERT_TRUE(cluster.WaitForBrokers(1, 4));
  ASSERT_EQ(cluster.CreateTopic(1, kTopic, 1, 3).code(), v1::NONE);
  // Onto nodes 2, 3 and 4 (the controller stays out of it).
  ASSERT_TRUE(cluster.MovePartition(1, kTopic, 0, {2, 3, 4}));
  const int leader = cluster.WaitForLeader(kTopic, 0, {1, 2, 3, 4}, {2, 3, 4});
  ASSERT_GT(leader, 0);
  std::vector<int> followers;
  for (int id : {2, 3, 4}) {
    if (id != leader) followers.push_back(id);
  }
  const int paused = followers[0];
  const int wiped = followers[1];

  // Acknowledged by the leader and `wiped` only.
  ASSERT_EQ(::kill(cluster.node(paused).pid(), SIGSTOP), 0);
  constexpr int kBatches = 5;
  for (int b = 0; b < kBatches; ++b) {
    const v1::PartitionProduceResult result = cluster.Client(leader).Produce(
        kTopic, MakeBatch(10, 1000, "acked-" + std::to_string(b)), v1::ACKS_ALL, 0, 10'000);
    ASSERT_EQ(result.error().code(), v1::NONE) << result.error().message();
  }

  // `wiped` loses its disk; the leader dies; `paused` comes back without the records.
  ASSERT_EQ(cluster.node(wiped).Kill(), 128 + SIGKILL);
  std::filesystem::remove_all(cluster.DataDir(wiped));
  ASSERT_EQ(cluster.node(leader).Kill(), 128 + SIGKILL);
  ASSERT_EQ(::kill(cluster.node(paused).pid(), SIGCONT), 0);
  ASSERT_TRUE(cluster.Start(wiped));
  // It knows its copy is gone: the partition is older than its new data dir.
  const std::string marker = cluster.DataDir(wiped) + "/kept-0/raft-catching-up";
  EXPECT_TRUE(Eventually([&] { return std::filesystem::exists(marker); }, std::chrono::seconds(10)))
      << "the wiped broker's replica does not count itself as catching up";
  // Several election timeouts (0.6-1.2 s each): no leader may come of `paused` and `wiped`.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    for (int id : {paused, wiped}) {
      const v1::MetadataResponse m = cluster.Metadata(id, kTopic);
      if (m.topics_size() == 1 && m.topics(0).partitions_size() == 1) {
        const int elected = m.topics(0).partitions(0).leader();
        ASSERT_NE(elected, paused)
            << "node " << paused << " was elected without the acknowledged records";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // The old leader returns: a leader holding every acknowledged record is elected, and the wiped
  // broker catches up from it.
  ASSERT_TRUE(cluster.Start(leader));
  const int next = cluster.WaitForLeader(kTopic, 0, {1, leader, paused, wiped}, {2, 3, 4});
  ASSERT_GT(next, 0);
  std::vector<std::string> values;
  ASSERT_TRUE(Eventually([&] {
    // Committed by the new leader's term (its first entry) once a majority has it.
    const v1::PartitionFetchResult fetched = cluster.Client(next).Fetch(kTopic, 0, 0);
    if (fetched.error().code() != v1::NONE) return false;
    values.clear();
    for (const auto& r : storage::testing::DecodeAll(fetched.records())) {
      values.push_back(r.value.value_or("<null>"));
    }
    return values.size() >= static_cast<size_t>(kBatches * 10);
  })) << "only "
      << values.size() << " records on the new leader, node " << next;
  EXPECT_EQ(values.size(), static_cast<size_t>(kBatches * 10));
  EXPECT_EQ(values.front(), "acked-0-0");
  EXPECT_EQ(values.back(), "acked-4-9");
  EXPECT_TRUE(Eventually([&] { return !std::filesystem::exists(marker); }))
      << "the wiped broker never caught up";
}

// The same hazard for the metadata log, on three controllers: one (paused) misses topic
// creations committed by the other two; one of those is wiped and the other killed. The paused
// controller's log is longer than the wiped one's, so the wiped one's vote would elect it, and
// the topics — acknowledged to the client — would be gone once the killed one returned and was
// truncated to match. The wiped controller votes no candidate whose metadata records its old data
// directory (raft::Options::directory_id), so no controller is elected until the killed one
// returns; then the topics are all there.
TEST(ClusterWipedReplicaTest, AWipedControllerDoesNotElectOneMissingCommittedMetadata) {
  TempDir dir;
  ClusterProcesses cluster(dir.path(), 3);
  ASSERT_TRUE(cluster.StartAll());
  ASSERT_TRUE(cluster.WaitForBrokers(1, 3));
  const int leader = cluster.DescribeCluster(1).controller_id();
  ASSERT_GT(leader, 0);
  std::vector<int> followers;
  for (int id : {1, 2, 3}) {
    if (id != leader) followers.push_back(id);
  }
  const int paused = followers[0];
  const int wiped = followers[1];
  // Every broker's registration (with its data directory) is committed everywhere.
  ASSERT_TRUE(cluster.WaitForBrokers(paused, 3));
  ASSERT_TRUE(cluster.WaitForBrokers(wiped, 3));

  // Committed by the leader and `wiped` only.
  ASSERT_EQ(::kill(cluster.node(paused).pid(), SIGSTOP), 0);
  constexpr int kTopics = 3;
  for (int t = 0; t < kTopics; ++t) {
    ASSERT_EQ(cluster.CreateTopic(leader, "made-" + std::to_string(t), 1, 1).code(), v1::NONE);
  }

  // `wiped` loses its disk; the leader dies; `paused` comes back without the topics.
  ASSERT_EQ(cluster.node(wiped).Kill(), 128 + SIGKILL);
  std::filesystem::remove_all(cluster.DataDir(wiped));
  ASSERT_EQ(cluster.node(leader).Kill(), 128 + SIGKILL);
  ASSERT_EQ(::kill(cluster.node(paused).pid(), SIGCONT), 0);
  ASSERT_TRUE(cluster.Start(wiped));
  // Several election timeouts (0.6-1.2 s each): no controller may come of `paused` and `wiped`.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    for (int id : {paused, wiped}) {
      const int elected = cluster.DescribeCluster(id).controller_id();
      ASSERT_TRUE(elected != paused && elected != wiped)
          << "node " << elected << " was elected controller, with metadata missing " << kTopics
          << " created topics";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // The old leader returns and is elected (its log is the longest); the topics are there, on
  // every broker once the wiped one has caught up.
  ASSERT_TRUE(cluster.Start(leader));
  ASSERT_TRUE(cluster.WaitForBrokers(paused, 3)) << "no controller after the old leader returned";
  for (int id : {1, 2, 3}) {
    for (int t = 0; t < kTopics; ++t) {
      const std::string topic = "made-" + std::to_string(t);
      EXPECT_TRUE(Eventually([&] {
        const v1::MetadataResponse m = cluster.Metadata(id, topic);
        return m.topics_size() == 1 && m.topics(0).partitions_size() == 1;
      })) << "node "
          << id << " does not know " << topic;
    }
  }
}

}  // namespace
}  // namespace runnel::testing
