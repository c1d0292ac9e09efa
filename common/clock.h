// Clock: where code that decides by time reads it (Kafka's Time / MockTime). Production code uses
// Clock::Real(); tests and simulations pass a ManualClock and move time themselves instead of
// sleeping, so a test about a 45 s session timeout runs in microseconds and never flakes.
//
// Two readings, for two kinds of decision:
//   NowMs()     wall time, milliseconds since the Unix epoch: record timestamps, retention.ms,
//               segment.ms, delete horizons, producer-id expiry — what is stored or compared with
//               stored times across restarts. It may jump (NTP), so never measure an interval
//               with it inside one process.
//   SteadyNow() a monotonic point: deadlines and intervals inside one process (session and
//               rebalance timeouts, linger, retry backoff, commit intervals).
//
// What is not behaviour reads the real clock directly: latency metrics, gRPC deadlines (gRPC
// measures them against the system clock itself) and how long a background thread sleeps between
// rounds (the round, not the sleep, takes the time from the Clock).
//
// Thread-safety: every method of both classes may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace runnel {

class Clock {
 public:
  using SteadyPoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
  virtual SteadyPoint SteadyNow() const = 0;

  // The process's real clock (system_clock and steady_clock); lives for the whole process.
  static const Clock& Real();
};

// Time that moves only when told. Starts at `now_ms` wall time and at an arbitrary steady point.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = kDefaultStartMs) : wall_ns_(now_ms * kNsPerMs) {}

  int64_t NowMs() const override { return wall_ns_.load(std::memory_order_relaxed) / kNsPerMs; }
  SteadyPoint SteadyNow() const override {
    return SteadyPoint(std::chrono::nanoseconds(steady_ns_.load(std::memory_order_relaxed)));
  }

  // Moves both readings forward by `duration` (>= 0).
  void Advance(std::chrono::nanoseconds duration);
  void AdvanceMs(int64_t ms) { Advance(std::chrono::milliseconds(ms)); }
  // Sets the wall reading only, backwards too, as a wall clock may be set; steady time is
  // untouched.
  void SetNowMs(int64_t now_ms) { wall_ns_.store(now_ms * kNsPerMs, std::memory_order_relaxed); }

  static constexpr int64_t kDefaultStartMs = 1'700'000'000'000;  // 2023-11-14, any fixed day

 private:
  static constexpr int64_t kNsPerMs = 1'000'000;
  // Nanoseconds, so that many small Advance steps move the wall reading as far as the steady one.
  std::atomic<int64_t> wall_ns_;
  // Starts an hour after the epoch of steady_clock, so `SteadyNow() - 1h` is still a valid point.
  std::atomic<int64_t> steady_ns_{int64_t{3600} * 1'000'000'000};
};

}  // namespace runnel
