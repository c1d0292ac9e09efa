// Compaction and retention checked against a plain in-memory model of the same operations.
#include <gtest/gtest.h>

#include <atomic>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::StoredRecord;
using testing::TempDir;

LogConfig CompactConfig() {
  LogConfig c;
  c.segment_bytes = 1500;
  c.index_interval_bytes = 200;
  c.cleanup_compact = true;
  c.cleanup_delete = true;
  c.retention_ms = 60000;
  c.delete_retention_ms = 5000;
  return c;
}

// The model: every record the log should still hold.
class Model {
 public:
  void Append(const std::vector<StoredRecord>& records) {
    for (const auto& r : records) records_.push_back({r, std::nullopt});
  }
  // Same rule as Log::Compact, over records below `cut`: a keyed record goes when a later one
  // below `cut` has its key; a tombstone gets a delete horizon (now + delete.retention.ms) when a
  // compaction first keeps it, and goes in the first compaction at or after that horizon.
  void Compact(int64_t cut, int64_t now, int64_t delete_retention_ms) {
    std::map<std::string, int64_t> latest;
    for (const auto& [r, horizon] : records_) {
      if (r.offset < cut && r.key) latest[*r.key] = r.offset;
    }
    std::vector<Entry> kept;
    for (auto& [r, horizon] : records_) {
      if (r.offset < cut && r.key) {
        if (latest[*r.key] != r.offset) continue;
        if (!r.value) {
          if (horizon.has_value() && now >= *horizon) continue;
          if (!horizon.has_value()) horizon = now + delete_retention_ms;
        }
      }
      kept.push_back({r, horizon});
    }
    records_ = std::move(kept);
  }
  void DropBelow(int64_t start) {
    std::erase_if(records_, [start](const Entry& e) { return e.record.offset < start; });
  }
  std::vector<StoredRecord> records() const {
    std::vector<StoredRecord> out;
    for (const auto& e : records_) out.push_back(e.record);
    return out;
  }

 private:
  struct Entry {
    StoredRecord record;
    std::optional<int64_t> horizon;  // a kept tombstone's delete horizon
  };
  std::vector<Entry> records_;
};

void ExpectLogEqualsModel(Log* log, const Model& model, int step) {
  auto bytes = log->Read(log->start_offset(), size_t{1} << 30);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  std::vector<StoredRecord> actual;
  for (auto& r : DecodeAll(*bytes)) {
    if (r.offset >= log->start_offset()) actual.push_back(r);
  }
  const std::vector<StoredRecord> expected = model.records();
  ASSERT_EQ(actual.size(), expected.size()) << "step " << step;
  for (size_t i = 0; i < actual.size(); ++i) {
    const auto& a = actual[i];
    const auto& m = expected[i];
    ASSERT_EQ(a.offset, m.offset) << "step " << step << " record " << i;
    ASSERT_EQ(a.key, m.key) << "step " << step << " offset " << a.offset;
    ASSERT_EQ(a.value, m.value) << "step " << step << " offset " << a.offset;
    ASSERT_EQ(a.timestamp, m.timestamp) << "step " << step << " offset " << a.offset;
  }
}

// (seed, dedupe buffer bytes): a buffer of a few keys makes every compaction several rounds.
class CompactionModelTest : public ::testing::TestWithParam<std::tuple<uint32_t, size_t>> {};

TEST_P(CompactionModelTest, RandomOperationsMatchTheModel) {
  const auto [seed, dedupe_buffer_bytes] = GetParam();
  TempDir dir;
  Flusher flusher;
  ManualClock clock(1'000'000);  // read by the flush thread through the clock
  auto log = *Log::Open(dir.path(), CompactConfig(), &flusher, &clock);
  Model model;
  std::mt19937 rng(seed);
  for (int step = 0; step < 400; ++step) {
    const int op = rng() % 100;
    if (op < 70) {
      // Append 1-4 records over 12 keys, some tombstones, some compressed batches.
      const auto codec = static_cast<record::Compression>(rng() % 5);
      record::RecordBatchBuilder builder({.compression = codec});
      std::vector<StoredRecord> records;
      const int n = 1 + rng() % 4;
      const int64_t base = log->end_offset();
      for (int i = 0; i < n; ++i) {
        StoredRecord r{base + i, clock.NowMs() - static_cast<int64_t>(rng() % 3000),
                       "key" + std::to_string(rng() % 12), std::nullopt};
        if (rng() % 6 != 0) r.value = "v" + std::to_string(step) + "." + std::to_string(i);
        builder.Append(r.timestamp, r.key, r.value);
        records.push_back(r);
      }
      ASSERT_TRUE(log->Append(*builder.Build()).ok());
      model.Append(records);
    } else if (op < 80) {
      clock.AdvanceMs(rng() % 4000);
    } else if (op < 90) {
      const int64_t cut = log->active_segment_base_offset();
      ASSERT_TRUE(log->Compact(dedupe_buffer_bytes).ok());
      model.Compact(cut, clock.NowMs(), CompactConfig().delete_retention_ms);
    } else if (op < 95) {
      ASSERT_TRUE(log->ApplyRetention().ok());
      model.DropBelow(log->start_offset());
    } else {
      if (rng() % 2) {
        ASSERT_TRUE(log->Close().ok());
      }  // else: reopen as after a crash
      log.reset();
      log = *Log::Open(dir.path(), CompactConfig(), &flusher, &clock);
    }
    ExpectLogEqualsModel(log.get(), model, step);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, CompactionModelTest,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u, 4u, 5u),
                                            ::testing::Values(size_t{24 * 8},
                                                              Log::kDefaultDedupeBufferBytes)));

TEST(CompactionTest, UnkeyedRecordsAreRefusedOnCompactedTopics) {
  TempDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path(), CompactConfig(), &flusher);
  record::RecordBatchBuilder builder;
  builder.Append(1, "k", "v");
  builder.Append(2, std::nullopt, "v");
  const auto r = log->Append(*builder.Build());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no key"), absl::string_view::npos) << r.status();
}

// Fills a log so its closed segments have plenty to compact; returns the record count.
void FillForCompaction(Log* log) {
  for (int i = 0; i < 200; ++i) {
    record::RecordBatchBuilder builder;
    builder.Append(1000 + i, "key" + std::to_string(i % 5), "value" + std::to_string(i));
    ASSERT_TRUE(log->Append(*builder.Build()).ok());
  }
}

TEST(CompactionCrashTest, LeftoverCleanedFilesAreDiscardedAndSwapFilesInstalled) {
  TempDir dir;
  Flusher flusher;
  const std::string original = dir.Sub("original"), compacted = dir.Sub("compacted");
  {
    auto log = *Log::Open(original, CompactConfig(), &flusher);
    FillForCompaction(log.get());
    ASSERT_TRUE(log->Close().ok());
  }
  std::filesystem::copy(original, compacted);
  std::vector<StoredRecord> expected;
  {
    auto log = *Log::Open(compacted, CompactConfig(), &flusher);
    ASSERT_TRUE(log->Compact().ok());
    expected = DecodeAll(*log->Read(0, 1 << 20));
    ASSERT_TRUE(log->Close().ok());
  }
  // Crash states: segment 0 compacted up to its .swap rename (old indexes still there), and a
  // half-written .cleaned for the next segment.
  const std::string seg0 = Segment::LogPath(original, 0);
  std::filesystem::copy_file(Segment::LogPath(compacted, 0), seg0 + ".swap");
  std::vector<std::string> logs;
  for (const auto& e : std::filesystem::directory_iterator(original)) {
    if (e.path().extension() == ".log") logs.push_back(e.path().string());
  }
  std::sort(logs.begin(), logs.end());
  ASSERT_GT(logs.size(), 2u);
  {
    std::ofstream junk(logs[1] + ".cleaned", std::ios::binary);
    junk << "half a segment";
  }
  std::filesystem::remove(std::filesystem::path(original) / Log::kCleanShutdownFile);

  auto log = *Log::Open(original, CompactConfig(), &flusher);
  EXPECT_FALSE(FileExists(seg0 + ".swap"));
  EXPECT_FALSE(FileExists(logs[1] + ".cleaned"));
  // Segment 0 is the compacted one; the rest is untouched until the next compaction.
  ASSERT_TRUE(log->Compact().ok());
  const auto actual = DecodeAll(*log->Read(0, 1 << 20));
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].offset, expected[i].offset);
    EXPECT_EQ(actual[i].value, expected[i].value);
  }
}

}  // namespace
}  // namespace runnel::storage
