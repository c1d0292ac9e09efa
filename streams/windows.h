// Time windows: tumbling (advance == size) and hopping (advance < size), aligned to the epoch,
// each covering [start, end). A window accepts records while stream time < end + grace.
#pragma once

#include <cstdint>
#include <vector>

namespace runnel::streams {

class TimeWindows {
 public:
  // Tumbling windows of `size_ms` that close as soon as stream time reaches their end.
  static TimeWindows OfSizeWithNoGrace(int64_t size_ms) { return TimeWindows(size_ms, size_ms, 0); }
  // Tumbling windows of `size_ms` that accept late records for `grace_ms` after their end.
  static TimeWindows OfSizeAndGrace(int64_t size_ms, int64_t grace_ms) {
    return TimeWindows(size_ms, size_ms, grace_ms);
  }
  // Hopping windows: a new window every `advance_ms` (0 < advance <= size).
  TimeWindows AdvanceBy(int64_t advance_ms) const {
    return TimeWindows(size_ms_, advance_ms, grace_ms_);
  }

  int64_t size_ms() const { return size_ms_; }
  int64_t advance_ms() const { return advance_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  bool valid() const {
    return size_ms_ > 0 && advance_ms_ > 0 && advance_ms_ <= size_ms_ && grace_ms_ >= 0;
  }

  // The starts of the windows that contain `timestamp` (>= 0), oldest first: every multiple of
  // advance in (timestamp - size, timestamp].
  std::vector<int64_t> WindowStartsFor(int64_t timestamp) const {
    std::vector<int64_t> starts;
    // The smallest multiple of advance above timestamp - size (Kafka's TimeWindows#windowsFor).
    int64_t first = timestamp - size_ms_ + advance_ms_;
    first = first < 0 ? 0 : first / advance_ms_ * advance_ms_;
    for (int64_t start = first; start <= timestamp; start += advance_ms_) starts.push_back(start);
    return starts;
  }

 private:
  TimeWindows(int64_t size, int64_t advance, int64_t grace)
      : size_ms_(size), advance_ms_(advance), grace_ms_(grace) {}
  int64_t size_ms_;
  int64_t advance_ms_;
  int64_t grace_ms_;
};

}  // namespace runnel::streams
