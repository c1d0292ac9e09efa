// Consumers read only what is durable: with the partition's fdatasync stalled (a slow disk, through
// io_fault_shim.c), an acks=1 record is appended but not readable, ListOffsets' latest does not
// include it, and it becomes readable (waking a parked long poll) once its sync completes. Before,
// the fetch limit was the log end, so a consumer could read, and commit past, records that a power
// loss then takes back.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/faulty_broker.h"

namespace runnel {
namespace {

using storage::testing::DecodeAll;
using testing::Batch;
using testing::RawBrokerClient;
using HighWatermarkTest = testing::FaultyBrokerTest;

std::vector<std::string> ValuesOf(const v1::PartitionFetchResult& result) {
  std::vector<std::string> values;
  for (const auto& r : DecodeAll(result.records())) values.push_back(r.value.value_or("<null>"));
  return values;
}

TEST_F(HighWatermarkTest, AConsumerNeverReadsPastTheSyncedOffset) {
  StartFaultyBroker("fdatasync=-1", "/t-0/", /*once=*/false);  // -1: stall while triggered
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("one")).error().code(), v1::NONE);

  FaultsOn();  // syncs of t-0 now wait until FaultsOff
  const v1::PartitionProduceResult two = client_->Produce("t", Batch("two"), v1::ACKS_LEADER);
  ASSERT_EQ(two.error().code(), v1::NONE) << two.error().message();
  EXPECT_EQ(two.base_offset(), 1);  // appended

  v1::PartitionFetchResult fetched = client_->Fetch("t", 0);
  EXPECT_EQ(fetched.error().code(), v1::NONE) << fetched.error().message();
  EXPECT_EQ(ValuesOf(fetched), std::vector<std::string>{"one"});
  EXPECT_EQ(fetched.high_watermark(), 1);
  fetched = client_->Fetch("t", 1);  // between the high watermark and the log end: empty, no error
  EXPECT_EQ(fetched.error().code(), v1::NONE) << fetched.error().message();
  EXPECT_TRUE(fetched.records().empty());
  EXPECT_EQ(client_->LatestOffset("t"), 1);

  // A long poll parked at offset 1 is answered when the sync lands, not before.
  auto parked = std::async(std::launch::async, [this] {
    return RawBrokerClient(broker_->address()).Fetch("t", 1, 0, /*max_wait_ms=*/10'000);
  });
  EXPECT_EQ(parked.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  const auto released = std::chrono::steady_clock::now();
  FaultsOff();
  ASSERT_EQ(parked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  const v1::PartitionFetchResult woken = parked.get();
  EXPECT_EQ(ValuesOf(woken), std::vector<std::string>{"two"});
  EXPECT_EQ(woken.high_watermark(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - released, std::chrono::seconds(5))
      << "the long poll waited out its timeout instead of being woken by the sync";
  EXPECT_EQ(client_->LatestOffset("t"), 2);
}

}  // namespace
}  // namespace runnel
