// The `runnel` CLI's admin commands against a real runneld.
#include <gtest/gtest.h>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::RunRunnel;

TEST(CliAdminTest, TopicCommandsAndClusterInfo) {
  TempDir dir;
  BrokerProcess broker(dir.Sub("data"));
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";

  auto r = RunRunnel(b + "topic create orders --partitions 3 --config retention.ms=3600000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "created topic orders\n");

  r = RunRunnel(b + "topic list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "TOPIC   PARTITIONS  REPLICAS\norders  3           1\n");

  r = RunRunnel(b + "topic describe orders");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("PARTITION  LEADER  REPLICAS  START OFFSET  END OFFSET  SIZE BYTES\n"
                       "0          0       0         0             0           0\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("retention.ms            3600000              topic\n"), std::string::npos)
      << r.out;

  r = RunRunnel(b + "topic alter-config orders --set segment.bytes=1048576");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic alter-config orders --set segment.bytes=lots");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("error: topic alter-config orders (", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("segment.bytes"), std::string::npos) << r.out;

  r = RunRunnel(b + "topic create orders");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic create x --config novalue");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--config 'novalue' is not of the form key=value"), std::string::npos);

  r = RunRunnel(b + "cluster info");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("0       " + broker.address() + "  3\n"), std::string::npos) << r.out;

  r = RunRunnel(b + "topic delete orders");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic describe orders");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic frobnicate");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("error: bad command line (", 0), 0u) << r.out;
}

TEST(CliAdminTest, UnreachableBrokerIsAClearError) {
  const int port = testing::FreePort();  // nothing listens there
  const auto r = RunRunnel("--brokers 127.0.0.1:" + std::to_string(port) + " topic list");
  EXPECT_EQ(r.exit_code, 1);
  const std::string expected =
      "error: topic list (list topics at 127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(r.out.rfind(expected, 0), 0u) << r.out;
}

}  // namespace
}  // namespace runnel
