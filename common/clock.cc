#include "common/clock.h"

#include "common/check.h"

namespace runnel {
namespace {

class RealClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  SteadyPoint SteadyNow() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

const Clock& Clock::Real() {
  static const RealClock* const clock = new RealClock();  // never destroyed: used until exit
  return *clock;
}

void ManualClock::Advance(std::chrono::nanoseconds duration) {
  RUNNEL_CHECK(duration.count() >= 0, "ManualClock::Advance by a negative duration (%d ns)",
               duration.count());
  wall_ns_.fetch_add(duration.count(), std::memory_order_relaxed);
  steady_ns_.fetch_add(duration.count(), std::memory_order_relaxed);
}

}  // namespace runnel
