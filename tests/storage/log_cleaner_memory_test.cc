// Compaction's memory does not grow with the number of keys: a 10-million-key log is compacted
// within the dedupe buffer plus a few MiB (the old compactor kept every key in a hash map and a
// whole rewritten segment in memory: several hundred MB here).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::TempDir;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// Sanitizers run everything 5-20 times slower and keep freed memory in quarantine: a smaller log,
// and the result but not the memory is checked.
constexpr int kKeys = 200'000;
constexpr size_t kDedupeBufferBytes = 1 << 20;
constexpr bool kMeasureMemory = false;
#else
constexpr int kKeys = 10'000'000;
constexpr size_t kDedupeBufferBytes = 64 << 20;
constexpr bool kMeasureMemory = true;
#endif
constexpr int kBatchRecords = 2000;
constexpr int kUpdateEvery = 10;  // every 10th key is written a second time

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "key-%08d", i);
  return buf;
}

TEST(LogCleanerMemoryTest, TenMillionKeysAreCompactedWithinTheDedupeBuffer) {
  TempDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 64 << 20;
  config.cleanup_compact = true;
  config.cleanup_delete = false;
  auto log = *Log::Open(dir.path(), config, &flusher);
  auto append = [&](int first, int count, int step, const std::string& value) {
    record::RecordBatchBuilder builder;
    for (int i = 0; i < count; ++i) {
      builder.Append(1000, Key(first + i * step), value);
      if (builder.record_count() == kBatchRecords || i + 1 == count) {
        auto appended = log->Append(*builder.Build());
        ASSERT_TRUE(appended.ok()) << appended.status();
      }
    }
  };
  append(0, kKeys, 1, "first");
  append(0, kKeys / kUpdateEvery, kUpdateEvery, "second");
  ASSERT_TRUE(log->Flush().ok());
  // Roll, so everything written is in closed segments.
  LogConfig roll_now = config;
  roll_now.segment_bytes = 1;
  log->SetConfig(roll_now);
  append(kKeys, 1, 1, "last");
  log->SetConfig(config);
  const uint64_t size_before = log->size_bytes();

  const int64_t rss_before = ResidentBytes();
  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{rss_before};
  std::thread sampler([&] {
    for (int i = 0; i < 600'000 && !done.load(); ++i) {  // at most 10 minutes
      peak.store(std::max(peak.load(), ResidentBytes()));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const auto started = std::chrono::steady_clock::now();
  const absl::Status compacted = log->Compact(kDedupeBufferBytes);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  done.store(true);
  sampler.join();
  ASSERT_TRUE(compacted.ok()) << compacted;
  const int64_t growth = peak.load() - rss_before;
  std::printf(
      "compacted %d keys, %.1f MB -> %.1f MB in %.1f s (%.1f MB/s read); peak RSS +%.1f MB "
      "(dedupe buffer %.0f MB)\n",
      kKeys, size_before / 1e6, log->size_bytes() / 1e6, seconds, size_before / 1e6 / seconds,
      growth / 1e6, kDedupeBufferBytes / 1e6);
  if (kMeasureMemory) {
    EXPECT_LT(growth, static_cast<int64_t>(kDedupeBufferBytes) + (32 << 20))
        << "compaction memory must stay within the dedupe buffer and its I/O buffers";
  }

  // Every key once, with its latest value, read back in chunks.
  int64_t offset = log->start_offset(), records = 0, updated = 0;
  for (int chunk = 0; chunk < 100'000 && offset < log->active_segment_base_offset(); ++chunk) {
    auto bytes = log->Read(offset, 16 << 20);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    std::string_view rest = *bytes;
    ASSERT_FALSE(rest.empty());
    while (!rest.empty()) {
      auto batch = record::RecordBatchView::Parse(rest);
      ASSERT_TRUE(batch.ok()) << batch.status();
      auto it = record::RecordIterator::Create(*batch);
      ASSERT_TRUE(it.ok()) << it.status();
      record::Record r;
      while (it->Next(&r)) {
        const int key = std::stoi(std::string(r.key->substr(4)));
        if (key >= kKeys) continue;  // the record that rolled the segment, read past it
        const bool was_updated = key % kUpdateEvery == 0;
        ASSERT_EQ(*r.value, was_updated ? "second" : "first") << *r.key;
        ++records;
        updated += was_updated;
      }
      offset = batch->last_offset() + 1;
      rest.remove_prefix(batch->size());
    }
  }
  EXPECT_EQ(records, kKeys);
  EXPECT_EQ(updated, kKeys / kUpdateEvery);
}

}  // namespace
}  // namespace runnel::storage
