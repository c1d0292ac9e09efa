// runneld refuses bad command lines, bad config files and a data dir another runneld holds, with
// an error naming the problem and exit status 1, and leaves the data dir untouched.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::RunCommand;

std::string Runneld(const std::string& args) {
  return std::string(RUNNEL_BIN_DIR) + "/runneld " + args;
}

TEST(RunneldFlagsTest, UnknownFlagsAndConfigKeysAreRefusedByName) {
  TempDir dir;
  auto r = RunCommand(Runneld("--data-dir " + dir.Sub("d") + " --grpc-adr 127.0.0.1:0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--grpc-adr"), std::string::npos) << r.out;

  r = RunCommand(Runneld("--data-dir " + dir.Sub("d") + " --grpc-addr nowhere"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--grpc-addr: 'nowhere' is not HOST:PORT"), std::string::npos) << r.out;

  const std::string config = dir.Sub("runneld.toml");
  std::ofstream(config) << "data_dir = \"" << dir.Sub("d") << "\"\nretention_hourz = 3\n";
  r = RunCommand(Runneld("--config " + config));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("unknown key 'retention_hourz'"), std::string::npos) << r.out;

  std::ofstream(config) << "data_dir = [\n";
  r = RunCommand(Runneld("--config " + config));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--config " + config), std::string::npos) << r.out;
}

TEST(RunneldFlagsTest, SecondBrokerOnALockedDataDirIsRefused) {
  TempDir dir;
  BrokerProcess first(dir.Sub("data"));
  ASSERT_TRUE(first.Start()) << first.output();
  BrokerProcess second(dir.Sub("data"));
  EXPECT_FALSE(second.Start());
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_NE(second.output().find("is in use by another runneld"), std::string::npos)
      << second.output();
  // The first one is unaffected and still stops cleanly.
  EXPECT_EQ(first.Stop(), 0) << first.output();
}

}  // namespace
}  // namespace runnel
