// Committed offsets through the Groups service of a real runneld: stored durably in
// __consumer_offsets, read back after SIGTERM and SIGKILL restarts, bad entries refused alone.
#include <grpcpp/grpcpp.h>

#include <gtest/gtest.h>
#include <fstream>
#include <thread>

#include "common/record/record_batch.h"
#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "runnel/v1/groups.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;

class OffsetsE2ETest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"), std::move(args));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    Connect();
  }
  void Connect() {
    auto channel = grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials());
    groups_ = v1::Groups::NewStub(channel);
    admin_ = v1::Admin::NewStub(channel);
  }
  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  v1::CommitOffsetsResponse Commit(const std::string& group,
                                   const std::vector<std::tuple<std::string, int, int64_t>>& rows,
                                   const std::string& metadata = "") {
    v1::CommitOffsetsRequest request;
    request.set_group_id(group);
    request.set_member_epoch(-1);
    for (const auto& [topic, partition, offset] : rows) {
      v1::PartitionOffsetCommit* o = request.add_offsets();
      o->set_topic(topic);
      o->set_partition(partition);
      o->set_offset(offset);
      o->set_metadata(metadata);
    }
    v1::CommitOffsetsResponse response;
    EXPECT_TRUE(groups_->CommitOffsets(Context().get(), request, &response).ok());
    return response;
  }

  // group's committed offsets as "topic-partition=offset" strings, in order.
  std::vector<std::string> FetchAll(const std::string& group) {
    v1::FetchOffsetsRequest request;
    request.set_group_id(group);
    v1::FetchOffsetsResponse response;
    EXPECT_TRUE(groups_->FetchOffsets(Context().get(), request, &response).ok());
    std::vector<std::string> out;
    for (const auto& p : response.partitions()) {
      out.push_back(p.topic() + "-" + std::to_string(p.partition()) + "=" +
                    std::to_string(p.offset()));
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<v1::Groups::Stub> groups_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

TEST_F(OffsetsE2ETest, CommitsSurviveCleanAndKilledRestarts) {
  Start({"--offsets-topic-partitions", "3"});
  EXPECT_TRUE(FetchAll("app").empty());  // nothing committed, and no topic created for a read

  auto r = Commit("app", {{"orders", 0, 10}, {"orders", 1, 20}, {"payments", 0, 5}}, "ckpt");
  ASSERT_EQ(r.partitions_size(), 3);
  for (const auto& p : r.partitions()) EXPECT_EQ(p.error().code(), v1::NONE) << p.error().message();
  ASSERT_EQ(Commit("other", {{"orders", 0, 99}}).partitions(0).error().code(), v1::NONE);
  const std::vector<std::string> expected = {"orders-0=10", "orders-1=20", "payments-0=5"};
  EXPECT_EQ(FetchAll("app"), expected);

  // One partition asked for, and one never committed.
  v1::FetchOffsetsRequest one;
  one.set_group_id("app");
  auto* tp = one.add_partitions();
  tp->set_topic("orders");
  tp->set_partition(1);
  tp = one.add_partitions();
  tp->set_topic("orders");
  tp->set_partition(7);
  v1::FetchOffsetsResponse fetched;
  ASSERT_TRUE(groups_->FetchOffsets(Context().get(), one, &fetched).ok());
  ASSERT_EQ(fetched.partitions_size(), 2);
  EXPECT_EQ(fetched.partitions(0).offset(), 20);
  EXPECT_EQ(fetched.partitions(0).metadata(), "ckpt");
  EXPECT_GT(fetched.partitions(0).commit_timestamp(), 0);
  EXPECT_EQ(fetched.partitions(1).offset(), -1);

  // The internal topic: 3 partitions, compacted, hidden from the plain topic list.
  v1::ListTopicsResponse listed;
  ASSERT_TRUE(admin_->ListTopics(Context().get(), {}, &listed).ok());
  EXPECT_EQ(listed.topics_size(), 0);
  v1::ListTopicsRequest with_internal;
  with_internal.set_include_internal(true);
  ASSERT_TRUE(admin_->ListTopics(Context().get(), with_internal, &listed).ok());
  ASSERT_EQ(listed.topics_size(), 1);
  EXPECT_EQ(listed.topics(0).name(), "__consumer_offsets");
  EXPECT_EQ(listed.topics(0).partitions(), 3);
  EXPECT_TRUE(listed.topics(0).internal());

  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  Connect();
  EXPECT_EQ(FetchAll("app"), expected) << "after SIGTERM";
  EXPECT_EQ(FetchAll("other"), std::vector<std::string>{"orders-0=99"});

  // A newer commit, acknowledged (durable), then SIGKILL.
  ASSERT_EQ(Commit("app", {{"orders", 0, 11}}).partitions(0).error().code(), v1::NONE);
  broker_->Kill();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  Connect();
  EXPECT_EQ(FetchAll("app"),
            (std::vector<std::string>{"orders-0=11", "orders-1=20", "payments-0=5"}))
      << "after SIGKILL";
}

TEST_F(OffsetsE2ETest, BadEntriesFailAloneWithClearErrors) {
  Start();
  auto r = Commit("app", {{"orders", 0, -5}, {"orders", 1, 7}, {"", 0, 1}, {"orders", -1, 1}});
  ASSERT_EQ(r.partitions_size(), 4);
  EXPECT_EQ(r.partitions(0).error().code(), v1::INVALID_REQUEST);
  EXPECT_NE(r.partitions(0).error().message().find("offset -5 is negative"), std::string::npos)
      << r.partitions(0).error().message();
  EXPECT_EQ(r.partitions(1).error().code(), v1::NONE);
  EXPECT_NE(r.partitions(2).error().message().find("empty topic name"), std::string::npos);
  EXPECT_NE(r.partitions(3).error().message().find("partition is negative"), std::string::npos);
  r = Commit("app", {{"orders", 2, 1}}, std::string(5000, 'm'));
  EXPECT_NE(r.partitions(0).error().message().find("metadata of 5000 bytes is over 4096"),
            std::string::npos)
      << r.partitions(0).error().message();
  r = Commit("", {{"orders", 0, 1}});
  EXPECT_EQ(r.error().code(), v1::INVALID_REQUEST);
  EXPECT_NE(r.error().message().find("group_id is empty"), std::string::npos);
  // Names longer than the record's int16 lengths: refused (the broker aborted on them once).
  r = Commit("app", {{std::string(40'000, 't'), 0, 1}});
  EXPECT_EQ(r.partitions(0).error().code(), v1::INVALID_REQUEST);
  EXPECT_NE(r.partitions(0).error().message().find("topic name of 40000 bytes is over 32767"),
            std::string::npos)
      << r.partitions(0).error().message();
  r = Commit(std::string(40'000, 'g'), {{"orders", 0, 1}});
  EXPECT_EQ(r.error().code(), v1::INVALID_REQUEST);
  EXPECT_NE(r.error().message().find("group id of 40000 bytes is over 32767"), std::string::npos)
      << r.error().message();  // and the broker still answers, below
  EXPECT_EQ(FetchAll("app"), std::vector<std::string>{"orders-1=7"});
}

TEST_F(OffsetsE2ETest, CommittedOffsetsSurviveCompactionOfTheOffsetsTopic) {
  Start({"--offsets-topic-partitions", "1", "--log-cleaner-backoff-ms", "100"});
  ASSERT_EQ(Commit("app", {{"other", 0, 7}}).partitions(0).error().code(), v1::NONE);
  // Tiny segments, so the log cleaner (looking every 100 ms) has closed segments to compact.
  v1::AlterConfigsRequest alter;
  alter.set_topic("__consumer_offsets");
  (*alter.mutable_set())["segment.bytes"] = "300";
  v1::AlterConfigsResponse altered;
  ASSERT_TRUE(admin_->AlterConfigs(Context().get(), alter, &altered).ok());
  ASSERT_EQ(altered.error().code(), v1::NONE) << altered.error().message();
  for (int i = 1; i <= 60; ++i) {
    ASSERT_EQ(Commit("app", {{"orders", 0, i}}).partitions(0).error().code(), v1::NONE);
  }
  // Records left in the offsets topic's log, counted through Fetch.
  auto broker = v1::Broker::NewStub(
      grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials()));
  auto stored_records = [&] {
    v1::FetchRequest request;
    v1::PartitionFetch* f = request.add_partitions();
    f->set_topic("__consumer_offsets");
    f->set_partition(0);
    f->set_max_bytes(1 << 20);
    int64_t offset = 0, records = 0;
    for (int round = 0; round < 1000; ++round) {  // bounded walk over the log
      f->set_offset(offset);
      v1::FetchResponse response;
      if (!broker->Fetch(Context().get(), request, &response).ok()) return int64_t{-1};
      std::string_view rest = response.partitions(0).records();
      if (rest.empty()) break;
      while (!rest.empty()) {
        auto view = record::RecordBatchView::Parse(rest);
        if (!view.ok()) return int64_t{-1};
        records += view->record_count();
        offset = view->last_offset() + 1;
        rest.remove_prefix(view->size());
      }
    }
    return records;
  };
  int64_t left = stored_records();
  for (int i = 0; i < 100 && left >= 61; ++i) {  // up to 10 s for a cleaning round
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = stored_records();
  }
  EXPECT_LT(left, 61) << "no compaction of __consumer_offsets happened";
  const std::vector<std::string> expected = {"orders-0=60", "other-0=7"};
  EXPECT_EQ(FetchAll("app"), expected);
  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  Connect();
  EXPECT_EQ(FetchAll("app"), expected) << "after compaction and a restart";
}

TEST_F(OffsetsE2ETest, AnUndecodableStoredBatchIsSkippedAtStart) {
  Start({"--offsets-topic-partitions", "1"});
  ASSERT_EQ(Commit("first", {{"t", 0, 1}}).partitions(0).error().code(), v1::NONE);
  ASSERT_EQ(Commit("second", {{"t", 0, 2}}).partitions(0).error().code(), v1::NONE);
  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
  // Give the first batch an unknown codec id (attributes' low bits, byte 22 of the batch). After
  // a clean shutdown the broker does not rescan, so the load meets it.
  const std::string segment = dir_.Sub("data") + "/__consumer_offsets-0/00000000000000000000.log";
  std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(file.good());
  file.seekp(22);
  file.put(static_cast<char>(0x07));
  file.close();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  Connect();
  EXPECT_TRUE(FetchAll("first").empty());
  EXPECT_EQ(FetchAll("second"), std::vector<std::string>{"t-0=2"});
  EXPECT_NE(broker_->output().find("batch at offset 0"), std::string::npos) << broker_->output();
}

TEST_F(OffsetsE2ETest, DeletingSeveralGroupsAnswersEachOnce) {
  Start({"--offsets-topic-partitions", "2"});
  ASSERT_EQ(Commit("a", {{"t", 0, 1}}).partitions(0).error().code(), v1::NONE);
  ASSERT_EQ(Commit("b", {{"t", 0, 2}, {"t", 1, 3}}).partitions(0).error().code(), v1::NONE);
  v1::DeleteGroupsRequest request;
  for (const char* g : {"a", "zz", "b", ""}) request.add_group_ids(g);
  v1::DeleteGroupsResponse response;
  ASSERT_TRUE(groups_->DeleteGroups(Context().get(), request, &response).ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).error().code(), v1::NONE);
  EXPECT_EQ(response.results(1).error().code(), v1::GROUP_ID_NOT_FOUND);
  EXPECT_EQ(response.results(2).error().code(), v1::NONE);
  EXPECT_EQ(response.results(3).error().code(), v1::INVALID_REQUEST);
  EXPECT_TRUE(FetchAll("a").empty());
  EXPECT_TRUE(FetchAll("b").empty());
  v1::ListGroupsResponse listed;
  ASSERT_TRUE(groups_->ListGroups(Context().get(), {}, &listed).ok());
  EXPECT_EQ(listed.groups_size(), 0);
}

}  // namespace
}  // namespace runnel
