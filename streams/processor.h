// The Processor API (Kafka Streams' org.apache.kafka.streams.processor.api): a user processor
// run by KStream::Process, with a context to forward records, reach state stores by name and
// schedule punctuations.
//
//   class Dedup : public Processor<std::string, std::string, std::string, std::string> {
//    public:
//     absl::Status Init(ProcessorContext<std::string, std::string>& context) override {
//       context_ = &context;
//       auto seen = context.GetKeyValueStore<std::string, int64_t>("seen");
//       if (!seen.ok()) return seen.status();
//       seen_.emplace(*std::move(seen));
//       return context.Schedule(60000, PunctuationType::kWallClockTime,
//                               [this](int64_t now) { return Expire(now); }).status();
//     }
//     absl::Status Process(const Record<std::string, std::string>& record) override { ... }
//    private:
//     ProcessorContext<std::string, std::string>* context_ = nullptr;
//     std::optional<TypedKeyValueStore<std::string, int64_t>> seen_;
//   };
//   builder.AddStateStore(KeyValueStoreBuilder<std::string, int64_t>::As("seen"));
//   builder.Stream<std::string, std::string>("in")
//       .Process([] { return std::make_unique<Dedup>(); }, {"seen"})
//       .To("out");
//
// One processor instance per task (the supplier is called once per task); a processor, its
// context and its stores are used by the task's thread only. The context and the stores are
// borrowed from the task: valid from Init until Close returns.
//
// The DSL's own processors are processors of this API too: each runs in a node
// (internal::ProcessorApiNode) that passes Init, records and Close through, as a user's does. They
// reach further into their task (its stores by kind, caches, metrics, the record collector) through
// ProcessorContext::task_context(), which is not for users.
#pragma once

#include <algorithm>
#include <any>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/options.h"
#include "streams/punctuation.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/state/key_value_store.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams {

// A key-value store for a user processor (Kafka's Stores.keyValueStoreBuilder), added with
// StreamsBuilder::AddStateStore and connected to processors by name in KStream::Process. Like the
// DSL's stores it is per task, in memory or RocksDB, and changelogged to the compacted
// `<application.id>-<name>-changelog` (restored when a task starts) unless logging is disabled.
// Serdes not given are the types' built-in ones. Caching is off by default, as in Kafka Streams.
template <typename K, typename V>
struct KeyValueStoreBuilder {
  std::string name;
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  std::optional<StoreType> store_type;  // nullopt: the builder's default.dsl.store
  bool logging = true;
  bool caching = false;

  static KeyValueStoreBuilder As(std::string name) {
    KeyValueStoreBuilder b;
    b.name = std::move(name);
    return b;
  }
  KeyValueStoreBuilder WithSerdes(Serde<K> k, Serde<V> v) && {
    key_serde = std::move(k);
    value_serde = std::move(v);
    return std::move(*this);
  }
  KeyValueStoreBuilder WithStoreType(StoreType t) && {
    store_type = t;
    return std::move(*this);
  }
  KeyValueStoreBuilder WithLoggingDisabled() && {
    logging = false;
    return std::move(*this);
  }
  KeyValueStoreBuilder WithCachingEnabled() && {
    caching = true;
    return std::move(*this);
  }
};

namespace internal {
struct WindowStoreTag {};
struct SessionStoreTag {};

// WindowStoreBuilder and SessionStoreBuilder: a store for a user processor whose entries expire
// `retention_ms` behind the store's time. Changelogged and restored as the key-value store above;
// not cached.
template <typename K, typename V, typename Kind>
struct RetainedStoreBuilder {
  std::string name;
  int64_t retention_ms = 0;  // at least 1
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  std::optional<StoreType> store_type;
  bool logging = true;

  static RetainedStoreBuilder As(std::string name, int64_t retention_ms) {
    RetainedStoreBuilder b;
    b.name = std::move(name);
    b.retention_ms = retention_ms;
    return b;
  }
  RetainedStoreBuilder WithSerdes(Serde<K> k, Serde<V> v) && {
    key_serde = std::move(k);
    value_serde = std::move(v);
    return std::move(*this);
  }
  RetainedStoreBuilder WithStoreType(StoreType t) && {
    store_type = t;
    return std::move(*this);
  }
  RetainedStoreBuilder WithLoggingDisabled() && {
    logging = false;
    return std::move(*this);
  }
};
}  // namespace internal

// A window store for a user processor (Kafka's Stores.windowStoreBuilder): values by (key, window
// start); windows starting more than `retention_ms` before the latest window start put into it
// expire.
template <typename K, typename V>
using WindowStoreBuilder = internal::RetainedStoreBuilder<K, V, internal::WindowStoreTag>;

// A session store for a user processor (Kafka's Stores.sessionStoreBuilder): values by (key,
// session start, session end); sessions ending more than `retention_ms` before the latest end put
// into it expire.
template <typename K, typename V>
using SessionStoreBuilder = internal::RetainedStoreBuilder<K, V, internal::SessionStoreTag>;

namespace internal {
// A stored value through `serde`, or nullopt for none (the typed stores' lookups).
template <typename V>
absl::StatusOr<std::optional<V>> DeserializeIfPresent(const Serde<V>& serde,
                                                      const std::optional<std::string>& bytes) {
  if (!bytes.has_value()) return std::optional<V>();
  ASSIGN_OR_RETURN(V value, serde.deserialize(*bytes));
  return std::optional<V>(std::move(value));
}

// The serdes of a store added with StreamsBuilder::AddStateStore (held in StoreSpec::serdes).
template <typename K, typename V>
struct StoreSerdes {
  Serde<K> key;
  Serde<V> value;
};
}  // namespace internal

// A typed view of a key-value store (keys and values through the store's serdes); errors are the
// store's, or a value that does not deserialize.
template <typename K, typename V>
class TypedKeyValueStore {
 public:
  TypedKeyValueStore(KeyValueStore* store, Serde<K> key_serde, Serde<V> value_serde)
      : store_(store), key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}

  const std::string& name() const { return store_->name(); }
  absl::StatusOr<std::optional<V>> Get(const K& key) {
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, store_->Get(key_serde_.serialize(key)));
    return internal::DeserializeIfPresent(value_serde_, bytes);
  }
  absl::Status Put(const K& key, const V& value) {
    return store_->Put(key_serde_.serialize(key), value_serde_.serialize(value));
  }
  absl::Status Delete(const K& key) { return store_->Delete(key_serde_.serialize(key)); }
  // Every entry, in the order of the serialized keys.
  absl::StatusOr<std::vector<std::pair<K, V>>> All() {
    ASSIGN_OR_RETURN(std::vector<KeyValue> all, store_->All());
    std::vector<std::pair<K, V>> out;
    out.reserve(all.size());
    for (const KeyValue& kv : all) {
      ASSIGN_OR_RETURN(K key, key_serde_.deserialize(kv.key));
      ASSIGN_OR_RETURN(V value, value_serde_.deserialize(kv.value));
      out.emplace_back(std::move(key), std::move(value));
    }
    return out;
  }

 private:
  KeyValueStore* store_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// A typed view of a window store: keys and values through the store's serdes. As in Kafka, a put
// moves the store's time to the window's start (windows more than the retention behind it expire).
template <typename K, typename V>
class TypedWindowStore {
 public:
  TypedWindowStore(WindowStore* store, Serde<K> key_serde, Serde<V> value_serde)
      : store_(store), key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}

  const std::string& name() const { return store_->name(); }
  absl::Status Put(const K& key, int64_t window_start, const V& value) {
    store_->ObserveStreamTime(window_start);
    return store_->Put(key_serde_.serialize(key), window_start, value_serde_.serialize(value));
  }
  absl::Status Delete(const K& key, int64_t window_start) {
    return store_->Delete(key_serde_.serialize(key), window_start);
  }
  // The value of window (key, window_start); nullopt when there is none or it expired.
  absl::StatusOr<std::optional<V>> Fetch(const K& key, int64_t window_start) {
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     store_->Fetch(key_serde_.serialize(key), window_start));
    return internal::DeserializeIfPresent(value_serde_, bytes);
  }
  // The windows of `key` with start_from <= start <= start_to: (start, value), by start.
  absl::StatusOr<std::vector<std::pair<int64_t, V>>> Fetch(const K& key, int64_t start_from,
                                                           int64_t start_to) {
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> entries,
                     store_->Fetch(key_serde_.serialize(key), start_from, start_to));
    std::vector<std::pair<int64_t, V>> out;
    out.reserve(entries.size());
    for (const WindowStore::Entry& e : entries) {
      ASSIGN_OR_RETURN(V value, value_serde_.deserialize(e.value));
      out.emplace_back(e.window_start, std::move(value));
    }
    return out;
  }

 private:
  WindowStore* store_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// A session of a typed session store.
template <typename V>
struct StoredSession {
  int64_t start = 0;
  int64_t end = 0;
  V value;
};

// A typed view of a session store. As in Kafka, a put moves the store's time to the session's end
// (sessions ending more than the retention behind it expire).
template <typename K, typename V>
class TypedSessionStore {
 public:
  TypedSessionStore(SessionStore* store, Serde<K> key_serde, Serde<V> value_serde)
      : store_(store), key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}

  const std::string& name() const { return store_->name(); }
  absl::Status Put(const K& key, int64_t start, int64_t end, const V& value) {
    store_->ObserveStreamTime(end);
    return store_->Put(key_serde_.serialize(key), start, end, value_serde_.serialize(value));
  }
  absl::Status Remove(const K& key, int64_t start, int64_t end) {
    return store_->Remove(key_serde_.serialize(key), start, end);
  }
  // The value of session (key, start, end); nullopt when there is none or it expired.
  absl::StatusOr<std::optional<V>> FetchSession(const K& key, int64_t start, int64_t end) {
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     store_->FetchSession(key_serde_.serialize(key), start, end));
    return internal::DeserializeIfPresent(value_serde_, bytes);
  }
  // The sessions of `key` that end at or after `earliest_end` and start at or before
  // `latest_start` (Kafka's findSessions), by end then start.
  absl::StatusOr<std::vector<StoredSession<V>>> FindSessions(const K& key, int64_t earliest_end,
                                                             int64_t latest_start) {
    ASSIGN_OR_RETURN(std::vector<SessionStore::Session> sessions,
                     store_->FindSessions(key_serde_.serialize(key), earliest_end, latest_start));
    std::vector<StoredSession<V>> out;
    out.reserve(sessions.size());
    for (const SessionStore::Session& session : sessions) {
      ASSIGN_OR_RETURN(V value, value_serde_.deserialize(session.value));
      out.push_back(StoredSession<V>{session.start, session.end, std::move(value)});
    }
    return out;
  }

 private:
  SessionStore* store_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// What a user processor sees of its task (Kafka's api.ProcessorContext<KForward, VForward>).
template <typename KOut, typename VOut>
class ProcessorContext {
 public:
  ProcessorContext(internal::TaskContext* task, const internal::ProcessorNode* node,
                   std::vector<std::string> stores)
      : task_(task), node_(node), stores_(std::move(stores)) {}
  ProcessorContext(const ProcessorContext&) = delete;
  ProcessorContext& operator=(const ProcessorContext&) = delete;

  const std::string& application_id() const { return task_->application_id(); }
  // The processor's node name (its step's name in the topology).
  const std::string& name() const { return node_->name(); }
  const std::string& task_id() const { return task_->task_id(); }
  int32_t partition() const { return task_->partition(); }
  // The record being processed: its source topic (full name) and offset; "" and -1 during a
  // punctuation.
  const std::string& topic() const { return task_->topic(); }
  int64_t offset() const { return task_->offset(); }
  // The task's stream time (-1 before any record) and the wall-clock time, in ms.
  int64_t stream_time() const { return task_->stream_time(); }
  int64_t wall_clock_ms() const { return task_->wall_clock_ms(); }

  // Hands `record` to every child of the processor (the steps chained on the stream Process
  // returned), in the order they were added; the first child's error stops it.
  absl::Status Forward(const Record<KOut, VOut>& record) {
    return internal::Forward(*node_, record);
  }
  // Hands `record` to the child named `child` only (the name given to that step, e.g.
  // Filter(predicate, "evens")); InvalidArgument naming the children when there is none of that
  // name.
  absl::Status Forward(const Record<KOut, VOut>& record, const std::string& child) {
    std::vector<std::string> names;
    for (internal::ProcessorNode* c : node_->children()) {
      if (c->name() == child)
        return static_cast<internal::Processor<KOut, VOut>*>(c)->Process(record);
      names.push_back(c->name());
    }
    return absl::InvalidArgumentError(absl::StrCat(node_->name(), ": no child named ", child,
                                                   " to forward to; its children: [",
                                                   absl::StrJoin(names, ", "), "]"));
  }

  // The task behind this context: for the DSL's own processors, which reach its stores by kind,
  // their caches, the metrics and the record collector. Not part of the Processor API.
  internal::TaskContext& task_context() const { return *task_; }

  // Punctuations (streams/punctuation.h): call from Init (or later); InvalidArgument for an
  // interval below 1 ms or an empty punctuator.
  absl::StatusOr<Cancellable> Schedule(int64_t interval_ms, PunctuationType type,
                                       Punctuator punctuator) {
    return task_->Schedule(node_->name(), interval_ms, type, std::move(punctuator));
  }

  // The key-value store `name`, which must be connected to this processor (KStream::Process's
  // store names) and added with StreamsBuilder::AddStateStore as a KeyValueStoreBuilder<K, V>.
  // InvalidArgument naming the store otherwise.
  template <typename K, typename V>
  absl::StatusOr<TypedKeyValueStore<K, V>> GetKeyValueStore(const std::string& name) {
    ASSIGN_OR_RETURN(const auto* serdes, (Serdes<K, V>(name, task_->key_value_store(name),
                                                       "key-value", "KeyValueStoreBuilder")));
    return TypedKeyValueStore<K, V>(task_->key_value_store(name), serdes->key, serdes->value);
  }
  // The same for a window store added as a WindowStoreBuilder<K, V>.
  template <typename K, typename V>
  absl::StatusOr<TypedWindowStore<K, V>> GetWindowStore(const std::string& name) {
    ASSIGN_OR_RETURN(const auto* serdes, (Serdes<K, V>(name, task_->window_store(name), "window",
                                                       "WindowStoreBuilder")));
    return TypedWindowStore<K, V>(task_->window_store(name), serdes->key, serdes->value);
  }
  // The same for a session store added as a SessionStoreBuilder<K, V>.
  template <typename K, typename V>
  absl::StatusOr<TypedSessionStore<K, V>> GetSessionStore(const std::string& name) {
    ASSIGN_OR_RETURN(const auto* serdes, (Serdes<K, V>(name, task_->session_store(name), "session",
                                                       "SessionStoreBuilder")));
    return TypedSessionStore<K, V>(task_->session_store(name), serdes->key, serdes->value);
  }

 private:
  // The serdes of store `name` (`store`: the task's store of that name and kind, or null), which
  // must be connected to this processor and added with AddStateStore as a `builder`<K, V>.
  template <typename K, typename V>
  absl::StatusOr<const internal::StoreSerdes<K, V>*> Serdes(const std::string& name,
                                                            const void* store, const char* kind,
                                                            const char* builder) {
    if (std::find(stores_.begin(), stores_.end(), name) == stores_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          node_->name(), ": store ", name, " is not connected to this processor (connected: [",
          absl::StrJoin(stores_, ", "), "]; name it in KStream::Process)"));
    }
    auto spec = task_->topology().stores().find(name);
    const auto* serdes = spec == task_->topology().stores().end()
                             ? nullptr
                             : std::any_cast<internal::StoreSerdes<K, V>>(&spec->second.serdes);
    if (store == nullptr || serdes == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(node_->name(), ": store ", name, " is not a ", kind,
                       " store added with StreamsBuilder::AddStateStore as a ", builder,
                       " with the key and value types asked for"));
    }
    return serdes;
  }

  internal::TaskContext* task_;
  const internal::ProcessorNode* node_;
  std::vector<std::string> stores_;  // connected
};

// A user processor (Kafka's api.Processor<KIn, VIn, KOut, VOut>): takes records with key KIn and
// value VIn and forwards, through its context, records with key KOut and value VOut.
template <typename KIn, typename VIn, typename KOut, typename VOut>
class Processor {
 public:
  using KeyIn = KIn;
  using ValueIn = VIn;
  using KeyOut = KOut;
  using ValueOut = VOut;
  virtual ~Processor() = default;

  // Called once per task before the first record, after the task's stores are restored.
  // `context` is valid until Close returns. An error fails the task's creation.
  virtual absl::Status Init(ProcessorContext<KOut, VOut>& /*context*/) { return absl::OkStatus(); }
  // An error fails the task (the runtime stops in ERROR, as for any processing error).
  virtual absl::Status Process(const Record<KIn, VIn>& record) = 0;
  // Called when the task closes (also without a clean commit), before its stores close.
  virtual void Close() {}
};

}  // namespace runnel::streams
