// Leader epochs: every append is stamped with the log's epoch (partitionLeaderEpoch), the first
// offset of each epoch is kept in leader-epoch-checkpoint, and truncation, retention and crashes
// keep the checkpoint in step with the log (Kafka's LeaderEpochFileCache; replication's base).
#include "storage/leader_epoch_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/record/record_batch.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::MakeBatch;
using testing::TempDir;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The partitionLeaderEpoch of the batch holding `offset`.
int32_t EpochAt(const Log& log, int64_t offset) {
  auto bytes = log.Read(offset, 1);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  auto view = record::RecordBatchView::Parse(*bytes);
  EXPECT_TRUE(view.ok()) << view.status();
  return view.ok() ? view->partition_leader_epoch() : -2;
}

TEST(LeaderEpochCacheTest, EndOffsetsFollowKafkasRules) {
  LeaderEpochCache cache;
  EXPECT_EQ(cache.EndOffsetFor(0, 10), std::make_pair(-1, int64_t{-1}));  // empty
  ASSERT_TRUE(*cache.Assign(1, 0));
  EXPECT_FALSE(*cache.Assign(1, 4));  // same epoch: nothing new
  ASSERT_TRUE(*cache.Assign(3, 5));
  ASSERT_TRUE(*cache.Assign(6, 9));
  EXPECT_EQ(cache.Assign(2, 12).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(*cache.Assign(-1, 12));                                  // a batch without an epoch
  EXPECT_EQ(cache.EndOffsetFor(0, 20), std::make_pair(0, int64_t{0}));  // older than all
  EXPECT_EQ(cache.EndOffsetFor(1, 20), std::make_pair(1, int64_t{5}));
  EXPECT_EQ(cache.EndOffsetFor(2, 20), std::make_pair(1, int64_t{5}));  // the epoch below it
  EXPECT_EQ(cache.EndOffsetFor(3, 20), std::make_pair(3, int64_t{9}));
  EXPECT_EQ(cache.EndOffsetFor(6, 20), std::make_pair(6, int64_t{20}));  // the latest: log end
  EXPECT_EQ(cache.EndOffsetFor(7, 20), std::make_pair(-1, int64_t{-1}));

  EXPECT_TRUE(cache.TruncateFromEnd(9));
  EXPECT_EQ(cache.latest_epoch(), 3);
  EXPECT_FALSE(cache.TruncateFromEnd(9));
  EXPECT_TRUE(cache.TruncateFromStart(7));
  EXPECT_EQ(cache.entries(), (std::vector<EpochEntry>{{3, 7}}));
}

TEST(LeaderEpochCacheTest, ABadCheckpointIsNamed) {
  TempDir dir;
  for (const std::string& text :
       {std::string("1\n0\n"), std::string("0\n2\n1 0\n"), std::string("0\n2\n3 5\n2 9\n"),
        std::string("0\n1\n1 x\n"), std::string("0\n1\n1 5")}) {
    std::ofstream(dir.Sub("leader-epoch-checkpoint"), std::ios::trunc) << text;
    const absl::Status loaded = LeaderEpochCache::Load(dir.path()).status();
    EXPECT_EQ(loaded.code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_NE(loaded.message().find("leader-epoch-checkpoint"), std::string::npos) << loaded;
  }
  EXPECT_TRUE(absl::IsNotFound(LeaderEpochCache::Load(dir.Sub("none")).status()));
}

TEST(LeaderEpochTest, AppendsAreStampedAndEpochsSurviveAReopen) {
  TempDir dir;
  Flusher flusher;
  {
    auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
    EXPECT_EQ(log->leader_epoch(), 0);
    ASSERT_TRUE(log->Append(MakeBatch(2, 1000, "a")).ok());  // offsets 0..1, epoch 0
    ASSERT_TRUE(log->SetLeaderEpoch(3).ok());
    ASSERT_TRUE(log->Append(MakeBatch(3, 1000, "b")).ok());  // 2..4, epoch 3
    ASSERT_TRUE(log->Append(MakeBatch(1, 1000, "c")).ok());  // 5, epoch 3
    const absl::Status lower = log->SetLeaderEpoch(2);
    EXPECT_EQ(lower.code(), absl::StatusCode::kFailedPrecondition) << lower;
    EXPECT_EQ(EpochAt(*log, 0), 0);
    EXPECT_EQ(EpochAt(*log, 2), 3);
    EXPECT_EQ(EpochAt(*log, 5), 3);
    ASSERT_TRUE(log->Flush().ok());  // the sync that makes a new epoch's batch durable
    EXPECT_EQ(ReadText(dir.Sub("p/leader-epoch-checkpoint")), "0\n2\n0 0\n3 2\n");
    // kill -9: no Close
  }
  auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
  EXPECT_EQ(log->leader_epoch(), 3);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {3, 2}}));
  EXPECT_EQ(log->EndOffsetForEpoch(0), std::make_pair(0, int64_t{2}));
  EXPECT_EQ(log->EndOffsetForEpoch(2), std::make_pair(0, int64_t{2}));
  EXPECT_EQ(log->EndOffsetForEpoch(3), std::make_pair(3, int64_t{6}));
}

// Truncation into an earlier segment: the later segments go, the cut one is rebuilt (reads and
// timestamp lookups at every offset agree before and after a reopen), and the epochs that began
// past the cut leave the checkpoint.
TEST(LeaderEpochTest, TruncateToDropsLaterEpochsAndRebuildsTheCutSegment) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 300;
  config.index_interval_bytes = 1;
  auto log = *Log::Open(dir.Sub("p"), config, &flusher);
  for (int epoch = 0; epoch < 4; ++epoch) {
    ASSERT_TRUE(log->SetLeaderEpoch(epoch).ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(log->Append(MakeBatch(2, 1000 * (epoch * 5 + i + 1), "e")).ok());
    }
  }
  ASSERT_EQ(log->end_offset(), 40);
  ASSERT_GT(log->segment_count(), 4u);
  ASSERT_TRUE(log->TruncateTo(15).ok());  // inside epoch 1 (offsets 10..19)
  EXPECT_EQ(log->end_offset(), 16);       // the batch 14..15 straddles 15 and stays whole
  EXPECT_EQ(log->truncation_count(), 1);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 10}}));
  EXPECT_EQ(log->leader_epoch(), 3);  // the epoch is the leader's, not the log's
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadText(dir.Sub("p/leader-epoch-checkpoint")), "0\n2\n0 0\n1 10\n");

  const auto check = [](const Log& l) {
    for (int64_t offset = 0; offset < 16; ++offset) {
      auto bytes = l.Read(offset, 1);
      ASSERT_TRUE(bytes.ok()) << offset << ": " << bytes.status();
      auto view = record::RecordBatchView::Parse(*bytes);
      ASSERT_TRUE(view.ok());
      EXPECT_LE(view->base_offset(), offset);
      EXPECT_GE(view->last_offset(), offset);
      // Batch i (offsets 2i, 2i+1) has timestamps 1000(i+1), 1000(i+1)+1.
      const int64_t batch = offset / 2;
      auto found = l.OffsetForTimestamp(1000 * (batch + 1));
      ASSERT_TRUE(found.ok());
      EXPECT_EQ(*found, std::optional<int64_t>(batch * 2));
    }
    EXPECT_EQ(*l.OffsetForTimestamp(1000 * 9), std::nullopt);  // past the cut
  };
  check(*log);
  ASSERT_TRUE(log->Append(MakeBatch(1, 99000, "new")).ok());  // epoch 3 starts at 16
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 10}, {3, 16}}));
  ASSERT_TRUE(log->TruncateTo(16).ok());
  ASSERT_TRUE(log->Close().ok());
  log = *Log::Open(dir.Sub("p"), config, &flusher);
  check(*log);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {1, 10}}));
}

// The checkpoint is derived data: an entry whose batch a crash lost is trimmed, a missing or
// damaged checkpoint is rebuilt from the batch headers, and retention moves the first entry.
TEST(LeaderEpochTest, TheCheckpointFollowsCrashesDamageAndRetention) {
  TempDir dir;
  Flusher flusher;
  {
    auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
    ASSERT_TRUE(log->Append(MakeBatch(4, 1000, "a")).ok());  // 0..3, epoch 0
    ASSERT_TRUE(log->SetLeaderEpoch(2).ok());
    ASSERT_TRUE(log->Append(MakeBatch(4, 1000, "b")).ok());  // 4..7, epoch 2
  }
  // The entry of epoch 5 was persisted, but its first batch (at 8) never reached the disk.
  std::ofstream(dir.Sub("p/leader-epoch-checkpoint"), std::ios::trunc) << "0\n3\n0 0\n2 4\n5 8\n";
  {
    auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
    EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {2, 4}}));
    EXPECT_EQ(log->leader_epoch(), 2);
  }
  std::filesystem::remove(dir.Sub("p/leader-epoch-checkpoint"));
  {
    auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
    EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {2, 4}}));
  }
  std::ofstream(dir.Sub("p/leader-epoch-checkpoint"), std::ios::trunc) << "garbage";
  auto log = *Log::Open(dir.Sub("p"), LogConfig{}, &flusher);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {2, 4}}));
  EXPECT_EQ(ReadText(dir.Sub("p/leader-epoch-checkpoint")), "0\n2\n0 0\n2 4\n");

  ASSERT_TRUE(log->DeleteBefore(6).ok());
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{2, 6}}));
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadText(dir.Sub("p/leader-epoch-checkpoint")), "0\n1\n2 6\n");
}

// The checkpoint is written by the Flush that makes a new epoch's first batch durable, not on
// the append path (an fsync there would stall appends behind the disk). A crash before that Flush
// leaves a checkpoint without the epoch; the open's recovery scan of the unsynced segments adds
// it back.
TEST(LeaderEpochTest, AnEpochTheCheckpointMissedIsRecoveredFromTheScannedSegments) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 300;
  {
    auto log = *Log::Open(dir.Sub("p"), config, &flusher);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(MakeBatch(2, 1000, "a")).ok());
    ASSERT_TRUE(log->Flush().ok());
    ASSERT_GT(log->segment_count(), 2u);
    ASSERT_TRUE(log->SetLeaderEpoch(4).ok());
    ASSERT_TRUE(log->Append(MakeBatch(2, 1000, "b")).ok());  // offsets 20..21, epoch 4
    flusher.Drain(log.get());
  }
  // As if the crash came before that Flush: the checkpoint knows only epoch 0.
  std::ofstream(dir.Sub("p/leader-epoch-checkpoint"), std::ios::trunc) << "0\n1\n0 0\n";
  auto log = *Log::Open(dir.Sub("p"), config, &flusher);
  EXPECT_EQ(log->epoch_entries(), (std::vector<EpochEntry>{{0, 0}, {4, 20}}));
  EXPECT_EQ(log->leader_epoch(), 4);
  EXPECT_EQ(ReadText(dir.Sub("p/leader-epoch-checkpoint")), "0\n2\n0 0\n4 20\n");
}

}  // namespace
}  // namespace runnel::storage
