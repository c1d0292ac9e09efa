// Benchmarks of common/: CRC32C throughput (hardware and portable paths) and RecordBatch v2
// encode/decode of 16 KiB batches of 100-byte records per codec. Results go to
// docs/BENCHMARKS.md with the command that produced them.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/record/batch_builder.h"
#include "common/record/batch_validator.h"
#include "common/record/record_iterator.h"

namespace runnel {
namespace {

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(1);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void BM_Crc32cHardware(benchmark::State& state) {
  if (!crc32c::HardwareAvailable()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  const std::string data = RandomBytes(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(crc32c::ExtendHardware(0, data.data(), data.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cHardware)->Arg(4096)->Arg(64 * 1024)->Arg(1 << 20);

void BM_Crc32cPortable(benchmark::State& state) {
  const std::string data = RandomBytes(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(crc32c::ExtendPortable(0, data.data(), data.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cPortable)->Arg(4096)->Arg(64 * 1024)->Arg(1 << 20);

// 100-byte values of text-like data (compressible like real events), keys of ~10 bytes, filled
// until the batch reaches 16 KiB.
constexpr size_t kBatchBytes = 16 * 1024;
constexpr size_t kValueBytes = 100;

std::vector<std::string> MakeValues() {
  std::mt19937 rng(2);
  static constexpr std::string_view kWords[] = {"user",    "click", "view", "page",  "id",
                                                "session", "ts",    "ok",   "error", "cart"};
  std::vector<std::string> values(1024);
  for (auto& v : values) {
    while (v.size() < kValueBytes) {
      v += kWords[rng() % 10];
      v += rng() % 2 ? ':' : ',';
      v += std::to_string(rng() % 1000);
    }
    v.resize(kValueBytes);
  }
  return values;
}

// Appends records until the batch would exceed kBatchBytes; returns how many.
int FillBatch(record::RecordBatchBuilder* builder, const std::vector<std::string>& values) {
  int n = 0;
  for (;; ++n) {
    const std::string key = "key-" + std::to_string(n % 1000);
    const std::string& value = values[n % values.size()];
    if (builder->SizeAfterAppend(1700000000000 + n, key, value) > kBatchBytes) return n;
    builder->Append(1700000000000 + n, key, value);
  }
}

void BM_EncodeBatch(benchmark::State& state) {
  const auto codec = static_cast<record::Compression>(state.range(0));
  state.SetLabel(std::string(record::CompressionName(codec)));
  const std::vector<std::string> values = MakeValues();
  record::RecordBatchBuilder builder({.compression = codec});
  int64_t records = 0;
  for (auto _ : state) {
    records += FillBatch(&builder, values);
    auto batch = builder.Build();
    benchmark::DoNotOptimize(batch);
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EncodeBatch)->DenseRange(0, 4);

// One full 16 KiB batch in the codec given by the benchmark's argument (also its label).
struct SampleBatch {
  std::string bytes;
  int records;
};
SampleBatch BuildSample(benchmark::State& state) {
  const auto codec = static_cast<record::Compression>(state.range(0));
  state.SetLabel(std::string(record::CompressionName(codec)));
  record::RecordBatchBuilder builder({.compression = codec});
  const int records = FillBatch(&builder, MakeValues());
  return {*builder.Build(), records};
}

// Decode = validate (CRC, structure) plus iterate every record, what a consumer does.
void BM_DecodeBatch(benchmark::State& state) {
  const auto [batch, per_batch] = BuildSample(state);
  int64_t records = 0;
  for (auto _ : state) {
    auto view = record::RecordBatchView::Parse(batch);
    if (view->ComputeCrc() != view->crc()) state.SkipWithError("crc");
    auto it = record::RecordIterator::Create(*view);
    record::Record r;
    while (it->Next(&r)) benchmark::DoNotOptimize(r.value);
    records += per_batch;
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
}
BENCHMARK(BM_DecodeBatch)->DenseRange(0, 4);

void BM_ValidateBatch(benchmark::State& state) {
  const auto [batch, per_batch] = BuildSample(state);
  for (auto _ : state) {
    if (!record::ValidateBatch(batch).ok()) state.SkipWithError("invalid");
  }
  state.counters["records_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * per_batch, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ValidateBatch)->DenseRange(0, 4);

}  // namespace
}  // namespace runnel
