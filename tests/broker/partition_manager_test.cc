#include "broker/partition/partition_manager.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "tests/broker/opened_data_dir.h"
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
      ASSERT_TRUE(broker.partitions->CreateTopic({"t", 2, 1, {}, false}).ok());
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
    ASSERT_TRUE(broker.partitions->CreateTopic({"t", 2, 1, {}, false}).ok());
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
  ASSERT_TRUE(broker.partitions->CreateTopic({"u", 1, 1, {}, false}).ok());
  EXPECT_EQ((*broker.partitions->GetLog("u", 0, false))->end_offset(), 0);
}

}  // namespace
}  // namespace runnel::broker
