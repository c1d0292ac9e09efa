#include "storage/log_manager.h"

#include <gtest/gtest.h>

#include <atomic>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::MakeBatch;
using testing::TempDir;

LogManagerOptions Options(const std::string& dir) {
  LogManagerOptions o;
  o.data_dir = dir;
  o.maintenance_interval_ms = 0;  // the test drives maintenance
  return o;
}

TEST(TopicPartitionTest, DirNamesRoundTripAndBadTopicNamesAreNamed) {
  const TopicPartition tp{"orders.v2-eu", 17};
  EXPECT_EQ(tp.DirName(), "orders.v2-eu-17");
  EXPECT_EQ(TopicPartition::FromDirName(tp.DirName()), tp);
  EXPECT_FALSE(TopicPartition::FromDirName("no-partition-x").has_value());
  EXPECT_FALSE(TopicPartition::FromDirName("-3").has_value());
  // Only the canonical spelling: these must not alias partition 7.
  EXPECT_FALSE(TopicPartition::FromDirName("t-07").has_value());
  EXPECT_FALSE(TopicPartition::FromDirName("t-+7").has_value());
  EXPECT_FALSE(TopicPartition::FromDirName("t- 7").has_value());
  EXPECT_EQ(TopicPartition::FromDirName("t-0")->partition, 0);
  const absl::Status bad = ValidateTopicName("has space");
  EXPECT_NE(bad.message().find("' '"), absl::string_view::npos) << bad;
  EXPECT_FALSE(ValidateTopicName("..").ok());
  EXPECT_FALSE(ValidateTopicName(std::string(250, 'a')).ok());
}

TEST(LogManagerTest, ReopensEveryPartitionWithItsData) {
  TempDir dir;
  {
    auto manager = *LogManager::Open(Options(dir.path()));
    for (int p = 0; p < 20; ++p) {
      std::shared_ptr<Log> log = *manager->GetOrCreate({"events", p});
      for (int i = 0; i <= p; ++i) ASSERT_TRUE(log->Append(MakeBatch(2, i, "e")).ok());
    }
    ASSERT_TRUE(manager->GetOrCreate({"other", 0}).ok());
    EXPECT_EQ(manager->GetOrCreate({"bad/name", 0}).status().code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(manager->Close().ok());
  }
  auto manager = *LogManager::Open(Options(dir.path()));
  EXPECT_EQ(manager->List().size(), 21u);
  for (int p = 0; p < 20; ++p) {
    std::shared_ptr<Log> log = manager->Get({"events", p});
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->end_offset(), 2 * (p + 1));
  }
  ASSERT_TRUE(manager->Delete({"other", 0}).ok());
  EXPECT_EQ(manager->Get({"other", 0}), nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("other-0")));
  EXPECT_EQ(manager->Delete({"other", 0}).code(), absl::StatusCode::kNotFound);
}

// Reproduced before: Open started maintenance at once, so a pass could run with the defaults
// (delete policy, 7-day retention) over a compacted topic whose overrides the broker had not
// applied yet, and delete its old segments (committed offsets, changelogs). Now nothing runs until
// StartMaintenance, which the broker calls once every topic's configs are in place.
TEST(LogManagerTest, NoMaintenancePassRunsBeforeStartMaintenance) {
  TempDir dir;
  const LogConfigOverrides compacted =
      *ParseLogConfigOverrides({{"cleanup.policy", "compact"}, {"segment.bytes", "1000"}});
  {
    LogManagerOptions options = Options(dir.path());
    options.topic_overrides["c"] = compacted;
    auto manager = *LogManager::Open(options);
    std::shared_ptr<Log> log = *manager->GetOrCreate({"c", 0});
    // Timestamps of 1970: far past the default retention.
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(log->Append(MakeBatch(3, 1000 + i, "old")).ok());
    ASSERT_TRUE(manager->Close().ok());
  }
  LogManagerOptions options = Options(dir.path());  // overrides not known yet, as at a start
  options.maintenance_interval_ms = 1;
  auto manager = *LogManager::Open(options);
  std::shared_ptr<Log> log = manager->Get({"c", 0});
  ASSERT_NE(log, nullptr);
  const size_t segments = log->segment_count();
  ASSERT_GT(segments, 3u);
  EXPECT_FALSE(manager->maintenance_running());
  EXPECT_EQ(manager->maintenance_passes(), 0);
  EXPECT_EQ(log->segment_count(), segments);
  ASSERT_TRUE(manager->SetTopicOverrides("c", compacted).ok());
  manager->StartMaintenance();
  EXPECT_TRUE(manager->maintenance_running());
  // Two passes: at least one ran whole after the start (bounded: 10 s).
  for (int i = 0; i < 10'000 && manager->maintenance_passes() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(manager->maintenance_passes(), 2);
  EXPECT_EQ(log->start_offset(), 0);  // compacted, not deleted by retention
}

TEST(LogManagerTest, TopicOverridesApplyToOpenAndNewLogsAndDriveMaintenance) {
  TempDir dir;
  ManualClock clock(10'000'000);  // read by the flush thread through the clock
  LogManagerOptions options = Options(dir.path());
  options.clock = &clock;
  auto manager = *LogManager::Open(options);
  std::shared_ptr<Log> log = *manager->GetOrCreate({"short", 0});
  auto overrides = ParseLogConfigOverrides({{"segment.bytes", "1000"}, {"retention.ms", "1000"}});
  ASSERT_TRUE(overrides.ok()) << overrides.status();
  ASSERT_TRUE(manager->SetTopicOverrides("short", *overrides).ok());
  EXPECT_EQ(log->config().segment_bytes, 1000);
  EXPECT_EQ(manager->ConfigFor("short").retention_ms, 1000);
  EXPECT_EQ(manager->ConfigFor("unrelated").retention_ms, LogConfig{}.retention_ms);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(log->Append(MakeBatch(3, clock.NowMs() - 5000, "old")).ok());
  ASSERT_TRUE(log->Flush().ok());  // retention deletes only below the high watermark
  ASSERT_GT(log->segment_count(), 3u);
  ASSERT_TRUE(manager->RunMaintenance().ok());
  EXPECT_EQ(log->segment_count(), 1u);  // only the active segment survives
  EXPECT_EQ(log->start_offset(), log->active_segment_base_offset());

  auto bad = ParseLogConfigOverrides({{"segment.bytez", "1"}});
  EXPECT_NE(bad.status().message().find("segment.bytez"), absl::string_view::npos);
  auto bad_value = ParseLogConfigOverrides({{"retention.ms", "soon"}});
  EXPECT_NE(bad_value.status().message().find("retention.ms"), absl::string_view::npos);
}

// Reproduced before: Delete freed the Log while a produce or fetch that had looked it up still
// used it. Now a handle outlives the deletion and every operation on it fails with NotFound; it
// writes nothing, neither into the renamed directory nor into a new partition of the same name.
TEST(LogManagerTest, AHandleHeldAcrossADeleteRefusesWorkAndWritesNothing) {
  TempDir dir;
  auto manager = *LogManager::Open(Options(dir.path()));
  std::shared_ptr<Log> held = *manager->GetOrCreate({"t", 0}, "id-one");
  ASSERT_TRUE(held->Append(MakeBatch(2, 1000, "old")).ok());
  ASSERT_TRUE(manager->Delete({"t", 0}).ok());
  std::shared_ptr<Log> fresh = *manager->GetOrCreate({"t", 0}, "id-two");
  ASSERT_NE(fresh, held);

  const auto not_found = [](const absl::Status& s) {
    return absl::IsNotFound(s) && s.message().find("was deleted") != std::string::npos;
  };
  EXPECT_TRUE(not_found(held->Append(MakeBatch(1, 1000, "late")).status()));
  EXPECT_TRUE(not_found(held->Read(0, 1 << 20).status()));
  EXPECT_TRUE(not_found(held->Flush()));
  EXPECT_TRUE(not_found(held->DeleteBefore(1)));
  EXPECT_TRUE(not_found(held->SetTopicId("id-three")));
  EXPECT_TRUE(not_found(held->WriteOwnerFile("producer-state", "stale", false)));
  // The answer is judged on the flusher thread: a non-OK absl::Status shared across threads
  // shows up as a false race under TSan (Debian's Abseil is not instrumented).
  std::promise<bool> durable_not_found;
  held->WhenDurable(held->end_offset() + 1,
                    [&](absl::Status s) { durable_not_found.set_value(not_found(s)); });
  EXPECT_TRUE(durable_not_found.get_future().get());
  held.reset();  // the last handle: its files close now

  EXPECT_EQ(fresh->end_offset(), 0);
  EXPECT_EQ(fresh->topic_id(), "id-two");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("t-0/producer-state")));
  ASSERT_TRUE(fresh->Append(MakeBatch(1, 1000, "new")).ok());
  EXPECT_EQ(fresh->end_offset(), 1);
}

// A partition directory is tagged with its topic's id (partition.metadata, Kafka's format) and
// keeps it across reopens; an open log asked for under another id refuses, naming both.
TEST(LogManagerTest, TopicIdsTagDirectoriesAndAnotherIdIsRefused) {
  TempDir dir;
  {
    auto manager = *LogManager::Open(Options(dir.path()));
    ASSERT_TRUE(manager->GetOrCreate({"t", 0}, "AAAAAAAAAAAAAAAAAAAAAA").ok());
    ASSERT_TRUE(manager->Close().ok());
  }
  std::ifstream in(dir.Sub("t-0/partition.metadata"));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n");

  auto manager = *LogManager::Open(Options(dir.path()));
  EXPECT_EQ(manager->Get({"t", 0})->topic_id(), "AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_TRUE(manager->GetOrCreate({"t", 0}, "AAAAAAAAAAAAAAAAAAAAAA").ok());
  const absl::Status other = manager->GetOrCreate({"t", 0}, "BBBBBBBBBBBBBBBBBBBBBB").status();
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("AAAAAAAAAAAAAAAAAAAAAA"), std::string::npos) << other;
  EXPECT_NE(other.message().find("BBBBBBBBBBBBBBBBBBBBBB"), std::string::npos) << other;
}

// A damaged partition.metadata fails the open with DataLoss naming the file, rather than letting
// the directory be adopted by any topic.
TEST(LogManagerTest, ADamagedPartitionMetadataFileIsNamed) {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("t-0"));
  std::ofstream(dir.Sub("t-0/partition.metadata")) << "version: 7\ntopic_id: x\n";
  const absl::Status opened = LogManager::Open(Options(dir.path())).status();
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.message().find("t-0/partition.metadata"), std::string::npos) << opened;
}

}  // namespace
}  // namespace runnel::storage
