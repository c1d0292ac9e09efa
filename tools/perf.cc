#include "tools/perf.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/mutex.h"
#include "common/status_macros.h"
#include "tools/record_commands.h"

namespace runnel::tools {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr size_t kMaxSamples = 1 << 20;

// Latency samples in microseconds, every `stride`-th record, so memory stays bounded.
class Latencies {
 public:
  explicit Latencies(int64_t expected)
      : stride_(std::max<int64_t>(1, expected / static_cast<int64_t>(kMaxSamples))) {}
  bool Wanted(int64_t index) const { return index % stride_ == 0; }
  void Add(int64_t micros) {
    MutexLock lock(&mu_);
    samples_.push_back(micros);
  }
  // The q-quantile in ms; 0 without samples.
  double QuantileMs(double q) {
    MutexLock lock(&mu_);
    if (samples_.empty()) return 0;
    const size_t i = std::min(samples_.size() - 1, static_cast<size_t>(q * samples_.size()));
    std::nth_element(samples_.begin(), samples_.begin() + static_cast<ptrdiff_t>(i),
                     samples_.end());
    return static_cast<double>(samples_[i]) / 1000.0;
  }

 private:
  const int64_t stride_;
  Mutex mu_;
  std::vector<int64_t> samples_ ABSL_GUARDED_BY(mu_);
};

// Prints "N records, R rec/s, M MB/s" to `progress` at most once a second.
class Progress {
 public:
  Progress(std::ostream& progress, std::string what)
      : progress_(progress), what_(std::move(what)) {}
  void Maybe(int64_t records, int64_t bytes) {
    const auto now = Clock::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    const double dt = std::chrono::duration<double>(now - last_).count();
    progress_ << absl::StrFormat("%s: %d records, %.0f records/s, %.1f MB/s\n", what_, records,
                                 static_cast<double>(records - last_records_) / dt,
                                 static_cast<double>(bytes - last_bytes_) / dt / kMiB);
    progress_.flush();
    last_ = now;
    last_records_ = records;
    last_bytes_ = bytes;
  }

 private:
  std::ostream& progress_;
  const std::string what_;
  Clock::time_point last_ = Clock::now();
  int64_t last_records_ = 0;
  int64_t last_bytes_ = 0;
};

std::string ResultJson(int64_t records, int64_t bytes, double seconds, Latencies& latencies) {
  return absl::StrFormat(
      "{\"records\":%d,\"bytes\":%d,\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f}",
      records, bytes, seconds, static_cast<double>(records) / seconds,
      static_cast<double>(bytes) / seconds / kMiB, latencies.QuantileMs(0.5),
      latencies.QuantileMs(0.99), latencies.QuantileMs(0.999));
}

}  // namespace

absl::Status PerfProduce(const PerfProduceOptions& options, std::ostream& out,
                         std::ostream& progress) {
  if (options.records <= 0) return absl::InvalidArgumentError("--records must be positive");
  if (options.record_size < 0) return absl::InvalidArgumentError("--record-size is negative");
  client::Properties properties{{"bootstrap.servers", options.brokers},
                                {"acks", options.acks},
                                {"batch.size", absl::StrCat(options.batch_bytes)},
                                {"linger.ms", absl::StrCat(options.linger_ms)},
                                {"compression.type", options.compression}};
  // Random upper-case letters, as Kafka's producer perf tool sends.
  client::ProducerRecord record;
  record.topic = options.topic;
  record.value = std::string(static_cast<size_t>(options.record_size), 'A');
  std::mt19937 random(42);
  for (char& c : *record.value) c = static_cast<char>('A' + random() % 26);

  Latencies latencies(options.records);
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
  Mutex error_mu;
  absl::Status first_error;
  // Declared after everything its callbacks touch, so it is closed (callbacks done) before they
  // go away on any return path.
  ASSIGN_OR_RETURN(auto producer, client::Producer::Create(properties));
  Progress report(progress, "perf produce");
  const auto start = Clock::now();
  for (int64_t i = 0; i < options.records; ++i) {
    if (options.throughput > 0) {
      // Sleep only once ahead by a millisecond: a sleep per record would cost more CPU than
      // the sending (Kafka's throughput throttler works the same way).
      const auto due = start + std::chrono::microseconds(i * 1000000 / options.throughput);
      if (due - Clock::now() > std::chrono::milliseconds(1)) std::this_thread::sleep_until(due);
    }
    const int64_t sent_us = latencies.Wanted(i) ? WallMicros() : -1;
    RETURN_IF_ERROR(
        producer->Send(record, [&, sent_us](const absl::StatusOr<client::RecordMetadata>& result) {
          if (!result.ok()) {
            if (failed++ == 0) {
              MutexLock lock(&error_mu);
              first_error = result.status();
            }
            return;
          }
          acked.fetch_add(1, std::memory_order_relaxed);
          if (sent_us >= 0) latencies.Add(WallMicros() - sent_us);
        }));
    if ((i & 1023) == 0) report.Maybe(acked.load(), acked.load() * options.record_size);
  }
  producer->Flush();
  const double seconds = SecondsSince(start);
  producer->Close();
  if (failed > 0) {
    MutexLock lock(&error_mu);
    return absl::Status(first_error.code(),
                        absl::StrCat(failed.load(), " of ", options.records,
                                     " records failed, the first: ", first_error.message()));
  }
  out << ResultJson(options.records, options.records * options.record_size, seconds, latencies)
      << "\n";
  return absl::OkStatus();
}

absl::Status PerfConsume(const PerfConsumeOptions& options, std::ostream& out,
                         std::ostream& progress) {
  if (options.records <= 0) return absl::InvalidArgumentError("--records must be positive");
  ASSIGN_OR_RETURN(std::vector<client::TopicPartition> partitions,
                   TopicPartitions(options.brokers, options.topic));
  client::Properties properties{{"bootstrap.servers", options.brokers},
                                {"auto.offset.reset", options.from_latest ? "latest" : "earliest"}};
  ASSIGN_OR_RETURN(auto consumer, client::Consumer::Create(properties));
  RETURN_IF_ERROR(consumer->Assign(partitions));
  for (const auto& tp : partitions) RETURN_IF_ERROR(consumer->Position(tp).status());
  if (options.from_latest) progress << "perf consume: waiting for records\n";

  Latencies latencies(options.records);
  Progress report(progress, "perf consume");
  int64_t records = 0;
  int64_t bytes = 0;
  const auto start = Clock::now();
  auto last_record = start;
  while (records < options.records) {
    ASSIGN_OR_RETURN(std::vector<client::ConsumerRecord> batch, consumer->Poll(100));
    const auto now = Clock::now();
    if (batch.empty()) {
      if (now - last_record > std::chrono::milliseconds(options.timeout_ms)) {
        return absl::DeadlineExceededError(absl::StrCat("only ", records, " of ", options.records,
                                                        " records within --timeout-ms ",
                                                        options.timeout_ms, " of the last one"));
      }
      continue;
    }
    last_record = now;
    const int64_t now_us = WallMicros();
    for (const client::ConsumerRecord& r : batch) {
      if (latencies.Wanted(records)) latencies.Add(now_us - r.timestamp * 1000);
      bytes += static_cast<int64_t>(r.value.value_or("").size() + r.key.value_or("").size());
      if (++records == options.records) break;
    }
    report.Maybe(records, bytes);
  }
  const double seconds = SecondsSince(start);
  consumer->Close();
  out << ResultJson(records, bytes, seconds, latencies) << "\n";
  return absl::OkStatus();
}

}  // namespace runnel::tools
