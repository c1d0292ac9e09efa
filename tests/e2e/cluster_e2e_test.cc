// A cluster of real runneld processes (--node-id, --peers) on loopback: topics created through any
// broker, replicated partitions served by their leader (followers answer NOT_LEADER naming it),
// a SIGKILLed leader replaced with no acknowledged record lost, and the configurations a cluster
// refuses.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using storage::testing::MakeBatch;
using storage::testing::TempDir;

class ClusterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, 3)) << cluster_.node(1).output();
  }

  // Broker ids other than `id`.
  static std::vector<int> Others(int id) {
    std::vector<int> others;
    for (int i = 1; i <= 3; ++i) {
      if (i != id) others.push_back(i);
    }
    return others;
  }

  // Produces `batches` batches of 10 records ("<tag>-<batch>-<i>") at acks=all to `leader`, or
  // where its NOT_LEADER answers point (an election may move leadership meanwhile); each must be
  // acknowledged.
  void ProduceTo(int leader, const std::string& topic, int32_t partition, const std::string& tag,
                 int batches) {
    for (int b = 0; b < batches; ++b) {
      v1::PartitionProduceResult result;
      for (int attempt = 0; attempt < 50; ++attempt) {
        result = cluster_.Client(leader).Produce(topic,
                                                 MakeBatch(10, 1000, tag + "-" + std::to_string(b)),
                                                 v1::ACKS_ALL, partition, 10'000);
        if (result.error().code() != v1::NOT_LEADER) break;
        if (!result.error().leader_addr().empty()) leader = result.error().leader_id();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      ASSERT_EQ(result.error().code(), v1::NONE) << result.error().message();
    }
  }

  // The in-sync replicas of `topic`'s only partition as broker `via` describes them; -1 when it
  // does not describe one topic of one partition.
  int IsrSize(int via, const std::string& topic) {
    auto channel =
        grpc::CreateChannel(cluster_.node(via).address(), grpc::InsecureChannelCredentials());
    v1::DescribeTopicsRequest request;
    request.add_names(topic);
    v1::DescribeTopicsResponse response;
    if (!v1::Admin::NewStub(channel)
             ->DescribeTopics(RawBrokerClient::Context().get(), request, &response)
             .ok() ||
        response.topics_size() != 1 || response.topics(0).partitions_size() != 1) {
      return -1;
    }
    return response.topics(0).partitions(0).isr_size();
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), 3};
};

TEST_F(ClusterE2eTest, ATopicIsReplicatedAndOnlyItsLeaderServesIt) {
  // Created through a broker whichever it is (the controller commits it).
  const v1::Error created = cluster_.CreateTopic(2, "orders", 3, 3);
  ASSERT_EQ(created.code(), v1::NONE) << created.message();
  for (int32_t p = 0; p < 3; ++p) {
    const int leader = cluster_.WaitForLeader("orders", p, {1, 2, 3});
    ASSERT_GT(leader, 0) << "partition " << p << " has no leader every broker agrees on";
    ProduceTo(leader, "orders", p, "p" + std::to_string(p), 3);

    for (int follower : Others(leader)) {
      RawBrokerClient client = cluster_.Client(follower);
      // A follower neither takes writes nor serves reads; it names the leader.
      const v1::PartitionProduceResult refused =
          client.Produce("orders", MakeBatch(1, 1000, "x"), v1::ACKS_ALL, p);
      EXPECT_EQ(refused.error().code(), v1::NOT_LEADER) << refused.error().message();
      EXPECT_EQ(refused.error().leader_id(), leader);
      EXPECT_EQ(refused.error().leader_addr(), cluster_.node(leader).address());
      const v1::PartitionFetchResult fetched = client.Fetch("orders", 0, p);
      EXPECT_EQ(fetched.error().code(), v1::NOT_LEADER) << fetched.error().message();
      EXPECT_EQ(fetched.error().leader_id(), leader);
    }
    const std::vector<std::string> values = cluster_.Client(leader).Values("orders", p);
    ASSERT_EQ(values.size(), 30u);
    EXPECT_EQ(values.front(), "p" + std::to_string(p) + "-0-0");
    EXPECT_EQ(values.back(), "p" + std::to_string(p) + "-2-9");
  }

  // Describe, through any broker: three replicas, all in sync, the high watermark at the log end
  // (30 records and the leader's control batch).
  std::string last;
  EXPECT_TRUE(Eventually([&] {
    auto channel =
        grpc::CreateChannel(cluster_.node(3).address(), grpc::InsecureChannelCredentials());
    v1::DescribeTopicsRequest request;
    request.add_names("orders");
    v1::DescribeTopicsResponse response;
    if (!v1::Admin::NewStub(channel)
             ->DescribeTopics(RawBrokerClient::Context().get(), request, &response)
             .ok() ||
        response.topics_size() != 1 || response.topics(0).partitions_size() != 3) {
      return false;
    }
    last = response.DebugString();
    for (const v1::PartitionDescription& p : response.topics(0).partitions()) {
      if (p.replicas_size() != 3 || p.isr_size() != 3 || p.high_watermark() < 30 ||
          p.log_end_offset() != p.high_watermark() || p.leader() <= 0) {
        return false;
      }
    }
    return true;
  })) << "describe never showed 3 in-sync replicas with the high watermark at the end:\n"
      << last;

  // Every replica holds the partition's directory.
  for (int id = 1; id <= 3; ++id) {
    EXPECT_TRUE(std::filesystem::exists(cluster_.DataDir(id) + "/orders-0")) << "node " << id;
  }
}

TEST_F(ClusterE2eTest, AKilledLeaderIsReplacedAndNoAcknowledgedRecordIsLost) {
  ASSERT_EQ(cluster_.CreateTopic(1, "events", 1, 3).code(), v1::NONE);
  const int leader = cluster_.WaitForLeader("events", 0, {1, 2, 3});
  ASSERT_GT(leader, 0);
  ProduceTo(leader, "events", 0, "before", 5);

  ASSERT_EQ(cluster_.node(leader).Kill(), 128 + SIGKILL);
  const int next = cluster_.WaitForLeader("events", 0, Others(leader), Others(leader));
  ASSERT_GT(next, 0) << "no new leader after killing node " << leader;
  ProduceTo(next, "events", 0, "after", 5);

  std::vector<std::string> values = cluster_.Client(next).Values("events", 0);
  ASSERT_EQ(values.size(), 100u);
  EXPECT_EQ(values[0], "before-0-0");
  EXPECT_EQ(values[49], "before-4-9");
  EXPECT_EQ(values[50], "after-0-0");

  // The killed broker comes back as a follower and catches up: all three in sync again.
  ASSERT_TRUE(cluster_.Start(leader));
  EXPECT_TRUE(Eventually([&] {
    const v1::MetadataResponse m = cluster_.Metadata(leader, "events");
    if (m.topics_size() != 1 || m.topics(0).partitions_size() != 1) return false;
    return IsrSize(next, "events") == 3;
  })) << "the restarted broker never got back in sync";
}

TEST_F(ClusterE2eTest, TopicsChangeThroughAnyBrokerAndEveryBrokerSeesThem) {
  ASSERT_EQ(cluster_.CreateTopic(3, "a", 2, 2).code(), v1::NONE);
  // Created twice: refused, whichever broker is asked.
  EXPECT_EQ(cluster_.CreateTopic(1, "a", 2, 2).code(), v1::TOPIC_ALREADY_EXISTS);
  // More replicas than brokers: refused with the numbers.
  const v1::Error too_many = cluster_.CreateTopic(2, "b", 1, 4);
  EXPECT_EQ(too_many.code(), v1::INVALID_REPLICATION_FACTOR);
  EXPECT_NE(too_many.message().find("4"), std::string::npos) << too_many.message();
  // Every broker learns of it (each applies the metadata log at its own pace).
  for (int id = 1; id <= 3; ++id) {
    EXPECT_TRUE(Eventually([&] {
      const v1::MetadataResponse m = cluster_.Metadata(id, "a");
      return m.topics_size() == 1 && m.topics(0).error().code() == v1::NONE &&
             m.topics(0).partitions_size() == 2 && m.topics(0).partitions(0).replicas_size() == 2 &&
             m.brokers_size() == 3;
    })) << "node "
        << id << ": " << cluster_.Metadata(id, "a").ShortDebugString();
  }
  // Deleted through another broker: gone everywhere, directories included.
  auto channel =
      grpc::CreateChannel(cluster_.node(2).address(), grpc::InsecureChannelCredentials());
  v1::DeleteTopicsRequest request;
  request.add_names("a");
  v1::DeleteTopicsResponse response;
  ASSERT_TRUE(v1::Admin::NewStub(channel)
                  ->DeleteTopics(RawBrokerClient::Context().get(), request, &response)
                  .ok());
  ASSERT_EQ(response.topics(0).error().code(), v1::NONE) << response.topics(0).error().message();
  EXPECT_TRUE(Eventually([&] {
    for (int id = 1; id <= 3; ++id) {
      if (cluster_.Metadata(id, "a").topics(0).error().code() != v1::UNKNOWN_TOPIC_OR_PARTITION) {
        return false;
      }
      for (const auto& entry : std::filesystem::directory_iterator(cluster_.DataDir(id))) {
        if (entry.path().filename().string().rfind("a-", 0) == 0 &&
            entry.path().filename().string().find("-delete") == std::string::npos) {
          return false;
        }
      }
    }
    return true;
  }));
}

TEST_F(ClusterE2eTest, AnAcksAllProduceThatTimesOutBeforeItsCommitIsAnsweredOnce) {
  ASSERT_EQ(cluster_.CreateTopic(1, "slow", 1, 3).code(), v1::NONE);
  const int leader = cluster_.WaitForLeader("slow", 0, {1, 2, 3});
  ASSERT_GT(leader, 0);
  ProduceTo(leader, "slow", 0, "warm", 1);
  // Both followers paused: no commit, so the produce's timeout_ms answers it first.
  for (int follower : Others(leader)) ASSERT_EQ(::kill(cluster_.node(follower).pid(), SIGSTOP), 0);
  const v1::PartitionProduceResult timed_out =
      cluster_.Client(leader).Produce("slow", MakeBatch(1, 1000, "late"), v1::ACKS_ALL, 0, 300);
  EXPECT_EQ(timed_out.error().code(), v1::REQUEST_TIMED_OUT) << timed_out.error().message();
  // The followers come back before the leader steps down: the batch commits after its answer
  // went, and the leader must take that late commit in its stride.
  for (int follower : Others(leader)) ASSERT_EQ(::kill(cluster_.node(follower).pid(), SIGCONT), 0);
  const int now_leader = cluster_.WaitForLeader("slow", 0, {1, 2, 3});
  ASSERT_GT(now_leader, 0);
  ProduceTo(now_leader, "slow", 0, "after", 1);
  EXPECT_GT(cluster_.node(leader).pid(), 0);
  EXPECT_EQ(cluster_.node(leader).output().find("FATAL"), std::string::npos)
      << cluster_.node(leader).output();
}

// Offsets only grow, across leaders too (Kafka's KIP-207). A new leader learns that its
// predecessor's last writes are committed only once an entry of its own term commits; until then
// its high watermark can be below the one its predecessor gave out, and a ListOffsets answered
// from it went backwards. Asked in a tight loop from the leader's kill on, each survivor answers
// an error to retry (NOT_LEADER, OFFSET_NOT_AVAILABLE) or an end at or past every acknowledged
// record.
TEST_F(ClusterE2eTest, TheLatestOffsetNeverGoesBackAcrossALeaderChange) {
  ASSERT_EQ(cluster_.CreateTopic(1, "kip207", 1, 3).code(), v1::NONE);
  for (int round = 0; round < 2; ++round) {
    const int leader = cluster_.WaitForLeader("kip207", 0, {1, 2, 3});
    ASSERT_GT(leader, 0);
    ASSERT_TRUE(Eventually([&] { return IsrSize(leader, "kip207") == 3; }));
    // Killed right after the acknowledgement: the followers have the batch but have not heard
    // that it is committed.
    const v1::PartitionProduceResult acked = cluster_.Client(leader).Produce(
        "kip207", MakeBatch(10, 1000, "r" + std::to_string(round)), v1::ACKS_ALL, 0, 10'000);
    ASSERT_EQ(acked.error().code(), v1::NONE) << acked.error().message();
    ASSERT_EQ(cluster_.node(leader).Kill(), 128 + SIGKILL);
    const int64_t acked_end = acked.base_offset() + 10;
    int64_t answered = -1;
    int asked = 0;
    std::map<std::string, int> errors;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (answered < 0 && std::chrono::steady_clock::now() < end) {
      for (int survivor : Others(leader)) {
        const v1::PartitionOffset latest = cluster_.Client(survivor).ListLatest("kip207");
        ++asked;
        if (latest.error().code() != v1::NONE) {
          ++errors[v1::ErrorCode_Name(latest.error().code())];
          continue;
        }
        answered = latest.offset();
        EXPECT_GE(answered, acked_end)
            << "round " << round << ": node " << survivor << " answered a latest offset below the "
            << "acknowledged end";
        break;
      }
    }
    ASSERT_GE(answered, 0) << "no survivor answered within 20 s";
    std::printf("[ measured ] round %d: %d ListOffsets until an answer; errors:", round, asked);
    for (const auto& [code, count] : errors) std::printf(" %s x%d", code.c_str(), count);
    std::printf("\n");
    ASSERT_TRUE(cluster_.Start(leader));
  }
}

TEST_F(ClusterE2eTest, ACleanStopHandsLeadershipOverAndTheRestartRegistersAtOnce) {
  ASSERT_EQ(cluster_.CreateTopic(1, "rolling", 1, 3).code(), v1::NONE);
  const int leader = cluster_.WaitForLeader("rolling", 0, {1, 2, 3});
  ASSERT_GT(leader, 0);
  ProduceTo(leader, "rolling", 0, "before", 2);
  ASSERT_TRUE(Eventually([&] {  // every replica in sync, so one can take over
    return cluster_.Client(leader).LatestOffset("rolling", 0) > 0 &&
           cluster_.DescribeCluster(leader).brokers_size() == 3;
  }));
  ASSERT_EQ(cluster_.node(leader).Stop(), 0);
  // Handed over before the process exited: another broker leads at once, no election timeout.
  const int next = cluster_.WaitForLeader("rolling", 0, Others(leader), Others(leader));
  ASSERT_GT(next, 0);
  ProduceTo(next, "rolling", 0, "after", 2);
  // Fenced by its farewell, registered again at once by its restart (no refusal for a session).
  ASSERT_TRUE(cluster_.WaitForBrokers(next, 2));
  ASSERT_TRUE(cluster_.Start(leader));
  EXPECT_TRUE(cluster_.WaitForBrokers(next, 3));
  EXPECT_EQ(cluster_.node(leader).output().find("refuses this broker"), std::string::npos)
      << cluster_.node(leader).output();
  EXPECT_EQ(cluster_.Client(next).Values("rolling", 0).size(), 40u);
}

TEST_F(ClusterE2eTest, ABrokerThatStopsHeartbeatingIsFenced) {
  ASSERT_EQ(::kill(cluster_.node(3).pid(), SIGSTOP), 0);
  EXPECT_TRUE(cluster_.WaitForBrokers(1, 2)) << "node 3 was never fenced";
  ASSERT_EQ(::kill(cluster_.node(3).pid(), SIGCONT), 0);
  EXPECT_TRUE(cluster_.WaitForBrokers(1, 3)) << "node 3 was never unfenced after it came back";
}

// A client may not create the broker's internal topics through a cluster broker (a single
// node refuses them too). Created, `__consumer_offsets` (not compacted) stops every broker from
// starting again: OffsetStore::Load wants to alter its cleanup.policy, which a cluster refuses.
TEST_F(ClusterE2eTest, AClientCannotCreateAnInternalTopic) {
  const v1::Error created = cluster_.CreateTopic(1, "__consumer_offsets", 1, 3);
  EXPECT_NE(created.code(), v1::NONE) << "a client created the broker's offsets topic";
  if (created.code() != v1::NONE) return;
  // Each broker has the topic in its committed image: a clean restart must still work.
  ASSERT_TRUE(Eventually([&] {
    return cluster_.Metadata(2, "__consumer_offsets").topics(0).error().code() == v1::NONE;
  }));
  ASSERT_EQ(cluster_.node(2).Stop(), 0);
  EXPECT_TRUE(cluster_.Start(2)) << cluster_.node(2).output();
}

// A controller leader that hangs (SIGSTOP, a long pause) must not get the other, healthy brokers
// fenced: their heartbeats give up on it after a heartbeat interval and find the new controller
// within its first session (they used to wait out the 10 s propose timeout on the hung one).
TEST_F(ClusterE2eTest, AHungControllerLeaderDoesNotGetTheHealthyBrokersFenced) {
  const int controller = cluster_.DescribeCluster(1).controller_id();
  ASSERT_GT(controller, 0);
  ASSERT_EQ(::kill(cluster_.node(controller).pid(), SIGSTOP), 0);
  bool fenced = false;
  std::string seen;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (!fenced && std::chrono::steady_clock::now() < end) {
    for (int via : Others(controller)) {
      const v1::DescribeClusterResponse described = cluster_.DescribeCluster(via);
      for (const v1::ClusterBroker& b : described.brokers()) {
        if (b.node_id() != controller && !b.alive()) {
          fenced = true;
          seen = "via node " + std::to_string(via) + ":\n" + described.DebugString();
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(::kill(cluster_.node(controller).pid(), SIGCONT), 0);
  EXPECT_FALSE(fenced) << "a healthy broker was fenced after controller " << controller << " hung; "
                       << seen;
}

// The configurations a cluster refuses, each with a message naming what is wrong.
// A second process started with a live broker's --node-id (its own data dir and inter-broker
// port, the same --peers): the peers refuse its inter-broker streams (the first one's stays), the
// controller refuses its registration, and after a session of refusals it exits naming the
// problem; the cluster carries on with the first one, every replica in sync.
TEST_F(ClusterE2eTest, ASecondBrokerWithALiveNodesIdIsRefusedAndTheFirstCarriesOn) {
  ASSERT_EQ(cluster_.CreateTopic(1, "shared", 1, 3).code(), v1::NONE);
  const int leader = cluster_.WaitForLeader("shared", 0, {1, 2, 3});
  ASSERT_GT(leader, 0);
  ProduceTo(leader, "shared", 0, "before", 2);

  const int twin_port = FreePort();
  BrokerProcess twin(dir_.path() + "/twin",
                     {"--node-id", "1", "--peers", cluster_.peers(), "--inter-broker-addr",
                      "127.0.0.1:" + std::to_string(twin_port), "--broker-heartbeat-interval-ms",
                      "100", "--broker-session-timeout-ms", "3000"});
  twin.Start();  // it may serve for a moment before it is refused
  EXPECT_EQ(twin.WaitFor(std::chrono::seconds(30)), 1) << twin.output();
  EXPECT_NE(twin.output().find("two brokers may not share a --node-id"), std::string::npos)
      << twin.output();
  EXPECT_TRUE(Eventually([&] {
    return cluster_.node(2).output().find("already has a live raft stream") != std::string::npos ||
           cluster_.node(3).output().find("already has a live raft stream") != std::string::npos;
  })) << "no peer refused the twin's inter-broker streams";

  // The first node 1 still replicates: a write is acknowledged by every replica again.
  const int now = cluster_.WaitForLeader("shared", 0, {1, 2, 3});
  ASSERT_GT(now, 0);
  ProduceTo(now, "shared", 0, "after", 2);
  EXPECT_TRUE(Eventually([&] { return IsrSize(now, "shared") == 3; }))
      << "a replica fell out of sync";
  EXPECT_TRUE(cluster_.WaitForBrokers(now, 3));
}

// A gauge's value in broker `id`'s /metrics (-1 when it cannot be read).
int64_t Gauge(ClusterProcesses& cluster, int id, const std::string& name) {
  httplib::Client http("127.0.0.1", cluster.node(id).http_port());
  auto metrics = http.Get("/metrics");
  if (!metrics || metrics->status != 200) return -1;
  const std::string line = "\n" + name + " ";
  const size_t at = metrics->body.find(line);
  if (at == std::string::npos) return -1;
  return std::stoll(metrics->body.substr(at + line.size()));
}

// /metrics of a cluster's broker: what it replicates and leads, under-replicated and offline
// partitions, fenced brokers, which broker is the controller leader.
TEST_F(ClusterE2eTest, MetricsShowLeadersUnderReplicationAndFencing) {
  ASSERT_EQ(cluster_.CreateTopic(1, "watched", 3, 3).code(), v1::NONE);
  for (int32_t p = 0; p < 3; ++p) ASSERT_GT(cluster_.WaitForLeader("watched", p, {1, 2, 3}), 0);
  auto sum = [&](const std::vector<int>& ids, const std::string& name) {
    int64_t total = 0;
    for (int id : ids) total += std::max<int64_t>(0, Gauge(cluster_, id, name));
    return total;
  };
  EXPECT_TRUE(Eventually([&] {
    return sum({1, 2, 3}, "runnel_cluster_leaders") == 3 &&
           sum({1, 2, 3}, "runnel_cluster_under_replicated_partitions") == 0 &&
           sum({1, 2, 3}, "runnel_cluster_controller_leader") == 1;
  })) << "leaders "
      << sum({1, 2, 3}, "runnel_cluster_leaders") << ", under-replicated "
      << sum({1, 2, 3}, "runnel_cluster_under_replicated_partitions") << ", controller leaders "
      << sum({1, 2, 3}, "runnel_cluster_controller_leader");
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(Gauge(cluster_, id, "runnel_cluster_replicas"), 3) << "broker " << id;
    EXPECT_EQ(Gauge(cluster_, id, "runnel_cluster_brokers"), 3) << "broker " << id;
    EXPECT_EQ(Gauge(cluster_, id, "runnel_cluster_offline_partitions"), 0) << "broker " << id;
    EXPECT_EQ(Gauge(cluster_, id, "runnel_cluster_metadata_caught_up"), 1) << "broker " << id;
  }

  // Broker 3 dies: the survivors lead every partition, each one replica short, and (once its
  // session is over) count it fenced.
  cluster_.node(3).Kill();
  EXPECT_TRUE(Eventually([&] {
    return sum({1, 2}, "runnel_cluster_leaders") == 3 &&
           sum({1, 2}, "runnel_cluster_under_replicated_partitions") == 3 &&
           Gauge(cluster_, 1, "runnel_cluster_fenced_brokers") == 1 &&
           Gauge(cluster_, 2, "runnel_cluster_fenced_brokers") == 1;
  })) << "leaders "
      << sum({1, 2}, "runnel_cluster_leaders") << ", under-replicated "
      << sum({1, 2}, "runnel_cluster_under_replicated_partitions") << ", fenced "
      << Gauge(cluster_, 1, "runnel_cluster_fenced_brokers");
}

// Preferred-leader balancing, checked every 300 ms here (5 minutes by default).
class ClusterBalanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, 3)) << cluster_.node(1).output();
  }

  // Whether every partition of `topic` is led by its preferred leader (its first replica), as
  // broker `via` reports; `state` says how each partition stands.
  bool AllOnPreferredLeaders(int via, const std::string& topic, std::string* state) {
    const v1::MetadataResponse m = cluster_.Metadata(via, topic);
    if (m.topics_size() != 1 || m.topics(0).partitions_size() == 0) return false;
    bool all = true;
    state->clear();
    for (const v1::PartitionMetadata& p : m.topics(0).partitions()) {
      const int preferred = p.replicas_size() > 0 ? p.replicas(0) : -1;
      *state += " " + std::to_string(p.partition()) + ":leader " + std::to_string(p.leader()) +
                "/preferred " + std::to_string(preferred);
      all = all && p.leader() == preferred;
    }
    return all;
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), 3, {"--leader-imbalance-check-interval-ms", "300"}};
};

// Leadership goes back to each partition's preferred leader once it is alive and in sync: after
// the first elections (any replica may win them), and after a clean restart of a broker (which
// handed its leaderships away when it stopped).
TEST_F(ClusterBalanceTest, LeadershipReturnsToThePreferredLeaders) {
  ASSERT_EQ(cluster_.CreateTopic(1, "balanced", 3, 3).code(), v1::NONE);
  for (int32_t p = 0; p < 3; ++p) ASSERT_GT(cluster_.WaitForLeader("balanced", p, {1, 2, 3}), 0);
  std::string state;
  ASSERT_TRUE(Eventually([&] { return AllOnPreferredLeaders(1, "balanced", &state); }))
      << "after the first elections:" << state;

  ASSERT_EQ(cluster_.node(2).Stop(), 0);  // hands its leadership over
  ASSERT_TRUE(Eventually([&] { return !AllOnPreferredLeaders(1, "balanced", &state); }))
      << "broker 2 stopped but still leads:" << state;
  ASSERT_TRUE(cluster_.Start(2));
  ASSERT_TRUE(cluster_.WaitForBrokers(1, 3));
  EXPECT_TRUE(Eventually([&] { return AllOnPreferredLeaders(1, "balanced", &state); }))
      << "after broker 2's restart:" << state;
}

class ClusterRefusalTest : public ::testing::Test {
 protected:
  // Runs runneld with `args` (it must exit on its own) and returns its exit code and output.
  std::pair<int, std::string> Refused(const std::string& data_dir, std::vector<std::string> args) {
    BrokerProcess broker(data_dir, std::move(args));
    EXPECT_FALSE(broker.Start());
    const int code = broker.Wait();
    return {code, broker.output()};
  }
  TempDir dir_;
};

TEST_F(ClusterRefusalTest, ADataDirOfAnotherClusterIsRefused) {
  std::filesystem::create_directories(dir_.Sub("node"));
  std::ofstream(dir_.Sub("node/cluster.id")) << "cluster-a\n";
  const int port = FreePort();
  const auto [code, out] =
      Refused(dir_.Sub("node"), {"--node-id", "1", "--peers", "1@127.0.0.1:" + std::to_string(port),
                                 "--cluster-id", "cluster-b"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("belongs to cluster \"cluster-a\", not \"cluster-b\""), std::string::npos)
      << out;
}

TEST_F(ClusterRefusalTest, ASingleNodeDataDirIsRefusedByAClusterBrokerAndTheOtherWayRound) {
  std::filesystem::create_directories(dir_.Sub("single"));
  std::ofstream(dir_.Sub("single/topics.json")) << "{\"topics\": []}\n";
  const int port = FreePort();
  const auto [code, out] = Refused(
      dir_.Sub("single"), {"--node-id", "1", "--peers", "1@127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("belongs to a single-node broker"), std::string::npos) << out;

  std::filesystem::create_directories(dir_.Sub("member"));
  std::ofstream(dir_.Sub("member/cluster.id")) << "cluster-a\n";
  const auto [code2, out2] = Refused(dir_.Sub("member"), {});
  EXPECT_EQ(code2, 1);
  EXPECT_NE(out2.find("belongs to cluster \"cluster-a\""), std::string::npos) << out2;
}

TEST_F(ClusterRefusalTest, PeersThatDoNotListThisNodeAreRefused) {
  const auto [code, out] =
      Refused(dir_.Sub("n"), {"--node-id", "4", "--peers", "1@127.0.0.1:1,2@127.0.0.1:2"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("--peers does not list this broker's --node-id 4"), std::string::npos) << out;
  const auto [code2, out2] = Refused(dir_.Sub("n"), {"--node-id", "1", "--peers", "1@nohost"});
  EXPECT_EQ(code2, 1);
  EXPECT_NE(out2.find("is not ID@HOST:PORT"), std::string::npos) << out2;
}

}  // namespace
}  // namespace runnel::testing
