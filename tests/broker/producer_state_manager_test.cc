#include "broker/partition/producer_state_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "broker/partition/partition_manager.h"
#include "broker/partition/producer_state_snapshot.h"
#include "storage/file.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

int64_t NowMs() { return Clock::Real().NowMs(); }

// The snapshot files of a partition directory, oldest first.
std::vector<std::string> Snapshots(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (ParseSnapshotFileName(e.path().filename().string())) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Timestamped now by default: producers idle for producer.id.expiration.ms (a day) are forgotten.
std::string IdempotentBatch(int64_t producer_id, int32_t base_sequence, int records,
                            int64_t timestamp = NowMs()) {
  record::RecordBatchBuilder builder(
      {.producer_id = producer_id, .producer_epoch = 0, .base_sequence = base_sequence});
  for (int i = 0; i < records; ++i) builder.Append(timestamp, "k", "v" + std::to_string(i));
  return *builder.Build();
}

class ProducerStateManagerTest : public ::testing::Test {
 protected:
  // segment.bytes 14 puts every batch in a segment of its own: all but the last are "older".
  void OpenLog(bool one_batch_per_segment = false) {
    storage::LogConfig config;
    if (one_batch_per_segment) config.segment_bytes = 14;
    auto log = storage::Log::Open(dir_.Sub("t-0"), config, &flusher_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }

  // Like a kill -9: no Close, so no clean-shutdown marker; the written bytes stay.
  void CrashAndReopen(bool one_batch_per_segment) {
    log_.reset();
    OpenLog(one_batch_per_segment);
  }
  void CloseAndReopen(bool one_batch_per_segment) {
    ASSERT_TRUE(log_->Close().ok());
    CrashAndReopen(one_batch_per_segment);
  }

  absl::StatusOr<BatchAppend> Send(ProducerStateManager* manager, int64_t producer_id,
                                   int32_t base_sequence, int records = 3) {
    return manager->Append(tp_, log_,
                           IdempotentBatch(producer_id, base_sequence, records, batch_timestamp_));
  }

  // Expects `batch` to be stored at `offset` (or, for a duplicate, to have been stored there).
  void ExpectAt(const absl::StatusOr<BatchAppend>& batch, int64_t offset, bool duplicate) {
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_EQ(batch->result.base_offset, offset);
    EXPECT_EQ(batch->duplicate, duplicate);
  }

  int64_t batch_timestamp_ = NowMs();
  TempDir dir_;
  storage::Flusher flusher_;  // outlives log_
  std::shared_ptr<storage::Log> log_;
  const storage::TopicPartition tp_{"t", 0};
};

TEST_F(ProducerStateManagerTest, IdempotentBatchesAreStoredOncePlainOnesAlways) {
  OpenLog();
  ProducerStateManager manager;
  const std::string plain = storage::testing::MakeBatch(2, 1, "plain");
  ExpectAt(manager.Append(tp_, log_, plain), 0, false);
  ExpectAt(manager.Append(tp_, log_, plain), 2, false);
  ExpectAt(Send(&manager, 1, 0), 4, false);
  auto again = Send(&manager, 1, 0);
  ExpectAt(again, 4, true);
  EXPECT_EQ(again->result.last_offset, 6);
  EXPECT_EQ(log_->end_offset(), 7);
  auto gap = Send(&manager, 1, 5);
  EXPECT_EQ(CauseOf<ProducerError>(gap.status()), ProducerError::kOutOfOrderSequence);
  EXPECT_NE(gap.status().message().find("expected 3, received 5"), absl::string_view::npos)
      << gap.status();
  EXPECT_EQ(log_->end_offset(), 7);  // nothing stored
  ExpectAt(Send(&manager, 1, 3), 7, false);
}

TEST_F(ProducerStateManagerTest, ASnapshotCoversProducersWhoseBatchesAreInOlderSegments) {
  OpenLog(/*one_batch_per_segment=*/true);
  {
    ProducerStateManager manager;
    ExpectAt(Send(&manager, 1, 0), 0, false);  // in segment 0, which rolls away
    ExpectAt(Send(&manager, 2, 0), 3, false);  // the active segment
    ASSERT_TRUE(manager.WriteSnapshots().ok());
  }
  flusher_.Drain(log_.get());
  EXPECT_FALSE(Snapshots(dir_.Sub("t-0")).empty());
  CloseAndReopen(true);
  auto table = LoadProducerState(*log_);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->producers().size(), 2u);
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 1, 0), 0, true);
  ExpectAt(Send(&manager, 2, 0), 3, true);
  ExpectAt(Send(&manager, 1, 3), 6, false);
}

TEST_F(ProducerStateManagerTest, ACorruptSnapshotIsIgnoredAndTheWholeLogScanned) {
  OpenLog(/*one_batch_per_segment=*/true);
  {
    ProducerStateManager manager;
    ExpectAt(Send(&manager, 1, 0), 0, false);
    ExpectAt(Send(&manager, 2, 0), 3, false);
    ASSERT_TRUE(manager.WriteSnapshots().ok());
  }
  flusher_.Drain(log_.get());  // no snapshot written at a roll may land after the damage
  const std::vector<std::string> snapshots = Snapshots(dir_.Sub("t-0"));
  ASSERT_FALSE(snapshots.empty());
  for (const std::string& path : snapshots) {  // every one of them
    std::string bytes = *storage::ReadWholeFile(path);
    bytes[bytes.size() - 1] ^= 0x01;
    ASSERT_TRUE(storage::WriteFileAtomically(path, bytes).ok());
  }
  CloseAndReopen(true);
  auto table = LoadProducerState(*log_);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->producers().size(), 2u);
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 2, 0), 3, true);
  // Producer 1's only batch is in an older segment: the scan of the whole log still finds it.
  ExpectAt(Send(&manager, 1, 0), 0, true);
}

TEST_F(ProducerStateManagerTest, AfterACrashTheScanFindsWhatTheSnapshotMisses) {
  OpenLog(/*one_batch_per_segment=*/true);
  {
    ProducerStateManager manager;
    ExpectAt(Send(&manager, 1, 0), 0, false);
    ASSERT_TRUE(manager.WriteSnapshots().ok());  // covers offsets below 3
    ExpectAt(Send(&manager, 1, 3), 3, false);
    ExpectAt(Send(&manager, 2, 0), 6, false);
    ExpectAt(Send(&manager, 1, 6), 9, false);
  }
  CrashAndReopen(true);
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 1, 3), 3, true);  // an older segment, after the snapshot
  ExpectAt(Send(&manager, 1, 6), 9, true);
  ExpectAt(Send(&manager, 1, 0), 0, true);  // from the snapshot
  ExpectAt(Send(&manager, 2, 0), 6, true);
  ExpectAt(Send(&manager, 1, 9), 12, false);
}

TEST_F(ProducerStateManagerTest, ASnapshotBeyondTheLogEndIsIgnored) {
  OpenLog();
  ProducerStateTable table;
  table.Restore(1, {0, {{0, 99, 0, 99}}, NowMs()});
  ASSERT_TRUE(storage::WriteFileAtomically(dir_.Sub("t-0/" + SnapshotFileName(100)),
                                           EncodeProducerStateSnapshot(table, 100))
                  .ok());
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 1, 0, 100), 0, false);  // not a duplicate of what the log never had
}

// Several streams sending the same batches to one partition: check and append are one step, so
// no batch is stored twice and every answer names the batch's one offset.
TEST_F(ProducerStateManagerTest, ConcurrentSendersOfTheSameBatchesStoreEachOnce) {
  OpenLog();
  ProducerStateManager manager;
  constexpr int kBatches = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kBatches; ++i) {
        auto result = Send(&manager, 7, 2 * i, 2);
        // Another sender may be more than 5 batches ahead: then this one is too old to tell.
        if (CauseOf<ProducerError>(result.status()) == ProducerError::kOutOfOrderSequence) continue;
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_EQ(result->result.base_offset, 2 * i);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(log_->end_offset(), 2 * kBatches);
  const auto records = storage::testing::DecodeAll(*log_->Read(0, 1 << 20));
  ASSERT_EQ(records.size(), 2u * kBatches);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].offset, int64_t(i));
}

// A replica's log was cut (a follower taking a new leader's entries) by a process that had never
// loaded the partition's state (after a restart, or the replica added again): the snapshots past
// the new end must still go, or a later load would answer retries from batches that are gone.
TEST_F(ProducerStateManagerTest, AReplicaCutDeletesSnapshotsPastTheEndEvenIfNothingWasLoaded) {
  OpenLog();
  {
    ProducerStateManager writer;
    ExpectAt(Send(&writer, 1, 0), 0, false);
    ExpectAt(Send(&writer, 1, 3), 3, false);
    ASSERT_TRUE(writer.WriteSnapshots().ok());  // covers offsets below 6
  }
  ASSERT_FALSE(Snapshots(dir_.Sub("t-0")).empty());
  ASSERT_TRUE(log_->TruncateTo(3).ok());
  ProducerStateManager manager;  // a new process: nothing loaded
  ASSERT_TRUE(manager.ReplicaTruncated(tp_, log_).ok());
  EXPECT_TRUE(Snapshots(dir_.Sub("t-0")).empty());
  // The retry of the cut batch is appended again, not answered from the lost offsets.
  auto retry = manager.CheckReplicated(tp_, log_, {1, 0, 3, 5});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->has_value());
}

TEST(PartitionManagerProducerStateTest, DeletingATopicDropsItsProducerState) {
  TempDir dir;
  storage::LogManagerOptions options;
  options.data_dir = dir.path();
  options.maintenance_interval_ms = 0;
  auto logs = storage::LogManager::Open(options);
  ASSERT_TRUE(logs.ok()) << logs.status();
  auto topics = TopicTable::Open(dir.path());
  ASSERT_TRUE(topics.ok());
  auto partitions = PartitionManager::Create(logs->get(), &*topics, {});
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  PartitionManager& pm = **partitions;

  auto send = [&pm](int32_t sequence) -> absl::StatusOr<BatchAppend> {
    auto log = pm.GetLog("orders", 0, /*allow_auto_create=*/false);
    if (!log.ok()) return log.status();
    return pm.producer_states().Append({"orders", 0}, *log, IdempotentBatch(5, sequence, 2));
  };
  ASSERT_TRUE(pm.CreateTopic({"orders", 1, 1, {}, false, ""}).ok());
  ASSERT_TRUE(send(0).ok());
  ASSERT_TRUE(send(2).ok());
  ASSERT_TRUE(pm.producer_states().WriteSnapshots().ok());
  ASSERT_TRUE(pm.DeleteTopic("orders").ok());
  ASSERT_TRUE(pm.CreateTopic({"orders", 1, 1, {}, false, ""}).ok());
  EXPECT_TRUE(Snapshots(dir.Sub("orders-0")).empty());
  // The old topic's sequences are forgotten: producer 5 is new on the new topic.
  auto fresh = send(2);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->duplicate);
  EXPECT_EQ(fresh->result.base_offset, 0);
}

// A follower's log diverged and is truncated (replication does this through TruncateLog): the
// batches past the cut are gone, so their retries must be appended again. With the state kept
// across the cut, a retry was answered as a duplicate of records that no longer existed: an
// acknowledged batch lost. A snapshot taken before the cut must not come back either, once the
// log has grown past its end again with other batches.
TEST_F(ProducerStateManagerTest, AfterATruncationRetriesOfTheCutBatchesAreAppendedAgain) {
  OpenLog();
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 7, 0), 0, false);    // offsets 0..2
  ExpectAt(Send(&manager, 7, 3), 3, false);    // 3..5
  ExpectAt(Send(&manager, 7, 6), 6, false);    // 6..8
  ExpectAt(Send(&manager, 7, 9), 9, false);    // 9..11
  ASSERT_TRUE(manager.WriteSnapshots().ok());  // a snapshot covering 0..11

  ASSERT_TRUE(manager.TruncateLog(tp_, log_, 6).ok());
  EXPECT_EQ(log_->end_offset(), 6);
  ExpectAt(Send(&manager, 7, 3), 3, true);  // still stored: a real duplicate
  auto gap = Send(&manager, 7, 9);          // 6..11 are gone: 9 is out of order now
  EXPECT_EQ(CauseOf<ProducerError>(gap.status()), ProducerError::kOutOfOrderSequence)
      << gap.status();
  ExpectAt(Send(&manager, 8, 0), 6, false);  // another producer's batches take offsets 6..11
  ExpectAt(Send(&manager, 8, 3), 9, false);

  // After a restart (kill -9: no new snapshot), producer 7's retry is stored, not a duplicate.
  flusher_.Drain(log_.get());
  CrashAndReopen(/*one_batch_per_segment=*/false);
  ProducerStateManager restarted;
  ExpectAt(Send(&restarted, 7, 6), 12, false);
  ExpectAt(Send(&restarted, 8, 3), 9, true);
}

// producer.id.expiration.ms counts from the broker's time of a producer's last append, not from its
// records' timestamps (1970's here, as a backfill's or a Streams application's reprocessing
// history): a producer idle longer is forgotten by the periodic check, and when a snapshot says so
// at a load after a restart; one known only from the scan of the log (when its batch was appended
// is not in the log) is kept a whole period from the load. (By the records' timestamps, every
// load — a replica becoming leader — forgot such producers, and their retries were stored twice.)
TEST_F(ProducerStateManagerTest, AProducerIdleForTheExpirationIsForgotten) {
  OpenLog();
  batch_timestamp_ = 1000;
  constexpr int64_t kStart = 1'700'000'000'000;
  ManualClock clock(kStart);
  const ProducerStateOptions options{.producer_id_expiration_ms = 60'000,
                                     .expiration_check_interval_ms = 600'000,
                                     .clock = &clock};
  {
    ProducerStateManager manager(options);
    ExpectAt(Send(&manager, 4, 0), 0, false);
    EXPECT_EQ(manager.ExpireProducers(), 0) << "its records are old, but it just wrote them";
    clock.SetNowMs(kStart + 59'999);
    EXPECT_EQ(manager.ExpireProducers(), 0);
    ExpectAt(Send(&manager, 4, 0), 0, true);  // still known: its retry is a duplicate
    clock.SetNowMs(kStart + 60'001);
    EXPECT_EQ(manager.ExpireProducers(), 1);
    ExpectAt(Send(&manager, 4, 0), 3, false);    // forgotten: the retry is stored again
    ASSERT_TRUE(manager.WriteSnapshots().ok());  // producer 4, last appended at kStart + 60'001
  }
  flusher_.Drain(log_.get());
  CloseAndReopen(false);
  {
    // A load within the period keeps it (its records' timestamps notwithstanding).
    ProducerStateManager restarted(options);
    ExpectAt(Send(&restarted, 4, 0), 3, true);
  }
  // The snapshot says producer 4 has been idle past the expiration: loading forgets it.
  clock.SetNowMs(kStart + 2 * 60'001);
  {
    ProducerStateManager restarted(options);
    ExpectAt(Send(&restarted, 4, 7), 6, false);  // any sequence: it is new
  }
  // No snapshot covers the batch at 6: the scan finds it, and keeps producer 4 a period from the
  // load even far later.
  clock.SetNowMs(kStart + 10 * 60'001);
  ProducerStateManager restarted(options);
  ExpectAt(Send(&restarted, 4, 7), 6, true);
}

TEST_F(ProducerStateManagerTest, StartLoadsPartitionsWithASnapshotInTheBackground) {
  TempDir dir;
  storage::LogManagerOptions log_options;
  log_options.data_dir = dir.path();
  log_options.maintenance_interval_ms = 0;
  const storage::TopicPartition with{"with", 0}, without{"without", 0};
  {
    auto logs = *storage::LogManager::Open(log_options);
    ProducerStateManager manager;
    ASSERT_TRUE(manager.Append(with, *logs->GetOrCreate(with), IdempotentBatch(1, 0, 2)).ok());
    ASSERT_TRUE(manager.WriteSnapshots().ok());
    ASSERT_TRUE((*logs->GetOrCreate(without))->Append(IdempotentBatch(2, 0, 2)).ok());
    ASSERT_TRUE(logs->Close().ok());
  }
  auto logs = *storage::LogManager::Open(log_options);
  ProducerStateManager manager;
  EXPECT_FALSE(manager.IsLoaded(with));
  manager.Start(logs.get());
  for (int i = 0; i < 500 && !manager.IsLoaded(with); ++i) {  // up to 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(manager.IsLoaded(with)) << "loaded before any produce";
  manager.Stop();
  EXPECT_FALSE(manager.IsLoaded(without)) << "no snapshot: loaded at its first idempotent batch";
  auto retry = manager.Append(with, *logs->GetOrCreate(with), IdempotentBatch(1, 0, 2));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->duplicate);
}

// Snapshots at every roll, the last 3 kept; a truncation below the newest removes only those past
// the cut, and the next load starts from the newest left (so a retry of a batch below it is
// still known without scanning the whole log).
TEST_F(ProducerStateManagerTest, TheLastThreeSnapshotsAreKeptAndATruncationFallsBackToAnOlderOne) {
  OpenLog(/*one_batch_per_segment=*/true);
  ProducerStateManager manager;
  for (int i = 0; i < 6; ++i) ExpectAt(Send(&manager, 3, 3 * i), 3 * i, false);
  flusher_.Drain(log_.get());  // the snapshots of the rolls are written once synced
  std::vector<std::string> snapshots = Snapshots(dir_.Sub("t-0"));
  ASSERT_EQ(snapshots.size(), 3u);
  // Each append rolls, and the roll's snapshot covers the log to its end: 6, 9, ..., 18.
  EXPECT_NE(snapshots.front().find(SnapshotFileName(12)), std::string::npos) << snapshots[0];
  EXPECT_NE(snapshots.back().find(SnapshotFileName(18)), std::string::npos) << snapshots.back();

  ASSERT_TRUE(manager.TruncateLog(tp_, log_, 15).ok());  // below the newest
  snapshots = Snapshots(dir_.Sub("t-0"));
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_NE(snapshots.back().find(SnapshotFileName(15)), std::string::npos) << snapshots.back();
  auto table = LoadProducerState(*log_);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->producers().at(3).batches.back().last_offset, 14);
  ExpectAt(Send(&manager, 3, 12), 12, true);
  ExpectAt(Send(&manager, 3, 15), 15, false);  // stored again: its first copy was cut
}

// A `producer-state` file from before version 2 is read, and goes once a snapshot is written.
TEST_F(ProducerStateManagerTest, TheSingleSnapshotFileOfEarlierVersionsIsReadThenReplaced) {
  OpenLog();
  {
    ProducerStateManager manager;
    ExpectAt(Send(&manager, 5, 0), 0, false);
  }
  ProducerStateTable table;
  table.Restore(5, {0, {{0, 2, 0, 2}}, -1});
  ASSERT_TRUE(storage::WriteFileAtomically(dir_.Sub("t-0/producer-state"),
                                           EncodeProducerStateSnapshot(table, 3))
                  .ok());
  CloseAndReopen(false);
  ProducerStateManager manager;
  ExpectAt(Send(&manager, 5, 0), 0, true);
  ASSERT_TRUE(manager.WriteSnapshots().ok());
  EXPECT_FALSE(storage::FileExists(dir_.Sub("t-0/producer-state")));
  EXPECT_EQ(Snapshots(dir_.Sub("t-0")).size(), 1u);
}

}  // namespace
}  // namespace runnel::broker
