// The log cleaner (Kafka's): checkpointed dirty part, bounded dedupe map, merged groups, delete
// horizons for tombstones, choice of the filthiest log, and crash safety of a merged swap.
#include "storage/log_cleaner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "common/record/batch_builder.h"
#include "storage/file.h"
#include "storage/file_hooks.h"
#include "storage/log_manager.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::StoredRecord;
using testing::TempDir;

constexpr int64_t kDeleteRetentionMs = 10'000;

LogConfig Compacted() {
  LogConfig c;
  c.segment_bytes = 1000;
  c.index_interval_bytes = 100;
  c.cleanup_compact = true;
  c.cleanup_delete = false;
  c.delete_retention_ms = kDeleteRetentionMs;
  return c;
}

// Appends one batch of (key, value) records; a nullopt value is a tombstone.
void Put(Log* log, int64_t timestamp,
         const std::vector<std::pair<std::string, std::optional<std::string>>>& records) {
  record::RecordBatchBuilder builder;
  for (const auto& [key, value] : records) builder.Append(timestamp, key, value);
  auto appended = log->Append(*builder.Build());
  ASSERT_TRUE(appended.ok()) << appended.status();
}

// Records k0 .. k<n-1>, each with value "v": one batch of `n` distinct keys.
std::vector<std::pair<std::string, std::optional<std::string>>> DistinctKeys(int n) {
  std::vector<std::pair<std::string, std::optional<std::string>>> records;
  for (int i = 0; i < n; ++i) records.push_back({"k" + std::to_string(i), "v"});
  return records;
}

// key -> value of every record the log holds, in offset order (later records win).
std::vector<StoredRecord> Records(Log* log) {
  auto bytes = log->Read(log->start_offset(), size_t{1} << 30);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? DecodeAll(*bytes) : std::vector<StoredRecord>{};
}

int CountKey(Log* log, const std::string& key) {
  int n = 0;
  for (const auto& r : Records(log)) n += r.key == key;
  return n;
}

// Rolls the active segment by filling it with records of other keys.
void Roll(Log* log, int64_t timestamp, const std::string& tag) {
  const size_t segments = log->segment_count();
  for (int i = 0; i < 100 && log->segment_count() == segments; ++i) {
    Put(log, timestamp, {{"filler-" + tag + std::to_string(i), std::string(40, 'f')}});
  }
  ASSERT_GT(log->segment_count(), segments);
}

TEST(LogCleanerTest, ATombstoneStaysDeleteRetentionAfterItWasCleanedWhateverItsTimestamp) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(100 * kDayMs);
  auto log = *Log::Open(dir.path(), Compacted(), &flusher, &clock);
  // The tombstone's own timestamp is long past delete.retention.ms: a consumer that reads the
  // topic now must still see it, however old the producer's clock says it is.
  Put(log.get(), clock.NowMs() - 5 * kDayMs, {{"k", "v1"}});
  Put(log.get(), clock.NowMs() - 5 * kDayMs, {{"k", std::nullopt}});
  Roll(log.get(), clock.NowMs(), "a");
  ASSERT_TRUE(log->Compact().ok());
  EXPECT_EQ(CountKey(log.get(), "k"), 1) << "the tombstone goes only delete.retention.ms after "
                                            "the cleaning that kept it";
  clock.AdvanceMs(kDeleteRetentionMs - 1);
  ASSERT_TRUE(log->Compact().ok());
  EXPECT_EQ(CountKey(log.get(), "k"), 1);
  EXPECT_EQ(log->cleaning_state().tombstone_deadline_ms, 100 * kDayMs + kDeleteRetentionMs);
  clock.AdvanceMs(1);
  ASSERT_TRUE(log->Compact().ok());
  EXPECT_EQ(CountKey(log.get(), "k"), 0);
  EXPECT_EQ(log->cleaning_state().tombstone_deadline_ms, -1);
}

TEST(LogCleanerTest, TheCheckpointMakesTheNextRoundMapOnlyWhatCameSince) {
  TempDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path(), Compacted(), &flusher);
  for (int i = 0; i < 30; ++i) Put(log.get(), 1000, {{"old" + std::to_string(i % 10), "v"}});
  Roll(log.get(), 1000, "a");
  OffsetMap map(1 << 20);
  auto first = log->Clean(&map);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GE(first->keys_mapped, 10u);
  const int64_t checkpoint = log->cleaning_state().first_dirty_offset;
  EXPECT_EQ(checkpoint, first->mapped_end);
  EXPECT_EQ(checkpoint, log->active_segment_base_offset());

  ASSERT_TRUE(log->Close().ok());
  log = *Log::Open(dir.path(), Compacted(), &flusher);
  EXPECT_EQ(log->cleaning_state().first_dirty_offset, checkpoint) << "kept across a restart";
  Put(log.get(), 1000, {{"new1", "v"}, {"new2", "v"}, {"old1", "w"}});
  Roll(log.get(), 1000, "b");
  auto second = log->Clean(&map);
  ASSERT_TRUE(second.ok()) << second.status();
  // Only the records since the checkpoint: 3 keys and the fillers of the second roll.
  EXPECT_LT(second->keys_mapped, first->keys_mapped);
  EXPECT_EQ(CountKey(log.get(), "old1"), 1);
  EXPECT_EQ(log->cleaning_state().first_dirty_offset, log->active_segment_base_offset());
}

TEST(LogCleanerTest, SmallSegmentsAreMergedUpToSegmentBytes) {
  TempDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path(), Compacted(), &flusher);
  for (int i = 0; i < 300; ++i) Put(log.get(), 1000, {{"k" + std::to_string(i % 4), "value"}});
  const size_t before = log->segment_count();
  ASSERT_GT(before, 10u);
  // Groups are made by the segments' sizes before cleaning (Kafka's rule): the first compaction
  // shrinks full segments one by one, the next merges what it left.
  ASSERT_TRUE(log->Compact().ok());
  ASSERT_TRUE(log->Compact().ok());
  EXPECT_LE(log->segment_count(), 3u) << "from " << before << " segments";
  std::map<std::string, int> per_key;
  for (const auto& r : Records(log.get())) {
    if (r.offset < log->active_segment_base_offset()) ++per_key[*r.key];
  }
  for (const auto& [key, n] : per_key) EXPECT_EQ(n, 1) << key;
}

TEST(LogCleanerTest, AFullMapCleansInRoundsWithTheSameResult) {
  TempDir dir;
  Flusher flusher;
  auto big = *Log::Open(dir.Sub("big"), Compacted(), &flusher);
  auto small = *Log::Open(dir.Sub("small"), Compacted(), &flusher);
  for (int i = 0; i < 400; ++i) {
    const std::string key = "k" + std::to_string((i * 7) % 50);
    const std::optional<std::string> value =
        i % 13 == 0 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i));
    Put(big.get(), 1000, {{key, value}});
    Put(small.get(), 1000, {{key, value}});
  }
  OffsetMap map(24 * 16);  // 12 keys a round
  int rounds = 0;
  for (; rounds < 1000; ++rounds) {
    auto stats = small->Clean(&map);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_LE(stats->keys_mapped, map.capacity());
    if (stats->dirty_left == 0) break;
  }
  EXPECT_GT(rounds, 3);
  ASSERT_TRUE(big->Compact().ok());
  const auto a = Records(big.get()), b = Records(small.get());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].offset, b[i].offset);
    EXPECT_EQ(a[i].value, b[i].value);
  }
}

TEST(LogCleanerTest, ABatchLargerThanTheMapIsAnErrorNamingTheSetting) {
  TempDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path(), Compacted(), &flusher);
  Put(log.get(), 1000, DistinctKeys(20));
  Roll(log.get(), 1000, "a");
  OffsetMap map(24 * 8);  // 6 keys
  auto stats = log->Clean(&map);
  ASSERT_EQ(stats.status().code(), absl::StatusCode::kResourceExhausted) << stats.status();
  EXPECT_NE(stats.status().message().find("--log-cleaner-dedupe-buffer-bytes"), std::string::npos);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(CountKey(log.get(), "k" + std::to_string(i)), 1);
}

TEST(LogCleanerTest, TheFilthiestLogGoesFirstAndLogsBelowTheirRatioWait) {
  TempDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.defaults = Compacted();
  options.maintenance_interval_ms = 0;
  auto manager = *LogManager::Open(options);
  auto clean = *manager->GetOrCreate({"mostly-clean", 0});
  auto dirty = *manager->GetOrCreate({"dirty", 0});
  for (int i = 0; i < 40; ++i) {
    Put(clean.get(), 1000, {{"c" + std::to_string(i), std::string(30, 'x')}});
  }
  Roll(clean.get(), 1000, "a");
  ASSERT_TRUE(clean->Compact().ok());
  // A little new data on the clean log (ratio well below 0.5), a lot on the dirty one.
  Put(clean.get(), 1000, {{"c1", "again"}});
  Roll(clean.get(), 1000, "b");
  for (int i = 0; i < 40; ++i) Put(dirty.get(), 1000, {{"d" + std::to_string(i % 3), "v"}});
  ASSERT_LT(clean->cleaning_state().dirty_ratio(), 0.5);
  ASSERT_GE(dirty->cleaning_state().dirty_ratio(), 0.5);

  auto cleaned = manager->cleaner().CleanFilthiest();
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_TRUE(*cleaned);
  EXPECT_EQ(dirty->cleaning_state().dirty_bytes, 0u) << "the dirty log was cleaned";
  cleaned = manager->cleaner().CleanFilthiest();
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_FALSE(*cleaned) << "the other is below min.cleanable.dirty.ratio";
  EXPECT_GT(clean->cleaning_state().dirty_bytes, 0u);

  LogConfigOverrides eager;
  eager.min_cleanable_dirty_ratio = 0.0;
  ASSERT_TRUE(manager->SetTopicOverrides("mostly-clean", eager).ok());
  cleaned = manager->cleaner().CleanFilthiest();
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_TRUE(*cleaned);
  EXPECT_EQ(clean->cleaning_state().dirty_bytes, 0u);
  EXPECT_EQ(manager->cleaner().stats().rounds, 2);
}

// A log whose round fails (here: one batch has more keys than the map holds) is passed over for
// a while, so it cannot keep the cleaner from every other log.
TEST(LogCleanerTest, ALogWhoseRoundFailedIsPassedOverForAWhile) {
  TempDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.defaults = Compacted();
  options.maintenance_interval_ms = 0;
  options.cleaner.dedupe_buffer_bytes = 24 * 8;  // 6 keys
  ManualClock clock(1000);
  options.clock = &clock;
  auto manager = *LogManager::Open(options);
  auto bad = *manager->GetOrCreate({"bad", 0});
  Put(bad.get(), 1000, DistinctKeys(20));
  Roll(bad.get(), 1000, "a");
  EXPECT_EQ(manager->cleaner().CleanFilthiest().status().code(),
            absl::StatusCode::kResourceExhausted);
  auto again = manager->cleaner().CleanFilthiest();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again) << "passed over";
  clock.AdvanceMs(LogCleaner::kFailureBackoffRounds * LogCleanerOptions{}.backoff_ms);
  EXPECT_FALSE(manager->cleaner().CleanFilthiest().ok()) << "tried again after the backoff";
}

TEST(LogCleanerTest, ADeletedLogIsNotCleaned) {
  TempDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.defaults = Compacted();
  options.maintenance_interval_ms = 0;
  auto manager = *LogManager::Open(options);
  auto log = *manager->GetOrCreate({"t", 0});
  for (int i = 0; i < 200; ++i) Put(log.get(), 1000, {{"k" + std::to_string(i % 9), "v"}});
  ASSERT_TRUE(manager->Delete({"t", 0}).ok());
  OffsetMap map(1 << 20);
  auto stats = log->Clean(&map);  // through a handle still held
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound) << stats.status();
  EXPECT_FALSE(manager->failure().failed());
}

// Runs `action` (once) when compaction renames a group's `.cleaned` file: in the middle of a round.
class OnCleanedRename final : public FileHooks {
 public:
  explicit OnCleanedRename(std::function<void()> action) : action_(std::move(action)) {
    SetFileHooks(this);
  }
  ~OnCleanedRename() override { SetFileHooks(nullptr); }
  int InjectedErrno(FileOp op, const std::string& path) override {
    if (op == FileOp::kRename && path.ends_with(".cleaned") && action_)
      std::exchange(action_, {})();
    return 0;
  }
  void FileSynced(int, const std::string&) override {}
  void DirectorySynced(const std::string&) override {}

 private:
  std::function<void()> action_;
};

// Appends one batch per segment, then lets segments grow, so a round merges them in one group.
std::unique_ptr<Log> OneBatchPerSegment(
    const std::string& dir, Flusher* flusher, const Clock* clock,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& records) {
  LogConfig tiny = Compacted();
  tiny.segment_bytes = 14;
  auto log = *Log::Open(dir, tiny, flusher, clock);
  for (const auto& record : records) Put(log.get(), 1000, {record});
  log->SetConfig(Compacted());
  return log;
}

// Retention takes the first segment of a group while the group is being cleaned: the group's
// swap is abandoned, and its other segments, not cleaned against this round's map, must stay
// dirty. (They were counted clean: y's old value outlived the tombstone and came back.)
TEST(LogCleanerTest, AGroupAbandonedToRetentionStaysDirty) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1000);
  auto log = OneBatchPerSegment(
      dir.path(), &flusher, &clock,
      {{"a", "1"}, {"y", "old"}, {"b", "1"}, {"y", std::nullopt}, {"c", "active"}});
  ASSERT_EQ(log->segment_count(), 5u);
  {
    OnCleanedRename retention([&] { ASSERT_TRUE(log->DeleteBefore(1).ok()); });
    ASSERT_TRUE(log->Compact().ok());
  }
  for (int i = 0; i < 3; ++i) {
    clock.AdvanceMs(kDeleteRetentionMs + 1);
    ASSERT_TRUE(log->Compact().ok());
  }
  for (const auto& r : Records(log.get())) {
    EXPECT_FALSE(r.key == "y" && r.value == "old") << "a deleted value came back at " << r.offset;
  }
}

// A tombstone deadline that passed on a log whose closed segments are all gone (retention) must
// not make the cleaner pick that log again and again.
TEST(LogCleanerTest, APassedTombstoneDeadlineWithNothingClosedLeftIsCleared) {
  TempDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.defaults = Compacted();
  options.maintenance_interval_ms = 0;
  ManualClock clock(1000);
  options.clock = &clock;
  auto manager = *LogManager::Open(options);
  auto log = *manager->GetOrCreate({"t", 0});
  Put(log.get(), 1000, {{"k", std::nullopt}});
  Roll(log.get(), 1000, "a");
  ASSERT_TRUE(log->Compact().ok());
  ASSERT_GE(log->cleaning_state().tombstone_deadline_ms, 0);
  ASSERT_TRUE(log->DeleteBefore(log->active_segment_base_offset()).ok());
  clock.AdvanceMs(kDeleteRetentionMs + 1);
  int rounds = 0;
  for (int i = 0; i < 5; ++i) {
    auto cleaned = manager->cleaner().CleanFilthiest();
    ASSERT_TRUE(cleaned.ok()) << cleaned.status();
    rounds += *cleaned;
  }
  EXPECT_LE(rounds, 1);
  EXPECT_EQ(log->cleaning_state().tombstone_deadline_ms, -1);
}

// delete.retention.ms at its largest ("forever") keeps tombstones; now + it must not overflow.
TEST(LogCleanerTest, AnEndlessDeleteRetentionKeepsTombstones) {
  TempDir dir;
  Flusher flusher;
  LogConfig config = Compacted();
  config.delete_retention_ms = std::numeric_limits<int64_t>::max();
  auto log = *Log::Open(dir.path(), config, &flusher);
  Put(log.get(), 1000, {{"k", std::nullopt}});
  Roll(log.get(), 1000, "a");
  ASSERT_TRUE(log->Compact().ok());
  ASSERT_TRUE(log->Compact().ok());
  EXPECT_EQ(CountKey(log.get(), "k"), 1);
}

// The log start inside a batch (DeleteBefore): only its records from there on go into the map.
TEST(LogCleanerTest, AStartInsideABatchIsNotABatchTooLargeForTheMap) {
  TempDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path(), Compacted(), &flusher);
  Put(log.get(), 1000, DistinctKeys(20));
  Roll(log.get(), 1000, "a");
  ASSERT_TRUE(log->DeleteBefore(17).ok());
  OffsetMap map(24 * 8);  // 6 keys: the 3 records from offset 17 fit, the batch's 20 would not
  auto stats = log->Clean(&map);
  EXPECT_TRUE(stats.ok()) << stats.status();
}

// A crash at each step of swapping a merged group in: the step fails (EIO, which also takes the
// data dir offline, as a real one would), the power goes, and the reopened log holds either the
// old segments or the new one — the same records once compacted, none resurrected.
struct SwapStep {
  const char* name;
  FileOp op;
  const char* path_part;
};
void PrintTo(const SwapStep& step, std::ostream* os) { *os << step.name; }

class LogCleanerCrashTest : public ::testing::TestWithParam<SwapStep> {};

TEST_P(LogCleanerCrashTest, ACrashAtAnyStepLeavesTheOldSegmentsOrTheNewOne) {
  TempDir dir;
  const std::string path = dir.Sub("log");
  const ManualClock clock(5);
  std::vector<StoredRecord> expected;
  // Updates and tombstones over 6 keys, compacted once (so the segments are small and the next
  // compaction merges them, k0-k2 kept), then more over k3-k8.
  auto fill = [](Log* log, int first_key) {
    for (int i = 0; i < 120; ++i) {
      const std::optional<std::string> value =
          i % 11 == 5 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i));
      Put(log, 1000, {{"k" + std::to_string(first_key + i % 6), value}});
    }
  };
  auto prepare = [&](Log* log) {
    fill(log, 0);
    ASSERT_TRUE(log->Compact().ok());
    fill(log, 3);
  };
  {
    Flusher flusher;
    auto reference = *Log::Open(dir.Sub("reference"), Compacted(), &flusher, &clock);
    prepare(reference.get());
    ASSERT_TRUE(reference->Compact().ok());
    expected = Records(reference.get());
    auto log = *Log::Open(path, Compacted(), &flusher, &clock);
    prepare(log.get());
    ASSERT_TRUE(log->Close().ok());
  }
  testing::FaultInjectionFs fs(path);
  {
    Flusher flusher;
    auto log = *Log::Open(path, Compacted(), &flusher, &clock);
    fs.FailNext(GetParam().op, EIO, GetParam().path_part);
    EXPECT_FALSE(log->Compact().ok()) << "the injected failure was not hit";
    fs.PowerCut();
  }
  fs.RestoreAfterPowerCut(testing::FaultInjectionFs::Loss::kDrop, 1);
  Flusher flusher;
  auto log = Log::Open(path, Compacted(), &flusher, &clock);
  ASSERT_TRUE(log.ok()) << log.status();
  // Old and new segments are never both there: offsets grow strictly from file to file.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    if (e.path().extension() == ".log") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  int64_t last = -1;
  for (const std::string& file : files) {
    for (const auto& r : DecodeAll(*ReadWholeFile(file))) {
      EXPECT_GT(r.offset, last) << file;
      last = r.offset;
    }
  }
  ASSERT_TRUE((*log)->Compact().ok());
  const auto actual = Records(log->get());
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].offset, expected[i].offset);
    EXPECT_EQ(actual[i].key, expected[i].key);
    EXPECT_EQ(actual[i].value, expected[i].value);
  }
}

INSTANTIATE_TEST_SUITE_P(Steps, LogCleanerCrashTest,
                         ::testing::Values(SwapStep{"WriteCleaned", FileOp::kWrite, ".cleaned"},
                                           SwapStep{"SyncCleaned", FileOp::kSync, ".cleaned"},
                                           SwapStep{"RenameToSwap", FileOp::kRename, ".cleaned"},
                                           SwapStep{"RemoveOldIndex", FileOp::kRemove,
                                                    ".timeindex"},
                                           SwapStep{"RemoveOldSegment", FileOp::kRemove, ".log"},
                                           SwapStep{"InstallSwap", FileOp::kRename, ".swap"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace runnel::storage
