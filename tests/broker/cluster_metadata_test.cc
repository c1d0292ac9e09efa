// The metadata log and its image on every broker (broker/cluster/cluster_metadata.h): three
// controllers and one broker that only learns, in one process over loopback gRPC.
#include "broker/cluster/cluster_metadata.h"

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

  void Start(const std::vector<RaftPeer>& peers, const std::string& cluster_id = "test-cluster") {
    RaftTestNode::Start(peers, cluster_id);
    ClusterMetadataOptions options;
    options.node_id = id();
    options.controllers = {1, 2, 3};
    options.brokers = {1, 2, 3, 4};
    metadata_ = std::make_unique<ClusterMetadata>(options, &manager());
    ASSERT_TRUE(metadata_->Start(OpenLog({ClusterMetadata::kTopic, 0})).ok());
  }
  void Crash() override {
    RaftTestNode::Crash();
    metadata_.reset();
  }

  ClusterMetadata& metadata() { return *metadata_; }

 private:
  std::unique_ptr<ClusterMetadata> metadata_;
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
  for (auto& [id, node] : nodes_) {
    EXPECT_TRUE(WaitFor([&] { return node->metadata().image()->topics() == image->topics(); }))
        << "node " << id;
    EXPECT_EQ(node->metadata().image()->brokers(), image->brokers()) << "node " << id;
  }
}

TEST_F(ClusterMetadataTest, OnlyTheControllerLeaderAppendsAndNamesItself) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const raft::NodeId other = leader == 4 ? 1 : 4;
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

}  // namespace
}  // namespace runnel::broker
