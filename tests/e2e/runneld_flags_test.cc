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

  r = RunCommand(Runneld("--data-dir " + dir.Sub("d") + " --log-flush-threads 0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--log-flush-threads: must be 1..64 (got 0)"), std::string::npos) << r.out;

  r = RunCommand(Runneld("--data-dir " + dir.Sub("d") + " --fetch-threads 65"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--fetch-threads: must be 0 (one per core) to 64 (got 65)"),
            std::string::npos)
      << r.out;
  r = RunCommand(Runneld("--data-dir " + dir.Sub("d") + " --fetch-max-bytes 100000000"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--fetch-max-bytes: must be 1024..66060288 (got 100000000)"),
            std::string::npos)
      << r.out;
  r = RunCommand(Runneld("--data-dir " + dir.Sub("d") +
                         " --fetch-max-bytes 2000000 --fetch-memory-bytes 1000000"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--fetch-memory-bytes: must be at least --fetch-max-bytes (2000000; got "
                       "1000000)"),
            std::string::npos)
      << r.out;

  std::ofstream(config) << "data_dir = [\n";
  r = RunCommand(Runneld("--config " + config));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--config " + config), std::string::npos) << r.out;
}

// Broker-wide topic defaults (Kafka's log.retention.ms, log.segment.bytes, ...), from flags or the
// TOML file (flags win); a topic's own config still overrides them; bad values name the setting.
TEST(RunneldFlagsTest, BrokerWideTopicDefaultsComeFromFlagsAndTheConfigFile) {
  TempDir dir;
  const std::string config = dir.Sub("runneld.toml");
  std::ofstream(config) << "log_retention_ms = 3600000\nlog_segment_bytes = 1048576\n"
                        << "log_cleanup_policy = \"compact\"\n"
                        << "log_cleaner_min_cleanable_ratio = 0.25\n";
  testing::BrokerProcess broker(dir.Sub("data"),
                                {"--config", config, "--log-segment-bytes", "2097152"});
  ASSERT_TRUE(broker.Start()) << broker.output();
  const std::string b = "--brokers " + broker.address() + " ";
  ASSERT_EQ(testing::RunRunnel(b + "topic create plain").exit_code, 0);
  ASSERT_EQ(testing::RunRunnel(b + "topic create own --config retention.ms=1000").exit_code, 0);
  auto r = testing::RunRunnel(b + "topic describe plain");
  EXPECT_TRUE(testing::HasRow(r.out, {"retention.ms", "3600000", "default"})) << r.out;
  EXPECT_TRUE(testing::HasRow(r.out, {"segment.bytes", "2097152", "default"})) << r.out;
  EXPECT_TRUE(testing::HasRow(r.out, {"cleanup.policy", "compact", "default"})) << r.out;
  EXPECT_TRUE(testing::HasRow(r.out, {"min.cleanable.dirty.ratio", "0.25", "default"})) << r.out;
  r = testing::RunRunnel(b + "topic describe own");
  EXPECT_TRUE(testing::HasRow(r.out, {"retention.ms", "1000", "topic"})) << r.out;

  r = RunCommand(Runneld("--data-dir " + dir.Sub("d2") + " --log-retention-ms soon"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--log-retention-ms: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("soon"), std::string::npos) << r.out;
  r = RunCommand(Runneld("--data-dir " + dir.Sub("d2") + " --log-cleaner-min-cleanable-ratio 2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("min.cleanable.dirty.ratio"), std::string::npos) << r.out;
  r = RunCommand(
      Runneld("--data-dir " + dir.Sub("d2") + " --log-cleaner-dedupe-buffer-bytes 1000"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--log-cleaner-dedupe-buffer-bytes: must be at least 1 MiB (got 1000)"),
            std::string::npos)
      << r.out;
  r = RunCommand(Runneld("--data-dir " + dir.Sub("d2") + " --producer-id-expiration-ms 0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--producer-id-expiration-ms"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runnel
