#include "storage/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "common/record/batch_validator.h"
#include "storage/file.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::MakeBatch;
using testing::TempDir;

LogConfig SmallSegments() {
  LogConfig c;
  c.segment_bytes = 4000;
  c.index_interval_bytes = 256;
  return c;
}

std::unique_ptr<Log> OpenOrDie(const std::string& dir, const LogConfig& config, Flusher* flusher,
                               LogOpenReport* report = nullptr,
                               const Clock* clock = &Clock::Real()) {
  auto log = Log::Open(dir, config, flusher, clock, report);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

struct Appended {
  int64_t base;
  int64_t last;
};

std::vector<Appended> AppendRandomBatches(Log* log, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Appended> out;
  for (int i = 0; i < n; ++i) {
    auto r = log->Append(MakeBatch(1 + rng() % 9, 1000 + i * 10, "b" + std::to_string(i)));
    EXPECT_TRUE(r.ok()) << r.status();
    out.push_back({r->base_offset, r->last_offset});
  }
  return out;
}

TEST(LogTest, AppendAndReadEveryOffsetAcrossManySegmentRolls) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  const auto batches = AppendRandomBatches(log.get(), 300, 1);
  EXPECT_GT(log->segment_count(), 10u);
  EXPECT_EQ(log->end_offset(), batches.back().last + 1);
  size_t b = 0;
  for (int64_t offset = 0; offset < log->end_offset(); ++offset) {
    while (batches[b].last < offset) ++b;
    auto bytes = log->Read(offset, 1);  // tiny max: still one whole batch
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto view = record::RecordBatchView::Parse(*bytes);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view->size(), bytes->size()) << "exactly one batch";
    EXPECT_EQ(view->base_offset(), batches[b].base) << "offset " << offset;
    EXPECT_LE(view->base_offset(), offset);
    EXPECT_GE(view->last_offset(), offset);
  }
  // A large read from the start crosses segments and returns every record, in order.
  std::vector<testing::StoredRecord> all;
  for (int64_t next = 0; next < log->end_offset();) {
    auto bytes = log->Read(next, 64 * 1024);
    ASSERT_TRUE(bytes.ok());
    auto records = DecodeAll(*bytes);
    ASSERT_FALSE(records.empty());
    for (const auto& r : records) {
      if (r.offset >= next) all.push_back(r);
    }
    next = all.back().offset + 1;
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(log->end_offset()));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, static_cast<int64_t>(i));
  EXPECT_TRUE(log->Read(log->end_offset(), 100)->empty());
  EXPECT_EQ(log->Read(log->end_offset() + 1, 100).status().code(), absl::StatusCode::kOutOfRange);
}

// Reproduced before: a read that filled up part way through a segment went on with the next
// segment, so a small first batch there was returned after a gap (the rest of the first segment
// was skipped, and a consumer fetching on from the returned data never saw it).
TEST(LogTest, AReadThatStopsInsideASegmentDoesNotJumpToTheNextOne) {
  TempDir dir;
  Flusher flusher;
  const std::string big_a = MakeBatch(1, 1000, std::string(540, 'a'));
  const std::string big_b = MakeBatch(1, 1000, std::string(540, 'b'));
  LogConfig config;
  config.segment_bytes = static_cast<int64_t>(big_a.size() + big_b.size() + 10);
  auto log = OpenOrDie(dir.path(), config, &flusher);
  ASSERT_TRUE(log->Append(big_a).ok());
  ASSERT_TRUE(log->Append(big_b).ok());
  ASSERT_TRUE(log->Append(MakeBatch(1, 1000, "c")).ok());  // rolls: the next segment
  ASSERT_EQ(log->segment_count(), 2u);

  // Room for A and for C, not for B: only A may come back, B is next.
  const auto records = DecodeAll(*log->Read(0, big_a.size() + big_b.size() - 1));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 0);
  const auto rest = DecodeAll(*log->Read(1, 1 << 20));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].offset, 1);
  EXPECT_EQ(rest[1].offset, 2);
}

TEST(LogTest, CleanCloseReopensWithoutScanAndKeepsEverything) {
  TempDir dir;
  Flusher flusher;
  int64_t end = 0;
  {
    auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
    AppendRandomBatches(log.get(), 100, 2);
    end = log->end_offset();
    ASSERT_TRUE(log->Close().ok());
  }
  LogOpenReport report;
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher, &report);
  EXPECT_TRUE(report.clean_shutdown);
  EXPECT_EQ(log->end_offset(), end);
  EXPECT_EQ(DecodeAll(*log->Read(0, 1 << 20)).front().offset, 0);
  // The marker is consumed: a crash from now on gets a recovery scan.
  EXPECT_FALSE(FileExists(dir.Sub(Log::kCleanShutdownFile)));
}

TEST(LogTest, RejectsInvalidAndOversizedBatchesWithoutWritingThem) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.max_message_bytes = 500;
  auto log = OpenOrDie(dir.path(), config, &flusher);
  std::string corrupt = MakeBatch(3, 10, "x");
  corrupt[corrupt.size() - 2] ^= 0x40;
  EXPECT_EQ(log->Append(corrupt).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(log->Append("not a batch").status().code(), absl::StatusCode::kInvalidArgument);
  const auto too_big = log->Append(MakeBatch(100, 10, "large-value-padding"));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CauseOf<AppendError>(too_big.status()), AppendError::kTooLarge);
  EXPECT_NE(too_big.status().message().find("max.message.bytes"), absl::string_view::npos);
  EXPECT_EQ(log->end_offset(), 0);
  EXPECT_EQ(log->size_bytes(), 0u);
  ASSERT_TRUE(log->Append(MakeBatch(2, 10, "ok")).ok());
  EXPECT_EQ(log->end_offset(), 2);
}

TEST(LogTest, LogAppendTimeStampsTheBatchAndKeepsItValid) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.message_timestamp_type = record::TimestampType::kLogAppendTime;
  const ManualClock clock(424242);
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  auto result = log->Append(MakeBatch(3, 10, "t"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->log_append_time, 424242);
  const std::string bytes = *log->Read(0, 1000);
  EXPECT_TRUE(record::ValidateBatch(bytes).ok());
  for (const auto& r : DecodeAll(bytes)) EXPECT_EQ(r.timestamp, 424242);
}

// Copies the partition directory, so each damaged variant starts from the same bytes.
void CopyDir(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

std::string ActiveSegmentPath(const std::string& dir) {
  std::string last;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log" && e.path().string() > last) last = e.path().string();
  }
  return last;
}

TEST(LogRecoveryTest, TornTailAtEveryBytePositionKeepsExactlyTheWholeBatchesBefore) {
  TempDir dir;
  Flusher flusher;
  int64_t last_base = 0;
  {
    auto log = OpenOrDie(dir.Sub("orig"), LogConfig{}, &flusher);
    AppendRandomBatches(log.get(), 20, 3);
    auto last = log->Append(MakeBatch(5, 99999, "last"));
    last_base = last->base_offset;
    // No Close(): as after a crash, there is no clean-shutdown marker.
  }
  const std::string segment = ActiveSegmentPath(dir.Sub("orig"));
  const uint64_t full = std::filesystem::file_size(segment);
  const uint64_t last_size = MakeBatch(5, 99999, "last").size();
  for (uint64_t cut = full - last_size; cut < full; ++cut) {
    const std::string copy = dir.Sub("cut" + std::to_string(cut));
    CopyDir(dir.Sub("orig"), copy);
    std::filesystem::resize_file(ActiveSegmentPath(copy), cut);
    LogOpenReport report;
    auto log = OpenOrDie(copy, LogConfig{}, &flusher, &report);
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(report.clean_shutdown);
    EXPECT_EQ(log->end_offset(), last_base) << "cut at " << cut;
    EXPECT_EQ(report.recovery.bytes_truncated, cut - (full - last_size));
    EXPECT_EQ(std::filesystem::file_size(ActiveSegmentPath(copy)), full - last_size);
    // Appending after recovery continues at the cut.
    auto next = log->Append(MakeBatch(1, 1, "after"));
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->base_offset, last_base);
    log.reset();
    std::filesystem::remove_all(copy);
  }
}

TEST(LogRecoveryTest, BitFlipInTheMiddleTruncatesAfterTheLastGoodBatch) {
  TempDir dir;
  Flusher flusher;
  std::vector<Appended> batches;
  {
    auto log = OpenOrDie(dir.path(), LogConfig{}, &flusher);
    batches = AppendRandomBatches(log.get(), 40, 4);
  }
  const std::string segment = ActiveSegmentPath(dir.path());
  // Find the 20th batch's position by walking the file, and flip a bit in its value bytes.
  std::string bytes = *ReadWholeFile(segment);
  size_t pos = 0;
  for (int i = 0; i < 20; ++i) pos += record::RecordBatchView::Parse(bytes.substr(pos))->size();
  bytes[pos + 70] ^= 0x08;
  {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  LogOpenReport report;
  auto log = OpenOrDie(dir.path(), LogConfig{}, &flusher, &report);
  EXPECT_EQ(log->end_offset(), batches[20].base);
  EXPECT_EQ(report.recovery.first_offset_lost, batches[20].base);
  EXPECT_NE(report.recovery.reason.find("crc"), std::string::npos) << report.recovery.reason;
  EXPECT_EQ(std::filesystem::file_size(segment), pos);
}

TEST(LogRecoveryTest, UnsyncedClosedSegmentWithTornTailCutsTheLogThere) {
  // A roll leaves the closed segment's sync and index files to the flush thread; a crash before
  // that can tear it. Recovery must scan it and drop everything after the tear.
  TempDir dir;
  Flusher flusher;
  {
    auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
    AppendRandomBatches(log.get(), 200, 8);
  }
  std::vector<int64_t> bases;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".log") bases.push_back(std::stoll(e.path().stem().string()));
  }
  std::sort(bases.begin(), bases.end());
  ASSERT_GT(bases.size(), 4u);
  const int64_t torn = bases[2];
  std::filesystem::remove(Segment::OffsetIndexPath(dir.path(), torn));
  std::filesystem::remove(Segment::TimeIndexPath(dir.path(), torn));
  const std::string torn_log = Segment::LogPath(dir.path(), torn);
  std::filesystem::resize_file(torn_log, std::filesystem::file_size(torn_log) - 5);

  LogOpenReport report;
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher, &report);
  EXPECT_GT(report.recovery.bytes_truncated, 0u);
  EXPECT_EQ(log->end_offset(), report.recovery.first_offset_lost);
  EXPECT_LT(log->end_offset(), bases[3]);
  EXPECT_EQ(log->segment_count(), 3u);
  EXPECT_FALSE(FileExists(Segment::LogPath(dir.path(), bases[3])));
  EXPECT_EQ(static_cast<int64_t>(DecodeAll(*log->Read(0, 1 << 20)).size()), log->end_offset());
}

// Brute force: the first offset whose timestamp is >= ts, scanning every record.
std::optional<int64_t> BruteForceOffsetForTimestamp(Log* log, int64_t ts) {
  for (const auto& r : DecodeAll(*log->Read(0, 1 << 30))) {
    if (r.timestamp >= ts) return r.offset;
  }
  return std::nullopt;
}

TEST(LogIndexTest, DeletedAndGarbageIndexesAreRebuiltAndTimestampLookupsMatchAScan) {
  TempDir dir;
  Flusher flusher;
  std::mt19937 rng(5);
  {
    auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
    for (int i = 0; i < 200; ++i) {
      // Timestamps wander up and down, as real client clocks do.
      const int64_t ts = 100000 + static_cast<int64_t>(rng() % 50000) + i * 100;
      ASSERT_TRUE(log->Append(MakeBatch(1 + rng() % 5, ts, "t")).ok());
    }
    ASSERT_TRUE(log->Close().ok());
  }
  std::vector<std::string> indexes;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".index" || e.path().extension() == ".timeindex") {
      indexes.push_back(e.path().string());
    }
  }
  std::sort(indexes.begin(), indexes.end());
  ASSERT_GT(indexes.size(), 8u);
  std::filesystem::remove(indexes[0]);
  std::filesystem::remove(indexes[3]);
  {
    std::ofstream garbage(indexes[4], std::ios::binary | std::ios::trunc);
    garbage << "this is not an index at all";
  }
  {
    std::ofstream garbage(indexes[6], std::ios::binary | std::ios::trunc);
    garbage << std::string(16, '\xff');  // whole entries, pointing far past the segment
  }
  LogOpenReport report;
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher, &report);
  ASSERT_TRUE(report.clean_shutdown);
  // Closed segments' index files are rebuilt; the active segment's are dropped at open (they go
  // stale with its next append and are written again when it is closed).
  const std::string active_stem = Segment::FileStem(log->active_segment_base_offset());
  for (const std::string& path : indexes) {
    const bool active = path.find(active_stem) != std::string::npos;
    EXPECT_EQ(FileExists(path), !active) << path;
  }
  for (int64_t ts = 99000; ts < 175000; ts += 377) {
    auto found = log->OffsetForTimestamp(ts);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(*found, BruteForceOffsetForTimestamp(log.get(), ts)) << "timestamp " << ts;
  }
  for (int64_t offset = 0; offset < log->end_offset(); offset += 3) {
    const std::string bytes = *log->Read(offset, 1);
    auto view = record::RecordBatchView::Parse(bytes);
    ASSERT_TRUE(view.ok());
    EXPECT_LE(view->base_offset(), offset);
    EXPECT_GE(view->last_offset(), offset);
  }
}

TEST(LogIndexTest, SegmentAppendedAfterACleanReopenGetsFreshIndexesWhenRolled) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 3000;
  {
    auto log = OpenOrDie(dir.path(), config, &flusher);
    ASSERT_TRUE(log->Append(MakeBatch(3, 1000, "early")).ok());
    ASSERT_TRUE(log->Close().ok());  // writes index files for the active segment
  }
  int64_t first_late = -1;
  {
    auto log = OpenOrDie(dir.path(), config, &flusher);
    // Later, larger timestamps into the same segment until it rolls.
    while (log->segment_count() < 2) {
      auto r = log->Append(MakeBatch(3, 50000, "late"));
      ASSERT_TRUE(r.ok());
      if (first_late < 0) first_late = r->base_offset;
    }
    ASSERT_TRUE(log->Close().ok());
  }
  auto log = OpenOrDie(dir.path(), config, &flusher);
  // A stale time index would still say the first segment's max timestamp is 1002.
  EXPECT_EQ(*log->OffsetForTimestamp(50000), first_late);
  EXPECT_EQ(*log->OffsetForTimestamp(50000), BruteForceOffsetForTimestamp(log.get(), 50000));
}

TEST(LogTest, TruncateToAndDeleteBefore) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  const auto batches = AppendRandomBatches(log.get(), 100, 6);
  const size_t segments = log->segment_count();
  ASSERT_TRUE(log->TruncateTo(batches[60].base).ok());
  EXPECT_EQ(log->end_offset(), batches[60].base);
  EXPECT_LT(log->segment_count(), segments);
  auto next = log->Append(MakeBatch(2, 5, "new"));
  EXPECT_EQ(next->base_offset, batches[60].base);

  ASSERT_TRUE(log->DeleteBefore(batches[30].base + 1).ok());
  EXPECT_EQ(log->start_offset(), batches[30].base + 1);
  EXPECT_EQ(log->Read(batches[30].base, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(log->Read(batches[30].base + 1, 10).ok());
  log.reset();
  // Reopening (unclean) keeps the start offset.
  log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  EXPECT_EQ(log->start_offset(), batches[30].base + 1);
  EXPECT_EQ(log->end_offset(), batches[60].base + 2);
}

TEST(LogRecoveryTest, CrashMidRetentionFinishesTheDeletionOnOpen) {
  // Retention persists the new start offset, then unlinks segments: a crash between the two
  // leaves segments wholly below the start, which the next open removes.
  TempDir dir;
  Flusher flusher;
  std::vector<Appended> batches;
  {
    auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
    batches = AppendRandomBatches(log.get(), 150, 10);
    ASSERT_TRUE(log->Close().ok());
  }
  std::vector<int64_t> bases;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".log") bases.push_back(std::stoll(e.path().stem().string()));
  }
  std::sort(bases.begin(), bases.end());
  ASSERT_GT(bases.size(), 5u);
  ASSERT_TRUE(WriteFileAtomically(dir.Sub(Log::kStartOffsetFile), std::to_string(bases[3])).ok());

  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  EXPECT_EQ(log->start_offset(), bases[3]);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(FileExists(Segment::LogPath(dir.path(), bases[i])));
  EXPECT_TRUE(FileExists(Segment::LogPath(dir.path(), bases[3])));
  const auto records = DecodeAll(*log->Read(log->start_offset(), 1 << 20));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().offset, bases[3]);
  EXPECT_EQ(records.back().offset, batches.back().last);
}

TEST(LogTest, RetentionDeletesOldAndExcessClosedSegments) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1000000);  // read by the flush thread through the clock
  LogConfig config = SmallSegments();
  config.retention_ms = 50000;
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(log->Append(MakeBatch(5, clock.NowMs() - 100000 + i * 1000, "r")).ok());
  ASSERT_TRUE(log->Flush().ok());  // retention deletes only below the high watermark
  // Records with timestamps up to now-1000 minus 50s retention: segments whose max is older go.
  ASSERT_TRUE(log->ApplyRetention().ok());
  auto first = DecodeAll(*log->Read(log->start_offset(), 100000));
  ASSERT_FALSE(first.empty());
  EXPECT_GE(first.back().timestamp, clock.NowMs() - 50000 - 5000);
  EXPECT_GT(log->start_offset(), 0);

  config.retention_ms = -1;
  config.retention_bytes = 8000;
  log->SetConfig(config);
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_LE(log->size_bytes(), 8000u + 4000u);  // at most one segment above the limit
  EXPECT_GE(log->segment_count(), 1u);
}

// A partition no longer written to: its last segment is the active one, which retention used to
// skip, so its records were kept forever. Kafka's rule: when every segment, the active one
// included, is past retention.ms, a new empty segment is rolled and the old ones deleted.
TEST(LogTest, RetentionRollsAndDeletesAnActiveSegmentPastRetention) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1'000'000);  // read by the flush thread through the clock
  LogConfig config;
  config.retention_ms = 50'000;
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  ASSERT_TRUE(log->Append(MakeBatch(3, clock.NowMs() - 10'000, "idle")).ok());
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_EQ(log->start_offset(), 0);  // 10 s old: kept
  EXPECT_EQ(log->segment_count(), 1u);

  clock.AdvanceMs(45'000);         // 55 s old now
  ASSERT_TRUE(log->Flush().ok());  // only below the high watermark (FlusherTest has the case)
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_EQ(log->start_offset(), 3);
  EXPECT_EQ(log->end_offset(), 3);
  EXPECT_EQ(log->segment_count(), 1u);  // the new, empty active segment
  EXPECT_EQ(log->size_bytes(), 0u);
  EXPECT_FALSE(FileExists(Segment::LogPath(dir.path(), 0)));
  ASSERT_TRUE(log->Append(MakeBatch(1, clock.NowMs(), "new")).ok());
  EXPECT_EQ(DecodeAll(*log->Read(3, 1 << 20)).size(), 1u);
  ASSERT_TRUE(log->ApplyRetention().ok());  // a fresh record in the active segment: kept
  EXPECT_EQ(log->start_offset(), 3);
}

// On a full disk the log-start-offset file cannot be rewritten; retention, the one thing that
// frees space, must delete its segments all the same (the start is a segment boundary, which the
// next open derives from the first segment left).
TEST(LogTest, RetentionDeletesSegmentsOnAFullDisk) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1'000'000);
  LogConfig config = SmallSegments();
  config.retention_ms = 50'000;
  auto log = OpenOrDie(dir.Sub("p"), config, &flusher, nullptr, &clock);
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(log->Append(MakeBatch(5, clock.NowMs() - 100'000, "r")).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(MakeBatch(5, clock.NowMs(), "kept")).ok());
  ASSERT_TRUE(log->Flush().ok());
  const size_t segments = log->segment_count();
  {
    testing::FaultInjectionFs fs(dir.path());
    fs.FailNext(FileOp::kWrite, ENOSPC, "log-start-offset", 1000);
    ASSERT_TRUE(log->ApplyRetention().ok());
  }
  EXPECT_LT(log->segment_count(), segments);
  const int64_t start = log->start_offset();
  EXPECT_GT(start, 0);
  log.reset();  // a crash: the stored start offset is the old one
  log = OpenOrDie(dir.Sub("p"), config, &flusher, nullptr, &clock);
  EXPECT_EQ(log->start_offset(), start);
}

// Index files are written without a sync, so after a power loss a closed segment's time index
// may lack its latest timestamp; retention then took the segment for older than it is. The open
// walks the batches after the last offset-index entry anyway, and now counts their timestamps.
TEST(LogTest, AStaleTimeIndexDoesNotMakeRetentionDeleteEarly) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(10'000'000);
  const std::string one = MakeBatch(1, 0, "x");
  LogConfig config;
  config.segment_bytes = static_cast<int32_t>(6 * one.size());  // six batches, then a roll
  config.retention_ms = 50'000;
  {
    auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(log->Append(MakeBatch(1, clock.NowMs() - 100'000, "x")).ok());
    ASSERT_TRUE(
        log->Append(MakeBatch(1, clock.NowMs() - 1'000, "x")).ok());  // the segment's latest
    ASSERT_TRUE(log->Append(MakeBatch(1, clock.NowMs() - 1'000, "x")).ok());  // rolls: segment 6
    ASSERT_EQ(log->segment_count(), 2u);
    ASSERT_TRUE(log->Close().ok());
  }
  // As a power loss can leave it: the time index of segment 0 without its last entry.
  const std::string time_index = Segment::TimeIndexPath(dir.path(), 0);
  ASSERT_GE(std::filesystem::file_size(time_index), 24u);
  std::filesystem::resize_file(time_index, 12);
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_EQ(log->start_offset(), 0) << "a segment with a record 1 s old was deleted";
  clock.AdvanceMs(60'000);  // now every record is past retention
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_EQ(log->start_offset(), 7);
}

TEST(LogTest, SegmentMsRollsByAgeAndFlushMessagesFlushesInTheBackground) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(5'000'000);  // read by the flush thread through the clock
  LogConfig config;
  config.segment_ms = 60'000;
  config.flush_messages = 10;
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  ASSERT_TRUE(log->Append(MakeBatch(4, clock.NowMs(), "a")).ok());
  ASSERT_TRUE(log->Append(MakeBatch(4, clock.NowMs(), "b")).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  clock.AdvanceMs(60'000);
  ASSERT_TRUE(
      log->Append(MakeBatch(4, clock.NowMs(), "c")).ok());  // 12 unflushed: a flush is queued
  EXPECT_EQ(log->segment_count(), 2u);
  // The background flush lands without anyone waiting on it (bounded wait).
  for (int i = 0; i < 500 && log->flushed_offset() < 12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->flushed_offset(), 12);
}

// Reproduced before: segment.ms counted from when the segment was created or opened, so on a
// broker restarted more often than segment.ms a low-volume partition never rolled (and so never
// became deletable). It now counts in event time from the segment's first batch, as in Kafka.
TEST(LogTest, SegmentMsCountsFromTheFirstBatchAcrossReopens) {
  TempDir dir;
  Flusher flusher;
  ManualClock clock(100'000'000);
  LogConfig config;
  config.segment_ms = 60'000;
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  ASSERT_TRUE(log->Append(MakeBatch(2, clock.NowMs(), "first")).ok());
  for (int restart = 0; restart < 3; ++restart) {  // every 25 s: each open is "new"
    ASSERT_TRUE(log->Close().ok());
    log.reset();
    clock.AdvanceMs(25'000);
    log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
    EXPECT_EQ(log->segment_count(), 1u);
  }
  ASSERT_TRUE(log->Append(MakeBatch(2, clock.NowMs(), "late")).ok());  // 75 s after the first batch
  EXPECT_EQ(log->segment_count(), 2u);
  // Replayed old data rolls by its own timestamps, not per batch.
  ASSERT_TRUE(log->Append(MakeBatch(2, clock.NowMs() + 1000, "next")).ok());
  EXPECT_EQ(log->segment_count(), 2u);
}

// One batch dated far in the future would hold every later segment back from time-based retention;
// message.timestamp.after.max.ms (1 hour by default, as in Kafka 4) refuses it, typed so the broker
// answers INVALID_TIMESTAMP. LogAppendTime topics stamp the broker's time instead.
TEST(LogTest, TimestampsTooFarFromTheBrokersTimeAreRefused) {
  TempDir dir;
  Flusher flusher;
  const int64_t now = 1'800'000'000'000;
  ManualClock clock(now);
  LogConfig config;
  config.message_timestamp_before_max_ms = 24LL * 3600 * 1000;
  auto log = OpenOrDie(dir.path(), config, &flusher, nullptr, &clock);
  const auto future = log->Append(MakeBatch(2, now + 2 * 3600 * 1000, "future"));
  EXPECT_TRUE(absl::IsInvalidArgument(future.status())) << future.status();
  EXPECT_EQ(CauseOf<AppendError>(future.status()), AppendError::kInvalidTimestamp);
  EXPECT_NE(future.status().message().find("more than message.timestamp.after.max.ms 3600000"),
            std::string::npos)
      << future.status();
  const auto past = log->Append(MakeBatch(2, now - 2 * 24 * 3600 * 1000LL, "past"));
  EXPECT_EQ(CauseOf<AppendError>(past.status()), AppendError::kInvalidTimestamp) << past.status();
  EXPECT_TRUE(log->Append(MakeBatch(2, now + 30 * 60 * 1000, "soon")).ok());
  EXPECT_EQ(log->end_offset(), 2);
  config.message_timestamp_type = record::TimestampType::kLogAppendTime;
  log->SetConfig(config);
  EXPECT_TRUE(log->Append(MakeBatch(2, now + 2 * 3600 * 1000, "stamped")).ok());
}

int OpenDescriptorCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(LogTest, ClosedSegmentsHoldNoFileDescriptors) {
  TempDir dir;
  Flusher flusher;
  const int before = OpenDescriptorCount();
  auto log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  AppendRandomBatches(log.get(), 300, 9);
  ASSERT_TRUE(log->Flush().ok());  // finishes the rolled segments' syncs
  ASSERT_GT(log->segment_count(), 10u);
  EXPECT_LE(OpenDescriptorCount() - before, 1);  // just the active segment
  // Reads of closed segments still work, and reopening keeps the bound.
  EXPECT_FALSE(DecodeAll(*log->Read(0, 1 << 20)).empty());
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  log = OpenOrDie(dir.path(), SmallSegments(), &flusher);
  EXPECT_LE(OpenDescriptorCount() - before, 1);
  EXPECT_FALSE(DecodeAll(*log->Read(0, 1 << 20)).empty());
}

TEST(LogDurabilityTest, GroupCommitCoversConcurrentAppendsWithFewSyncs) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), LogConfig{}, &flusher);
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> acked{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<void> done;
        auto r = log->Append(MakeBatch(2, i, "w" + std::to_string(t)), [&](absl::Status s) {
          (s.ok() ? acked : failed)++;
          done.set_value();
        });
        ASSERT_TRUE(r.ok());
        done.get_future().wait();
        EXPECT_GE(log->flushed_offset(), r->last_offset + 1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  std::cerr << "durable appends: " << kThreads * kPerThread
            << ", sync rounds: " << flusher.sync_rounds() << "\n";
}

// Group commit, checked without timing: every request that arrives while a round runs is served
// by the next round, one sync for all of them. (The flush thread is held in a callback while ten
// durable appends queue up.)
TEST(LogDurabilityTest, RequestsQueuedDuringARoundShareTheNextRound) {
  TempDir dir;
  Flusher flusher;
  auto log = OpenOrDie(dir.path(), LogConfig{}, &flusher);
  std::promise<void> holding, release;
  auto released = release.get_future().share();
  ASSERT_TRUE(log->Append(MakeBatch(1, 0, "first"),
                          [&](absl::Status) {
                            holding.set_value();
                            released.wait();  // the flush thread waits here
                          })
                  .ok());
  holding.get_future().wait();
  const int64_t rounds_before = flusher.sync_rounds();
  constexpr int kQueued = 10;
  std::vector<std::promise<absl::Status>> acks(kQueued);
  for (int i = 0; i < kQueued; ++i) {
    ASSERT_TRUE(
        log->Append(MakeBatch(2, i, "q"), [&acks, i](absl::Status s) { acks[i].set_value(s); })
            .ok());
  }
  EXPECT_LT(log->flushed_offset(), log->end_offset());  // nothing synced them yet
  release.set_value();
  for (auto& ack : acks) EXPECT_TRUE(ack.get_future().get().ok());
  EXPECT_EQ(flusher.sync_rounds() - rounds_before, 1);
  EXPECT_EQ(log->flushed_offset(), log->end_offset());
}

}  // namespace
}  // namespace runnel::storage
