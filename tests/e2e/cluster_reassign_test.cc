// Partition reassignment on a real 3-broker cluster (`runnel topic reassign`, Admin
// ReassignPartitions): a partition moves to another set of brokers — its leader among those that
// leave — while an idempotent acks=all producer writes, losing and repeating nothing; the
// brokers that left delete their copy; a move to a broker that is down waits without stalling
// the partition and can be cancelled; bad lists are refused naming what is wrong.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/mutex.h"
#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using storage::testing::TempDir;

class ClusterReassignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, 3));
    brokers_ = cluster_.BrokerList();
    auto admin = client::Admin::Create({.bootstrap_servers = brokers_});
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
  }

  // Partition 0 of `topic` as described now (default-constructed if the call fails).
  client::PartitionInfo Describe(const std::string& topic) {
    auto described = admin_->DescribeTopic(topic);
    if (!described.ok() || described->partitions.empty()) return {};
    return described->partitions[0];
  }

  // Waits until partition 0 of `topic` has `replicas` and no reassignment in progress.
  bool WaitForReplicas(const std::string& topic, const std::vector<int32_t>& replicas,
                       std::chrono::seconds limit = std::chrono::seconds(60)) {
    return Eventually(
        [&] {
          const client::PartitionInfo p = Describe(topic);
          return p.replicas == replicas && p.adding_replicas.empty() && p.removing_replicas.empty();
        },
        limit);
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), 3};
  std::string brokers_;
  std::unique_ptr<client::Admin> admin_;
};

TEST_F(ClusterReassignTest, APartitionMovesOffItsLeaderWhileWrittenAndLosesNothing) {
  constexpr int kRecords = 2000;
  ASSERT_TRUE(admin_->CreateTopic({"moving", 1, 2, {}}).ok());
  const int leader = cluster_.WaitForLeader("moving", 0, {1, 2, 3});
  ASSERT_GT(leader, 0);
  const client::PartitionInfo before = Describe("moving");
  ASSERT_EQ(before.replicas.size(), 2u);
  int stays = -1;
  int joins = -1;
  for (int id = 1; id <= 3; ++id) {
    const bool replica =
        std::find(before.replicas.begin(), before.replicas.end(), id) != before.replicas.end();
    if (!replica) joins = id;
    if (replica && id != leader) stays = id;
  }
  ASSERT_GT(stays, 0);
  ASSERT_GT(joins, 0);

  client::ProducerOptions options;
  options.bootstrap_servers = brokers_;
  options.request_timeout_ms = 3000;
  options.delivery_timeout_ms = 60000;
  auto producer = client::Producer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::atomic<bool> stop{false};
  Mutex failure_mu;
  absl::Status first_failure;
  std::thread writer([&] {
    for (int i = 0; i < kRecords && !stop; ++i) {
      client::ProducerRecord record;
      record.topic = "moving";
      record.partition = 0;
      record.value = std::to_string(i);
      if (!(*producer)
               ->Send(record,
                      [&](const absl::StatusOr<client::RecordMetadata>& m) {
                        (m.ok() ? acked : failed)++;
                        if (!m.ok()) {
                          MutexLock lock(&failure_mu);
                          if (first_failure.ok()) first_failure = m.status();
                        }
                      })
               .ok()) {
        failed++;
      }
      if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    (*producer)->Flush();
  });

  // The new replicas: the broker that had none first (the preferred leader), and the follower.
  // The leader leaves, so leadership moves as part of the reassignment.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<int32_t> target = {joins, stays};
  const std::string b = "--brokers " + brokers_ + " ";
  const CommandResult r =
      RunRunnel(b + "topic reassign moving --replicas " + std::to_string(joins) + "," +
                std::to_string(stays) + " --wait --timeout-ms 60000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("reassignment complete"), std::string::npos) << r.out;
  EXPECT_TRUE(WaitForReplicas("moving", target)) << "replicas never became the target";
  writer.join();
  EXPECT_EQ(acked.load(), kRecords);
  {
    MutexLock lock(&failure_mu);
    EXPECT_EQ(failed.load(), 0) << "the first failure: " << first_failure;
  }
  (*producer)->Close(5000);

  // The partition is led and served by the new replicas, both in sync.
  EXPECT_GT(cluster_.WaitForLeader("moving", 0, {1, 2, 3}, {joins, stays}), 0);
  EXPECT_TRUE(Eventually([&] {
    client::PartitionInfo p = Describe("moving");
    std::sort(p.isr.begin(), p.isr.end());
    std::vector<int32_t> want = target;
    std::sort(want.begin(), want.end());
    return p.isr == want;
  })) << "the new replicas are not both in sync";
  // Every acknowledged record once, in order.
  client::ConsumerOptions consumer_options;
  consumer_options.bootstrap_servers = brokers_;
  consumer_options.request_timeout_ms = 3000;
  consumer_options.auto_offset_reset = client::AutoOffsetReset::kEarliest;
  auto consumer = client::Consumer::Create(consumer_options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Assign({{"moving", 0}}).ok());
  std::vector<int> values;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (static_cast<int>(values.size()) < kRecords &&
         std::chrono::steady_clock::now() < deadline) {
    auto records = (*consumer)->Poll(200);
    ASSERT_TRUE(records.ok()) << records.status();
    for (const client::ConsumerRecord& rec : *records) {
      values.push_back(std::stoi(std::string(*rec.value)));
    }
  }
  auto extra = (*consumer)->Poll(500);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "records past the acknowledged ones (duplicates)";
  ASSERT_EQ(values.size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(values[i], i) << "at position " << i;

  // The broker that left deleted its copy; the one that joined holds one.
  EXPECT_TRUE(Eventually([&] {
    return !std::filesystem::exists(cluster_.DataDir(leader) + "/moving-0");
  })) << "node "
      << leader << " kept the partition it left";
  EXPECT_TRUE(std::filesystem::exists(cluster_.DataDir(joins) + "/moving-0"));
}

TEST_F(ClusterReassignTest, AMoveToADownBrokerWaitsWithoutStallingThePartitionAndCanBeCancelled) {
  ASSERT_TRUE(admin_->CreateTopic({"parked", 1, 2, {}}).ok());
  ASSERT_GT(cluster_.WaitForLeader("parked", 0, {1, 2, 3}), 0);
  const std::vector<int32_t> replicas = Describe("parked").replicas;
  ASSERT_EQ(replicas.size(), 2u);
  int down = 6 - replicas[0] - replicas[1];
  ASSERT_EQ(cluster_.node(down).Kill(), 128 + SIGKILL);

  // Add the down broker as a third replica: it joins as a learner and never catches up.
  ASSERT_TRUE(admin_->ReassignPartitions("parked", {{0, {replicas[0], replicas[1], down}}}).ok());
  EXPECT_TRUE(Eventually([&] {
    return Describe("parked").adding_replicas == std::vector<int32_t>{down};
  })) << "the reassignment does not show";
  // The partition still takes acks=all writes: a learner is not counted.
  client::ProducerOptions options;
  options.bootstrap_servers = cluster_.node(replicas[0]).address();
  options.request_timeout_ms = 3000;
  options.delivery_timeout_ms = 20000;
  auto producer = client::Producer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (int i = 0; i < 20; ++i) {
    client::ProducerRecord record;
    record.topic = "parked";
    record.partition = 0;
    record.value = std::to_string(i);
    auto sent = (*producer)->Send(record);
    (*producer)->Flush();
    auto metadata = sent.get();
    ASSERT_TRUE(metadata.ok()) << "record " << i << ": " << metadata.status();
  }
  (*producer)->Close(5000);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  client::PartitionInfo p = Describe("parked");
  EXPECT_EQ(p.replicas, replicas) << "completed without the down broker";
  EXPECT_EQ(p.adding_replicas, std::vector<int32_t>{down});

  // Cancelled: back to the two replicas, which completes at once.
  ASSERT_TRUE(admin_->ReassignPartitions("parked", {{0, replicas}}).ok());
  EXPECT_TRUE(WaitForReplicas("parked", replicas, std::chrono::seconds(30)))
      << "the cancel never completed";
  EXPECT_EQ(Describe("parked").isr.size(), 2u);
}

TEST_F(ClusterReassignTest, BadReplicaListsAreRefusedNamingWhatIsWrong) {
  ASSERT_TRUE(admin_->CreateTopic({"fixed", 2, 2, {}}).ok());
  const auto refused = [&](const std::string& topic, int32_t partition,
                           const std::vector<int32_t>& replicas, const std::string& why) {
    const absl::Status s = admin_->ReassignPartitions(topic, {{partition, replicas}});
    EXPECT_FALSE(s.ok()) << why;
    EXPECT_NE(s.message().find(why), std::string::npos) << s;
  };
  refused("fixed", 0, {1, 9}, "node 9 is not a registered broker");
  refused("fixed", 0, {2, 2}, "node 2 is listed twice");
  refused("fixed", 0, {}, "no replicas");
  refused("fixed", 5, {1}, "partition fixed-5 does not exist");
  refused("nothing", 0, {1}, "partition nothing-0 does not exist");
  // Nothing changed.
  auto described = admin_->DescribeTopic("fixed");
  ASSERT_TRUE(described.ok());
  for (const client::PartitionInfo& p : described->partitions) {
    EXPECT_EQ(p.replicas.size(), 2u);
    EXPECT_TRUE(p.adding_replicas.empty());
  }
}

// Removing a broker for good (OPERATIONS.md section 12b): its partitions moved off, stopped,
// unregistered — and each refusal on the way names what is wrong.
TEST(ClusterUnregisterTest, AStoppedBrokerWithNothingOnItIsUnregisteredAndNothingElseIs) {
  TempDir dir;
  ClusterProcesses cluster(dir.path(), 4, {"--controllers", "1"});
  ASSERT_TRUE(cluster.StartAll());
  ASSERT_TRUE(cluster.WaitForBrokers(1, 4));
  auto admin = client::Admin::Create({.bootstrap_servers = cluster.node(1).address()});
  ASSERT_TRUE(admin.ok()) << admin.status();
  ASSERT_TRUE((*admin)->CreateTopic({"kept", 1, 3, {}}).ok());
  ASSERT_TRUE((*admin)->ReassignPartitions("kept", {{0, {2, 3, 4}}}).ok());
  ASSERT_TRUE(Eventually([&] {
    auto d = (*admin)->DescribeTopic("kept");
    return d.ok() && d->partitions.size() == 1 &&
           d->partitions[0].replicas == std::vector<int32_t>{2, 3, 4} &&
           d->partitions[0].adding_replicas.empty() && d->partitions[0].removing_replicas.empty();
  })) << "kept-0 never moved to 2, 3 and 4";
  const auto refused = [&](int32_t id, const std::string& why) {
    const absl::Status s = (*admin)->UnregisterBroker(id);
    EXPECT_FALSE(s.ok()) << "node " << id << " unregistered; expected: " << why;
    EXPECT_NE(s.message().find(why), std::string::npos) << s;
  };
  refused(9, "node 9 is not registered");
  EXPECT_TRUE(absl::IsNotFound((*admin)->UnregisterBroker(9)));
  refused(1, "node 1 is a controller");
  refused(4, "node 4 is alive (not fenced): stop it first");

  ASSERT_EQ(cluster.node(4).Kill(), 128 + SIGKILL);
  const auto alive = [&](int32_t id) -> std::optional<bool> {
    auto described = (*admin)->DescribeCluster();
    if (!described.ok()) return std::nullopt;
    for (const client::BrokerDescription& b : described->brokers) {
      if (b.node_id == id) return b.alive;
    }
    return std::nullopt;  // not registered
  };
  ASSERT_TRUE(Eventually([&] { return alive(4) == std::optional<bool>(false); }))
      << "node 4 was never fenced";
  refused(4, "node 4 still hosts 1 partition(s) (kept-0)");

  // Off node 4 (2 and 3, a majority, carry on without it).
  ASSERT_TRUE((*admin)->ReassignPartitions("kept", {{0, {2, 3}}}).ok());
  ASSERT_TRUE(Eventually([&] {
    auto d = (*admin)->DescribeTopic("kept");
    return d.ok() && d->partitions.size() == 1 &&
           d->partitions[0].replicas == std::vector<int32_t>{2, 3} &&
           d->partitions[0].removing_replicas.empty();
  })) << "kept-0 never moved off the stopped node 4";
  const absl::Status unregistered = (*admin)->UnregisterBroker(4);
  ASSERT_TRUE(unregistered.ok()) << unregistered;
  EXPECT_EQ(alive(4), std::nullopt) << "cluster info still lists node 4";
  // Every other broker's view too, and nothing else went.
  for (int via : {1, 2, 3}) {
    EXPECT_TRUE(Eventually([&] {
      const v1::DescribeClusterResponse d = cluster.DescribeCluster(via);
      return d.brokers_size() == 3;
    })) << "node "
        << via << " does not see 3 brokers";
  }
  // It may come back: a new registration.
  ASSERT_TRUE(cluster.Start(4));
  EXPECT_TRUE(Eventually([&] { return alive(4) == std::optional<bool>(true); }))
      << "node 4 did not register again";
}

}  // namespace
}  // namespace runnel::testing
