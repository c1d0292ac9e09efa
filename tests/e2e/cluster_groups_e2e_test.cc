// Consumer groups in a cluster of real runneld processes: __consumer_offsets is created by the
// controller on the first FindCoordinator (replicated like any topic), a group's coordinator is
// the leader of the group's offsets partition, and every write of the coordinator goes through
// that partition's Raft group.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
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
    if (!stub->FetchOffsets(RawBrokerClient::Context().get(), request, &response).ok() ||
        response.error().code() != v1::NONE) {
      return -2;
    }
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

  // FindCoordinator for `group` through broker `via`; an answer with an error when none came.
  v1::FindCoordinatorResponse FindCoordinator(int via, const std::string& group) {
    auto stub = v1::Groups::NewStub(
        grpc::CreateChannel(cluster_.node(via).address(), grpc::InsecureChannelCredentials()));
    v1::FindCoordinatorRequest request;
    request.set_group_id(group);
    v1::FindCoordinatorResponse response;
    const grpc::Status status =
        stub->FindCoordinator(RawBrokerClient::Context().get(), request, &response);
    if (!status.ok()) {
      response.mutable_error()->set_code(v1::UNKNOWN_SERVER_ERROR);
      response.mutable_error()->set_message("no answer: " + status.error_message());
    }
    return response;
  }

  // The node id whose client address is `address` (0: none).
  int NodeAt(const std::string& address) {
    for (int id = 1; id <= 3; ++id) {
      if (cluster_.node(id).address() == address) return id;
    }
    return 0;
  }

  // The coordinator of `group` as broker `via` names it once it names one that takes the
  // group's calls (its FetchOffsets answers without error); 0 if none within the wait.
  int Coordinator(int via, const std::string& group) {
    int found = 0;
    Eventually([&] {
      const v1::FindCoordinatorResponse r = FindCoordinator(via, group);
      if (r.error().code() != v1::NONE) return false;
      found = NodeAt(r.address());
      return found > 0 && Fetch(found, group, "probe") != -2;
    });
    return found;
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), 3, {"--offsets-topic-partitions", "3"}};
};

// FindCoordinator on any broker creates __consumer_offsets through the controller (3 replicas
// per partition, as min(3, brokers)) and names the leader of the group's partition; only that
// broker takes the group's calls (the others answer NOT_COORDINATOR naming it); a commit is
// answered once committed on a majority, so after the coordinator's SIGKILL the partition's new
// leader becomes the coordinator and answers the committed offset from its replica.
TEST_F(ClusterGroupsTest, TheCoordinatorIsTheOffsetsPartitionLeaderAndMovesWithIt) {
  const int coordinator = Coordinator(1, "g1");
  ASSERT_GT(coordinator, 0) << "no coordinator for g1";
  ASSERT_TRUE(Eventually([&] {
    return Commit(coordinator, "g1", "orders", 42).code() == v1::NONE;
  })) << Commit(coordinator, "g1", "orders", 42).ShortDebugString();
  EXPECT_EQ(Fetch(coordinator, "g1", "orders"), 42);

  const v1::MetadataResponse m = cluster_.Metadata(coordinator, kOffsetsTopic);
  ASSERT_EQ(m.topics_size(), 1);
  ASSERT_EQ(m.topics(0).error().code(), v1::NONE) << m.topics(0).error().message();
  ASSERT_EQ(m.topics(0).partitions_size(), 3);
  for (const v1::PartitionMetadata& p : m.topics(0).partitions()) {
    EXPECT_EQ(p.replicas_size(), 3) << "partition " << p.partition();
  }
  // Every broker names the same coordinator; the others refuse the group's commits, naming it.
  // Leadership may move meanwhile (an election on a loaded machine): each refusal must name a
  // broker other than the one refusing.
  int refused = 0;
  std::string answers;
  for (int id = 1; id <= 3; ++id) {
    if (id == coordinator) continue;
    EXPECT_TRUE(Eventually([&] {
      const v1::FindCoordinatorResponse r = FindCoordinator(id, "g1");
      return r.error().code() == v1::NONE && NodeAt(r.address()) > 0;
    })) << "broker "
        << id << " names no coordinator";
    const v1::Error error = Commit(id, "g1", "orders", 7);
    answers += "\n  broker " + std::to_string(id) + ": " + error.ShortDebugString();
    if (error.code() == v1::NOT_COORDINATOR) {
      ++refused;
      EXPECT_NE(error.leader_id(), id) << answers;
      EXPECT_EQ(NodeAt(error.leader_addr()), error.leader_id()) << answers;
    }
  }
  EXPECT_GE(refused, 1) << "brokers that do not lead the partition took its commits:" << answers;

  // The coordinator dies; the partition's next leader takes the group over from its replica.
  const int killed = Coordinator(1, "g1");
  ASSERT_GT(killed, 0);
  cluster_.node(killed).Kill();
  const int survivor = killed == 1 ? 2 : 1;
  int next = 0;
  ASSERT_TRUE(Eventually([&] {
    const v1::FindCoordinatorResponse r = FindCoordinator(survivor, "g1");
    next = r.error().code() == v1::NONE ? NodeAt(r.address()) : 0;
    return next > 0 && next != killed && Fetch(next, "g1", "orders") == 42;
  })) << "no survivor answers g1's committed offset (coordinator named: "
      << next << ")";
}

// A consumer group of three members (the client library) keeps its committed offsets and
// converges again when its coordinator's broker is SIGKILLed: the members follow the coordinator
// to the offsets partition's new leader, keep their partitions and positions, and read on from
// where they committed — no record read twice, none missed.
TEST_F(ClusterGroupsTest, AGroupOfThreeKeepsItsOffsetsThroughItsCoordinatorsKill) {
  constexpr char kTopic[] = "events";
  constexpr int kPartitions = 6;
  constexpr int kPerPhase = 600;
  const std::string brokers = cluster_.BrokerList();
  auto admin = client::Admin::Create({.bootstrap_servers = brokers});
  ASSERT_TRUE(admin.ok()) << admin.status();
  ASSERT_TRUE((*admin)->CreateTopic({kTopic, kPartitions, 3, {}}).ok());
  for (int32_t p = 0; p < kPartitions; ++p) {
    ASSERT_GT(cluster_.WaitForLeader(kTopic, p, {1, 2, 3}), 0);
  }
  client::ProducerOptions producer_options;
  producer_options.bootstrap_servers = brokers;
  producer_options.request_timeout_ms = 3000;
  producer_options.delivery_timeout_ms = 60000;
  auto producer = client::Producer::Create(producer_options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::atomic<int> failed{0};
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      client::ProducerRecord record;
      record.topic = kTopic;
      record.partition = i % kPartitions;
      record.value = std::to_string(i);
      ASSERT_TRUE((*producer)
                      ->Send(record,
                             [&failed](const absl::StatusOr<client::RecordMetadata>& done) {
                               if (!done.ok()) ++failed;
                             })
                      .ok());
    }
    (*producer)->Flush();
    ASSERT_EQ(failed.load(), 0) << "records not acknowledged";
  };
  produce(0, kPerPhase);

  std::vector<std::unique_ptr<client::Consumer>> members;
  for (int i = 0; i < 3; ++i) {
    client::ConsumerOptions options;
    options.bootstrap_servers = brokers;
    options.group_id = "keepers";
    options.enable_auto_commit = false;
    options.request_timeout_ms = 3000;
    options.auto_offset_reset = client::AutoOffsetReset::kEarliest;
    auto consumer = client::Consumer::Create(options);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    ASSERT_TRUE((*consumer)->Subscribe({kTopic}).ok());
    members.push_back(*std::move(consumer));
  }
  std::map<int, int> reads;              // value -> times read
  std::map<int32_t, int64_t> last_read;  // partition -> offset of the last record read
  // Polls every member once, committing what each read; true when nothing failed.
  auto poll_all = [&]() {
    for (auto& member : members) {
      auto records = member->Poll(50);
      if (!records.ok()) return false;
      for (const client::ConsumerRecord& r : *records) {
        ++reads[std::stoi(std::string(*r.value))];
        last_read[r.partition] = std::max(last_read[r.partition], r.offset);
      }
      if (!records->empty() && !member->Commit().ok()) return false;
    }
    return true;
  };
  // Converged: every partition owned by exactly one member, each member owning two.
  auto converged = [&]() {
    std::set<int32_t> owned;
    for (auto& member : members) {
      const std::vector<client::TopicPartition> assignment = member->Assignment();
      if (assignment.size() != kPartitions / 3) return false;
      for (const client::TopicPartition& tp : assignment) owned.insert(tp.partition);
    }
    return owned.size() == kPartitions;
  };
  auto read_all = [&](int count) {
    return Eventually(
        [&] {
          poll_all();
          return static_cast<int>(reads.size()) >= count && converged();
        },
        std::chrono::seconds(60));
  };
  ASSERT_TRUE(read_all(kPerPhase)) << reads.size() << " of " << kPerPhase << " read";
  const int coordinator = Coordinator(1, "keepers");
  ASSERT_GT(coordinator, 0);
  cluster_.node(coordinator).Kill();

  produce(kPerPhase, 2 * kPerPhase);
  ASSERT_TRUE(read_all(2 * kPerPhase))
      << reads.size() << " of " << 2 * kPerPhase << " read after the coordinator's kill";
  int twice = 0;
  for (const auto& [value, times] : reads) twice += times > 1 ? 1 : 0;
  EXPECT_EQ(twice, 0) << "records read again: the group lost committed offsets or positions";
  for (int i = 0; i < 2 * kPerPhase; ++i) EXPECT_EQ(reads.count(i), 1u) << "record " << i;

  // What the new coordinator holds: every partition committed past its last record (the log also
  // holds Raft's leader-change batches, which take offsets), at most to its end.
  const std::vector<client::GroupPartition> described = [&] {
    absl::StatusOr<std::vector<client::GroupPartition>> rows;
    Eventually([&] {
      rows = (*admin)->DescribeGroup("keepers");
      return rows.ok();
    });
    return rows.ok() ? *rows : std::vector<client::GroupPartition>{};
  }();
  ASSERT_EQ(described.size(), static_cast<size_t>(kPartitions));
  for (const client::GroupPartition& row : described) {
    EXPECT_GT(row.committed, last_read[row.partition]) << row.topic << "-" << row.partition;
    EXPECT_LE(row.committed, row.end_offset) << row.topic << "-" << row.partition;
  }
  for (auto& member : members) member->Close();
}

}  // namespace
}  // namespace runnel::testing
