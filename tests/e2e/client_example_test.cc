// client/examples/hello_runnel, built by scripts/test.sh against an installed Runnel package,
// runs against a real broker: sends three records and reads them back.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

TEST(ClientExampleTest, HelloRunnelSendsAndReadsBack) {
  const std::string example = std::string(RUNNEL_BIN_DIR) + "/../example/hello_runnel";
  if (::access(example.c_str(), X_OK) != 0) {
    GTEST_SKIP() << example << " not built (scripts/test.sh builds it in the default build)";
  }
  storage::testing::TempDir dir;
  testing::BrokerProcess broker(dir.Sub("data"));
  ASSERT_TRUE(broker.Start()) << broker.output();
  const auto r = testing::RunCommand(example + " " + broker.address() + " hello");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("sent hello #2 to partition 0 offset 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read hello-0@2 greeting = hello #2"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runnel
