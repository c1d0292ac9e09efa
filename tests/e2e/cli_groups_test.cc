// `runnel group list|describe|reset-offsets|delete` against a real runneld, with offsets
// committed by `runnel consume --group`.
#include <gtest/gtest.h>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::RunRunnel;

TEST(CliGroupsTest, ListDescribeResetAndDelete) {
  TempDir dir;
  BrokerProcess broker(dir.Sub("data"), {"--offsets-topic-partitions", "3"});
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";
  ASSERT_EQ(RunRunnel(b + "topic create gt --partitions 2").exit_code, 0);
  ASSERT_EQ(testing::RunCommand("seq 1 20 | " + std::string(RUNNEL_BIN_DIR) + "/runnel " + b +
                                "produce gt --partition 0")
                .exit_code,
            0);
  ASSERT_EQ(
      RunRunnel(b + "consume gt --group g1 --from-beginning --num 5 --timeout-ms 10000").exit_code,
      0);

  auto r = RunRunnel(b + "group list");
  EXPECT_EQ(r.out, "GROUP  STATE  MEMBERS\ng1     Empty  0\n");
  r = RunRunnel(b + "group describe g1");
  EXPECT_EQ(r.out,
            "GROUP  TOPIC  PARTITION  COMMITTED  END OFFSET  LAG  MEMBER  HOST\n"
            "g1     gt     0          5          20          15   -       -\n");

  r = RunRunnel(b + "group reset-offsets g1 --topic gt --to-offset 12 --partition 0");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(b + "consume gt --group g1 --num 1 --timeout-ms 10000");
  EXPECT_EQ(r.out, "13\n");  // offset 12 holds the 13th line
  r = RunRunnel(b + "group reset-offsets g1 --topic gt --to-latest");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("g1     gt     0          20         20          0"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("g1     gt     1          0          0           0"), std::string::npos)
      << r.out;

  // Bad requests: clear errors, nothing changed.
  r = RunRunnel(b + "group reset-offsets g1 --topic gt --to-offset 99");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("offset 99 is out of range for gt-0 (log 0..20)"), std::string::npos)
      << r.out;
  r = RunRunnel(b + "group reset-offsets g1 --topic gt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("give one of --to-earliest, --to-latest, --to-offset N"), std::string::npos);
  r = RunRunnel(b + "group reset-offsets g1 --topic gt --to-earliest --to-latest");
  EXPECT_EQ(r.exit_code, 1);
  r = RunRunnel(b + "group reset-offsets g1 --topic nope --to-earliest");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;

  r = RunRunnel(b + "group delete g1");
  EXPECT_EQ(r.out, "deleted group g1\n");
  r = RunRunnel(b + "group delete g1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("group 'g1' has no committed offsets"), std::string::npos) << r.out;
  EXPECT_EQ(RunRunnel(b + "group list").out, "GROUP  STATE  MEMBERS\n");

  // The deletion is durable: the tombstones are read back after a SIGKILL restart.
  broker.Kill();
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b2 = "--brokers " + broker.address() + " ";
  EXPECT_EQ(RunRunnel(b2 + "group list").out, "GROUP  STATE  MEMBERS\n");
  r = RunRunnel(b2 + "group describe g1");
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace runnel
