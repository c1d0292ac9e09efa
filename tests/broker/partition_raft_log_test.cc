// PartitionRaftLog: the segment log as a Raft log (broker/replication/partition_raft_log.h).
#include "broker/replication/partition_raft_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "broker/partition/producer_state_manager.h"
#include "common/record/batch_builder.h"
#include "common/record/control_record.h"
#include "raft/membership.h"
#include "storage/file.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using storage::testing::MakeBatch;
using storage::testing::TempDir;

Entry Data(raft::Index first, raft::Term term, int count, const std::string& tag) {
  Entry entry;
  entry.first = first;
  entry.last = first + count - 1;
  entry.term = term;
  entry.data = MakeBatch(count, 1'000 + first, tag);
  return entry;
}

Entry Control(raft::Index at, raft::Term term, EntryType type, const std::string& data = "") {
  Entry entry;
  entry.first = at;
  entry.last = at;
  entry.term = term;
  entry.type = type;
  entry.data = data;
  return entry;
}

// An idempotent producer's batch: producer 7, epoch 0, sequences from `sequence`.
std::string ProducerBatch(int count, int32_t sequence) {
  record::RecordBatchBuilder builder;
  builder.SetProducer(7, 0, sequence);
  for (int i = 0; i < count; ++i) builder.Append(1'000 + i, "k", "v" + std::to_string(i));
  return *builder.Build();
}

class PartitionRaftLogTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.Sub("t-0"); }

  // Opens the partition log (again) and the Raft log over it.
  PartitionRaftLog& Open(bool may_have_lost_state = false) {
    raft_log_.reset();
    log_.reset();
    auto log = storage::Log::Open(dir(), storage::LogConfig{}, &flusher_);
    EXPECT_TRUE(log.ok()) << log.status();
    log_ = std::shared_ptr<storage::Log>(*std::move(log));
    auto raft_log = PartitionRaftLog::Open(log_, may_have_lost_state);
    EXPECT_TRUE(raft_log.ok()) << raft_log.status();
    raft_log_ = *std::move(raft_log);
    return *raft_log_;
  }

  // A crash: the log is dropped without Close (no clean-shutdown marker; the page cache keeps
  // what was written, as a process crash does).
  PartitionRaftLog& Reopen() {
    EXPECT_TRUE(log_->Flush().ok());
    return Open();
  }

  // Terms 1 (offsets 0-2), 2 (3: a leader change, 4-5), 3 (6: a leader change, 7: a config).
  void AppendThreeTerms(PartitionRaftLog& log) {
    log.Append({Data(0, 1, 3, "a")});
    log.Append({Control(3, 2, EntryType::kLeaderChange), Data(4, 2, 2, "b")});
    log.Append({Control(6, 3, EntryType::kLeaderChange),
                Control(7, 3, EntryType::kConfig, "voters=1,2,3;learners=")});
  }

  TempDir tmp_;
  storage::Flusher flusher_;
  std::shared_ptr<storage::Log> log_;
  std::unique_ptr<PartitionRaftLog> raft_log_;
};

TEST_F(PartitionRaftLogTest, EntriesAreStoredAsBatchesWithTheirOffsetsAndTerm) {
  PartitionRaftLog& log = Open();
  EXPECT_EQ(log.StartIndex(), 0);
  EXPECT_EQ(log.LastIndex(), -1);
  EXPECT_EQ(log.StartTerm(), 0);
  AppendThreeTerms(log);
  EXPECT_EQ(log.LastIndex(), 7);

  // The stored bytes: offsets and partitionLeaderEpoch stamped, control entries as control
  // batches of Kafka's types.
  auto bytes = log_->Read(0, 1 << 20);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  std::string_view rest = *bytes;
  std::vector<std::tuple<int64_t, int64_t, int32_t, bool>> batches;
  while (!rest.empty()) {
    auto view = record::RecordBatchView::Parse(rest);
    ASSERT_TRUE(view.ok());
    batches.emplace_back(view->base_offset(), view->last_offset(), view->partition_leader_epoch(),
                         view->is_control());
    EXPECT_EQ(view->ComputeCrc(), view->crc());
    if (view->base_offset() == 7) {
      auto control = record::ParseControlBatch(*view);
      ASSERT_TRUE(control.ok()) << control.status();
      EXPECT_EQ(control->type, record::ControlType::kVoters);
      EXPECT_EQ(control->value, "voters=1,2,3;learners=");
    }
    rest.remove_prefix(view->size());
  }
  const std::vector<std::tuple<int64_t, int64_t, int32_t, bool>> want = {
      {0, 2, 1, false}, {3, 3, 2, true}, {4, 5, 2, false}, {6, 6, 3, true}, {7, 7, 3, true}};
  EXPECT_EQ(batches, want);

  // Read gives the entries back: data entries as the stored batch, control entries as their
  // payload.
  const std::vector<Entry> entries = log.Read(0, 1 << 20);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].first, 0);
  EXPECT_EQ(entries[0].last, 2);
  EXPECT_EQ(entries[0].term, 1);
  EXPECT_EQ(entries[0].type, EntryType::kData);
  EXPECT_EQ(storage::testing::DecodeAll(entries[0].data).size(), 3u);
  EXPECT_EQ(entries[1].type, EntryType::kLeaderChange);
  EXPECT_EQ(entries[4].type, EntryType::kConfig);
  EXPECT_EQ(entries[4].data, "voters=1,2,3;learners=");
  // A read is whole entries, at least one, within max_bytes after the first.
  EXPECT_EQ(log.Read(4, 1).size(), 1u);
  EXPECT_EQ(log.Read(4, 1).front().first, 4);
}

TEST_F(PartitionRaftLogTest, TermsComeFromTheLeaderEpochs) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  EXPECT_EQ(log.TermAt(-1), 0);
  EXPECT_EQ(log.TermAt(2), 1);
  EXPECT_EQ(log.TermAt(3), 2);
  EXPECT_EQ(log.TermAt(5), 2);
  EXPECT_EQ(log.TermAt(7), 3);
  EXPECT_EQ(log.TermAt(8), std::nullopt);
  EXPECT_EQ(log.TermStart(1), 0);
  EXPECT_EQ(log.TermStart(5), 3);
  EXPECT_EQ(log.TermStart(-1), -1);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(0), -1);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(1), 2);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(2), 5);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(9), 7);
  EXPECT_EQ(log.EntryStart(1), 0);
  EXPECT_EQ(log.EntryStart(5), 4);
  ASSERT_TRUE(log.LastConfig().has_value());
  EXPECT_EQ(log.LastConfig()->index, 7);
}

TEST_F(PartitionRaftLogTest, TermsConfigsAndHardStateSurviveACrash) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  ASSERT_TRUE(log.SaveHardState({3, 2}).ok());
  PartitionRaftLog& reopened = Reopen();
  EXPECT_EQ(reopened.hard_state(), (raft::HardState{3, 2}));
  EXPECT_EQ(reopened.LastIndex(), 7);
  EXPECT_EQ(reopened.TermAt(2), 1);
  EXPECT_EQ(reopened.TermAt(4), 2);
  EXPECT_EQ(reopened.TermAt(7), 3);
  ASSERT_TRUE(reopened.LastConfig().has_value());
  EXPECT_EQ(reopened.LastConfig()->index, 7);
  EXPECT_EQ(reopened.LastConfig()->data, "voters=1,2,3;learners=");
  // Appends go on in the next term.
  reopened.Append({Data(8, 4, 1, "c")});
  EXPECT_EQ(reopened.TermAt(8), 4);
}

TEST_F(PartitionRaftLogTest, AReplicaThatMayHaveLostItsStateCatchesUpUntilToldItHasAcrossRestarts) {
  // A new replica of a new group has nothing to lose.
  EXPECT_FALSE(Open().catching_up());
  raft_log_.reset();
  log_.reset();
  std::filesystem::remove_all(dir());
  // Wiped (the caller knows the group is older than this disk): the marker is on disk before any
  // state is.
  PartitionRaftLog& log = Open(/*may_have_lost_state=*/true);
  EXPECT_TRUE(log.catching_up());
  EXPECT_TRUE(std::filesystem::exists(dir() + "/" + PartitionRaftLog::kCatchingUpFile));
  ASSERT_TRUE(log.SaveHardState({1, 2}).ok());
  // A crash before it caught up: it still has not, though it now has a state file.
  EXPECT_TRUE(Reopen().catching_up());
  ASSERT_TRUE(raft_log_->FinishCatchingUp().ok());
  EXPECT_FALSE(raft_log_->catching_up());
  EXPECT_FALSE(std::filesystem::exists(dir() + "/" + PartitionRaftLog::kCatchingUpFile));
  EXPECT_FALSE(Reopen().catching_up());
  // A replica with state is never told it lost it.
  EXPECT_FALSE(Open(/*may_have_lost_state=*/true).catching_up());
}

TEST_F(PartitionRaftLogTest, TruncateAfterCutsBatchesEpochsAndConfigs) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  log.TruncateAfter(2);
  EXPECT_EQ(log.LastIndex(), 2);
  EXPECT_EQ(log_->end_offset(), 3);
  EXPECT_EQ(log.TermAt(2), 1);
  EXPECT_EQ(log.TermAt(3), std::nullopt);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(5), 2);
  EXPECT_FALSE(log.LastConfig().has_value());
  // Another leader's entries take the offsets.
  log.Append({Control(3, 5, EntryType::kLeaderChange), Data(4, 5, 1, "x")});
  EXPECT_EQ(log.TermAt(3), 5);
  EXPECT_EQ(log.TermStart(4), 3);

  PartitionRaftLog& reopened = Reopen();
  EXPECT_EQ(reopened.LastIndex(), 4);
  EXPECT_EQ(reopened.TermAt(2), 1);
  EXPECT_EQ(reopened.TermAt(4), 5);
  EXPECT_EQ(reopened.LastIndexAtOrBelowTerm(3), 2);
  EXPECT_FALSE(reopened.LastConfig().has_value());
  const std::vector<Entry> entries = reopened.Read(4, 1 << 20);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(storage::testing::DecodeAll(entries[0].data).front().value, "x-0");
}

// A follower cuts a deposed leader's uncommitted entries of term 5 and takes the new leader's
// entries of term 4 in their place (Raft's figure 7: they were on a majority the term-5 leader
// never reached). The log's terms still never decrease; it must not stop the process.
TEST_F(PartitionRaftLogTest, AfterATruncationALowerTermThanTheCutOneIsAppended) {
  PartitionRaftLog& log = Open();
  log.Append({Data(0, 1, 3, "a")});
  log.Append({Control(3, 5, EntryType::kLeaderChange), Data(4, 5, 2, "stale")});
  log.TruncateAfter(2);
  log.Append({Control(3, 4, EntryType::kLeaderChange), Data(4, 4, 1, "kept")});
  EXPECT_EQ(log.LastIndex(), 4);
  EXPECT_EQ(log.TermAt(2), 1);
  EXPECT_EQ(log.TermAt(4), 4);
  EXPECT_EQ(log.TermStart(4), 3);

  PartitionRaftLog& reopened = Reopen();
  EXPECT_EQ(reopened.TermAt(4), 4);
  EXPECT_EQ(reopened.LastIndexAtOrBelowTerm(4), 4);
}

TEST_F(PartitionRaftLogTest, AConfigFileEntryTheLogDoesNotConfirmIsDropped) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  // As if the file were written and the config batch lost (a crash between them), or the file's
  // rewrite after a truncation lost: it names offset 7 while the log holds data there.
  log.TruncateAfter(5);
  log.Append({Control(6, 4, EntryType::kLeaderChange), Data(7, 4, 1, "y")});
  ASSERT_TRUE(log_->WriteOwnerFile(PartitionRaftLog::kConfigsFile,
                                   "runnel-raft-configs 1\n7 voters=1,2,3;learners=\n", true)
                  .ok());
  EXPECT_FALSE(Reopen().LastConfig().has_value());
}

TEST_F(PartitionRaftLogTest, TruncationRebuildsProducerState) {
  PartitionRaftLog& log = Open();
  Entry first = Data(0, 1, 1, "unused");
  first.data = ProducerBatch(3, 0);
  first.last = 2;
  Entry second = Control(3, 2, EntryType::kLeaderChange);
  Entry third = Data(4, 2, 1, "unused");
  third.data = ProducerBatch(2, 3);
  third.last = 5;
  log.Append({first, second, third});
  auto before = LoadProducerState(*log_);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->producers().count(7), 1u);
  EXPECT_EQ(before->producers().at(7).batches.back().last_sequence, 4);

  const int64_t truncations = log_->truncation_count();
  log.TruncateAfter(3);
  // The manager reloads a partition whose log was cut since it loaded (truncation_count).
  EXPECT_GT(log_->truncation_count(), truncations);
  auto after = LoadProducerState(*log_);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->producers().count(7), 1u);
  EXPECT_EQ(after->producers().at(7).batches.back().last_sequence, 2);
  EXPECT_EQ(after->producers().at(7).batches.back().last_offset, 2);
}

TEST_F(PartitionRaftLogTest, ResetToStartsTheLogAfterTheIndex) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  log.ResetTo(99, 6, "", "voters=1,2;learners=3");
  EXPECT_EQ(log.StartIndex(), 100);
  EXPECT_EQ(log.LastIndex(), 99);
  EXPECT_EQ(log.StartTerm(), 6);
  EXPECT_EQ(log.TermAt(99), 6);
  EXPECT_EQ(log.TermAt(98), std::nullopt);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(6), 99);
  EXPECT_EQ(log.LastIndexAtOrBelowTerm(5), std::nullopt);
  ASSERT_TRUE(log.LastConfig().has_value());
  EXPECT_EQ(log.LastConfig()->index, 99);
  EXPECT_EQ(log.StartConfig(), "voters=1,2;learners=3");
  log.Append({Data(100, 6, 2, "z")});

  PartitionRaftLog& reopened = Reopen();
  EXPECT_EQ(reopened.StartIndex(), 100);
  EXPECT_EQ(reopened.StartTerm(), 6);
  EXPECT_EQ(reopened.LastIndex(), 101);
  EXPECT_EQ(reopened.TermAt(101), 6);
  EXPECT_EQ(reopened.StartConfig(), "voters=1,2;learners=3");
  EXPECT_EQ(reopened.Read(100, 1 << 20).size(), 1u);
  // Nothing of the old log is left on disk.
  std::vector<std::string> segments;
  for (const auto& e : std::filesystem::directory_iterator(dir())) {
    if (e.path().extension() == ".log") segments.push_back(e.path().filename().string());
  }
  EXPECT_EQ(segments, std::vector<std::string>{"00000000000000000100.log"});
}

TEST_F(PartitionRaftLogTest, AResetInterruptedByACrashIsCompletedAtOpen) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  // The start file is written first; a crash before the log follows leaves it ahead of the log.
  ASSERT_TRUE(log_->WriteOwnerFile(PartitionRaftLog::kStartFile,
                                   "runnel-raft-log-start 1\nindex 49\nterm 4\n", true)
                  .ok());
  PartitionRaftLog& reopened = Reopen();
  EXPECT_EQ(reopened.StartIndex(), 50);
  EXPECT_EQ(reopened.LastIndex(), 49);
  EXPECT_EQ(reopened.StartTerm(), 4);
  EXPECT_EQ(log_->start_offset(), 50);
  EXPECT_EQ(log_->end_offset(), 50);
}

TEST_F(PartitionRaftLogTest, ConsumersReadOnlyCommittedEntries) {
  PartitionRaftLog& log = Open();
  int wakeups = 0;
  log_->SetHighWatermarkListener([&] { ++wakeups; });
  AppendThreeTerms(log);
  ASSERT_TRUE(log_->Flush().ok());
  // Synced is not committed: nothing is visible before the commit index says so.
  EXPECT_EQ(log_->high_watermark(), 0);
  auto none = log_->Read(0, 1 << 20, storage::ReadLimit::kHighWatermark);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  log.SetCommitted(5);
  EXPECT_EQ(log_->high_watermark(), 6);
  EXPECT_EQ(wakeups, 1);
  auto some = log_->Read(0, 1 << 20, storage::ReadLimit::kHighWatermark);
  ASSERT_TRUE(some.ok());
  // 3 + 2 records; the leader change between them is a control batch, which DecodeAll skips.
  EXPECT_EQ(storage::testing::DecodeAll(*some).size(), 5u);
  log.SetCommitted(4);  // the commit index never goes back
  EXPECT_EQ(log_->high_watermark(), 6);
}

TEST_F(PartitionRaftLogTest, TheHighWatermarkCheckpointIsUsedAfterARestartWithinTheLog) {
  PartitionRaftLog& log = Open();
  AppendThreeTerms(log);
  log.SetCommitted(5);
  ASSERT_TRUE(log.CheckpointHighWatermark().ok());
  EXPECT_EQ(Reopen().log().high_watermark(), 6);
  // Without a checkpoint a restarted replica waits for the commit index.
  ASSERT_TRUE(log_->RemoveOwnerFile(PartitionRaftLog::kHighWatermarkFile, true).ok());
  EXPECT_EQ(Reopen().log().high_watermark(), 0);
  // A checkpoint past the log end (the tail lost in a power loss) stops at the end.
  ASSERT_TRUE(log_->WriteOwnerFile(PartitionRaftLog::kHighWatermarkFile,
                                   "runnel-raft-high-watermark 1\noffset 500\n", false)
                  .ok());
  EXPECT_EQ(Reopen().log().high_watermark(), 8);
}

TEST_F(PartitionRaftLogTest, DamagedOwnerFilesAreRefusedNamingTheFile) {
  Open();
  ASSERT_TRUE(log_->WriteOwnerFile(PartitionRaftLog::kStateFile,
                                   "runnel-raft-state 1\nterm x\nvote 1\n", true)
                  .ok());
  raft_log_.reset();
  auto reopened = PartitionRaftLog::Open(log_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_TRUE(absl::IsDataLoss(reopened.status())) << reopened.status();
  EXPECT_NE(reopened.status().message().find("raft-state"), std::string::npos) << reopened.status();
}

}  // namespace
}  // namespace runnel::broker
