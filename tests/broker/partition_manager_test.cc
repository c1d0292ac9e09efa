#include "broker/partition/partition_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "tests/broker/opened_data_dir.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::DecodeAll;
using storage::testing::MakeBatch;
using storage::testing::TempDir;

using OpenedDir = testing::OpenedDataDir;

std::vector<std::string> DirsIn(const std::string& data_dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(data_dir)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A topic deletion is two steps: the topic table is rewritten, then each partition directory is
// renamed to "...-delete" (and removed later). Reproduced before: a crash between them left the
// directories, which were reopened with default configs and adopted by the next topic of that
// name — the deleted records came back. A crash at any step must leave either the old topic whole
// or no trace of it.
TEST(PartitionManagerTest, ACrashAtAnyStepOfATopicDeleteNeverBringsRecordsBack) {
  enum Step { kNothingDone, kTableRewritten, kOneDirRenamed, kAllDone };
  for (Step step : {kNothingDone, kTableRewritten, kOneDirRenamed, kAllDone}) {
    SCOPED_TRACE(::testing::Message() << "crash after step " << step);
    TempDir dir;
    const std::string data = dir.Sub("data");
    {
      OpenedDir broker(data);
      // Records from 1970: no time retention, or the maintenance pass below would delete them.
      ASSERT_TRUE(
          broker.partitions->CreateTopic({"t", 2, 1, {{"retention.ms", "-1"}}, false, ""}).ok());
      for (int32_t p = 0; p < 2; ++p) {
        auto log = broker.partitions->GetLog("t", p, false);
        ASSERT_TRUE(log.ok()) << log.status();
        ASSERT_TRUE((*log)->Append(MakeBatch(3, 1000, "old")).ok());
      }
      if (step == kAllDone) {
        ASSERT_TRUE(broker.partitions->DeleteTopic("t").ok());
      }
      ASSERT_TRUE(broker.logs->Close().ok());
    }
    if (step == kTableRewritten || step == kOneDirRenamed) {
      ASSERT_TRUE(TopicTable::Open(data)->Delete("t").ok());
    }
    if (step == kOneDirRenamed) {
      std::filesystem::rename(data + "/t-0", data + "/t-0.1-0-delete");
    }

    OpenedDir broker(data);
    ASSERT_TRUE(broker.logs->RunMaintenance().ok());
    if (step == kNothingDone) {  // the delete never started: the topic is whole
      ASSERT_TRUE(broker.topics->Get("t").has_value());
      EXPECT_EQ(DirsIn(data), (std::vector<std::string>{"t-0", "t-1"}));
      EXPECT_EQ(DecodeAll(*(*broker.partitions->GetLog("t", 1, false))->Read(0, 1 << 20)).size(),
                3u);
      continue;
    }
    EXPECT_FALSE(broker.topics->Get("t").has_value());
    EXPECT_TRUE(DirsIn(data).empty()) << ::testing::PrintToString(DirsIn(data));
    EXPECT_EQ(broker.logs->pending_removals(), 0u);
    // A new topic of the same name starts empty.
    ASSERT_TRUE(broker.partitions->CreateTopic({"t", 2, 1, {}, false, ""}).ok());
    for (int32_t p = 0; p < 2; ++p) {
      auto log = broker.partitions->GetLog("t", p, false);
      ASSERT_TRUE(log.ok()) << log.status();
      EXPECT_EQ((*log)->end_offset(), 0);
      EXPECT_TRUE((*log)->Read(0, 1 << 20)->empty());
    }
  }
}

// A create interrupted after its directories but before the topic table is left as strays, which
// the next start deletes instead of letting a later create adopt them.
TEST(PartitionManagerTest, DirectoriesOfAnInterruptedCreateAreNotAdopted) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  {
    OpenedDir broker(data);
    auto log = broker.logs->GetOrCreate({"u", 0});  // a create's first step, and no second
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(MakeBatch(2, 1000, "stray")).ok());
    ASSERT_TRUE(broker.logs->Close().ok());
  }
  OpenedDir broker(data);
  ASSERT_TRUE(broker.logs->RunMaintenance().ok());
  EXPECT_TRUE(DirsIn(data).empty()) << ::testing::PrintToString(DirsIn(data));
  ASSERT_TRUE(broker.partitions->CreateTopic({"u", 1, 1, {}, false, ""}).ok());
  EXPECT_EQ((*broker.partitions->GetLog("u", 0, false))->end_offset(), 0);
}

// A deletion whose directory rename failed (here a full disk) has taken the topic out of the
// table but left its directory. Reproduced before: a topic created again under that name adopted
// the directory, and the deleted records came back. The directory is tagged with the old topic's
// id, so the new topic deletes it and starts empty.
TEST(PartitionManagerTest, ADirectoryWhoseDeleteDidNotFinishIsNotAdopted) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  OpenedDir broker(data);
  ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
  {
    auto old = *broker.partitions->GetLog("t", 0, false);
    ASSERT_TRUE(old->Append(MakeBatch(3, 1000, "old")).ok());
    ASSERT_TRUE(old->Flush().ok());
    broker.logs->flusher().Drain(old.get());  // no background write renames a file in t-0 now
  }
  {
    storage::testing::FaultInjectionFs fs(data);
    fs.FailNext(storage::FileOp::kRename, ENOSPC, "/t-0");
    const absl::Status deleted = broker.partitions->DeleteTopic("t");
    EXPECT_EQ(deleted.code(), absl::StatusCode::kResourceExhausted) << deleted;
  }
  EXPECT_FALSE(broker.topics->Get("t").has_value());
  EXPECT_EQ(DirsIn(data), std::vector<std::string>{"t-0"});  // left behind

  ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
  auto log = broker.partitions->GetLog("t", 0, false);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->end_offset(), 0);
  EXPECT_EQ((*log)->topic_id(), broker.topics->Get("t")->id);
  ASSERT_TRUE(broker.logs->RunMaintenance().ok());
  EXPECT_EQ(DirsIn(data), std::vector<std::string>{"t-0"});  // the new one; the old one removed
}

// The topic table is the authority, but a partition directory tagged with another topic's id is
// not silently dropped either: the start fails naming the directory and both ids (Kafka's
// InconsistentTopicIdException), for an operator to look at.
TEST(PartitionManagerTest, ADirectoryOfAnotherTopicIdStopsTheStart) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  std::string id;
  {
    OpenedDir broker(data);
    ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
    id = broker.topics->Get("t")->id;
    ASSERT_TRUE(broker.logs->Close().ok());
  }
  ASSERT_EQ(id.size(), 22u) << id;
  std::ofstream(data + "/t-0/partition.metadata", std::ios::trunc)
      << "version: 0\ntopic_id: ZZZZZZZZZZZZZZZZZZZZZZ\n";
  storage::LogManagerOptions options;
  options.data_dir = data;
  options.maintenance_interval_ms = 0;
  auto logs = *storage::LogManager::Open(options);
  auto topics = *TopicTable::Open(data);
  const absl::Status started = PartitionManager::Create(logs.get(), &topics, {}).status();
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition) << started;
  EXPECT_NE(started.message().find("t-0"), std::string::npos) << started;
  EXPECT_NE(started.message().find(id), std::string::npos) << started;
  EXPECT_NE(started.message().find("ZZZZZZZZZZZZZZZZZZZZZZ"), std::string::npos) << started;
}

// A data dir from before topic ids: the topics get ids (persisted) and their directories are
// tagged with them, records kept.
TEST(PartitionManagerTest, TopicsFromBeforeIdsGetOneAndKeepTheirRecords) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  {
    OpenedDir broker(data);
    ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
    ASSERT_TRUE(
        (*broker.partitions->GetLog("t", 0, false))->Append(MakeBatch(2, 1000, "kept")).ok());
    ASSERT_TRUE(broker.logs->Close().ok());
  }
  std::filesystem::remove(data + "/t-0/partition.metadata");
  std::ofstream(data + "/topics.json", std::ios::trunc)
      << R"({"topics": [{"name": "t", "partitions": 1, "replication_factor": 1,)"
      << R"( "configs": {}, "internal": false}]})";
  std::string id;
  {
    OpenedDir broker(data);
    ASSERT_TRUE(broker.topics->Get("t").has_value());
    id = broker.topics->Get("t")->id;
    EXPECT_EQ(id.size(), 22u) << id;
    auto log = broker.partitions->GetLog("t", 0, false);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->end_offset(), 2);
    EXPECT_EQ((*log)->topic_id(), id);
    ASSERT_TRUE(broker.logs->Close().ok());
  }
  OpenedDir again(data);
  EXPECT_EQ(again.topics->Get("t")->id, id);  // persisted, not made up again
}

// Produces and reads race deletes and re-creates of their topic. Before, the deletion freed the
// Log a concurrent request had looked up (a use after free: ASan and TSan builds run this); now
// a request holds its log and gets NotFound once the log is deleted.
TEST(PartitionManagerTest, RequestsRacingTopicDeletesNeverTouchAFreedLog) {
  TempDir dir;
  OpenedDir broker(dir.Sub("data"));
  ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 100'000 && !stop.load(); ++i) {  // also bounded by the deleter below
        auto log = broker.partitions->GetLog("t", 0, /*allow_auto_create=*/false);
        if (!log.ok()) continue;  // between a delete and the next create
        auto result = broker.partitions->producer_states().Append(
            {"t", 0}, *log, MakeBatch(1, 1000, "c" + std::to_string(c)));
        if (result.ok()) {
          ++appended;
        } else if (!absl::IsNotFound(result.status())) {
          ++unexpected;
          ADD_FAILURE() << result.status();
        }
        auto read = (*log)->Read(0, 1 << 16);
        if (!read.ok() && !absl::IsNotFound(read.status()) && !absl::IsOutOfRange(read.status())) {
          ++unexpected;
          ADD_FAILURE() << read.status();
        }
      }
    });
  }
  // The clients get going before the first delete (on a loaded machine they may start late;
  // bounded at 10 s).
  for (int i = 0; i < 10'000 && appended.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int round = 0; round < 40; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(broker.partitions->DeleteTopic("t").ok());
    ASSERT_TRUE(broker.partitions->CreateTopic({"t", 1, 1, {}, false, ""}).ok());
    // The log handed out now is the new topic's, not a deleted one's.
    auto log = broker.partitions->GetLog("t", 0, false);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->topic_id(), broker.topics->Get("t")->id);
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(appended.load(), 0);
}

// A full disk makes the topic table's rewrite fail, and deleting a topic is what frees space: the
// reserve file (storage/disk_space.h) is released and the write tried again.
TEST(PartitionManagerTest, ATopicCanBeDeletedOnAFullDiskThroughTheReserve) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  storage::LogManagerOptions options;
  options.data_dir = data;
  options.maintenance_interval_ms = 0;
  options.reserve_bytes = 1 << 20;
  auto logs = *storage::LogManager::Open(options);
  ASSERT_TRUE(logs->disk_space().reserve_present());
  auto topics = *TopicTable::Open(data);
  auto partitions = *PartitionManager::Create(logs.get(), &topics, {});
  ASSERT_TRUE(partitions->CreateTopic({"big", 1, 1, {}, false, ""}).ok());
  {
    storage::testing::FaultInjectionFs fs(data);
    fs.FailNext(storage::FileOp::kWrite, ENOSPC, "topics.json", 1);  // the disk is full once
    const absl::Status deleted = partitions->DeleteTopic("big");
    EXPECT_TRUE(deleted.ok()) << deleted;
  }
  EXPECT_FALSE(topics.Get("big").has_value());
  EXPECT_FALSE(logs->disk_space().reserve_present());  // spent
  EXPECT_FALSE(TopicTable::Open(data)->Get("big").has_value());

  // Without a reserve left, a full disk is an error naming it, and nothing changes.
  ASSERT_TRUE(partitions->CreateTopic({"next", 1, 1, {}, false, ""}).ok());
  storage::testing::FaultInjectionFs fs(data);
  fs.FailNext(storage::FileOp::kWrite, ENOSPC, "topics.json", 1);
  const absl::Status refused = partitions->DeleteTopic("next");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(topics.Get("next").has_value());
}

}  // namespace
}  // namespace runnel::broker
