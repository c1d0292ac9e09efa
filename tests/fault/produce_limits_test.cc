// Limits on produce requests through a real runneld: a stream that pipelines acks=all requests
// behind a stalled disk (io_fault_shim.c) is not read past --produce-max-in-flight unanswered
// requests, and every request is answered once the disk is back; a compressed batch that would
// inflate past --max-uncompressed-batch-bytes is refused, naming the limit; acks=all appends
// past --log-flush-max-waiting are refused before they are stored.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/fault/faulty_broker.h"

namespace runnel {
namespace {

using testing::Batch;
using testing::Gauge;
using testing::RawBrokerClient;
using ProduceLimitsTest = testing::FaultyBrokerTest;

// Produce request `id`: one small acks=all batch ("r<id>") for t-0.
v1::ProduceRequest AcksAllRequest(int id) {
  v1::ProduceRequest request;
  request.set_id(id);
  request.set_acks(v1::ACKS_ALL);
  v1::PartitionBatches* p = request.add_partitions();
  p->set_topic("t");
  p->set_partition(0);
  p->set_records(Batch("r" + std::to_string(id)));
  return request;
}

TEST_F(ProduceLimitsTest, APipeliningStreamIsNotReadPastTheInFlightLimit) {
  StartFaultyBroker("fdatasync=-1", "/t-0/", /*once=*/false, {"--produce-max-in-flight", "4"});
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("first")).error().code(), v1::NONE);

  FaultsOn();  // every sync of t-0 waits: acks=all answers wait with it
  auto context = RawBrokerClient::Context();
  auto stream = client_->broker().Produce(context.get());
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(stream->Write(AcksAllRequest(i)));  // small: they fit the transport's window
  }
  int64_t in_flight = -1;
  for (int i = 0; i < 100 && in_flight != 4; ++i) {  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    in_flight = Gauge(broker_->http_port(), "runnel_produce_in_flight");
  }
  EXPECT_EQ(in_flight, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Gauge(broker_->http_port(), "runnel_produce_in_flight"), 4) << "read past the limit";

  FaultsOff();
  stream->WritesDone();
  int answered = 0;
  v1::ProduceResponse response;
  while (answered < kRequests && stream->Read(&response)) {
    EXPECT_EQ(response.partitions(0).error().code(), v1::NONE)
        << response.partitions(0).error().message();
    ++answered;
  }
  EXPECT_EQ(answered, kRequests);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(client_->LatestOffset("t"), 1 + kRequests);
}

// With the disk stalled, acks=all answers wait in the flusher; past --log-flush-max-waiting the
// next acks=all produces are refused with KAFKA_STORAGE_ERROR naming the limit and nothing of them
// is stored, while every accepted one is answered once the disk is back. (How many are accepted
// depends on how a sync round in progress meets them: at least one of ten must be refused.)
TEST_F(ProduceLimitsTest, AcksAllProducesPastTheFlushWaitingLimitAreRefusedAndNotStored) {
  StartFaultyBroker("fdatasync=-1", "/t-0/", /*once=*/false, {"--log-flush-max-waiting", "3"});
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("first")).error().code(), v1::NONE);

  FaultsOn();
  auto context = RawBrokerClient::Context();
  auto stream = client_->broker().Produce(context.get());
  constexpr int kRequests = 10;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(stream->Write(AcksAllRequest(i)));
  }
  int64_t waiting = -1;
  for (int i = 0; i < 100 && waiting != 3; ++i) {  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    waiting = Gauge(broker_->http_port(), "runnel_log_flush_waiting");
  }
  EXPECT_LE(waiting, 3) << "more appends wait than the limit allows";

  FaultsOff();
  stream->WritesDone();
  int answered = 0;
  int refused = 0;
  v1::ProduceResponse response;
  while (answered < kRequests && stream->Read(&response)) {
    ++answered;
    const v1::Error& error = response.partitions(0).error();
    if (error.code() == v1::NONE) continue;
    ++refused;
    EXPECT_EQ(error.code(), v1::KAFKA_STORAGE_ERROR) << error.message();
    EXPECT_NE(error.message().find("limit is 3"), std::string::npos) << error.message();
  }
  EXPECT_EQ(answered, kRequests);
  EXPECT_GE(refused, 1) << "nothing was refused past the limit";
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(client_->LatestOffset("t"), 1 + kRequests - refused) << "a refused batch was stored";
}

// Reproduced before: timeout_ms was ignored, so an acks=all produce behind a stalled disk waited
// for ever (here: until the test's 20 s RPC deadline).
TEST_F(ProduceLimitsTest, AnAcksAllProduceBehindAStalledDiskTimesOut) {
  StartFaultyBroker("fdatasync=-1", "/t-0/", /*once=*/false);
  client_->CreateTopic("t");
  FaultsOn();
  const auto sent = std::chrono::steady_clock::now();
  const v1::PartitionProduceResult stalled =
      client_->Produce("t", Batch("stalled"), v1::ACKS_ALL, 0, /*timeout_ms=*/300);
  const auto waited = std::chrono::steady_clock::now() - sent;
  EXPECT_EQ(stalled.error().code(), v1::REQUEST_TIMED_OUT) << stalled.error().message();
  EXPECT_NE(stalled.error().message().find("timeout_ms (300 ms)"), std::string::npos)
      << stalled.error().message();
  EXPECT_EQ(stalled.base_offset(), 0);  // appended, not known to be durable
  EXPECT_LT(waited, std::chrono::seconds(10));
  FaultsOff();
  // A generous timeout: a slow (sanitizer) build must not time out for real here.
  const v1::PartitionProduceResult next =
      client_->Produce("t", Batch("next"), v1::ACKS_ALL, 0, /*timeout_ms=*/10'000);
  EXPECT_EQ(next.error().code(), v1::NONE) << next.error().message() << broker_->output();
  EXPECT_EQ(next.base_offset(), 1);
}

TEST_F(ProduceLimitsTest, ABatchThatInflatesPastTheLimitIsRefused) {
  StartFaultyBroker("", "", /*once=*/false, {"--max-uncompressed-batch-bytes", "1048576"});
  client_->CreateTopic("t");
  record::RecordBatchBuilder builder({.compression = record::Compression::kZstd});
  builder.Append(1000, "k", std::string(4 << 20, 'z'));  // 4 MiB of one byte: a few KiB zstd
  const std::string bomb = *builder.Build();
  ASSERT_LT(bomb.size(), 64u << 10);
  const v1::PartitionProduceResult result = client_->Produce("t", bomb);
  EXPECT_NE(result.error().code(), v1::NONE);
  EXPECT_NE(result.error().message().find("decompresses to more than 1048576 bytes"),
            std::string::npos)
      << result.error().message();
  EXPECT_EQ(client_->LatestOffset("t"), 0);
  record::RecordBatchBuilder fine({.compression = record::Compression::kZstd});
  fine.Append(1000, "k", std::string(512 << 10, 'z'));
  EXPECT_EQ(client_->Produce("t", *fine.Build()).error().code(), v1::NONE);
}

}  // namespace
}  // namespace runnel
