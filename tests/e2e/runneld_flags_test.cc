// runneld refuses bad command lines and bad config files with an error naming the problem and
// exit status 1. (A data dir held by another runneld: broker_e2e_test.cc.)
#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
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

}  // namespace
}  // namespace runnel
