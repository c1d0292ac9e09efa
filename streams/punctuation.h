// Punctuation (Kafka Streams' ProcessorContext#schedule): a callback a processor schedules from
// Init to run every `interval` of stream time or of wall-clock time, with Kafka Streams 3.x's
// rules:
//   - kStreamTime: the first punctuation is aligned to 0 and fires after the first record of the
//     task (stream time known); later ones at the first record that moves the task's stream time
//     to or past the next boundary. The punctuator gets the task's stream time, not the boundary,
//     and fires once per advance however many intervals it skipped; the next boundary is then the
//     first one after that stream time. Stream time moves only with records (or with
//     window.idle.close.ms, see streams/README.md), never with wall-clock time.
//   - kWallClockTime: the first punctuation is due interval after Schedule; each fires from the
//     stream thread's loop (after each Poll, so also when no records arrive; at most every
//     100 ms) or from TopologyTestDriver::AdvanceWallClockTime, with the wall-clock time, once
//     per pass however many intervals passed.
// During a punctuation the context has no current record: topic() is "" and offset() -1, and a
// store write is changelogged with the punctuation's time.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace runnel::streams {

namespace internal {
class TaskContext;
}  // namespace internal

enum class PunctuationType { kStreamTime, kWallClockTime };

// Called with the stream time or wall-clock time (ms) at which the punctuation fires. An error
// fails the task, as a processing error does.
using Punctuator = std::function<absl::Status(int64_t timestamp)>;

// What Schedule returns (Kafka's Cancellable): Cancel stops the punctuation, also from within the
// punctuator itself. Borrows the task's context: use it only while the task lives (from the
// processor that scheduled it, before Close returns).
class Cancellable {
 public:
  void Cancel();

 private:
  friend class internal::TaskContext;
  Cancellable(internal::TaskContext* context, int64_t id) : context_(context), id_(id) {}
  internal::TaskContext* context_;
  int64_t id_;
};

}  // namespace runnel::streams
