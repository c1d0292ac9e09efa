// A real runneld whose file syscalls fail on demand (io_fault_shim.c, loaded with LD_PRELOAD):
// a failed fdatasync or an I/O error on a write is fatal for the data dir (the acknowledgement
// fails, nothing later is acknowledged or served, the broker exits without a clean shutdown and the
// next start recovers), while a full disk only fails the write it hit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/fault/faulty_broker.h"

namespace runnel {
namespace {

using testing::Batch;
using DataDirFailureTest = testing::FaultyBrokerTest;

// PostgreSQL's fsyncgate: after one failed fdatasync, a second one can return 0 although the
// pages were dropped. The failed sync must fail its acknowledgement, and nothing after it may be
// acknowledged or read from that data dir: the broker stops and the next start scans.
TEST_F(DataDirFailureTest, AFailedFdatasyncIsFatalForTheDataDir) {
  StartFaultyBroker("fdatasync=5,fsync=5", "/t-0/", /*once=*/true);
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("one")).error().code(), v1::NONE);

  FaultsOn();  // the next sync of t-0 fails with EIO, once
  const v1::PartitionProduceResult two = client_->Produce("t", Batch("two"));
  EXPECT_EQ(two.error().code(), v1::KAFKA_STORAGE_ERROR) << two.error().message();
  EXPECT_NE(two.error().message().find("errno 5"), std::string::npos) << two.error().message();
  ASSERT_NE(InjectedFaults().find("fdatasync"), std::string::npos) << InjectedFaults();
  ASSERT_FALSE(std::filesystem::exists(Trigger())) << "the shim was to fail one call only";

  // The shim lets every later sync succeed: the broker must still refuse to acknowledge or serve.
  const v1::PartitionProduceResult three = client_->Produce("t", Batch("three"));
  EXPECT_NE(three.error().code(), v1::NONE) << "acknowledged after a failed fdatasync";
  const v1::PartitionFetchResult fetched = client_->Fetch("t", 0);
  EXPECT_NE(fetched.error().code(), v1::NONE) << "served a data dir whose sync failed";

  // It stops on its own (SIGTERM only bounds the wait), with an error naming file and errno.
  client_.reset();
  EXPECT_EQ(broker_->Stop(), 1) << broker_->output();
  const std::string out = broker_->output();
  EXPECT_NE(out.find("error: data dir"), std::string::npos) << out;
  EXPECT_NE(out.find("t-0/00000000000000000000.log: fdatasync failed"), std::string::npos) << out;
  EXPECT_NE(out.find("Input/output error (errno 5)"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("data/t-0/clean-shutdown")));

  // The next start recovers by scanning and serves again; "three" was never acknowledged and
  // never stored ("two" may or may not have survived: it was not acknowledged either).
  StartPlainBroker();
  ASSERT_EQ(client_->Produce("t", Batch("four")).error().code(), v1::NONE);
  const std::vector<std::string> values = client_->Values("t");
  ASSERT_GE(values.size(), 2u);
  EXPECT_EQ(values.front(), "one");
  EXPECT_EQ(values.back(), "four");
  EXPECT_EQ(std::count(values.begin(), values.end(), "three"), 0);
}

TEST_F(DataDirFailureTest, AnIoErrorOnAWriteIsFatalForTheDataDir) {
  StartFaultyBroker("pwrite=5", "/t-0/0", /*once=*/false);
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("one"), v1::ACKS_LEADER).error().code(), v1::NONE);
  FaultsOn();
  const v1::PartitionProduceResult two = client_->Produce("t", Batch("two"), v1::ACKS_LEADER);
  EXPECT_EQ(two.error().code(), v1::KAFKA_STORAGE_ERROR) << two.error().message();
  FaultsOff();
  EXPECT_NE(client_->Produce("t", Batch("three"), v1::ACKS_LEADER).error().code(), v1::NONE);
  client_.reset();
  EXPECT_EQ(broker_->Stop(), 1) << broker_->output();
  EXPECT_NE(broker_->output().find("write failed: Input/output error (errno 5)"), std::string::npos)
      << broker_->output();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("data/t-0/clean-shutdown")));

  StartPlainBroker();
  EXPECT_EQ(client_->Values("t"), std::vector<std::string>{"one"});
}

// ENOSPC is not data loss: the write is rolled back, the produce fails, and once space returns
// the broker carries on with nothing torn in the log.
TEST_F(DataDirFailureTest, AFullDiskFailsOnlyTheWriteItHit) {
  StartFaultyBroker("pwrite=28", "/t-0/0", /*once=*/false);
  client_->CreateTopic("t");
  ASSERT_EQ(client_->Produce("t", Batch("one")).error().code(), v1::NONE);
  FaultsOn();
  const v1::PartitionProduceResult two = client_->Produce("t", Batch("two"));
  EXPECT_EQ(two.error().code(), v1::KAFKA_STORAGE_ERROR) << two.error().message();
  EXPECT_NE(two.error().message().find("No space left on device"), std::string::npos)
      << two.error().message();
  FaultsOff();
  const v1::PartitionProduceResult three = client_->Produce("t", Batch("three"));
  EXPECT_EQ(three.error().code(), v1::NONE) << three.error().message();
  EXPECT_EQ(three.base_offset(), 1);
  EXPECT_EQ(client_->Values("t"), (std::vector<std::string>{"one", "three"}));
  client_.reset();
  EXPECT_EQ(broker_->Stop(), 0) << broker_->output();
}

}  // namespace
}  // namespace runnel
