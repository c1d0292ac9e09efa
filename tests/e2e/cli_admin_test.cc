// The `runnel` CLI's admin commands against a real runneld.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::RunCommand;
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
  EXPECT_NE(
      r.out.find("PARTITION  LEADER  REPLICAS  ISR  START OFFSET  HIGH WATERMARK  LOG END  "
                 "SIZE BYTES\n"
                 "0          0       0         0    0             0               0        0\n"),
      std::string::npos)
      << r.out;
  EXPECT_TRUE(testing::HasRow(r.out, {"retention.ms", "3600000", "topic"})) << r.out;

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
  EXPECT_TRUE(testing::HasRow(r.out, {"0", broker.address(), "-", "alive", "yes", "3"})) << r.out;

  // Reassignment moves partitions between brokers: a single node has nowhere to move them.
  r = RunRunnel(b + "topic reassign orders --replicas 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("needs a cluster"), std::string::npos) << r.out;
  r = RunRunnel(b + "cluster unregister 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("unregistering a broker needs a cluster"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic reassign orders --replicas 1,x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--replicas: 'x' is not a node id"), std::string::npos) << r.out;

  r = RunRunnel(b + "topic delete orders");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic describe orders");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic frobnicate");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("error: bad command line (", 0), 0u) << r.out;
}

// Reproduced before: `echo junk | runnel produce __consumer_offsets` auto-created it as a plain
// topic with delete policy (committed offsets then expire), and `topic delete` removed it (a
// restart forgot every group). Names starting with "__" belong to the broker.
TEST(CliAdminTest, InternalTopicsAreTheBrokersOwn) {
  TempDir dir;
  BrokerProcess broker(dir.Sub("data"));
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";

  auto r = RunCommand("echo junk | " + std::string(RUNNEL_BIN_DIR) + "/runnel " + b +
                      "produce __consumer_offsets");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("reserved for the broker's internal topics"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic describe __consumer_offsets");
  EXPECT_EQ(r.exit_code, 1) << "a client's produce created the internal topic: " << r.out;
  r = RunRunnel(b + "topic create __mine");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot create topic '__mine'"), std::string::npos) << r.out;

  // A group commit makes the broker create __consumer_offsets itself, compacted.
  r = RunCommand("echo hello | " + std::string(RUNNEL_BIN_DIR) + "/runnel " + b + "produce events");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "consume events --group g --from-beginning --num 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "topic describe __consumer_offsets");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(testing::HasRow(r.out, {"cleanup.policy", "compact", "topic"})) << r.out;

  r = RunRunnel(b + "topic delete __consumer_offsets");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot delete topic '__consumer_offsets'"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic alter-config __consumer_offsets --set cleanup.policy=delete");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot change cleanup.policy of '__consumer_offsets'"), std::string::npos)
      << r.out;
  r = RunRunnel(b + "topic alter-config __consumer_offsets --set segment.bytes=1048576");
  EXPECT_EQ(r.exit_code, 0) << r.out;  // settings that cannot lose offsets stay the operator's

  // The group's offset survives a restart: the topic is still there and still compacted.
  ASSERT_EQ(broker.Stop(), 0) << broker.output();
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b2 = "--brokers " + broker.address() + " ";
  r = RunRunnel(b2 + "group describe g");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("events"), std::string::npos) << r.out;
  r = RunRunnel(b2 + "topic describe __consumer_offsets");
  EXPECT_TRUE(testing::HasRow(r.out, {"cleanup.policy", "compact", "topic"})) << r.out;
}

// Reproduced before: `topic create y2 --partitions 100000` failed after 9 s on "Too many open
// files", left ~20,000 partition directories and descriptors behind, and the broker could no
// longer create topics or accept connections, even after a restart. Now the create is refused at
// once, naming the limit; a create that fails part way is rolled back; and a broker started with
// `ulimit -n 256` refuses what its descriptors cannot hold and keeps serving.
TEST(CliAdminTest, OversizedCreatesAreRefusedAndTheBrokerStaysHealthy) {
  TempDir dir;
  BrokerProcess broker(dir.Sub("data"));
  broker.SetFileLimit(256);
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";

  auto r = RunRunnel(b + "topic create y2 --partitions 100000");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("partitions: 100000 is more than a topic may have on this broker (10000"),
            std::string::npos)
      << r.out;
  r = RunRunnel(b + "topic create y3 --partitions 300");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("over its limit of 192"), std::string::npos) << r.out;  // 256 - 64 kept
  EXPECT_NE(r.out.find("ulimit -n"), std::string::npos) << r.out;
  r = RunRunnel(b + "topic create neg --partitions -1");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("partitions: -1 must be at least 1"), std::string::npos) << r.out;
  int partition_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.Sub("data"))) {
    partition_dirs += e.is_directory();
  }
  EXPECT_EQ(partition_dirs, 0) << "a refused create left directories behind";

  // Still serving: a topic within the limits, data through it, and many connections.
  r = RunRunnel(b + "topic create fine --partitions 100");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunCommand("seq 1 500 | " + std::string(RUNNEL_BIN_DIR) + "/runnel " + b + "produce fine");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (int i = 0; i < 20; ++i) {
    r = RunRunnel(b + "topic describe fine");
    ASSERT_EQ(r.exit_code, 0) << "connection " << i << ": " << r.out;
  }
  r = RunRunnel(b + "consume fine --from-beginning --num 500 --timeout-ms 10000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  ASSERT_EQ(broker.Stop(), 0) << broker.output();
  ASSERT_TRUE(broker.Start()) << broker.output();  // and after a restart
  EXPECT_EQ(RunRunnel("--brokers " + broker.address() + " topic describe fine").exit_code, 0);
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
