// The window kinds of windowed aggregations (KGroupedStream::WindowedBy), Kafka Streams' names:
//   TimeWindows     tumbling (advance == size) and hopping (advance < size), aligned to the
//                   epoch, each covering [start, end); a window accepts records while
//                   stream time < end + grace.
//   SlidingWindows  windows of a fixed time difference around the records, [start, end] with both
//                   bounds inclusive and end - start == time difference; a window accepts records
//                   while stream time <= end + grace.
//   SessionWindows  per-key sessions of activity, [first record, last record] inclusive, that end
//                   where records are more than the inactivity gap apart; a session can still
//                   grow while stream time <= end + gap + grace.
// The exact rules are with the processors (streams/internal/sliding_window_processors.h and
// session_window_processors.h).
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

// Sliding windows (Kafka Streams' SlidingWindows): every window [start, end] with end - start ==
// time difference that holds at least one record, but only those windows at which the set of
// records changes (a record's "left" window ending at it and its "right" window starting just
// after it), so a record is counted in a window with each other record no more than the time
// difference away.
class SlidingWindows {
 public:
  static SlidingWindows OfTimeDifferenceWithNoGrace(int64_t time_difference_ms) {
    return SlidingWindows(time_difference_ms, 0);
  }
  static SlidingWindows OfTimeDifferenceAndGrace(int64_t time_difference_ms, int64_t grace_ms) {
    return SlidingWindows(time_difference_ms, grace_ms);
  }

  int64_t time_difference_ms() const { return time_difference_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  bool valid() const { return time_difference_ms_ > 0 && grace_ms_ >= 0; }

 private:
  SlidingWindows(int64_t difference, int64_t grace)
      : time_difference_ms_(difference), grace_ms_(grace) {}
  int64_t time_difference_ms_;
  int64_t grace_ms_;
};

// Session windows (Kafka Streams' SessionWindows): the records of a key that are at most
// `inactivity_gap_ms` apart form one session [first timestamp, last timestamp]; a record within
// the gap of two sessions merges them.
class SessionWindows {
 public:
  static SessionWindows OfInactivityGapWithNoGrace(int64_t inactivity_gap_ms) {
    return SessionWindows(inactivity_gap_ms, 0);
  }
  static SessionWindows OfInactivityGapAndGrace(int64_t inactivity_gap_ms, int64_t grace_ms) {
    return SessionWindows(inactivity_gap_ms, grace_ms);
  }

  int64_t inactivity_gap_ms() const { return inactivity_gap_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  bool valid() const { return inactivity_gap_ms_ > 0 && grace_ms_ >= 0; }

 private:
  SessionWindows(int64_t gap, int64_t grace) : inactivity_gap_ms_(gap), grace_ms_(grace) {}
  int64_t inactivity_gap_ms_;
  int64_t grace_ms_;
};

}  // namespace runnel::streams
