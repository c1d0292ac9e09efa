// Idempotent producers end to end over runneld's raw gRPC API: InitProducerId hands out new ids
// across clean and killed restarts, a repeated batch is stored once (also across restarts), and
// a sequence gap is refused without storing anything.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "common/record/batch_builder.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;

// Whether the partition directory holds a producer state snapshot (`<end offset>.snapshot`).
bool HasSnapshot(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".snapshot") return true;
  }
  return false;
}
using testing::RawBrokerClient;

class IdempotenceE2ETest : public ::testing::Test {
 protected:
  void StartBroker() {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    client_ = std::make_unique<RawBrokerClient>(broker_->address());
  }

  // SIGTERM (after closing our connection, or gRPC's shutdown waits out its deadline) or SIGKILL,
  // then a new runneld on the same data dir.
  void RestartBroker(bool kill) {
    client_.reset();
    if (kill) {
      broker_->Kill();
    } else {
      ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
    }
    StartBroker();
  }

  void CreateTopic(const std::string& name) { client_->CreateTopic(name); }

  int64_t InitProducerId() {
    v1::InitProducerIdResponse response;
    const grpc::Status status = client_->broker().InitProducerId(
        RawBrokerClient::Context().get(), v1::InitProducerIdRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.error().code(), v1::NONE) << response.error().message();
    EXPECT_EQ(response.producer_epoch(), 0);
    return response.producer_id();
  }

  // One request with one partition, acks=all, on a stream of its own.
  v1::PartitionProduceResult Produce(const std::string& topic, std::string records) {
    return client_->Produce(topic, std::move(records));
  }
  int64_t LatestOffset(const std::string& topic) { return client_->LatestOffset(topic); }
  std::vector<std::string> Values(const std::string& topic) { return client_->Values(topic); }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<RawBrokerClient> client_;
};

// A batch of `count` records "<tag>-<i>" from `producer_id`, epoch 0, starting at `sequence`.
std::string IdempotentBatch(int64_t producer_id, int32_t sequence, int count,
                            const std::string& tag) {
  record::RecordBatchBuilder builder(
      {.producer_id = producer_id, .producer_epoch = 0, .base_sequence = sequence});
  // Timestamps of now: 1970 ones would let retention delete closed segments during the test.
  const int64_t now = absl::ToUnixMillis(absl::Now());
  for (int i = 0; i < count; ++i) builder.Append(now + i, "k", tag + "-" + std::to_string(i));
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
  EXPECT_TRUE(HasSnapshot(dir_.Sub("data/orders-0")));
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

// Reproduced before: producer state was snapshotted only at clean shutdown and, without a
// snapshot, rebuilt from the active segment alone; so after a kill -9 a producer whose batches all
// lay in older segments was unknown, and the retry of an acknowledged batch was stored again.
TEST_F(IdempotenceE2ETest, RetriesAfterAKill9AreDuplicatesWhenTheBatchesLieInOlderSegments) {
  StartBroker();
  client_->CreateTopic("spans", 1, {{"segment.bytes", "1000"}});
  const int64_t producer = InitProducerId();
  std::vector<std::string> sent;
  std::vector<int64_t> offsets;
  for (int b = 0; b < 5; ++b) {
    sent.push_back(IdempotentBatch(producer, b * 3, 3, "p" + std::to_string(b)));
    const v1::PartitionProduceResult result = Produce("spans", sent.back());
    ASSERT_EQ(result.error().code(), v1::NONE) << result.error().message();
    offsets.push_back(result.base_offset());
  }
  // Plain batches roll the log past every segment holding the producer's batches.
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(
        Produce("spans", storage::testing::MakeBatch(5, absl::ToUnixMillis(absl::Now()), "plain"))
            .error()
            .code(),
        v1::NONE);
  }
  const int64_t end = LatestOffset("spans");
  const std::string spans = dir_.Sub("data/spans-0");
  for (int i = 0; i < 200 && !HasSnapshot(spans); ++i) {  // written after a sync
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(HasSnapshot(spans)) << "no producer state snapshot after the rolls";

  RestartBroker(/*kill=*/true);
  for (int b = 4; b >= 0; --b) {  // every one of the last 5 batches is known
    const v1::PartitionProduceResult retry = Produce("spans", sent[b]);
    EXPECT_EQ(retry.error().code(), v1::NONE) << retry.error().message();
    EXPECT_EQ(retry.base_offset(), offsets[b]) << "batch " << b << " stored again";
  }
  EXPECT_EQ(LatestOffset("spans"), end);
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
