// The processing cost of the example topologies, without a broker: records piped through the
// TopologyTestDriver (one thread, commit every 1000 records as a runtime with a commit interval
// would). In-memory vs RocksDB stores, and store restore from a changelog.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "streams/examples/example_topologies.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams::examples {
namespace {

std::unique_ptr<TopologyTestDriver> MakeDriver(const absl::StatusOr<Topology>& topology,
                                               benchmark::State& state) {
  if (!topology.ok()) {
    state.SkipWithError(std::string(topology.status().message()).c_str());
    return nullptr;
  }
  TestDriverOptions options;
  options.commit_every_record = false;
  options.commit_interval_ms = 1000;  // the driver's clock moves 1 ms per record below
  auto driver = TopologyTestDriver::Create(*topology, options);
  if (!driver.ok()) {
    state.SkipWithError(std::string(driver.status().message()).c_str());
    return nullptr;
  }
  return std::move(*driver);
}

StoreType Store(const benchmark::State& state) {
  return state.range(0) == 0 ? StoreType::kInMemory : StoreType::kRocksDb;
}

void BM_WordCount(benchmark::State& state) {
  auto driver = MakeDriver(WordCountTopology("lines", "counts", Store(state)), state);
  if (driver == nullptr) return;
  const std::vector<std::string> lines{"the quick brown fox jumps over the lazy dog",
                                       "a stream of words counted word by word",
                                       "runnel counts words without a jvm"};
  int64_t i = 0;
  for (auto _ : state) {
    if (!driver->PipeRaw("lines", std::nullopt, lines[i % 3], i).ok() ||
        !driver->AdvanceWallClockTime(1).ok()) {
      state.SkipWithError("pipe failed");
      return;
    }
    ++i;
  }
  state.SetItemsProcessed(i);
  state.SetLabel(state.range(0) == 0 ? "in-memory" : "rocksdb");
}
BENCHMARK(BM_WordCount)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_StockStats(benchmark::State& state) {
  StockStatsOptions options;
  options.window_ms = 60'000;
  options.store = Store(state);
  auto driver = MakeDriver(StockStatsTopology("trades", "stats", options), state);
  if (driver == nullptr) return;
  const std::vector<std::string> symbols{"AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"};
  int64_t i = 0;
  char price[16];
  for (auto _ : state) {
    std::snprintf(price, sizeof(price), "%d.%02d", 10 + static_cast<int>(i % 90),
                  static_cast<int>(i % 100));
    if (!driver->PipeRaw("trades", symbols[i % symbols.size()], std::string(price), i * 10).ok() ||
        !driver->AdvanceWallClockTime(1).ok()) {
      state.SkipWithError("pipe failed");
      return;
    }
    ++i;
  }
  state.SetItemsProcessed(i);
  state.SetLabel(state.range(0) == 0 ? "in-memory" : "rocksdb");
}
BENCHMARK(BM_StockStats)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Restore: state.range(1) distinct words counted, then every task restarted; one iteration is
// one restore of the whole changelog.
void BM_RestoreWordCounts(benchmark::State& state) {
  auto driver = MakeDriver(WordCountTopology("lines", "counts", Store(state)), state);
  if (driver == nullptr) return;
  const int64_t words = state.range(1);
  for (int64_t i = 0; i < words; ++i) {
    if (!driver->PipeRaw("lines", std::nullopt, absl::StrCat("w", i), i).ok()) {
      state.SkipWithError("pipe failed");
      return;
    }
  }
  if (!driver->AdvanceWallClockTime(1000).ok()) return state.SkipWithError("commit failed");
  int64_t restored = 0;
  for (auto _ : state) {
    if (!driver->RestartTasks().ok()) return state.SkipWithError("restart failed");
    restored += driver->metrics().restored_records;  // the new tasks' restore only
  }
  state.SetItemsProcessed(restored);
  state.SetLabel(state.range(0) == 0 ? "in-memory" : "rocksdb");
}
BENCHMARK(BM_RestoreWordCounts)
    ->Args({0, 100'000})
    ->Args({1, 100'000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace runnel::streams::examples
