// The processor behind a sliding-window aggregation (KGroupedStream::WindowedBy(SlidingWindows)),
// Kafka Streams' KStreamSlidingWindowAggregate in C++.
//
// Windows are [start, end] with both bounds inclusive and end == start + time difference; they
// live in a window store keyed by start, each value the aggregate with the largest record
// timestamp in the window (EncodeTimestamped). Only the windows at which the set of records
// changes exist: for a record at t, its left window [t - d, t] and, when some later record is
// within d of it, its right window [t + 1, t + 1 + d]. A record at t
//   - updates every existing window that contains it;
//   - creates its left window if missing, seeded with the aggregate of the records already in
//     [t - d, t) (the latest window ending before t holds exactly those) or else empty;
//   - creates its right window if missing and a later record falls in it (copying the aggregate
//     of the window that holds those later records, without t);
//   - creates the right window of the record just before it when that window is missing and t
//     falls in it.
// A record earlier than d (whose left window would start below 0) goes into the window [0, d]
// instead, as in Kafka Streams.
//
// Lateness, exactly as Kafka Streams 3.x: with close = stream time - grace, a record is dropped
// whole when t + 1 + d <= close (even its right window has closed), and a single window
// [start, end] is skipped when end < close. So a window accepts records while stream time <=
// end + grace: a record arriving at stream time exactly end + grace still counts, one at
// end + grace + 1 is late. Each drop and each skipped window counts in dropped_late_records.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/record.h"
#include "streams/windows.h"

namespace runnel::streams::internal {

template <typename K, typename V, typename VA>
class SlidingWindowAggregateProcessor : public DslProcessor<K, V, Windowed<K>, Change<VA>>,
                                        public StreamTimeFollower {
 public:
  // `aggregate` gets the key, the value and the window's aggregate (nullopt: the window is new,
  // i.e. the initializer's value, or for reduce the value itself).
  using Aggregator = std::function<VA(const K&, const V&, const std::optional<VA>&)>;
  SlidingWindowAggregateProcessor(std::string store, SlidingWindows windows, Serde<K> key_serde,
                                  Serde<V> value_serde, Serde<VA> agg_serde, Aggregator aggregate,
                                  std::string late_topic)
      : store_name_(std::move(store)),
        windows_(windows),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        agg_serde_(std::move(agg_serde)),
        aggregate_(std::move(aggregate)),
        late_topic_(std::move(late_topic)) {}

  absl::Status Init(ProcessorContext<Windowed<K>, Change<VA>>& context) override {
    RETURN_IF_ERROR(SlidingWindowAggregateProcessor::DslProcessor::Init(context));
    store_ = this->task().window_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    this->task().SetFlushListener(
        store_name_,
        TaskContext::WindowFlushListener([this](const std::string& key, int64_t start,
                                                const std::optional<std::string>& new_value,
                                                const std::optional<std::string>& old_value) {
          return ForwardUpdate(key, start, new_value, old_value);
        }));
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (SkipNullKeyOrValue(this->name(), this->task(), record)) return absl::OkStatus();
    observed_ = std::max(observed_, record.timestamp);
    store_->ObserveStreamTime(observed_);
    const int64_t close = observed_ - windows_.grace_ms();
    const int64_t d = windows_.time_difference_ms();
    late_ = false;
    if (record.timestamp + 1 + d <= close) {
      Late(record, record.timestamp - d, record.timestamp, close);
    } else {
      const std::string key = key_serde_.serialize(record.key);
      RETURN_IF_ERROR(record.timestamp < d ? ProcessEarly(key, record, close)
                                           : ProcessInOrder(key, record, close));
    }
    if (late_ && !late_topic_.empty()) {
      RETURN_IF_ERROR(this->task().collector().Send(
          late_topic_, std::nullopt,
          RawRecord{key_serde_.serialize(record.key), value_serde_.serialize(record.value),
                    record.timestamp}));
    }
    return absl::OkStatus();
  }

  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    observed_ = std::max(observed_, stream_time);
    store_->ObserveStreamTime(observed_);
    return absl::OkStatus();
  }

 private:
  // A stored window: its aggregate (nullopt: none yet) and its largest record timestamp.
  struct Window {
    std::optional<VA> agg;
    int64_t timestamp = 0;
  };

  absl::StatusOr<Window> Decode(const std::string& bytes) const {
    ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(bytes));
    ASSIGN_OR_RETURN(VA agg, agg_serde_.deserialize(tv.value));
    return Window{std::move(agg), tv.timestamp};
  }

  absl::Status UnexpectedWindow(int64_t start, int64_t timestamp) const {
    return absl::InternalError(absl::StrCat(this->name(), ": store ", store_name_,
                                            " has an unexpected sliding window starting at ", start,
                                            " for a record at ", timestamp));
  }

  // Kafka's processInOrder: the windows that can matter start in [t - 2d, t + 1].
  absl::Status ProcessInOrder(const std::string& key, const Record<K, V>& record, int64_t close) {
    const int64_t t = record.timestamp;
    const int64_t d = windows_.time_difference_ms();
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> entries,
                     store_->Fetch(key, std::max<int64_t>(0, t - 2 * d), t + 1));
    std::set<int64_t> starts;
    std::optional<Window> left_agg;   // the records in [t - d, t), for a new left window
    std::optional<Window> right_agg;  // holds the records after t, for a new right window
    bool left_exists = false;
    bool right_exists = false;
    std::optional<int64_t> previous;  // the latest record before t, if it matters
    for (const WindowStore::Entry& entry : entries) {
      const int64_t start = entry.window_start;
      const int64_t end = start + d;
      starts.insert(start);
      ASSIGN_OR_RETURN(Window window, Decode(entry.value));
      if (end < t) {
        previous = window.timestamp;
        left_agg = std::move(window);
      } else if (end == t) {
        left_exists = true;
        if (window.timestamp < t) previous = window.timestamp;
        RETURN_IF_ERROR(UpdateWindow(key, start, window, record, close));
      } else if (start <= t) {
        RETURN_IF_ERROR(UpdateWindow(key, start, window, record, close));
        right_agg = std::move(window);
      } else if (start == t + 1) {
        right_exists = true;
      } else {
        return UnexpectedWindow(start, t);
      }
    }
    if (previous.has_value()) {
      const int64_t previous_right = *previous + 1;
      if (starts.count(previous_right) == 0 && previous_right + d >= t) {
        RETURN_IF_ERROR(UpdateWindow(key, previous_right, Window{std::nullopt, t}, record, close));
      }
    }
    if (!left_exists) {
      Window seed{std::nullopt, t};
      if (previous.has_value() && t - d <= *previous) {
        if (!left_agg.has_value()) return UnexpectedWindow(t - d, t);
        seed.agg = left_agg->agg;
      }
      RETURN_IF_ERROR(UpdateWindow(key, t - d, seed, record, close));
    }
    if (!right_exists && right_agg.has_value() && right_agg->timestamp > t) {
      return PutWindow(key, t + 1, *right_agg);
    }
    return absl::OkStatus();
  }

  // Kafka's processEarly, for 0 <= t < d: the record goes into the window [0, d], which stands in
  // for every left window that would start below 0.
  absl::Status ProcessEarly(const std::string& key, const Record<K, V>& record, int64_t close) {
    const int64_t t = record.timestamp;
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> entries, store_->Fetch(key, 0, t + 1));
    std::set<int64_t> starts;
    std::optional<Window> combined;  // [0, d]
    std::optional<Window> right_agg;
    bool right_exists = false;
    std::optional<int64_t> previous;
    for (const WindowStore::Entry& entry : entries) {
      const int64_t start = entry.window_start;
      starts.insert(start);
      ASSIGN_OR_RETURN(Window window, Decode(entry.value));
      if (start == 0) {
        if (window.timestamp < t) previous = window.timestamp;
        combined = std::move(window);
      } else if (start <= t) {
        RETURN_IF_ERROR(UpdateWindow(key, start, window, record, close));
        right_agg = std::move(window);
      } else if (start == t + 1) {
        right_exists = true;
      } else {
        return UnexpectedWindow(start, t);
      }
    }
    // Without another window holding later records, [0, d] holds only records after t if its
    // latest record is after t.
    if (!right_agg.has_value() && combined.has_value() && combined->timestamp > t) {
      right_agg = combined;
    }
    if (!right_exists && right_agg.has_value() && right_agg->timestamp > t) {
      RETURN_IF_ERROR(PutWindow(key, t + 1, *right_agg));
    }
    if (previous.has_value() && starts.count(*previous + 1) == 0) {
      RETURN_IF_ERROR(UpdateWindow(key, *previous + 1, Window{std::nullopt, t}, record, close));
    }
    return UpdateWindow(key, 0, combined.value_or(Window{std::nullopt, t}), record, close);
  }

  // Adds the record to the window starting at `start` (aggregate `window`), unless it closed.
  absl::Status UpdateWindow(const std::string& key, int64_t start, const Window& window,
                            const Record<K, V>& record, int64_t close) {
    const int64_t end = start + windows_.time_difference_ms();
    if (end < close) {
      Late(record, start, end, close);
      return absl::OkStatus();
    }
    Window updated{aggregate_(record.key, record.value, window.agg), record.timestamp};
    if (window.agg.has_value()) updated.timestamp = std::max(record.timestamp, window.timestamp);
    return PutWindow(key, start, updated);
  }

  absl::Status PutWindow(const std::string& key, int64_t start, const Window& window) {
    return store_->Put(key, start,
                       EncodeTimestamped(window.timestamp, agg_serde_.serialize(*window.agg)));
  }

  void Late(const Record<K, V>& record, int64_t start, int64_t end, int64_t close) {
    ++this->task().metrics().dropped_late_records;
    late_ = true;
    logging::Get("streams")->debug(
        "{}: record at {}@{} (timestamp {}) is late for sliding window [{}, {}] (close time {}, "
        "stream time {}); skipped",
        this->name(), this->task().topic(), this->task().offset(), record.timestamp, start, end,
        close, observed_);
  }

  absl::Status ForwardUpdate(const std::string& key, int64_t start,
                             const std::optional<std::string>& new_value,
                             const std::optional<std::string>& old_value) {
    Record<Windowed<K>, Change<VA>> out;
    ASSIGN_OR_RETURN(out.key.key, key_serde_.deserialize(key));
    out.key.start = start;
    out.key.end = start + windows_.time_difference_ms();
    out.timestamp = observed_;
    if (new_value.has_value()) {
      ASSIGN_OR_RETURN(Window w, Decode(*new_value));
      out.value.new_value = std::move(w.agg);
      out.timestamp = w.timestamp;
    }
    if (old_value.has_value()) {
      ASSIGN_OR_RETURN(Window w, Decode(*old_value));
      out.value.old_value = std::move(w.agg);
    }
    return this->Forward(out);
  }

  std::string store_name_;
  SlidingWindows windows_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  Serde<VA> agg_serde_;
  Aggregator aggregate_;
  std::string late_topic_;
  WindowStore* store_ = nullptr;
  int64_t observed_ = -1;
  bool late_ = false;  // the record being processed was late for some window
};

}  // namespace runnel::streams::internal
