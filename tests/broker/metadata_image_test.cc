// The metadata image and replica placement (broker/cluster/metadata_image.h).
#include "broker/cluster/metadata_image.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace runnel::broker {
namespace {

v1::MetadataRecord Broker(int32_t id, const std::string& rack = "") {
  v1::MetadataRecord r;
  v1::BrokerRecord* b = r.mutable_broker();
  b->set_node_id(id);
  b->set_incarnation_id("inc-" + std::to_string(id));
  b->set_grpc_address("127.0.0.1:" + std::to_string(7000 + id));
  b->set_inter_broker_address("127.0.0.1:" + std::to_string(8000 + id));
  b->set_rack(rack);
  return r;
}

v1::MetadataRecord Topic(const std::string& name, const std::vector<std::vector<int32_t>>& replicas,
                         const std::string& id = "id-1") {
  v1::MetadataRecord r;
  v1::TopicRecord* t = r.mutable_topic();
  t->set_name(name);
  t->set_topic_id(id);
  for (const auto& p : replicas) t->add_replicas()->mutable_node_ids()->Add(p.begin(), p.end());
  return r;
}

v1::MetadataRecord Reassign(const std::string& topic, int32_t partition,
                            const std::vector<int32_t>& replicas, bool completed = false,
                            const std::string& id = "id-1") {
  v1::MetadataRecord r;
  v1::PartitionReplicasRecord* move = r.mutable_partition_replicas();
  move->set_topic(topic);
  move->set_topic_id(id);
  move->set_partition(partition);
  move->set_completed(completed);
  move->mutable_replicas()->mutable_node_ids()->Add(replicas.begin(), replicas.end());
  return r;
}

MetadataImage ThreeBrokers() {
  MetadataImage image;
  v1::MetadataRecord cluster;
  cluster.mutable_cluster()->set_cluster_id("c-1");
  EXPECT_TRUE(image.Apply(cluster).ok());
  for (int id = 1; id <= 3; ++id) EXPECT_TRUE(image.Apply(Broker(id)).ok());
  return image;
}

TEST(MetadataImageTest, BrokersTopicsConfigsReassignmentsAndDeletesApply) {
  MetadataImage image = ThreeBrokers();
  EXPECT_EQ(image.cluster_id(), "c-1");
  ASSERT_EQ(image.brokers().size(), 3u);
  EXPECT_EQ(image.broker(2)->grpc_address, "127.0.0.1:7002");

  ASSERT_TRUE(image.Apply(Topic("orders", {{1, 2, 3}, {2, 3, 1}})).ok());
  const TopicMetadata* orders = image.topic("orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->info.partitions, 2);
  EXPECT_EQ(orders->info.replication_factor, 3);
  EXPECT_EQ(orders->replicas[1], (std::vector<raft::NodeId>{2, 3, 1}));

  v1::MetadataRecord config;
  config.mutable_topic_config()->set_name("orders");
  (*config.mutable_topic_config()->mutable_configs())["retention.ms"] = "1000";
  ASSERT_TRUE(image.Apply(config).ok());
  EXPECT_EQ(image.topic("orders")->info.configs.at("retention.ms"), "1000");

  // A reassignment begins: the target is recorded, both lists host the partition, the replicas
  // stay until the group's membership is the target (a completion record).
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {3, 2})).ok());
  orders = image.topic("orders");
  EXPECT_EQ(orders->replicas[0], (std::vector<raft::NodeId>{1, 2, 3}));
  ASSERT_NE(orders->reassignment(0), nullptr);
  EXPECT_EQ(orders->reassignment(0)->target, (std::vector<raft::NodeId>{3, 2}));
  EXPECT_EQ(orders->Hosts(0), (std::set<raft::NodeId>{1, 2, 3}));
  EXPECT_EQ(orders->reassignment(1), nullptr);
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {3, 2}, /*completed=*/true)).ok());
  orders = image.topic("orders");
  EXPECT_EQ(orders->replicas[0], (std::vector<raft::NodeId>{3, 2}));
  EXPECT_EQ(orders->reassignment(0), nullptr);
  EXPECT_EQ(orders->Hosts(0), (std::set<raft::NodeId>{2, 3}));
  EXPECT_EQ(orders->info.replication_factor, 2);  // partition 0's count

  // The same brokers in another order: only the preferred leader changes, at once.
  ASSERT_TRUE(image.Apply(Reassign("orders", 1, {1, 2, 3})).ok());
  EXPECT_EQ(image.topic("orders")->replicas[1], (std::vector<raft::NodeId>{1, 2, 3}));
  EXPECT_EQ(image.topic("orders")->reassignment(1), nullptr);

  v1::MetadataRecord fence;
  fence.mutable_fence()->set_node_id(2);
  fence.mutable_fence()->set_fenced(true);
  ASSERT_TRUE(image.Apply(fence).ok());
  EXPECT_TRUE(image.broker(2)->fenced);
  ASSERT_TRUE(image.Apply(Broker(2)).ok());  // re-registering unfences
  EXPECT_FALSE(image.broker(2)->fenced);

  v1::MetadataRecord remove;
  remove.mutable_topic_delete()->set_name("orders");
  remove.mutable_topic_delete()->set_topic_id("id-1");
  ASSERT_TRUE(image.Apply(remove).ok());
  EXPECT_EQ(image.topic("orders"), nullptr);
}

TEST(MetadataImageTest, AReassignmentChangedOrCancelledPartWayKeepsEveryEarlierTargetHosting) {
  MetadataImage image = ThreeBrokers();
  ASSERT_TRUE(image.Apply(Broker(4)).ok());
  ASSERT_TRUE(image.Apply(Topic("orders", {{1, 2}})).ok());
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {2, 3})).ok());
  const int64_t first = image.topic("orders")->reassignment(0)->started_at;
  // Broker 3 may have joined the group already: it keeps hosting while the leader drives the
  // group to the new target and removes it.
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {2, 4})).ok());
  const TopicMetadata* orders = image.topic("orders");
  EXPECT_GT(orders->reassignment(0)->started_at, first) << "dated by the record that set it";
  EXPECT_EQ(orders->reassignment(0)->target, (std::vector<raft::NodeId>{2, 4}));
  EXPECT_EQ(orders->Hosts(0), (std::set<raft::NodeId>{1, 2, 3, 4}));
  // Cancelling is a reassignment back to the replicas: it completes like any other.
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {1, 2})).ok());
  orders = image.topic("orders");
  ASSERT_NE(orders->reassignment(0), nullptr);
  EXPECT_EQ(orders->Hosts(0), (std::set<raft::NodeId>{1, 2, 3, 4}));
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {1, 2}, /*completed=*/true)).ok());
  orders = image.topic("orders");
  EXPECT_EQ(orders->reassignment(0), nullptr);
  EXPECT_EQ(orders->Hosts(0), (std::set<raft::NodeId>{1, 2}));
}

TEST(MetadataImageTest, ABrokersDataDirIsDatedFromItsFirstRegistrationAndTopicsFromTheirCreation) {
  MetadataImage image = ThreeBrokers();
  v1::MetadataRecord first = Broker(4);
  first.mutable_broker()->set_directory_id("dir-a");
  ASSERT_TRUE(image.Apply(first).ok());
  const int64_t since = image.broker(4)->directory_since;
  ASSERT_TRUE(image.Apply(Topic("orders", {{4, 1}})).ok());
  EXPECT_GT(image.topic("orders")->created_at, since);
  // A restart (a new incarnation, the same data dir) keeps the date.
  v1::MetadataRecord restart = first;
  restart.mutable_broker()->set_incarnation_id("inc-4b");
  ASSERT_TRUE(image.Apply(restart).ok());
  EXPECT_EQ(image.broker(4)->directory_since, since);
  // A wiped data dir (another id) is newer than the topic: its replica there was lost with it.
  v1::MetadataRecord wiped = restart;
  wiped.mutable_broker()->set_directory_id("dir-b");
  ASSERT_TRUE(image.Apply(wiped).ok());
  EXPECT_GT(image.broker(4)->directory_since, image.topic("orders")->created_at);
}

TEST(MetadataImageTest, ARecordThatDoesNotFitChangesNothingAndSaysWhy) {
  MetadataImage image = ThreeBrokers();
  ASSERT_TRUE(image.Apply(Topic("orders", {{1, 2}})).ok());

  const auto refused = [&](const v1::MetadataRecord& record, const std::string& why) {
    MetadataImage before = image;
    absl::Status status = image.Apply(record);
    EXPECT_FALSE(status.ok()) << why;
    EXPECT_NE(status.message().find(why), std::string::npos) << status;
    EXPECT_EQ(image.topics(), before.topics());
    EXPECT_EQ(image.brokers(), before.brokers());
    EXPECT_EQ(image.cluster_id(), before.cluster_id());
  };
  refused(Topic("orders", {{1}}, "id-2"), "already exists");
  refused(Topic("payments", {{1, 9}}), "node 9 is not a registered broker");
  refused(Topic("payments", {{1, 1}}), "listed twice");
  refused(Topic("payments", {{1}, {}}), "partition 1: no replicas");
  refused(Topic("bad name!", {{1}}), "bad name!");
  v1::MetadataRecord other_cluster;
  other_cluster.mutable_cluster()->set_cluster_id("c-2");
  refused(other_cluster, "not \"c-2\"");
  v1::MetadataRecord wrong_id;
  wrong_id.mutable_topic_delete()->set_name("orders");
  wrong_id.mutable_topic_delete()->set_topic_id("id-old");
  refused(wrong_id, "does not exist");
  v1::MetadataRecord bad_config;
  bad_config.mutable_topic_config()->set_name("orders");
  (*bad_config.mutable_topic_config()->mutable_configs())["retention.ms"] = "soon";
  refused(bad_config, "retention.ms");
  refused(Reassign("orders", 4, {1}), "has no partition 4");
  refused(Reassign("orders", 0, {1, 9}), "node 9 is not a registered broker");
  refused(Reassign("orders", 0, {}), "no replicas");
  refused(Reassign("orders", 0, {3}, false, "id-old"), "with id id-old does not exist");
  refused(Reassign("orders", 0, {3}, /*completed=*/true), "does not match any reassignment");
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {3})).ok());
  refused(Reassign("orders", 0, {2}, /*completed=*/true), "the one in progress (to [3])");
  refused(Topic("__cluster_metadata", {{1}}), "the metadata log itself");
  refused(v1::MetadataRecord(), "no known kind");
}

TEST(MetadataImageTest, OnlyAFencedBrokerHostingNothingIsUnregistered) {
  MetadataImage image = ThreeBrokers();
  ASSERT_TRUE(image.Apply(Topic("orders", {{1, 2}})).ok());
  const auto unregister = [](int32_t id) {
    v1::MetadataRecord r;
    r.mutable_unregister()->set_node_id(id);
    return r;
  };
  const auto fence = [](int32_t id) {
    v1::MetadataRecord r;
    r.mutable_fence()->set_node_id(id);
    r.mutable_fence()->set_fenced(true);
    return r;
  };
  EXPECT_TRUE(absl::IsNotFound(image.Apply(unregister(9))));
  absl::Status s = image.Apply(unregister(3));
  EXPECT_NE(s.message().find("node 3 is alive (not fenced)"), std::string::npos) << s;
  ASSERT_TRUE(image.Apply(fence(2)).ok());
  s = image.Apply(unregister(2));
  EXPECT_NE(s.message().find("node 2 still hosts 1 partition(s) (orders-0)"), std::string::npos)
      << s;
  // A reassignment's target hosts the partition too.
  ASSERT_TRUE(image.Apply(fence(3)).ok());
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {1, 3})).ok());
  s = image.Apply(unregister(3));
  EXPECT_NE(s.message().find("node 3 still hosts"), std::string::npos) << s;
  ASSERT_TRUE(image.Apply(Reassign("orders", 0, {1, 3}, /*completed=*/true)).ok());
  ASSERT_EQ(image.brokers().size(), 3u);
  ASSERT_TRUE(image.Apply(unregister(2)).ok());
  EXPECT_EQ(image.broker(2), nullptr);
  EXPECT_EQ(image.brokers().size(), 2u);
  // It may register again.
  ASSERT_TRUE(image.Apply(Broker(2)).ok());
  EXPECT_NE(image.broker(2), nullptr);
}

TEST(PlaceReplicasTest, LeadersSpreadEvenlyAndReplicasAreDistinct) {
  MetadataImage image = ThreeBrokers();
  auto placed = PlaceReplicas(image.brokers(), 6, 3, 0);
  ASSERT_TRUE(placed.ok()) << placed.status();
  std::map<raft::NodeId, int> leaders;
  std::map<raft::NodeId, int> replicas;
  for (const auto& p : *placed) {
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(std::set<raft::NodeId>(p.begin(), p.end()).size(), 3u);
    ++leaders[p.front()];
    for (raft::NodeId id : p) ++replicas[id];
  }
  EXPECT_EQ(leaders, (std::map<raft::NodeId, int>{{1, 2}, {2, 2}, {3, 2}}));
  EXPECT_EQ(replicas, (std::map<raft::NodeId, int>{{1, 6}, {2, 6}, {3, 6}}));
  // Another start rotates the leaders.
  auto rotated = PlaceReplicas(image.brokers(), 1, 1, 1);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->front().front(), 2);
}

TEST(PlaceReplicasTest, ReplicasOfAPartitionSitInDifferentRacks) {
  MetadataImage image;
  // Racks a, a, b, b, c, c.
  for (int id = 1; id <= 6; ++id) {
    ASSERT_TRUE(
        image.Apply(Broker(id, std::string(1, static_cast<char>('a' + (id - 1) / 2)))).ok());
  }
  auto placed = PlaceReplicas(image.brokers(), 12, 3, 5);
  ASSERT_TRUE(placed.ok()) << placed.status();
  for (const auto& p : *placed) {
    std::set<std::string> racks;
    for (raft::NodeId id : p) racks.insert(image.broker(id)->rack);
    EXPECT_EQ(racks.size(), 3u);
  }
}

TEST(PlaceReplicasTest, FencedBrokersAreLeftOutAndTooFewBrokersAreNamed) {
  MetadataImage image = ThreeBrokers();
  v1::MetadataRecord fence;
  fence.mutable_fence()->set_node_id(3);
  fence.mutable_fence()->set_fenced(true);
  ASSERT_TRUE(image.Apply(fence).ok());
  auto placed = PlaceReplicas(image.brokers(), 4, 2, 0);
  ASSERT_TRUE(placed.ok());
  for (const auto& p : *placed) {
    EXPECT_EQ(std::set<raft::NodeId>(p.begin(), p.end()), (std::set<raft::NodeId>{1, 2}));
  }
  auto refused = PlaceReplicas(image.brokers(), 1, 3, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_NE(refused.status().message().find("replication factor 3"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("2 are registered"), std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace runnel::broker
