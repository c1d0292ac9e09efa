// Consumer groups in a cluster of real runneld processes: __consumer_offsets is created by the
// controller on the first commit (replicated like any topic) and every write of the group
// coordinator goes through the Raft group of the group's offsets partition.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "runnel/v1/groups.grpc.pb.h"
#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using storage::testing::TempDir;

constexpr char kOffsetsTopic[] = "__consumer_offsets";

class ClusterGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, 3)) << cluster_.node(1).output();
  }

  // CommitOffsets of `offset` for `topic`-0 by a consumer that is not a member, through broker
  // `via`; the error of the request or of its one partition.
  v1::Error Commit(int via, const std::string& group, const std::string& topic, int64_t offset) {
    auto stub = v1::Groups::NewStub(
        grpc::CreateChannel(cluster_.node(via).address(), grpc::InsecureChannelCredentials()));
    v1::CommitOffsetsRequest request;
    request.set_group_id(group);
    request.set_member_epoch(-1);
    v1::PartitionOffsetCommit* commit = request.add_offsets();
    commit->set_topic(topic);
    commit->set_partition(0);
    commit->set_offset(offset);
    v1::CommitOffsetsResponse response;
    const grpc::Status status =
        stub->CommitOffsets(RawBrokerClient::Context().get(), request, &response);
    v1::Error error;
    if (!status.ok()) {
      error.set_code(v1::UNKNOWN_SERVER_ERROR);
      error.set_message("no answer: " + status.error_message());
      return error;
    }
    if (response.error().code() != v1::NONE) return response.error();
    if (response.partitions_size() != 1) {
      error.set_code(v1::UNKNOWN_SERVER_ERROR);
      error.set_message("no partition result");
      return error;
    }
    return response.partitions(0).error();
  }

  int64_t Fetch(int via, const std::string& group, const std::string& topic) {
    auto stub = v1::Groups::NewStub(
        grpc::CreateChannel(cluster_.node(via).address(), grpc::InsecureChannelCredentials()));
    v1::FetchOffsetsRequest request;
    request.set_group_id(group);
    v1::FetchOffsetsResponse response;
    if (!stub->FetchOffsets(RawBrokerClient::Context().get(), request, &response).ok()) return -2;
    for (const v1::PartitionCommittedOffset& p : response.partitions()) {
      if (p.topic() == topic && p.partition() == 0) return p.offset();
    }
    return -1;
  }

  // The offsets partition whose high watermark broker `via` reports at least `at_least` (-1: none).
  int32_t PartitionWithRecords(int via, int64_t at_least) {
    const v1::MetadataResponse m = cluster_.Metadata(via, kOffsetsTopic);
    if (m.topics_size() != 1) return -1;
    for (const v1::PartitionMetadata& p : m.topics(0).partitions()) {
      if (p.high_watermark() >= at_least) return p.partition();
    }
    return -1;
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), 3, {"--offsets-topic-partitions", "3"}};
};

// The first commit creates __consumer_offsets through the controller (3 replicas per partition,
// as min(3, brokers)); only the leader of the group's partition takes the group's commits (a
// follower refuses rather than writing its own log around Raft); a commit is answered once
// committed on a majority, so the record survives the leader's SIGKILL on the new leader.
TEST_F(ClusterGroupsTest, CommittedOffsetsAreReplicatedThroughTheOffsetsPartitionsRaftGroup) {
  int coordinator = -1;
  for (int attempt = 0; attempt < 50 && coordinator < 0; ++attempt) {
    for (int id = 1; id <= 3 && coordinator < 0; ++id) {
      if (Commit(id, "g1", "orders", 42).code() == v1::NONE) coordinator = id;
    }
    if (coordinator < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(coordinator, 0) << "no broker took the commit";
  EXPECT_EQ(Fetch(coordinator, "g1", "orders"), 42);

  const v1::MetadataResponse m = cluster_.Metadata(coordinator, kOffsetsTopic);
  ASSERT_EQ(m.topics_size(), 1);
  ASSERT_EQ(m.topics(0).error().code(), v1::NONE) << m.topics(0).error().message();
  ASSERT_EQ(m.topics(0).partitions_size(), 3);
  for (const v1::PartitionMetadata& p : m.topics(0).partitions()) {
    EXPECT_EQ(p.replicas_size(), 3) << "partition " << p.partition();
  }
  int32_t partition = -1;
  ASSERT_TRUE(Eventually([&] { return (partition = PartitionWithRecords(coordinator, 1)) >= 0; }));
  // The brokers that do not lead the group's partition refuse its commits, naming the leader.
  // Leadership may move meanwhile (an election on a loaded machine): at least one of the two
  // others must refuse.
  const int leader = cluster_.WaitForLeader(kOffsetsTopic, partition, {1, 2, 3});
  ASSERT_GT(leader, 0);
  int refused = 0;
  std::string answers;
  for (int id = 1; id <= 3; ++id) {
    if (id == leader) continue;
    const v1::Error error = Commit(id, "g1", "orders", 7);
    answers += "\n  broker " + std::to_string(id) + ": " + error.ShortDebugString();
    if (error.code() != v1::NONE) ++refused;
  }
  EXPECT_GE(refused, 1) << "brokers that do not lead the partition took its commits:" << answers;

  // Committed on a majority: the next leader has the record.
  const int killed = cluster_.WaitForLeader(kOffsetsTopic, partition, {1, 2, 3});
  ASSERT_GT(killed, 0);
  cluster_.node(killed).Kill();
  std::vector<int> survivors;
  for (int id = 1; id <= 3; ++id) {
    if (id != killed) survivors.push_back(id);
  }
  const int next = cluster_.WaitForLeader(kOffsetsTopic, partition, survivors, survivors);
  ASSERT_GT(next, 0) << "no new leader of " << kOffsetsTopic << "-" << partition;
  EXPECT_TRUE(Eventually([&] {
    const v1::MetadataResponse after = cluster_.Metadata(next, kOffsetsTopic);
    return after.topics_size() == 1 && after.topics(0).partitions_size() > partition &&
           after.topics(0).partitions(partition).high_watermark() >= 1;
  })) << "the committed record is not on the new leader";
}

}  // namespace
}  // namespace runnel::testing
