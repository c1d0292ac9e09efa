// runneld end to end over its real gRPC API: produce/fetch round trips, bad input, long poll,
// restarts after SIGTERM and SIGKILL, admin calls, health and metrics.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <httplib.h>
#include "absl/time/clock.h"

#include <chrono>
#include <thread>

#include "common/record/batch_builder.h"
#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::DecodeAll;
using storage::testing::MakeBatch;
using storage::testing::TempDir;
using testing::BrokerProcess;

class BrokerE2ETest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> extra = {}) {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"), std::move(extra));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    channel_ = grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials());
    broker_stub_ = v1::Broker::NewStub(channel_);
    admin_stub_ = v1::Admin::NewStub(channel_);
  }

  // SIGTERM after closing our connection: with clients connected, gRPC's shutdown waits for its
  // deadline (runneld gives it 2 s) before it cuts them off.
  int StopBroker() {
    broker_stub_.reset();
    admin_stub_.reset();
    channel_.reset();
    return broker_->Stop();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  v1::Error CreateTopic(const std::string& name, int partitions,
                        std::map<std::string, std::string> configs = {}) {
    v1::CreateTopicsRequest request;
    v1::NewTopic* topic = request.add_topics();
    topic->set_name(name);
    topic->set_partitions(partitions);
    topic->mutable_configs()->insert(configs.begin(), configs.end());
    v1::CreateTopicsResponse response;
    EXPECT_TRUE(admin_stub_->CreateTopics(Context().get(), request, &response).ok());
    return response.topics(0).error();
  }

  // Sends all requests on one stream without waiting (pipelined), then reads every response.
  std::vector<v1::ProduceResponse> ProduceAll(const std::vector<v1::ProduceRequest>& requests) {
    auto context = Context();
    auto stream = broker_stub_->Produce(context.get());
    for (const auto& r : requests) EXPECT_TRUE(stream->Write(r));
    stream->WritesDone();
    std::vector<v1::ProduceResponse> responses;
    v1::ProduceResponse response;
    while (stream->Read(&response)) responses.push_back(response);
    EXPECT_TRUE(stream->Finish().ok());
    return responses;
  }

  v1::ProduceResponse ProduceOne(const std::string& topic, int partition, std::string records,
                                 v1::Acks acks = v1::ACKS_ALL) {
    v1::ProduceRequest request;
    request.set_id(1);
    request.set_acks(acks);
    v1::PartitionBatches* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    p->set_records(std::move(records));
    auto responses = ProduceAll({request});
    EXPECT_EQ(responses.size(), 1u);
    return responses.empty() ? v1::ProduceResponse() : responses[0];
  }

  v1::PartitionFetchResult Fetch(const std::string& topic, int partition, int64_t offset,
                                 int max_wait_ms = 0) {
    v1::FetchRequest request;
    request.set_max_wait_ms(max_wait_ms);
    request.set_min_bytes(1);
    v1::PartitionFetch* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(partition);
    p->set_offset(offset);
    p->set_max_bytes(1 << 20);
    v1::FetchResponse response;
    EXPECT_TRUE(broker_stub_->Fetch(Context().get(), request, &response).ok());
    return response.partitions_size() ? response.partitions(0) : v1::PartitionFetchResult();
  }

  // Every record of the partition, fetched from `from`.
  std::vector<storage::testing::StoredRecord> FetchAll(const std::string& topic, int partition) {
    std::vector<storage::testing::StoredRecord> all;
    int64_t next = 0;
    for (int i = 0; i < 10000; ++i) {
      const auto result = Fetch(topic, partition, next);
      if (result.error().code() != v1::NONE || result.records().empty()) break;
      for (auto& r : DecodeAll(result.records())) {
        if (r.offset >= next) all.push_back(r);
      }
      next = all.back().offset + 1;
    }
    return all;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> broker_stub_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
};

TEST_F(BrokerE2ETest, PipelinedProduceComesBackInOrderAndSurvivesRestarts) {
  StartBroker();
  ASSERT_EQ(CreateTopic("events", 2).code(), v1::NONE);
  std::vector<v1::ProduceRequest> requests;
  for (int i = 0; i < 500; ++i) {
    v1::ProduceRequest request;
    request.set_id(i);
    request.set_acks(i % 2 ? v1::ACKS_ALL : v1::ACKS_LEADER);
    v1::PartitionBatches* p = request.add_partitions();
    p->set_topic("events");
    p->set_partition(i % 2);
    p->set_records(MakeBatch(4, 1000 + i, "m" + std::to_string(i)));
    requests.push_back(request);
  }
  const auto responses = ProduceAll(requests);
  ASSERT_EQ(responses.size(), requests.size());
  std::set<uint64_t> ids;
  for (const auto& r : responses) {
    ids.insert(r.id());
    ASSERT_EQ(r.partitions(0).error().code(), v1::NONE) << r.partitions(0).error().message();
  }
  EXPECT_EQ(ids.size(), requests.size());

  auto check = [&] {
    for (int partition = 0; partition < 2; ++partition) {
      // Partition 0 got only acks=1 requests: consumers see them once the background flush has
      // synced them (the high watermark), which may come a moment after the last answer.
      auto records = FetchAll("events", partition);
      for (int waited = 0; records.size() < 250u * 4 && waited < 200; ++waited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        records = FetchAll("events", partition);
      }
      ASSERT_EQ(records.size(), 250u * 4);
      for (size_t i = 0; i < records.size(); ++i) {
        EXPECT_EQ(records[i].offset, static_cast<int64_t>(i));
        const int request = static_cast<int>(i / 4) * 2 + partition;
        EXPECT_EQ(records[i].value, "m" + std::to_string(request) + "-" + std::to_string(i % 4));
      }
    }
  };
  check();
  EXPECT_EQ(StopBroker(), 0) << broker_->output();
  StartBroker();
  check();  // topics and data after a clean restart
  // SIGKILL: everything acknowledged with acks=all is still there.
  ASSERT_EQ(ProduceOne("events", 1, MakeBatch(2, 5, "durable")).partitions(0).error().code(),
            v1::NONE);
  broker_->Kill();
  StartBroker();
  const auto records = FetchAll("events", 1);
  ASSERT_EQ(records.size(), 250u * 4 + 2);
  EXPECT_EQ(records.back().value, "durable-1");
}

TEST_F(BrokerE2ETest, BadBatchesAreRefusedAndNothingIsStored) {
  StartBroker();
  ASSERT_EQ(CreateTopic("strict", 1, {{"max.message.bytes", "2000"}}).code(), v1::NONE);
  std::string bad_crc = MakeBatch(3, 1, "x");
  bad_crc[record::layout::kCrc] ^= 0x01;
  auto r = ProduceOne("strict", 0, bad_crc);
  EXPECT_EQ(r.partitions(0).error().code(), v1::CORRUPT_MESSAGE);
  EXPECT_NE(r.partitions(0).error().message().find("crc"), std::string::npos);
  const std::string good = MakeBatch(3, 1, "x");
  r = ProduceOne("strict", 0, good.substr(0, good.size() - 1));
  EXPECT_EQ(r.partitions(0).error().code(), v1::CORRUPT_MESSAGE);
  r = ProduceOne("strict", 0, MakeBatch(200, 1, "a-value-that-makes-the-batch-large"));
  EXPECT_EQ(r.partitions(0).error().code(), v1::RECORD_TOO_LARGE);
  // A good batch followed by a bad one in the same request: neither is stored.
  r = ProduceOne("strict", 0, good + bad_crc);
  EXPECT_EQ(r.partitions(0).error().code(), v1::CORRUPT_MESSAGE);
  EXPECT_EQ(Fetch("strict", 0, 0).high_watermark(), 0);
  // A produce that would auto-create a topic with a bad name: INVALID_TOPIC, as CreateTopics.
  EXPECT_EQ(ProduceOne("bad topic", 0, good).partitions(0).error().code(), v1::INVALID_TOPIC);
  // The delete-horizon attribute is compaction's: a client's could make its tombstones go early.
  record::RecordBatchBuilder horizon({.delete_horizon_ms = 1});
  horizon.Append(1, "k", std::nullopt);
  r = ProduceOne("strict", 0, *horizon.Build());
  EXPECT_NE(r.partitions(0).error().code(), v1::NONE);
  EXPECT_NE(r.partitions(0).error().message().find("delete-horizon bit (0x40)"), std::string::npos)
      << r.partitions(0).error().message();
  r = ProduceOne("strict", 7, good);
  EXPECT_EQ(r.partitions(0).error().code(), v1::UNKNOWN_TOPIC_OR_PARTITION);
  // Offsets out of range.
  EXPECT_EQ(Fetch("strict", 0, -1).error().code(), v1::OFFSET_OUT_OF_RANGE);
  EXPECT_EQ(Fetch("strict", 0, 5).error().code(), v1::OFFSET_OUT_OF_RANGE);
  // Broker still healthy and serving.
  EXPECT_EQ(ProduceOne("strict", 0, good).partitions(0).base_offset(), 0);
}

TEST_F(BrokerE2ETest, AutoCreateFollowsTheSetting) {
  StartBroker({"--auto-create-topics", "false"});
  auto r = ProduceOne("nobody-made-me", 0, MakeBatch(1, 1, "x"));
  EXPECT_EQ(r.partitions(0).error().code(), v1::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_NE(r.partitions(0).error().message().find("nobody-made-me"), std::string::npos);
  EXPECT_EQ(StopBroker(), 0);
  StartBroker({"--num-partitions", "3"});
  r = ProduceOne("made-on-demand", 2, MakeBatch(1, 1, "x"));
  EXPECT_EQ(r.partitions(0).error().code(), v1::NONE);
  v1::ListTopicsResponse topics;
  ASSERT_TRUE(admin_stub_->ListTopics(Context().get(), {}, &topics).ok());
  ASSERT_EQ(topics.topics_size(), 1);
  EXPECT_EQ(topics.topics(0).partitions(), 3);
}

TEST_F(BrokerE2ETest, LongPollFetchWakesUpWhenARecordArrives) {
  StartBroker();
  ASSERT_EQ(CreateTopic("waiting", 1).code(), v1::NONE);
  const auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ProduceOne("waiting", 0, MakeBatch(1, 1, "wake"));
  });
  const auto result = Fetch("waiting", 0, 0, /*max_wait_ms=*/10000);
  const auto waited = std::chrono::steady_clock::now() - start;
  producer.join();
  ASSERT_EQ(result.error().code(), v1::NONE);
  const auto records = DecodeAll(result.records());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value, "wake-0");
  // Woken by the append, not by the 10 s deadline.
  EXPECT_LT(waited, std::chrono::seconds(5));
  // And with nothing arriving, the poll ends at its deadline with no records.
  const auto empty = Fetch("waiting", 0, 1, /*max_wait_ms=*/200);
  EXPECT_EQ(empty.error().code(), v1::NONE);
  EXPECT_TRUE(empty.records().empty());
}

TEST_F(BrokerE2ETest, AdminCallsAndHealthAndMetrics) {
  StartBroker();
  ASSERT_EQ(CreateTopic("admin-t", 4, {{"retention.ms", "60000"}}).code(), v1::NONE);
  EXPECT_EQ(CreateTopic("admin-t", 4).code(), v1::TOPIC_ALREADY_EXISTS);
  EXPECT_EQ(CreateTopic("bad topic", 1).code(), v1::INVALID_TOPIC);
  EXPECT_EQ(CreateTopic("t2", 1, {{"retention.mss", "1"}}).code(), v1::INVALID_CONFIG);

  v1::DescribeTopicsRequest describe;
  describe.add_names("admin-t");
  v1::DescribeTopicsResponse described;
  ASSERT_TRUE(admin_stub_->DescribeTopics(Context().get(), describe, &described).ok());
  ASSERT_EQ(described.topics(0).partitions_size(), 4);
  bool found = false;
  for (const auto& c : described.topics(0).configs()) {
    if (c.name() == "retention.ms") {
      found = true;
      EXPECT_EQ(c.value(), "60000");
      EXPECT_FALSE(c.is_default());
    }
  }
  EXPECT_TRUE(found);

  v1::MetadataRequest metadata_request;
  metadata_request.add_topics("admin-t");
  metadata_request.add_topics("never-made");
  v1::MetadataResponse metadata;
  ASSERT_TRUE(broker_stub_->Metadata(Context().get(), metadata_request, &metadata).ok());
  ASSERT_EQ(metadata.brokers_size(), 1);
  ASSERT_EQ(metadata.topics_size(), 2);
  EXPECT_EQ(metadata.topics(0).partitions_size(), 4);
  EXPECT_EQ(metadata.topics(0).partitions(3).leader(), metadata.brokers(0).node_id());
  EXPECT_EQ(metadata.topics(1).error().code(), v1::UNKNOWN_TOPIC_OR_PARTITION);

  // ListOffsets: earliest, latest, and by timestamp (first record at or after it).
  // Timestamps of now: the topic's retention.ms (60 s) would delete older ones.
  const int64_t base = absl::ToUnixMillis(absl::Now());
  ProduceOne("admin-t", 1, MakeBatch(3, base, "ts"));  // timestamps base .. base + 2
  v1::ListOffsetsRequest offsets_request;
  for (int64_t ts : {int64_t{-2}, int64_t{-1}, base + 1, base + 5000}) {
    v1::PartitionOffsetQuery* q = offsets_request.add_partitions();
    q->set_topic("admin-t");
    q->set_partition(1);
    q->set_timestamp(ts);
  }
  v1::ListOffsetsResponse offsets;
  ASSERT_TRUE(broker_stub_->ListOffsets(Context().get(), offsets_request, &offsets).ok());
  ASSERT_EQ(offsets.partitions_size(), 4);
  EXPECT_EQ(offsets.partitions(0).offset(), 0);
  EXPECT_EQ(offsets.partitions(1).offset(), 3);
  EXPECT_EQ(offsets.partitions(2).offset(), 1);
  EXPECT_EQ(offsets.partitions(3).offset(), -1);

  v1::AlterConfigsRequest alter;
  alter.set_topic("admin-t");
  (*alter.mutable_set())["segment.bytes"] = "banana";
  v1::AlterConfigsResponse altered;
  ASSERT_TRUE(admin_stub_->AlterConfigs(Context().get(), alter, &altered).ok());
  EXPECT_EQ(altered.error().code(), v1::INVALID_CONFIG);
  EXPECT_NE(altered.error().message().find("segment.bytes"), std::string::npos);

  httplib::Client http("127.0.0.1", broker_->http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  ProduceOne("admin-t", 0, MakeBatch(2, 1, "m"));
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("runnel_produce_requests_total 2"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("runnel_log_size_bytes{topic=\"admin-t\",partition=\"0\"}"),
            std::string::npos);
  // Both produce requests are counted in the latency histogram (the +Inf bucket holds them all).
  EXPECT_NE(metrics->body.find("# TYPE runnel_produce_latency_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("runnel_produce_latency_seconds_bucket{le=\"+Inf\"} 2\n"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("runnel_produce_latency_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("runnel_fetch_latency_seconds_bucket{le=\"0.0001\"}"),
            std::string::npos);

  v1::DeleteTopicsRequest del;
  del.add_names("admin-t");
  v1::DeleteTopicsResponse deleted;
  ASSERT_TRUE(admin_stub_->DeleteTopics(Context().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.topics(0).error().code(), v1::NONE);
  EXPECT_EQ(Fetch("admin-t", 0, 0).error().code(), v1::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(BrokerE2ETest, ASecondBrokerOnTheSameDataDirIsRefused) {
  StartBroker();
  BrokerProcess second(dir_.Sub("data"));
  EXPECT_FALSE(second.Start());
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_NE(second.output().find("is in use by another runneld"), std::string::npos)
      << second.output();
}

// gRPC would bind a port another process listens on (SO_REUSEPORT) and share its clients between
// the two: a second broker given a taken --grpc-addr must refuse to start instead.
TEST_F(BrokerE2ETest, ASecondBrokerOnATakenAddressIsRefused) {
  StartBroker();
  BrokerProcess second(dir_.Sub("other"));
  EXPECT_FALSE(second.Start(broker_->address())) << "a second broker serves the same address";
  EXPECT_EQ(second.WaitFor(std::chrono::seconds(10)), 1);
  EXPECT_NE(second.output().find("gRPC address " + broker_->address() + " is not usable"),
            std::string::npos)
      << second.output();
}

}  // namespace
}  // namespace runnel
