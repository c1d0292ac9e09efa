// Idempotent producers end to end over runneld's raw gRPC API: InitProducerId hands out new ids
// across clean and killed restarts, a repeated batch is stored once (also across restarts), and
// a sequence gap is refused without storing anything.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "common/record/batch_builder.h"
#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::DecodeAll;
using storage::testing::TempDir;
using testing::BrokerProcess;

class IdempotenceE2ETest : public ::testing::Test {
 protected:
  void StartBroker() {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    channel_ = grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials());
    broker_stub_ = v1::Broker::NewStub(channel_);
    admin_stub_ = v1::Admin::NewStub(channel_);
  }

  // SIGTERM (after closing our connection, or gRPC's shutdown waits out its deadline) or SIGKILL,
  // then a new runneld on the same data dir.
  void RestartBroker(bool kill) {
    broker_stub_.reset();
    admin_stub_.reset();
    channel_.reset();
    if (kill) {
      broker_->Kill();
    } else {
      ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
    }
    StartBroker();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  void CreateTopic(const std::string& name) {
    v1::CreateTopicsRequest request;
    v1::NewTopic* topic = request.add_topics();
    topic->set_name(name);
    topic->set_partitions(1);
    v1::CreateTopicsResponse response;
    ASSERT_TRUE(admin_stub_->CreateTopics(Context().get(), request, &response).ok());
    ASSERT_EQ(response.topics(0).error().code(), v1::NONE);
  }

  int64_t InitProducerId() {
    v1::InitProducerIdResponse response;
    const grpc::Status status =
        broker_stub_->InitProducerId(Context().get(), v1::InitProducerIdRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.error().code(), v1::NONE) << response.error().message();
    EXPECT_EQ(response.producer_epoch(), 0);
    return response.producer_id();
  }

  // One request with one partition, acks=all, on a stream of its own.
  v1::PartitionProduceResult Produce(const std::string& topic, std::string records) {
    v1::ProduceRequest request;
    request.set_id(1);
    request.set_acks(v1::ACKS_ALL);
    v1::PartitionBatches* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(0);
    p->set_records(std::move(records));
    auto context = Context();
    auto stream = broker_stub_->Produce(context.get());
    EXPECT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::ProduceResponse response;
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_TRUE(stream->Finish().ok());
    return response.partitions_size() ? response.partitions(0) : v1::PartitionProduceResult();
  }

  int64_t LatestOffset(const std::string& topic) {
    v1::ListOffsetsRequest request;
    v1::PartitionOffsetQuery* q = request.add_partitions();
    q->set_topic(topic);
    q->set_partition(0);
    q->set_timestamp(-1);
    v1::ListOffsetsResponse response;
    EXPECT_TRUE(broker_stub_->ListOffsets(Context().get(), request, &response).ok());
    EXPECT_EQ(response.partitions(0).error().code(), v1::NONE);
    return response.partitions(0).offset();
  }

  // The values of every record in the partition (it is small: one fetch holds it).
  std::vector<std::string> Values(const std::string& topic) {
    v1::FetchRequest request;
    request.set_max_bytes(1 << 20);
    v1::PartitionFetch* p = request.add_partitions();
    p->set_topic(topic);
    p->set_partition(0);
    p->set_offset(0);
    p->set_max_bytes(1 << 20);
    v1::FetchResponse response;
    EXPECT_TRUE(broker_stub_->Fetch(Context().get(), request, &response).ok());
    std::vector<std::string> values;
    for (const auto& r : DecodeAll(response.partitions(0).records())) values.push_back(*r.value);
    return values;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> broker_stub_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
};

// A batch of `count` records "<tag>-<i>" from `producer_id`, epoch 0, starting at `sequence`.
std::string IdempotentBatch(int64_t producer_id, int32_t sequence, int count,
                            const std::string& tag) {
  record::RecordBatchBuilder builder(
      {.producer_id = producer_id, .producer_epoch = 0, .base_sequence = sequence});
  for (int i = 0; i < count; ++i) builder.Append(1000 + i, "k", tag + "-" + std::to_string(i));
  return *builder.Build();
}

TEST_F(IdempotenceE2ETest, ProducerIdsAreNewAfterCleanAndKilledRestarts) {
  StartBroker();
  std::set<int64_t> seen;
  int64_t highest = -1;
  auto take_two = [&] {
    for (int i = 0; i < 2; ++i) {
      const int64_t id = InitProducerId();
      EXPECT_GE(id, 0);
      EXPECT_GT(id, highest);
      EXPECT_TRUE(seen.insert(id).second) << "id " << id << " given twice";
      highest = std::max(highest, id);
    }
  };
  take_two();
  RestartBroker(/*kill=*/false);
  take_two();
  RestartBroker(/*kill=*/true);
  take_two();
  EXPECT_EQ(seen.size(), 6u);
}

TEST_F(IdempotenceE2ETest, ARepeatedBatchIsStoredOnceAcrossRestarts) {
  StartBroker();
  CreateTopic("orders");
  const int64_t producer = InitProducerId();
  const std::string first = IdempotentBatch(producer, 0, 3, "a");
  const std::string second = IdempotentBatch(producer, 3, 2, "b");
  const std::string third = IdempotentBatch(producer, 5, 2, "c");

  auto expect_stored_at = [&](const std::string& batch, int64_t offset) {
    const v1::PartitionProduceResult result = Produce("orders", batch);
    EXPECT_EQ(result.error().code(), v1::NONE) << result.error().message();
    EXPECT_EQ(result.base_offset(), offset);
  };
  expect_stored_at(first, 0);
  expect_stored_at(first, 0);  // a retry: answered with the original offset, not stored again
  expect_stored_at(second, 3);
  EXPECT_EQ(LatestOffset("orders"), 5);

  RestartBroker(/*kill=*/false);  // the state comes back from the snapshot
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("data/orders-0/producer-state")));
  expect_stored_at(second, 3);
  expect_stored_at(first, 0);
  expect_stored_at(third, 5);
  EXPECT_EQ(LatestOffset("orders"), 7);

  RestartBroker(/*kill=*/true);  // the snapshot plus a scan of what came after it
  expect_stored_at(third, 5);
  expect_stored_at(second, 3);
  EXPECT_EQ(LatestOffset("orders"), 7);
  EXPECT_EQ(Values("orders"),
            (std::vector<std::string>{"a-0", "a-1", "a-2", "b-0", "b-1", "c-0", "c-1"}));
}

TEST_F(IdempotenceE2ETest, ASequenceGapIsRefusedAndNothingStored) {
  StartBroker();
  CreateTopic("gaps");
  const int64_t producer = InitProducerId();
  ASSERT_EQ(Produce("gaps", IdempotentBatch(producer, 0, 3, "a")).error().code(), v1::NONE);
  const v1::PartitionProduceResult gap = Produce("gaps", IdempotentBatch(producer, 5, 1, "x"));
  EXPECT_EQ(gap.error().code(), v1::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_NE(gap.error().message().find("expected 3, received 5"), std::string::npos)
      << gap.error().message();
  EXPECT_EQ(gap.base_offset(), -1);
  EXPECT_EQ(LatestOffset("gaps"), 3);
  EXPECT_EQ(Values("gaps").size(), 3u);
  // The producer carries on from where it really was.
  const v1::PartitionProduceResult next = Produce("gaps", IdempotentBatch(producer, 3, 1, "b"));
  EXPECT_EQ(next.error().code(), v1::NONE) << next.error().message();
  EXPECT_EQ(next.base_offset(), 3);
}

}  // namespace
}  // namespace runnel
