// Disk full is recoverable through the broker: below --log-dir-min-free-bytes produce is refused
// with an error naming the free space and the limit, /healthz and /metrics say so, and the
// operator can still read, create, alter and delete topics (the way to free space). The threshold
// is set above this machine's free space, so the test does not have to fill a disk.
#include <httplib.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::RunCommand;
using testing::RunRunnel;

TEST(DiskSpaceTest, BelowTheFreeSpaceThresholdProduceIsRefusedAndTopicsStillChange) {
  TempDir dir;
  // 1 EiB: more than any disk this runs on has free.
  BrokerProcess broker(dir.Sub("data"), {"--log-dir-min-free-bytes", "1152921504606846976"});
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";

  ASSERT_EQ(RunRunnel(b + "topic create full --partitions 2").exit_code, 0);
  // KAFKA_STORAGE_ERROR, which producers retry (space may come back) until delivery.timeout.ms.
  testing::RawBrokerClient client(broker.address());
  const v1::PartitionProduceResult refused =
      client.Produce("full", storage::testing::MakeBatch(1, 1000, "one"));
  EXPECT_EQ(refused.error().code(), v1::KAFKA_STORAGE_ERROR);
  EXPECT_NE(refused.error().message().find(
                "bytes free, below --log-dir-min-free-bytes 1152921504606846976"),
            std::string::npos)
      << refused.error().message();
  EXPECT_EQ(client.LatestOffset("full"), 0);  // nothing stored
  auto r = RunRunnel(b + "topic describe full");
  EXPECT_EQ(r.exit_code, 0) << r.out;

  httplib::Client http("127.0.0.1", broker.http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_NE(health->body.find("degraded: data dir"), std::string::npos) << health->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("runnel_produce_refused_low_disk 1\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("runnel_data_dir_free_bytes "), std::string::npos);

  // What frees space, and metadata, still work.
  r = RunRunnel(b + "topic alter-config full --set retention.ms=1000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic delete full");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("full"), std::string::npos) << r.out;
}

TEST(DiskSpaceTest, WithRoomProduceWorksAndHealthIsOk) {
  TempDir dir;
  BrokerProcess broker(dir.Sub("data"), {"--log-dir-min-free-bytes", "0"});
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";
  auto r =
      RunCommand("echo one | " + std::string(RUNNEL_BIN_DIR) + "/runnel " + b + "produce roomy");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  httplib::Client http("127.0.0.1", broker.http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("runnel_produce_refused_low_disk 0\n"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("data/reserved-space")));
}

}  // namespace
}  // namespace runnel
