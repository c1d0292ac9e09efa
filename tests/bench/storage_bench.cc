// Storage benchmarks (issue 4). Each figure is printed next to this machine's own limit, measured
// in the same run with a plain write loop over the same files:
//   BM_RawWrite / BM_Append*                buffered sequential write bandwidth vs Log::Append
//   BM_RawWriteSync / BM_DurableAppend*     write+fdatasync bandwidth and fsyncs/s vs group commit
//   BM_SequentialRead                       Log::Read from the page cache
//   BM_OpenAfterCleanShutdown / BM_RecoveryScan   restart times (size: RUNNEL_BENCH_OPEN_MIB)
//   BM_ManyPartitions                       RSS and descriptors with 10,000 open partitions
//   BM_Compaction                           the log cleaner: MB/s and peak memory, 1M and 10M keys
// Files go under $RUNNEL_BENCH_DIR (default /tmp), removed afterwards; RUNNEL_BENCH_FLUSH_THREADS
// sets the flush threads of BM_DurableAppendBusyPartitions (default Flusher::kDefaultThreads).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include "common/record/batch_builder.h"
#include "storage/log_manager.h"

namespace runnel::storage {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("RUNNEL_BENCH_DIR");
    std::string tmpl = (fs::path(base ? base : "/tmp") / "runnel-bench-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A batch of `bytes` total made of 100-byte records (the workload).
std::string MakeBatch(size_t bytes) {
  record::RecordBatchBuilder builder;
  const std::string value(100, 'v');
  for (int i = 0;; ++i) {
    const std::string key = "key-" + std::to_string(i % 1000);
    if (i > 0 && builder.SizeAfterAppend(i, key, value) > bytes) break;
    builder.Append(1700000000000 + i, key, value);
  }
  return *builder.Build();
}

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

// --- Machine limits ----------------------------------------------------------------------------

// Plain write(2) loop shaped like the log: 256 MiB files, the oldest deleted beyond 512 MiB.
// Arg 1: with sync_on_roll, each full file is fdatasync'd on a background thread, as the log
// syncs a rolled segment; without it the data may never leave the page cache.
void BM_RawWrite(benchmark::State& state) {
  ScratchDir dir;
  const std::string chunk(state.range(0), 'x');
  const bool sync_on_roll = state.range(1) != 0;
  std::thread syncer;
  int file_no = 0;
  auto open_next = [&] {
    if (file_no >= 2) fs::remove(dir.path() + "/raw" + std::to_string(file_no - 2));
    return ::open((dir.path() + "/raw" + std::to_string(file_no++)).c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC, 0644);
  };
  int fd = open_next();
  int64_t bytes = 0, in_file = 0;
  for (auto _ : state) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      state.SkipWithError("write failed");
      break;
    }
    bytes += chunk.size();
    if ((in_file += chunk.size()) >= (256 << 20)) {
      if (syncer.joinable()) syncer.join();
      if (sync_on_roll) {
        syncer = std::thread([old = fd] {
          ::fdatasync(old);
          ::close(old);
        });
      } else {
        ::close(fd);
      }
      fd = open_next();
      in_file = 0;
    }
  }
  if (syncer.joinable()) syncer.join();
  ::close(fd);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_RawWrite)
    ->ArgNames({"chunk", "sync_on_roll"})
    ->Args({16 << 10, 0})
    ->Args({16 << 10, 1})
    ->MinTime(3)
    ->UseRealTime();

void BM_RawWriteSync(benchmark::State& state) {
  ScratchDir dir;
  const std::string chunk(state.range(0), 'x');
  const int fd = ::open((dir.path() + "/raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int64_t bytes = 0;
  for (auto _ : state) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write/fdatasync failed");
      break;
    }
    bytes += chunk.size();
  }
  ::close(fd);
  state.SetBytesProcessed(bytes);
  state.counters["syncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RawWriteSync)->Arg(1 << 10)->Arg(4 << 10)->Arg(1 << 20)->MinTime(2);

// --- Appends -----------------------------------------------------------------------------------

void BM_AppendOnePartition(benchmark::State& state) {
  ScratchDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 256 << 20;
  config.retention_bytes = 512 << 20;  // bounded disk use in long runs
  auto log = *Log::Open(dir.path() + "/p-0", config, &flusher);
  const std::string batch = MakeBatch(16 << 10);
  int64_t bytes = 0, appends = 0;
  for (auto _ : state) {
    if (!log->Append(batch).ok()) state.SkipWithError("append failed");
    bytes += batch.size();
    if (++appends % 20000 == 0) log->ApplyRetention().IgnoreError();
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_AppendOnePartition)->MinTime(3)->UseRealTime();

void BM_AppendThousandPartitions(benchmark::State& state) {
  ScratchDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.maintenance_interval_ms = 0;
  options.defaults.segment_bytes = 64 << 20;
  auto manager = *LogManager::Open(options);
  std::vector<std::shared_ptr<Log>> logs;
  for (int p = 0; p < 1000; ++p) logs.push_back(*manager->GetOrCreate({"t", p}));
  const std::string batch = MakeBatch(16 << 10);
  int64_t bytes = 0;
  size_t next = 0;
  for (auto _ : state) {
    if (!logs[next]->Append(batch).ok()) state.SkipWithError("append failed");
    next = (next + 1) % logs.size();
    bytes += batch.size();
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_AppendThousandPartitions)->MinTime(3)->UseRealTime();

// 8 writer threads, each waiting for its own durable acknowledgement before the next append:
// group commit lets one fdatasync cover the appends of all waiting writers.
void BM_DurableAppend(benchmark::State& state) {
  ScratchDir dir;
  Flusher flusher;
  LogConfig config;
  config.segment_bytes = 1 << 30;
  auto log = *Log::Open(dir.path() + "/p-0", config, &flusher);
  const std::string batch = MakeBatch(state.range(0));
  constexpr int kWriters = 8;
  const int64_t rounds_before = flusher.sync_rounds();
  for (auto _ : state) {
    // One "iteration" = every writer appends one batch durably.
    std::atomic<int> pending{kWriters};
    std::promise<void> all_done;
    for (int w = 0; w < kWriters; ++w) {
      auto r = log->Append(batch, [&](absl::Status) {
        if (--pending == 0) all_done.set_value();
      });
      if (!r.ok()) state.SkipWithError("append failed");
    }
    all_done.get_future().wait();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kWriters * batch.size());
  state.counters["durable_appends_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kWriters, benchmark::Counter::kIsRate);
  state.counters["appends_per_sync"] =
      static_cast<double>(state.iterations()) * kWriters /
      static_cast<double>(std::max<int64_t>(1, flusher.sync_rounds() - rounds_before));
}
BENCHMARK(BM_DurableAppend)->Arg(1 << 10)->Arg(1 << 20)->MinTime(2)->UseRealTime();

// Writers on their own threads, each waiting for its own ack (the broker's shape).
void BM_DurableAppendThreads(benchmark::State& state) {
  ScratchDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path() + "/p-0", LogConfig{}, &flusher);
  const std::string batch = MakeBatch(1 << 10);
  const int writers = static_cast<int>(state.range(0));
  std::atomic<int64_t> acked{0};
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&] {
        for (int i = 0; i < 500; ++i) {
          std::promise<void> done;
          (void)log->Append(batch, [&](absl::Status) { done.set_value(); });
          done.get_future().wait();
          ++acked;
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  state.counters["durable_appends_per_s"] =
      benchmark::Counter(static_cast<double>(acked.load()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DurableAppendThreads)->Arg(8)->Arg(64)->Iterations(3)->UseRealTime();

// N busy partitions, each with one durable append in flight at a time (an acks=all producer per
// partition): the time from Append to its acknowledgement, p50 and p99. With one flush thread
// answering nobody until every dirty log is synced, this grows with N; with parallel syncs that
// answer each log's waiters as its own sync returns, it should not grow much faster than the
// disk's own fdatasync latency under N concurrent writers.
void BM_DurableAppendBusyPartitions(benchmark::State& state) {
  ScratchDir dir;
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.maintenance_interval_ms = 0;
  auto manager = *LogManager::Open(options);
  options.flush_threads =
      static_cast<int>(EnvInt("RUNNEL_BENCH_FLUSH_THREADS", options.flush_threads));
  const int partitions = static_cast<int>(state.range(0));
  std::vector<std::shared_ptr<Log>> logs;
  for (int p = 0; p < partitions; ++p) logs.push_back(*manager->GetOrCreate({"t", p}));
  const std::string batch = MakeBatch(1 << 10);
  std::vector<int64_t> latencies_us;
  latencies_us.reserve(1 << 16);
  for (auto _ : state) {
    // One iteration: every partition appends one batch durably; all are in flight together.
    std::vector<int64_t> took(static_cast<size_t>(partitions));
    std::atomic<int> pending{partitions};
    std::promise<void> all_done;
    for (int p = 0; p < partitions; ++p) {
      const auto sent = std::chrono::steady_clock::now();
      auto r = logs[p]->Append(batch, [&, p, sent](absl::Status) {
        took[p] = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - sent)
                      .count();
        if (--pending == 0) all_done.set_value();
      });
      if (!r.ok()) state.SkipWithError("append failed");
    }
    all_done.get_future().wait();
    latencies_us.insert(latencies_us.end(), took.begin(), took.end());
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto quantile_ms = [&](double q) {
    if (latencies_us.empty()) return 0.0;
    const size_t i = std::min(latencies_us.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(latencies_us.size())));
    return static_cast<double>(latencies_us[i]) / 1000.0;
  };
  state.counters["ack_p50_ms"] = quantile_ms(0.5);
  state.counters["ack_p99_ms"] = quantile_ms(0.99);
  state.counters["durable_appends_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * partitions, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DurableAppendBusyPartitions)
    ->Arg(1)
    ->Arg(8)
    ->Arg(100)
    ->Arg(1000)
    ->MinTime(3)
    ->UseRealTime();

// --- Reads -------------------------------------------------------------------------------------

void BM_SequentialRead(benchmark::State& state) {
  ScratchDir dir;
  Flusher flusher;
  auto log = *Log::Open(dir.path() + "/p-0", LogConfig{}, &flusher);
  const std::string batch = MakeBatch(16 << 10);
  for (int i = 0; i < (256 << 20) / static_cast<int>(batch.size()); ++i) (void)log->Append(batch);
  int64_t bytes = 0, offset = 0;
  for (auto _ : state) {
    auto data = log->Read(offset, 1 << 20);
    bytes += data->size();
    const auto last =
        record::RecordBatchView::Parse(std::string_view(*data).substr(data->size() - batch.size()));
    offset = last->last_offset() + 1;
    if (offset >= log->end_offset()) offset = 0;
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_SequentialRead)->MinTime(2);

// --- Restart -----------------------------------------------------------------------------------

// Writes `mib` MiB of 1 MiB batches into one partition.
void FillLog(const std::string& dir, const LogConfig& config, int64_t mib, bool clean) {
  Flusher flusher;
  auto log = *Log::Open(dir, config, &flusher);
  const std::string batch = MakeBatch(1 << 20);
  for (int64_t i = 0; i < mib; ++i) (void)log->Append(batch);
  if (clean) (void)log->Close();
}

void BM_OpenAfterCleanShutdown(benchmark::State& state) {
  ScratchDir dir;
  FillLog(dir.path() + "/p-0", LogConfig{}, EnvInt("RUNNEL_BENCH_OPEN_MIB", 1024), /*clean=*/true);
  Flusher flusher;
  for (auto _ : state) {
    auto log = *Log::Open(dir.path() + "/p-0", LogConfig{}, &flusher);
    state.PauseTiming();
    state.counters["log_mib"] = static_cast<double>(log->size_bytes() >> 20);
    (void)log->Close();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_OpenAfterCleanShutdown)->Iterations(5)->Unit(benchmark::kMillisecond);

// One active segment of RUNNEL_BENCH_RECOVERY_MIB (default 1024, at most 2047) and no
// clean-shutdown marker: every open scans and CRC-checks all of it.
void BM_RecoveryScan(benchmark::State& state) {
  ScratchDir dir;
  LogConfig config;
  config.segment_bytes = std::numeric_limits<int32_t>::max();
  FillLog(dir.path() + "/p-0", config,
          std::min<int64_t>(2047, EnvInt("RUNNEL_BENCH_RECOVERY_MIB", 1024)), /*clean=*/false);
  Flusher flusher;
  int64_t bytes = 0;
  for (auto _ : state) {
    LogOpenReport report;
    auto log = *Log::Open(dir.path() + "/p-0", config, &flusher, &Clock::Real(), &report);
    if (report.clean_shutdown || log->segment_count() != 1) state.SkipWithError("no scan");
    bytes += static_cast<int64_t>(log->size_bytes());
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_RecoveryScan)->Iterations(3)->Unit(benchmark::kMillisecond);

// --- Many partitions ---------------------------------------------------------------------------

int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int64_t OpenFds() {
  int64_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

void BM_ManyPartitions(benchmark::State& state) {
  ScratchDir dir;
  const int partitions = static_cast<int>(state.range(0));
  LogManagerOptions options;
  options.data_dir = dir.path();
  options.maintenance_interval_ms = 0;
  {
    auto manager = *LogManager::Open(options);
    const std::string batch = MakeBatch(1 << 10);
    for (int p = 0; p < partitions; ++p) (void)(*manager->GetOrCreate({"t", p}))->Append(batch);
    (void)manager->Close();
  }
  for (auto _ : state) {
    const int64_t rss_before = RssBytes(), fds_before = OpenFds();
    const auto start = std::chrono::steady_clock::now();
    auto manager = *LogManager::Open(options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.counters["open_s"] = seconds;
    state.counters["rss_bytes_per_partition"] =
        static_cast<double>(RssBytes() - rss_before) / partitions;
    state.counters["fds_per_partition"] = static_cast<double>(OpenFds() - fds_before) / partitions;
    state.PauseTiming();
    (void)manager->Close();
    manager.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ManyPartitions)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond);

// --- Compaction ----------------------------------------------------------------------------------

// The log cleaner on a log of `keys` distinct keys (20-byte records, batches of 2,000) with every
// 10th key written twice, compacted with a 64 MiB dedupe buffer (2.1M keys a round): MB/s of the
// log's size and the peak growth of resident memory while it runs (sampled every millisecond).
void BM_Compaction(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  constexpr size_t kDedupeBuffer = 64 << 20;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    Flusher flusher;
    LogConfig config;
    config.segment_bytes = 64 << 20;
    config.cleanup_compact = true;
    config.cleanup_delete = false;
    auto log = *Log::Open(dir.path(), config, &flusher);
    auto append = [&](int count, int step, const std::string& value) {
      record::RecordBatchBuilder builder;
      char key[16];
      for (int i = 0; i < count; ++i) {
        std::snprintf(key, sizeof key, "key-%08d", i * step);
        builder.Append(1000, key, value);
        if (builder.record_count() == 2000 || i + 1 == count) (void)log->Append(*builder.Build());
      }
    };
    append(keys, 1, "first");
    append(keys / 10, 10, "second");
    LogConfig roll = config;
    roll.segment_bytes = 14;
    log->SetConfig(roll);
    append(1, 1, "roll");
    (void)log->Flush();
    const uint64_t bytes = log->size_bytes();
    const int64_t rss_before = RssBytes();
    std::atomic<bool> done{false};
    std::atomic<int64_t> peak{rss_before};
    std::thread sampler([&] {
      while (!done.load()) {
        peak.store(std::max(peak.load(), RssBytes()));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    const absl::Status compacted = log->Compact(kDedupeBuffer);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    done.store(true);
    sampler.join();
    if (!compacted.ok()) state.SkipWithError(compacted.ToString().c_str());
    state.counters["log_MB"] = static_cast<double>(bytes) / 1e6;
    state.counters["MB_per_s"] = static_cast<double>(bytes) / 1e6 / seconds;
    state.counters["peak_rss_growth_MB"] = static_cast<double>(peak.load() - rss_before) / 1e6;
    log.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Compaction)
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace runnel::storage
