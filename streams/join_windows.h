// JoinWindows (Kafka Streams' JoinWindows): which records of two streams a windowed
// KStream-KStream join pairs, and how long it waits for out-of-order ones.
//
// A left record at tl and a right record at tr with the same key join when
//   tl - before <= tr <= tl + after          (both bounds inclusive)
// OfTimeDifference* sets before = after = the time difference; Before / After move one bound.
// The window of a left record closes once stream time > tl + after + grace, that of a right
// record once stream time > tr + before + grace (stream time: the largest timestamp either side
// of the join has seen). A record whose window has closed when it arrives is late: dropped and
// counted. The exact rules, including when a left or outer join emits an unmatched record, are
// with the processor (streams/internal/join_processors.h).
#pragma once

#include <cstdint>

namespace runnel::streams {

class JoinWindows {
 public:
  // Records at most `time_difference_ms` apart join; no out-of-order record is admitted after
  // its window closes.
  static JoinWindows OfTimeDifferenceWithNoGrace(int64_t time_difference_ms) {
    return JoinWindows(time_difference_ms, time_difference_ms, 0);
  }
  // As above, and a record is still admitted for `grace_ms` after its window closes.
  static JoinWindows OfTimeDifferenceAndGrace(int64_t time_difference_ms, int64_t grace_ms) {
    return JoinWindows(time_difference_ms, time_difference_ms, grace_ms);
  }
  // A right record may be up to `before_ms` earlier than the left one (may be negative, as long
  // as before + after >= 0).
  JoinWindows Before(int64_t before_ms) const {
    return JoinWindows(before_ms, after_ms_, grace_ms_);
  }
  // A right record may be up to `after_ms` later than the left one.
  JoinWindows After(int64_t after_ms) const { return JoinWindows(before_ms_, after_ms, grace_ms_); }

  int64_t before_ms() const { return before_ms_; }
  int64_t after_ms() const { return after_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  // Kafka's JoinWindows#size: the length of a record's window.
  int64_t size_ms() const { return before_ms_ + after_ms_; }
  bool valid() const { return before_ms_ + after_ms_ >= 0 && grace_ms_ >= 0; }

 private:
  JoinWindows(int64_t before, int64_t after, int64_t grace)
      : before_ms_(before), after_ms_(after), grace_ms_(grace) {}
  int64_t before_ms_;
  int64_t after_ms_;
  int64_t grace_ms_;
};

}  // namespace runnel::streams
