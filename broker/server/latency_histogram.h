// LatencyHistogram: a lock-free Prometheus histogram of request latencies with fixed buckets from
// 100 µs to 10 s, rendered as `<name>_bucket{le="..."}`, `<name>_sum` and `<name>_count` in
// seconds. Observe may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace runnel::broker {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds.
  static constexpr std::array<int64_t, 16> kBoundsMicros = {
      100,   250,    500,    1000,   2500,    5000,    10000,   25000,
      50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

  void Observe(std::chrono::steady_clock::duration d) {
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    size_t i = 0;
    while (i < kBoundsMicros.size() && us > kBoundsMicros[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_micros_.fetch_add(us, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  void AppendPrometheus(std::string* out, std::string_view name, std::string_view help) const {
    const std::string n(name);
    absl::StrAppend(out, "# HELP ", n, " ", std::string(help), "\n# TYPE ", n, " histogram\n");
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBoundsMicros.size(); ++i) {
      cumulative += buckets_[i].load(std::memory_order_relaxed);
      absl::StrAppend(out, n, "_bucket{le=\"", static_cast<double>(kBoundsMicros[i]) / 1e6, "\"} ",
                      cumulative, "\n");
    }
    cumulative += buckets_[kBoundsMicros.size()].load(std::memory_order_relaxed);
    absl::StrAppend(out, n, "_bucket{le=\"+Inf\"} ", cumulative, "\n", n, "_sum ",
                    static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6, "\n", n,
                    "_count ", count_.load(std::memory_order_relaxed), "\n");
  }

 private:
  std::array<std::atomic<int64_t>, kBoundsMicros.size() + 1> buckets_{};
  std::atomic<int64_t> sum_micros_{0};
  std::atomic<int64_t> count_{0};
};

}  // namespace runnel::broker
