// Log's methods for replicas (storage/log_replication.cc): PrepareAppend, AppendReplicated,
// ResetTo and the replicated high watermark.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "common/clock.h"
#include "common/record/batch_builder.h"
#include "common/record/control_record.h"
#include "common/status_cause.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::MakeBatch;
using testing::TempDir;

std::unique_ptr<Log> OpenOrDie(const std::string& dir, Flusher* flusher,
                               const LogConfig& config = {}, const Clock* clock = &Clock::Real()) {
  auto log = Log::Open(dir, config, flusher, clock);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

// Log::AppendReplicated of a copy of `batch`.
absl::StatusOr<AppendResult> Replicate(Log& log, std::string batch, int64_t base_offset,
                                       int32_t epoch) {
  return log.AppendReplicated(&batch, base_offset, epoch);
}

std::set<std::string> SegmentFiles(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log") out.insert(e.path().filename().string());
  }
  return out;
}

TEST(LogReplicationTest, AReplicatedBatchIsStoredAtTheGivenOffsetAndEpoch) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), &flusher);
  auto first = Replicate(*log, MakeBatch(3, 1000, "a"), 0, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->base_offset, 0);
  EXPECT_EQ(first->last_offset, 2);
  auto second = Replicate(*log, MakeBatch(2, 1000, "b"), 3, 5);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(log->leader_epoch(), 5);
  const std::vector<EpochEntry> want = {{2, 0}, {5, 3}};
  EXPECT_EQ(log->epoch_entries(), want);
  auto bytes = log->Read(0, 1 << 20);
  ASSERT_TRUE(bytes.ok());
  const auto records = DecodeAll(*bytes);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[3].offset, 3);
  EXPECT_EQ(records[3].value, "b-0");
}

TEST(LogReplicationTest, AReplicatedBatchIsRefusedOffTheLogEndBelowTheEpochOrCorrupt) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), &flusher);
  ASSERT_TRUE(Replicate(*log, MakeBatch(3, 1000, "a"), 0, 4).ok());

  auto gap = Replicate(*log, MakeBatch(1, 1000, "g"), 5, 4);
  EXPECT_TRUE(absl::IsFailedPrecondition(gap.status())) << gap.status();
  EXPECT_NE(gap.status().message().find("log end 3"), std::string::npos) << gap.status();

  auto stale = Replicate(*log, MakeBatch(1, 1000, "s"), 3, 3);
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status())) << stale.status();
  EXPECT_NE(stale.status().message().find("epoch 3"), std::string::npos) << stale.status();

  std::string corrupt = MakeBatch(2, 1000, "c");
  corrupt[corrupt.size() - 1] ^= 0x40;
  auto bad = Replicate(*log, corrupt, 3, 4);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_NE(bad.status().message().find("CRC"), std::string::npos) << bad.status();

  std::string trailing = MakeBatch(1, 1000, "t") + "xx";
  EXPECT_TRUE(absl::IsInvalidArgument(Replicate(*log, trailing, 3, 4).status()));
  EXPECT_EQ(log->end_offset(), 3);  // none of them was stored
}

TEST(LogReplicationTest, PrepareAppendMakesAppendsChecksAndStampsLogAppendTime) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1'000'000);
  LogConfig config;
  config.max_message_bytes = 200;
  auto log = OpenOrDie(dir.path(), &flusher, config, &clock);

  std::string big = MakeBatch(20, 1'000'000, "big");
  int64_t append_time = 0;
  absl::Status too_large = log->PrepareAppend(&big, &append_time);
  EXPECT_EQ(CauseOf<AppendError>(too_large), AppendError::kTooLarge) << too_large;

  std::string ancient = MakeBatch(1, 5, "old");
  config.message_timestamp_before_max_ms = 1000;
  log->SetConfig(config);
  absl::Status late = log->PrepareAppend(&ancient, &append_time);
  EXPECT_EQ(CauseOf<AppendError>(late), AppendError::kInvalidTimestamp) << late;

  config.message_timestamp_type = record::TimestampType::kLogAppendTime;
  log->SetConfig(config);
  std::string batch = MakeBatch(1, 5, "stamped");
  ASSERT_TRUE(log->PrepareAppend(&batch, &append_time).ok());
  EXPECT_EQ(append_time, 1'000'000);
  // What a follower receives is the prepared batch: it is stored as it is.
  auto stored = Replicate(*log, batch, 0, 1);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->log_append_time, 1'000'000);
  auto bytes = log->Read(0, 1 << 20);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(DecodeAll(*bytes).front().timestamp, 1'000'000);
}

// A produced batch with the control bit set would be proposed as a data entry and read back on
// every replica as a control entry: a leader change, a membership change (kVoters), or, when its
// record is not a control record, a batch PartitionRaftLog::Read cannot decode (the replica
// stops). Kafka refuses control batches from clients; so must the leader before it proposes.
TEST(LogReplicationTest, PrepareAppendRefusesAControlBatch) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), &flusher);
  int64_t append_time = 0;
  std::string voters =
      record::BuildControlBatch(record::ControlType::kVoters, "voters=9;learners=", 1'000);
  absl::Status refused = log->PrepareAppend(&voters, &append_time);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;

  record::RecordBatchBuilder two({.is_control = true});
  two.Append(1'000, "k", "v");
  two.Append(1'000, "k", "v");
  std::string bad = *two.Build();
  refused = log->PrepareAppend(&bad, &append_time);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
}

TEST(LogReplicationTest, ResetToLeavesOneEmptySegmentAtTheNewStart) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 300;
  auto log = OpenOrDie(dir.path(), &flusher, config);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Replicate(*log, MakeBatch(2, 1000, "r"), 2 * i, 1).ok());
  }
  ASSERT_GT(log->segment_count(), 2u);
  const int64_t truncations = log->truncation_count();
  ASSERT_TRUE(log->ResetTo(1000).ok());
  EXPECT_EQ(log->start_offset(), 1000);
  EXPECT_EQ(log->end_offset(), 1000);
  EXPECT_GT(log->truncation_count(), truncations);
  EXPECT_TRUE(log->epoch_entries().empty());
  EXPECT_EQ(SegmentFiles(dir.path()), std::set<std::string>{"00000000000000001000.log"});
  ASSERT_TRUE(Replicate(*log, MakeBatch(1, 1000, "n"), 1000, 2).ok());
  log.reset();  // a crash: no Close

  auto reopened = OpenOrDie(dir.path(), &flusher, config);
  EXPECT_EQ(reopened->start_offset(), 1000);
  EXPECT_EQ(reopened->end_offset(), 1001);
  const std::vector<EpochEntry> want = {{2, 1000}};
  EXPECT_EQ(reopened->epoch_entries(), want);
  // Below the start is gone; at or past the end is refused.
  EXPECT_TRUE(absl::IsOutOfRange(reopened->Read(10, 100).status()));
  EXPECT_TRUE(absl::IsOutOfRange(reopened->ResetTo(5)));
}

// Raft's terms only have to grow along the log as it is now: a follower that cut a deposed
// leader's entries of epoch 5 takes the new leader's older entries of epoch 4 at those offsets
// (Raft's figure 7), and a log reset holds no epoch at all.
TEST(LogReplicationTest, AnEpochNeedOnlyFollowTheEpochsTheLogStillHolds) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), &flusher);
  ASSERT_TRUE(Replicate(*log, MakeBatch(3, 1000, "a"), 0, 1).ok());
  ASSERT_TRUE(Replicate(*log, MakeBatch(2, 1000, "b"), 3, 5).ok());
  ASSERT_TRUE(log->TruncateTo(3).ok());
  auto older = Replicate(*log, MakeBatch(1, 1000, "c"), 3, 4);
  ASSERT_TRUE(older.ok()) << older.status();
  const std::vector<EpochEntry> want = {{1, 0}, {4, 3}};
  EXPECT_EQ(log->epoch_entries(), want);
  EXPECT_FALSE(Replicate(*log, MakeBatch(1, 1000, "d"), 4, 3).ok());

  ASSERT_TRUE(Replicate(*log, MakeBatch(1, 1000, "e"), 4, 7).ok());
  ASSERT_TRUE(log->ResetTo(100).ok());
  auto after_reset = Replicate(*log, MakeBatch(1, 1000, "f"), 100, 6);
  ASSERT_TRUE(after_reset.ok()) << after_reset.status();
  const std::vector<EpochEntry> want_reset = {{6, 100}};
  EXPECT_EQ(log->epoch_entries(), want_reset);
}

TEST(LogReplicationTest, AReplicasHighWatermarkIsSetNotTheSyncedOffset) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), &flusher);
  ASSERT_TRUE(Replicate(*log, MakeBatch(4, 1000, "h"), 0, 1).ok());
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->high_watermark(), 4);  // a log without replicas: the synced offset
  log->SetReplicatedHighWatermark(0);
  EXPECT_EQ(log->high_watermark(), 0);
  ASSERT_TRUE(Replicate(*log, MakeBatch(2, 1000, "i"), 4, 1).ok());
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->high_watermark(), 0);
  log->SetReplicatedHighWatermark(4);
  auto visible = log->Read(0, 1 << 20, ReadLimit::kHighWatermark);
  ASSERT_TRUE(visible.ok());
  EXPECT_EQ(DecodeAll(*visible).size(), 4u);
}

}  // namespace
}  // namespace runnel::storage
