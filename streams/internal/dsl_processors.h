// The processors behind the DSL operations: processors of the Processor API (DslProcessor, run by
// a ProcessorApiNode), and the source and sink nodes that turn topics' bytes into typed records
// and back. Each is instantiated once per task.
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
#include "common/big_endian.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/processor_api_node.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/windows.h"

namespace runnel::streams::internal {

// The bytes of a key or value as a topic holds them: nullopt (Kafka's null) when `null`.
template <typename T>
std::optional<std::string> SerializeOrNull(const Serde<T>& serde, const T& value, bool null) {
  if (null) return std::nullopt;
  return serde.serialize(value);
}

// A KStream aggregation skips a record whose key or value is null and counts it in
// dropped_records (Kafka Streams' "Skipping record due to null key or value"); true if skipped.
template <typename K, typename V>
bool SkipNullKeyOrValue(const std::string& processor, TaskContext& task,
                        const Record<K, V>& record) {
  if (!record.key_null && !record.value_null) return false;
  ++task.metrics().dropped_records;
  logging::Get("streams")->debug("{}: record at {}@{} has a null {}; skipped", processor,
                                 task.topic(), task.offset(), record.key_null ? "key" : "value");
  return true;
}

// Reads a topic: deserializes key and value and takes the event time. A null key or value
// (nothing to deserialize) is carried as K{} or V{} with key_null or value_null set.
template <typename K, typename V>
class SourceProcessor : public SourceNode {
 public:
  SourceProcessor(std::string name, Serde<K> key_serde, Serde<V> value_serde,
                  TimestampExtractor extractor)
      : SourceNode(std::move(name)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        extractor_(std::move(extractor)) {}

  absl::Status ProcessRaw(const RawRecord& raw) override {
    Record<K, V> record;
    record.key_null = !raw.key.has_value();
    record.value_null = !raw.value.has_value();
    if (raw.key.has_value()) {
      auto key = key_serde_.deserialize(*raw.key);
      if (!key.ok()) return context_->OnUndecodable(raw, "key", key.status());
      record.key = std::move(*key);
    }
    if (raw.value.has_value()) {
      auto value = value_serde_.deserialize(*raw.value);
      if (!value.ok()) return context_->OnUndecodable(raw, "value", value.status());
      record.value = std::move(*value);
    }
    record.timestamp = extractor_ ? extractor_(raw.key, raw.value, raw.timestamp) : raw.timestamp;
    if (record.timestamp < 0) {
      // Kafka Streams skips records whose event time is invalid rather than failing.
      ++context_->metrics().dropped_records;
      logging::Get("streams")->warn("{}: record at {}@{} has timestamp {}; skipped", name(),
                                    context_->topic(), context_->offset(), record.timestamp);
      return absl::OkStatus();
    }
    context_->ObserveTimestamp(record.timestamp);
    return Forward(*this, record);
  }

 private:
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  TimestampExtractor extractor_;
};

// Writes records to a topic; a null key or value is written as a Kafka null (a record without a
// key is spread over partitions as a producer spreads it; a null value is a tombstone).
template <typename K, typename V>
class SinkProcessor : public Processor<K, V> {
 public:
  SinkProcessor(std::string name, std::string topic, Serde<K> key_serde, Serde<V> value_serde)
      : Processor<K, V>(std::move(name)),
        topic_(std::move(topic)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status Init(TaskContext* context) override {
    RETURN_IF_ERROR(ProcessorNode::Init(context));
    full_topic_ = context->ResolveTopic(topic_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    return this->context_->collector().Send(
        full_topic_, std::nullopt,
        RawRecord{SerializeOrNull(key_serde_, record.key, record.key_null),
                  SerializeOrNull(value_serde_, record.value, record.value_null),
                  record.timestamp});
  }

 private:
  std::string topic_;
  std::string full_topic_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// Writes a table's changes to a topic: deletions become tombstones (null values).
template <typename K, typename V>
class TableSinkProcessor : public Processor<K, Change<V>> {
 public:
  TableSinkProcessor(std::string name, std::string topic, Serde<K> key_serde, Serde<V> value_serde)
      : Processor<K, Change<V>>(std::move(name)),
        topic_(std::move(topic)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status Process(const Record<K, Change<V>>& record) override {
    RawRecord raw{SerializeOrNull(key_serde_, record.key, record.key_null), std::nullopt,
                  record.timestamp};
    if (record.value.new_value.has_value()) {
      raw.value = value_serde_.serialize(*record.value.new_value);
    }
    return this->context_->collector().Send(this->context_->ResolveTopic(topic_), std::nullopt,
                                            raw);
  }

 private:
  std::string topic_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// A stateless step given as a function of the context (to forward through) and the record:
// filter, map, flatMap, peek, foreach and the like; it forwards Record<KOut, VOut>.
template <typename K, typename V, typename KOut, typename VOut>
class FunctionProcessor : public DslProcessor<K, V, KOut, VOut> {
 public:
  using Fn = std::function<absl::Status(ProcessorContext<KOut, VOut>& context,
                                        const Record<K, V>& record)>;
  explicit FunctionProcessor(Fn fn) : fn_(std::move(fn)) {}
  absl::Status Process(const Record<K, V>& record) override { return fn_(*this->context_, record); }

 private:
  Fn fn_;
};

// split()/branch(): a record goes to the child of the first predicate it matches (`children`:
// the branches' node names, in predicate order), or nowhere.
template <typename K, typename V>
class BranchProcessor : public DslProcessor<K, V, K, V> {
 public:
  using Predicate = std::function<bool(const K&, const V&)>;
  BranchProcessor(std::vector<Predicate> predicates, std::vector<std::string> children)
      : predicates_(std::move(predicates)), children_(std::move(children)) {}
  absl::Status Process(const Record<K, V>& record) override {
    for (size_t i = 0; i < predicates_.size() && i < children_.size(); ++i) {
      if (predicates_[i](record.key, record.value)) {
        return this->context_->Forward(record, children_[i]);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Predicate> predicates_;
  std::vector<std::string> children_;
};

// Forwards the updates a key-value store's cache passes on as table changes, through `forward`.
template <typename K, typename V>
void ForwardStoreUpdates(std::function<absl::Status(const Record<K, Change<V>>&)> forward,
                         TaskContext* context, const std::string& store, Serde<K> key_serde,
                         Serde<V> value_serde) {
  context->SetFlushListener(
      store, TaskContext::KeyValueFlushListener(
                 [=](const std::string& key, const std::optional<std::string>& new_value,
                     const std::optional<std::string>& old_value) -> absl::Status {
                   Record<K, Change<V>> out;
                   ASSIGN_OR_RETURN(out.key, key_serde.deserialize(key));
                   out.timestamp = context->stream_time();
                   if (new_value.has_value()) {
                     ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*new_value));
                     ASSIGN_OR_RETURN(out.value.new_value, value_serde.deserialize(tv.value));
                     out.timestamp = tv.timestamp;
                   }
                   if (old_value.has_value()) {
                     ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*old_value));
                     ASSIGN_OR_RETURN(out.value.old_value, value_serde.deserialize(tv.value));
                   }
                   return forward(out);
                 }));
}

// A stream aggregation (count, reduce, aggregate) into a key-value store. The new aggregate is
// written to the store; changes reach the children when the store's cache passes them on. A
// record with a null key or value is skipped and counted (dropped_records).
template <typename K, typename V, typename VA>
class AggregateProcessor : public DslProcessor<K, V, K, Change<VA>> {
 public:
  // `aggregate` gets the key, the value and the current aggregate (nullopt: none yet).
  using Aggregator = std::function<VA(const K&, const V&, const std::optional<VA>&)>;
  AggregateProcessor(std::string store, Serde<K> key_serde, Serde<VA> agg_serde,
                     Aggregator aggregate)
      : store_name_(std::move(store)),
        key_serde_(std::move(key_serde)),
        agg_serde_(std::move(agg_serde)),
        aggregate_(std::move(aggregate)) {}

  absl::Status Init(ProcessorContext<K, Change<VA>>& context) override {
    RETURN_IF_ERROR(AggregateProcessor::DslProcessor::Init(context));
    store_ = this->task().key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    ForwardStoreUpdates<K, VA>([this](const auto& r) { return this->Forward(r); }, &this->task(),
                               store_name_, key_serde_, agg_serde_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (SkipNullKeyOrValue(this->name(), this->task(), record)) return absl::OkStatus();
    const std::string key = key_serde_.serialize(record.key);
    ASSIGN_OR_RETURN(std::optional<std::string> stored, store_->Get(key));
    std::optional<VA> old;
    int64_t timestamp = record.timestamp;
    if (stored.has_value()) {
      ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
      ASSIGN_OR_RETURN(old, agg_serde_.deserialize(tv.value));
      timestamp = std::max(timestamp, tv.timestamp);
    }
    const VA updated = aggregate_(record.key, record.value, old);
    return store_->Put(key, EncodeTimestamped(timestamp, agg_serde_.serialize(updated)));
  }

 private:
  std::string store_name_;
  Serde<K> key_serde_;
  Serde<VA> agg_serde_;
  Aggregator aggregate_;
  KeyValueStore* store_ = nullptr;
};

// Aggregates a regrouped table: subtracts a replaced row, adds a new one.
template <typename K, typename V, typename VA>
class TableAggregateProcessor : public DslProcessor<K, Change<V>, K, Change<VA>> {
 public:
  using Initializer = std::function<VA()>;
  using Fold = std::function<VA(const K&, const V&, const VA&)>;
  TableAggregateProcessor(std::string store, Serde<K> key_serde, Serde<VA> agg_serde,
                          Initializer init, Fold add, Fold subtract)
      : store_name_(std::move(store)),
        key_serde_(std::move(key_serde)),
        agg_serde_(std::move(agg_serde)),
        init_(std::move(init)),
        add_(std::move(add)),
        subtract_(std::move(subtract)) {}

  absl::Status Init(ProcessorContext<K, Change<VA>>& context) override {
    RETURN_IF_ERROR(TableAggregateProcessor::DslProcessor::Init(context));
    store_ = this->task().key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    ForwardStoreUpdates<K, VA>([this](const auto& r) { return this->Forward(r); }, &this->task(),
                               store_name_, key_serde_, agg_serde_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, Change<V>>& record) override {
    const std::string key = key_serde_.serialize(record.key);
    ASSIGN_OR_RETURN(std::optional<std::string> stored, store_->Get(key));
    VA agg;
    int64_t timestamp = record.timestamp;
    if (stored.has_value()) {
      ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
      ASSIGN_OR_RETURN(agg, agg_serde_.deserialize(tv.value));
      timestamp = std::max(timestamp, tv.timestamp);
    } else {
      agg = init_();
    }
    if (record.value.old_value.has_value())
      agg = subtract_(record.key, *record.value.old_value, agg);
    if (record.value.new_value.has_value()) agg = add_(record.key, *record.value.new_value, agg);
    return store_->Put(key, EncodeTimestamped(timestamp, agg_serde_.serialize(agg)));
  }

 private:
  std::string store_name_;
  Serde<K> key_serde_;
  Serde<VA> agg_serde_;
  Initializer init_;
  Fold add_;
  Fold subtract_;
  KeyValueStore* store_ = nullptr;
};

// A windowed aggregation. A record goes into every window that contains its timestamp, unless
// the window has closed: stream time (as this node has observed it) >= window end + grace. Late
// records are dropped, counted and, if a late-records topic is set, written there. A record with a
// null key or value is skipped and counted before it can advance stream time.
template <typename K, typename V, typename VA>
class WindowAggregateProcessor : public DslProcessor<K, V, Windowed<K>, Change<VA>>,
                                 public StreamTimeFollower {
 public:
  using Aggregator = std::function<VA(const K&, const V&, const std::optional<VA>&)>;
  WindowAggregateProcessor(std::string store, TimeWindows windows, Serde<K> key_serde,
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
    RETURN_IF_ERROR(WindowAggregateProcessor::DslProcessor::Init(context));
    store_ = this->task().window_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    const int64_t size = windows_.size_ms();
    this->task().SetFlushListener(
        store_name_,
        TaskContext::WindowFlushListener([this, size](const std::string& key, int64_t start,
                                                      const std::optional<std::string>& new_value,
                                                      const std::optional<std::string>& old_value) {
          return ForwardUpdate(key, start, size, new_value, old_value);
        }));
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (SkipNullKeyOrValue(this->name(), this->task(), record)) return absl::OkStatus();
    observed_ = std::max(observed_, record.timestamp);
    store_->ObserveStreamTime(observed_);
    const std::string key = key_serde_.serialize(record.key);
    bool late = false;
    for (int64_t start : windows_.WindowStartsFor(record.timestamp)) {
      const int64_t end = start + windows_.size_ms();
      if (observed_ >= end + windows_.grace_ms()) {
        ++this->task().metrics().dropped_late_records;
        late = true;
        logging::Get("streams")->debug(
            "{}: record at {}@{} (timestamp {}) is late for window [{}, {}) with grace {} at "
            "stream time {}; dropped",
            this->name(), this->task().topic(), this->task().offset(), record.timestamp, start, end,
            windows_.grace_ms(), observed_);
        continue;
      }
      ASSIGN_OR_RETURN(std::optional<std::string> stored, store_->Fetch(key, start));
      std::optional<VA> old;
      int64_t timestamp = record.timestamp;
      if (stored.has_value()) {
        ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
        ASSIGN_OR_RETURN(old, agg_serde_.deserialize(tv.value));
        timestamp = std::max(timestamp, tv.timestamp);
      }
      const VA updated = aggregate_(record.key, record.value, old);
      RETURN_IF_ERROR(
          store_->Put(key, start, EncodeTimestamped(timestamp, agg_serde_.serialize(updated))));
    }
    if (late && !late_topic_.empty()) {
      RETURN_IF_ERROR(this->task().collector().Send(
          late_topic_, std::nullopt,
          RawRecord{key, value_serde_.serialize(record.value), record.timestamp}));
    }
    return absl::OkStatus();
  }

  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    observed_ = std::max(observed_, stream_time);
    store_->ObserveStreamTime(observed_);
    return absl::OkStatus();
  }

 private:
  absl::Status ForwardUpdate(const std::string& key, int64_t start, int64_t size,
                             const std::optional<std::string>& new_value,
                             const std::optional<std::string>& old_value) {
    Record<Windowed<K>, Change<VA>> out;
    ASSIGN_OR_RETURN(out.key.key, key_serde_.deserialize(key));
    out.key.start = start;
    out.key.end = start + size;
    out.timestamp = observed_;
    if (new_value.has_value()) {
      ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*new_value));
      ASSIGN_OR_RETURN(out.value.new_value, agg_serde_.deserialize(tv.value));
      out.timestamp = tv.timestamp;
    }
    if (old_value.has_value()) {
      ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*old_value));
      ASSIGN_OR_RETURN(out.value.old_value, agg_serde_.deserialize(tv.value));
    }
    return this->Forward(out);
  }

  std::string store_name_;
  TimeWindows windows_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  Serde<VA> agg_serde_;
  Aggregator aggregate_;
  std::string late_topic_;
  WindowStore* store_ = nullptr;
  int64_t observed_ = -1;
};

// suppress(untilWindowCloses): holds the latest result of each window in a buffer store and
// emits it once, when stream time (the largest result timestamp seen) reaches window end +
// `close_ms` (the KTable's window close delay: the first stream time at which the aggregation
// refuses records for that window). A retraction (no new value, e.g. a session merged away)
// removes the window from the buffer. Buffer keys sort by window end, so the closed windows are a
// prefix.
template <typename K, typename V>
class SuppressProcessor : public DslProcessor<Windowed<K>, Change<V>, Windowed<K>, Change<V>>,
                          public StreamTimeFollower {
 public:
  SuppressProcessor(std::string store, int64_t close_ms, Serde<K> key_serde, Serde<V> value_serde)
      : store_name_(std::move(store)),
        close_ms_(close_ms),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status Init(ProcessorContext<Windowed<K>, Change<V>>& context) override {
    RETURN_IF_ERROR(SuppressProcessor::DslProcessor::Init(context));
    store_ = this->task().key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<Windowed<K>, Change<V>>& record) override {
    observed_ = std::max(observed_, record.timestamp);
    std::string key;
    AppendBigEndian<uint64_t>(&key, static_cast<uint64_t>(record.key.end) ^ (1ull << 63));
    AppendBigEndian<uint64_t>(&key, static_cast<uint64_t>(record.key.start) ^ (1ull << 63));
    key += key_serde_.serialize(record.key.key);
    if (record.value.new_value.has_value()) {
      RETURN_IF_ERROR(store_->Put(
          key,
          EncodeTimestamped(record.timestamp, value_serde_.serialize(*record.value.new_value))));
    } else {
      RETURN_IF_ERROR(store_->Delete(key));
    }
    return EmitClosed();
  }

  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    if (stream_time <= observed_) return absl::OkStatus();
    observed_ = stream_time;
    return EmitClosed();
  }

 private:
  absl::Status EmitClosed() {
    // Windows with end + close_ms <= observed stream time have closed.
    // Every buffer key (at least 16 bytes) whose end is <= closed_end sorts below the 8 bytes of
    // closed_end + 1; keys with a later end sort above them.
    const int64_t closed_end = observed_ - close_ms_;
    std::string to;
    AppendBigEndian<uint64_t>(&to, static_cast<uint64_t>(closed_end + 1) ^ (1ull << 63));
    ASSIGN_OR_RETURN(std::vector<KeyValue> closed, store_->Range("", to));
    for (const KeyValue& kv : closed) {
      Record<Windowed<K>, Change<V>> out;
      out.key.end = static_cast<int64_t>(LoadBigEndian<uint64_t>(kv.key.data()) ^ (1ull << 63));
      out.key.start =
          static_cast<int64_t>(LoadBigEndian<uint64_t>(kv.key.data() + 8) ^ (1ull << 63));
      ASSIGN_OR_RETURN(out.key.key, key_serde_.deserialize(std::string_view(kv.key).substr(16)));
      ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(kv.value));
      ASSIGN_OR_RETURN(out.value.new_value, value_serde_.deserialize(tv.value));
      out.timestamp = tv.timestamp;
      RETURN_IF_ERROR(this->task().RemoveEmitted(store_name_, kv.key));
      RETURN_IF_ERROR(this->Forward(out));
    }
    return absl::OkStatus();
  }

  std::string store_name_;
  int64_t close_ms_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  KeyValueStore* store_ = nullptr;
  int64_t observed_ = -1;
};

// builder.table(): materializes a topic into a key-value store; a null value deletes the row.
// Changes reach the children when the store's cache passes them on.
template <typename K, typename V>
class TableSourceProcessor : public SourceNode {
 public:
  TableSourceProcessor(std::string name, std::string store, Serde<K> key_serde,
                       Serde<V> value_serde, TimestampExtractor extractor)
      : SourceNode(std::move(name)),
        store_name_(std::move(store)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        extractor_(std::move(extractor)) {}

  absl::Status Init(TaskContext* context) override {
    RETURN_IF_ERROR(ProcessorNode::Init(context));
    store_ = context->key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no store " + store_name_);
    ForwardStoreUpdates<K, V>([this](const auto& r) { return Forward(*this, r); }, context,
                              store_name_, key_serde_, value_serde_);
    return absl::OkStatus();
  }

  absl::Status ProcessRaw(const RawRecord& raw) override {
    const int64_t timestamp =
        extractor_ ? extractor_(raw.key, raw.value, raw.timestamp) : raw.timestamp;
    if (!raw.key.has_value() || timestamp < 0) {
      ++context_->metrics().dropped_records;  // a table row needs a key
      return absl::OkStatus();
    }
    // Key and value are decoded only to refuse what downstream could not read (the store's
    // updates are forwarded decoded: a bad key stored would fail every commit, on every restart);
    // a skipped record does not move stream time.
    if (auto key = key_serde_.deserialize(*raw.key); !key.ok()) {
      return context_->OnUndecodable(raw, "key", key.status());
    }
    if (raw.value.has_value()) {
      auto value = value_serde_.deserialize(*raw.value);
      if (!value.ok()) return context_->OnUndecodable(raw, "value", value.status());
    }
    context_->ObserveTimestamp(timestamp);
    if (raw.value.has_value()) {
      RETURN_IF_ERROR(store_->Put(*raw.key, EncodeTimestamped(timestamp, *raw.value)));
    } else {
      RETURN_IF_ERROR(store_->Delete(*raw.key));
    }
    return absl::OkStatus();
  }

 private:
  std::string store_name_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  TimestampExtractor extractor_;
  KeyValueStore* store_ = nullptr;
};

}  // namespace runnel::streams::internal
