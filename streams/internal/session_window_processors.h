// The processor behind a session-window aggregation (KGroupedStream::WindowedBy(SessionWindows)),
// Kafka Streams' KStreamSessionWindowAggregate in C++.
//
// Sessions [start, end] (both inclusive) live in a session store, each value the aggregate
// (agg serde bytes). A record at t looks up the key's sessions that end at or after t - gap and
// start at or before t + gap: none makes a new session [t, t]; otherwise the record joins them,
// and all of them merge (merger) into one session spanning them and t. The sessions merged away
// are removed from the store and retracted downstream as (windowed key, null), as Kafka Streams
// forwards them; a merged session whose bounds do not change is simply updated (what Kafka Streams
// forwards through its record cache). Results carry the session end as their timestamp.
//
// Lateness, as Kafka Streams 3.x (since the close time takes the gap into account): with close =
// stream time - grace - gap, a record whose merged session ends before close is dropped and
// counted in dropped_late_records. So a session [s, e] can still grow while stream time <=
// e + gap + grace; a record arriving at stream time e + gap + grace + 1 that would join it is late.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/record.h"
#include "streams/windows.h"

namespace runnel::streams::internal {

template <typename K, typename V, typename VA>
class SessionWindowAggregateProcessor : public DslProcessor<K, V, Windowed<K>, Change<VA>>,
                                        public StreamTimeFollower {
 public:
  // aggregate(key, value, aggregate so far) and merge(key, aggregate so far, a session's
  // aggregate); "so far" is nullopt before anything was added (the initializer's value, or for
  // reduce: nothing yet).
  using Aggregator = std::function<VA(const K&, const V&, const std::optional<VA>&)>;
  using Merger = std::function<VA(const K&, const std::optional<VA>&, const VA&)>;
  SessionWindowAggregateProcessor(std::string store, SessionWindows windows, Serde<K> key_serde,
                                  Serde<V> value_serde, Serde<VA> agg_serde, Aggregator aggregate,
                                  Merger merge, std::string late_topic)
      : store_name_(std::move(store)),
        windows_(windows),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        agg_serde_(std::move(agg_serde)),
        aggregate_(std::move(aggregate)),
        merge_(std::move(merge)),
        late_topic_(std::move(late_topic)) {}

  absl::Status Init(ProcessorContext<Windowed<K>, Change<VA>>& context) override {
    RETURN_IF_ERROR(SessionWindowAggregateProcessor::DslProcessor::Init(context));
    store_ = this->task().session_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no session store " + store_name_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (SkipNullKeyOrValue(this->name(), this->task(), record)) return absl::OkStatus();
    const int64_t t = record.timestamp;
    const int64_t gap = windows_.inactivity_gap_ms();
    observed_ = std::max(observed_, t);
    store_->ObserveStreamTime(observed_);
    const int64_t close = observed_ - windows_.grace_ms() - gap;
    const std::string key = key_serde_.serialize(record.key);
    ASSIGN_OR_RETURN(std::vector<SessionStore::Session> found,
                     store_->FindSessions(key, t - gap, t + gap));
    int64_t start = t;
    int64_t end = t;
    std::optional<VA> agg;
    std::vector<VA> found_aggs;
    for (const SessionStore::Session& session : found) {
      ASSIGN_OR_RETURN(VA session_agg, agg_serde_.deserialize(session.value));
      agg = merge_(record.key, agg, session_agg);
      found_aggs.push_back(std::move(session_agg));
      start = std::min(start, session.start);
      end = std::max(end, session.end);
    }
    if (end < close) {
      ++this->task().metrics().dropped_late_records;
      logging::Get("streams")->debug(
          "{}: record at {}@{} (timestamp {}) is late for session [{}, {}] (close time {}, "
          "stream time {}); dropped",
          this->name(), this->task().topic(), this->task().offset(), t, start, end, close,
          observed_);
      if (late_topic_.empty()) return absl::OkStatus();
      return this->task().collector().Send(late_topic_, std::nullopt,
                                           RawRecord{key, value_serde_.serialize(record.value), t});
    }
    std::optional<VA> previous;  // the merged session's own value, if it existed already
    for (size_t i = 0; i < found.size(); ++i) {
      const SessionStore::Session& session = found[i];
      if (session.start == start && session.end == end) {
        previous = found_aggs[i];
        continue;
      }
      RETURN_IF_ERROR(store_->Remove(key, session.start, session.end));
      RETURN_IF_ERROR(Send(record.key, session.start, session.end, std::nullopt, found_aggs[i]));
    }
    const VA updated = aggregate_(record.key, record.value, agg);
    RETURN_IF_ERROR(store_->Put(key, start, end, agg_serde_.serialize(updated)));
    return Send(record.key, start, end, updated, previous);
  }

  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    observed_ = std::max(observed_, stream_time);
    store_->ObserveStreamTime(observed_);
    return absl::OkStatus();
  }

 private:
  absl::Status Send(const K& key, int64_t start, int64_t end, std::optional<VA> new_value,
                    std::optional<VA> old_value) {
    Record<Windowed<K>, Change<VA>> out;
    out.key = Windowed<K>{key, start, end};
    out.value.new_value = std::move(new_value);
    out.value.old_value = std::move(old_value);
    out.timestamp = end;
    return this->Forward(out);
  }

  std::string store_name_;
  SessionWindows windows_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  Serde<VA> agg_serde_;
  Aggregator aggregate_;
  Merger merge_;
  std::string late_topic_;
  SessionStore* store_ = nullptr;
  int64_t observed_ = -1;
};

}  // namespace runnel::streams::internal
