// The metadata log and its image on every broker (broker/cluster/cluster_metadata.h): three
// controllers and one broker that only learns, in one process over loopback gRPC.
#include "broker/cluster/cluster_metadata.h"

#include "broker/cluster/replica_reconciler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>

#include "tests/broker/raft_test_node.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using testing::FreePort;
using testing::WaitFor;

// A broker with the metadata log; nodes 1-3 are controllers, node 4 learns.
class MetadataNode : public testing::RaftTestNode {
 public:
  using RaftTestNode::RaftTestNode;
  ~MetadataNode() override { Crash(); }  // the base's destructor would not call this Crash

  void Start(const std::vector<RaftPeer>& peers, const std::string& cluster_id = "test-cluster") {
    RaftTestNode::Start(peers, cluster_id);
    ClusterMetadataOptions options;
    options.node_id = id();
    options.controllers = {1, 2, 3};
    options.brokers = {1, 2, 3, 4};
    metadata_ = std::make_unique<ClusterMetadata>(options, &manager());
    ReplicaReconcilerHooks hooks;
    hooks.log_config = [](const TopicMetadata& topic) -> absl::StatusOr<storage::LogConfig> {
      auto overrides = storage::ParseLogConfigOverrides(topic.info.configs);
      if (!overrides.ok()) return overrides.status();
      return overrides->ApplyTo(storage::LogConfig{});
    };
    hooks.open_log = [this](const storage::TopicPartition& tp, const storage::LogConfig& config)
        -> absl::StatusOr<std::shared_ptr<storage::Log>> { return OpenLog(tp, config); };
    hooks.delete_log = [this](const storage::TopicPartition& tp) { return DeleteLog(tp); };
    reconciler_ = std::make_unique<ReplicaReconciler>(id(), &manager(), hooks);
    reconciler_->Start();
    metadata_->SetListener(
        [this](std::shared_ptr<const MetadataImage> image) { reconciler_->Update(image); });
    ASSERT_TRUE(metadata_->Start(OpenLog({ClusterMetadata::kTopic, 0})).ok());
  }
  void Crash() override {
    if (!running()) return;
    // The replication thread calls into the metadata (its commit listener), and both hold logs
    // that must go before the storage flusher does.
    reconciler_->Stop();
    manager().Stop();
    reconciler_.reset();
    metadata_.reset();
    RaftTestNode::Crash();
  }

  ClusterMetadata& metadata() { return *metadata_; }
  ReplicaReconciler& reconciler() { return *reconciler_; }

 private:
  std::unique_ptr<ClusterMetadata> metadata_;
  std::unique_ptr<ReplicaReconciler> reconciler_;
};

v1::MetadataRecord Broker(int32_t id) {
  v1::MetadataRecord r;
  r.mutable_broker()->set_node_id(id);
  r.mutable_broker()->set_incarnation_id("i" + std::to_string(id));
  r.mutable_broker()->set_grpc_address("127.0.0.1:" + std::to_string(7000 + id));
  r.mutable_broker()->set_inter_broker_address("127.0.0.1:" + std::to_string(8000 + id));
  return r;
}

class ClusterMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (raft::NodeId id = 1; id <= 4; ++id) {
      const int port = FreePort();
      peers_.push_back({id, "127.0.0.1:" + std::to_string(port)});
      nodes_[id] = std::make_unique<MetadataNode>(id, tmp_.Sub("node-" + std::to_string(id)), port);
      std::filesystem::create_directories(nodes_[id]->data_dir());
    }
    for (auto& [id, node] : nodes_) node->Start(peers_);
  }

  raft::NodeId AwaitLeader() {
    raft::NodeId leader = raft::kNoNode;
    WaitFor([&] {
      leader = nodes_[1]->metadata().leader();
      return leader != raft::kNoNode &&
             nodes_[leader]->manager().Status({ClusterMetadata::kTopic, 0})->role ==
                 raft::Role::kLeader;
    });
    return leader;
  }

  // The records of a cluster of four brokers with one topic.
  static std::vector<v1::MetadataRecord> FirstRecords() {
    std::vector<v1::MetadataRecord> records;
    records.emplace_back().mutable_cluster()->set_cluster_id("c-1");
    for (int id = 1; id <= 4; ++id) records.push_back(Broker(id));
    v1::MetadataRecord topic;
    topic.mutable_topic()->set_name("orders");
    topic.mutable_topic()->set_topic_id("t-1");
    for (int p = 0; p < 3; ++p) {
      auto* replicas = topic.mutable_topic()->add_replicas();
      for (int i = 0; i < 3; ++i) replicas->add_node_ids(1 + (p + i) % 4);
    }
    records.push_back(topic);
    return records;
  }

  storage::testing::TempDir tmp_;
  std::vector<RaftPeer> peers_;
  std::map<raft::NodeId, std::unique_ptr<MetadataNode>> nodes_;
};

TEST_F(ClusterMetadataTest, CommittedRecordsBuildTheSameImageOnEveryBroker) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  auto offset = nodes_[leader]->metadata().ProposeAndWait(FirstRecords(), 10'000);
  ASSERT_TRUE(offset.ok()) << offset.status();
  // Applied on the leader before the answer.
  const std::shared_ptr<const MetadataImage> image = nodes_[leader]->metadata().image();
  EXPECT_EQ(image->cluster_id(), "c-1");
  EXPECT_EQ(image->brokers().size(), 4u);
  ASSERT_NE(image->topic("orders"), nullptr);
  EXPECT_EQ(image->topic("orders")->replicas[2], (std::vector<raft::NodeId>{3, 4, 1}));
  for (auto& [id, each] : nodes_) {
    MetadataNode* node = each.get();  // a lambda cannot capture a structured binding (clang)
    EXPECT_TRUE(WaitFor([&] { return node->metadata().image()->topics() == image->topics(); }))
        << "node " << id;
    EXPECT_EQ(node->metadata().image()->brokers(), image->brokers()) << "node " << id;
  }
}

TEST_F(ClusterMetadataTest, OnlyTheControllerLeaderAppendsAndNamesItself) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const raft::NodeId other = leader == 4 ? 1 : 4;
  // A learner hears of the leader with its first heartbeat.
  ASSERT_TRUE(WaitFor([&] { return nodes_[other]->metadata().leader() == leader; }));
  auto refused = nodes_[other]->metadata().ProposeAndWait({Broker(1)}, 5'000);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("leader: " + std::to_string(leader)), std::string::npos)
      << refused.status();
}

TEST_F(ClusterMetadataTest, ARestartedBrokerHasItsImageBeforeItHearsFromAController) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(nodes_[leader]->metadata().ProposeAndWait(FirstRecords(), 10'000).ok());
  ASSERT_TRUE(WaitFor([&] { return nodes_[4]->metadata().image()->topic("orders") != nullptr; }));
  nodes_[4]->Crash();
  // Back in another cluster's name: no controller talks to it, so all it knows is its own log.
  nodes_[4]->Start(peers_, "isolated");
  EXPECT_NE(nodes_[4]->metadata().image()->topic("orders"), nullptr);
  EXPECT_EQ(nodes_[4]->metadata().image()->brokers().size(), 4u);
}

TEST_F(ClusterMetadataTest, EveryAssignedBrokerReplicatesItsPartitionsUntilTheTopicGoes) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(nodes_[leader]->metadata().ProposeAndWait(FirstRecords(), 10'000).ok());
  // orders-0 on 1, 2, 3; orders-1 on 2, 3, 4; orders-2 on 3, 4, 1.
  const std::map<raft::NodeId, std::set<storage::TopicPartition>> want = {
      {1, {{"orders", 0}, {"orders", 2}}},
      {2, {{"orders", 0}, {"orders", 1}}},
      {3, {{"orders", 0}, {"orders", 1}, {"orders", 2}}},
      {4, {{"orders", 1}, {"orders", 2}}}};
  for (auto& [node_id, each] : nodes_) {
    MetadataNode* node = each.get();  // a lambda cannot capture a structured binding (clang)
    const raft::NodeId id = node_id;
    EXPECT_TRUE(WaitFor([&] { return node->reconciler().hosted() == want.at(id); }))
        << "node " << id;
  }
  // Each partition elects a leader among its replicas and takes acks=all writes there.
  for (int p = 0; p < 3; ++p) {
    const storage::TopicPartition tp{"orders", p};
    raft::NodeId partition_leader = raft::kNoNode;
    ASSERT_TRUE(WaitFor([&] {
      for (raft::NodeId id : nodes_[3]->metadata().image()->topic("orders")->replicas[p]) {
        const std::optional<ReplicaStatus> s = nodes_[id]->manager().Status(tp);
        if (s.has_value() && s->role == raft::Role::kLeader) partition_leader = id;
      }
      return partition_leader != raft::kNoNode;
    })) << tp.DirName();
    std::string batch = storage::testing::MakeBatch(2, 1'000, "r");
    struct Answer {
      Mutex mu;
      std::optional<absl::StatusOr<storage::AppendResult>> result;
    };
    auto answer = std::make_shared<Answer>();
    nodes_[partition_leader]->manager().Produce(
        tp, batch, 2, true, [answer](absl::StatusOr<storage::AppendResult> result) {
          MutexLock lock(&answer->mu);
          answer->result = std::move(result);
        });
    ASSERT_TRUE(WaitFor([&] {
      MutexLock lock(&answer->mu);
      return answer->result.has_value();
    }));
    MutexLock lock(&answer->mu);
    EXPECT_TRUE(answer->result->ok()) << answer->result->status();
  }
  // The topic goes: every replica stops and its directory is deleted.
  v1::MetadataRecord remove;
  remove.mutable_topic_delete()->set_name("orders");
  remove.mutable_topic_delete()->set_topic_id("t-1");
  ASSERT_TRUE(nodes_[leader]->metadata().ProposeAndWait({remove}, 10'000).ok());
  for (auto& [id, each] : nodes_) {
    MetadataNode* node = each.get();  // a lambda cannot capture a structured binding (clang)
    EXPECT_TRUE(WaitFor([&] { return node->reconciler().hosted().empty(); })) << "node " << id;
    EXPECT_FALSE(std::filesystem::exists(node->data_dir() + "/orders-0")) << "node " << id;
    EXPECT_FALSE(node->manager().Status({"orders", 0}).has_value()) << "node " << id;
  }
}

}  // namespace
}  // namespace runnel::broker
