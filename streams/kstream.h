// The DSL: KStream, KGroupedStream, TimeWindowedKStream and KTable, in the shape of Kafka
// Streams (method names in this codebase's PascalCase). These are light handles on the
// StreamsBuilder that made them: each operation adds nodes to its topology and returns a new
// handle. Mistakes (a missing serde, an invalid window) are reported by StreamsBuilder::Build.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
class KStream;
template <typename K, typename V>
class KTable;
template <typename K, typename V>
class KGroupedStream;
template <typename K, typename V>
class TimeWindowedKStream;
template <typename K, typename V>
class KGroupedTable;

namespace internal {

// The given serde, else T's built-in one; with neither, the builder fails naming `what`.
template <typename T>
Serde<T> ResolveSerde(GraphBuilder* graph, const std::optional<Serde<T>>& serde,
                      const std::string& what) {
  if (serde.has_value()) return *serde;
  if (std::optional<Serde<T>> d = DefaultSerde<T>()) return *d;
  graph->Fail(absl::InvalidArgumentError(
      absl::StrCat("no serde for ", what,
                   ": its type has no built-in serde; give one (Consumed/Produced/Grouped/"
                   "Materialized::With)")));
  Serde<T> failing;
  failing.serialize = [](const T&) { return std::string(); };
  failing.deserialize = [what](std::string_view) -> absl::StatusOr<T> {
    return absl::FailedPreconditionError("no serde for " + what);
  };
  return failing;
}

// The `accepts_child` of a node that forwards Record<K, V>.
template <typename K, typename V>
bool TakesRecords(const ProcessorNode* child) {
  return dynamic_cast<const Processor<K, V>*>(child) != nullptr;
}

template <typename K, typename V, typename Node>
NodeSpec ProcessorSpec(std::string name, std::function<std::unique_ptr<Node>()> factory,
                       std::vector<std::string> stores = {}) {
  NodeSpec spec;
  spec.kind = NodeSpec::Kind::kProcessor;
  spec.name = std::move(name);
  spec.stores = std::move(stores);
  spec.factory = [factory] { return std::unique_ptr<ProcessorNode>(factory()); };
  spec.accepts_child = &TakesRecords<K, V>;
  return spec;
}

template <typename T>
using DecayedResult = std::decay_t<T>;

}  // namespace internal

template <typename K, typename V>
class KStream {
 public:
  using Predicate = std::function<bool(const K&, const V&)>;

  KStream(internal::GraphBuilder* graph, std::string node, std::optional<Serde<K>> key_serde,
          std::optional<Serde<V>> value_serde, bool repartition_required)
      : graph_(graph),
        node_(std::move(node)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        repartition_required_(repartition_required) {}

  const std::string& node_name() const { return node_; }

  KStream Filter(Predicate predicate, std::string name = "") const {
    return Stateless<K, V>(
        "KSTREAM-FILTER", std::move(name), key_serde_, value_serde_, repartition_required_,
        [predicate](const internal::ProcessorNode& self, const Record<K, V>& r) {
          return predicate(r.key, r.value) ? internal::Forward(self, r) : absl::OkStatus();
        });
  }
  KStream FilterNot(Predicate predicate, std::string name = "") const {
    return Filter([predicate](const K& k, const V& v) { return !predicate(k, v); },
                  std::move(name));
  }

  // mapper(key, value) -> std::pair<K2, V2>. Changes the key: a later grouping repartitions.
  template <typename F>
  auto Map(F mapper, std::string name = "") const {
    using Pair = std::invoke_result_t<F, const K&, const V&>;
    using K2 = typename Pair::first_type;
    using V2 = typename Pair::second_type;
    return Stateless<K2, V2>(
        "KSTREAM-MAP", std::move(name), std::nullopt, std::nullopt, true,
        [mapper](const internal::ProcessorNode& self, const Record<K, V>& r) {
          Pair kv = mapper(r.key, r.value);
          return internal::Forward(
              self, Record<K2, V2>{std::move(kv.first), std::move(kv.second), r.timestamp});
        });
  }

  // mapper(value) or mapper(key, value) -> V2. Keeps the key.
  template <typename F>
  auto MapValues(F mapper, std::string name = "") const {
    using V2 = internal::DecayedResult<decltype(CallWithValue(mapper, std::declval<const K&>(),
                                                              std::declval<const V&>()))>;
    return Stateless<K, V2>(
        "KSTREAM-MAPVALUES", std::move(name), key_serde_, std::nullopt, repartition_required_,
        [mapper](const internal::ProcessorNode& self, const Record<K, V>& r) {
          return internal::Forward(
              self, Record<K, V2>{r.key, CallWithValue(mapper, r.key, r.value), r.timestamp});
        });
  }

  // processor(record) -> V2: a new value computed from the whole record, timestamp included
  // (Kafka Streams' processValues, with a function in place of a processor). Keeps the key.
  template <typename F>
  auto ProcessValues(F processor, std::string name = "") const {
    using V2 = std::decay_t<std::invoke_result_t<F, const Record<K, V>&>>;
    return Stateless<K, V2>(
        "KSTREAM-PROCESSVALUES", std::move(name), key_serde_, std::nullopt, repartition_required_,
        [processor](const internal::ProcessorNode& self, const Record<K, V>& r) {
          return internal::Forward(self, Record<K, V2>{r.key, processor(r), r.timestamp});
        });
  }

  // mapper(key, value) -> a range of std::pair<K2, V2>. Changes the key.
  template <typename F>
  auto FlatMap(F mapper, std::string name = "") const {
    using Range = std::invoke_result_t<F, const K&, const V&>;
    using Pair = std::decay_t<decltype(*std::begin(std::declval<Range&>()))>;
    using K2 = typename Pair::first_type;
    using V2 = typename Pair::second_type;
    return Stateless<K2, V2>(
        "KSTREAM-FLATMAP", std::move(name), std::nullopt, std::nullopt, true,
        [mapper](const internal::ProcessorNode& self, const Record<K, V>& r) {
          for (auto& kv : mapper(r.key, r.value)) {
            RETURN_IF_ERROR(internal::Forward(
                self, Record<K2, V2>{std::move(kv.first), std::move(kv.second), r.timestamp}));
          }
          return absl::OkStatus();
        });
  }

  // mapper(value) or mapper(key, value) -> a range of V2. Keeps the key.
  template <typename F>
  auto FlatMapValues(F mapper, std::string name = "") const {
    using Range = internal::DecayedResult<decltype(CallWithValue(mapper, std::declval<const K&>(),
                                                                 std::declval<const V&>()))>;
    using V2 = std::decay_t<decltype(*std::begin(std::declval<Range&>()))>;
    return Stateless<K, V2>("KSTREAM-FLATMAPVALUES", std::move(name), key_serde_, std::nullopt,
                            repartition_required_,
                            [mapper](const internal::ProcessorNode& self, const Record<K, V>& r) {
                              for (auto& v : CallWithValue(mapper, r.key, r.value)) {
                                RETURN_IF_ERROR(internal::Forward(
                                    self, Record<K, V2>{r.key, std::move(v), r.timestamp}));
                              }
                              return absl::OkStatus();
                            });
  }

  // selector(key, value) -> K2: the new key. A later grouping repartitions.
  template <typename F>
  auto SelectKey(F selector, std::string name = "") const {
    using K2 = std::decay_t<std::invoke_result_t<F, const K&, const V&>>;
    return Stateless<K2, V>("KSTREAM-KEY-SELECT", std::move(name), std::nullopt, value_serde_, true,
                            [selector](const internal::ProcessorNode& self, const Record<K, V>& r) {
                              return internal::Forward(self, Record<K2, V>{selector(r.key, r.value),
                                                                           r.value, r.timestamp});
                            });
  }

  KStream Peek(std::function<void(const K&, const V&)> action, std::string name = "") const {
    return Stateless<K, V>("KSTREAM-PEEK", std::move(name), key_serde_, value_serde_,
                           repartition_required_,
                           [action](const internal::ProcessorNode& self, const Record<K, V>& r) {
                             action(r.key, r.value);
                             return internal::Forward(self, r);
                           });
  }

  // A terminal step: `action` sees every record.
  void Foreach(std::function<void(const K&, const V&)> action, std::string name = "") const {
    Stateless<K, V>("KSTREAM-FOREACH", std::move(name), key_serde_, value_serde_,
                    repartition_required_,
                    [action](const internal::ProcessorNode&, const Record<K, V>& r) {
                      action(r.key, r.value);
                      return absl::OkStatus();
                    });
  }

  // branch(): stream i gets the records whose first matching predicate is predicates[i];
  // records matching none are dropped (end with a predicate that is always true to keep them).
  std::vector<KStream> Branch(std::vector<Predicate> predicates, std::string name = "") const {
    const std::string branch = name.empty() ? graph_->NewName("KSTREAM-BRANCH") : std::move(name);
    graph_->AddNode(
        internal::ProcessorSpec<K, V, internal::BranchProcessor<K, V>>(
            branch,
            std::function<std::unique_ptr<internal::BranchProcessor<K, V>>()>([branch, predicates] {
              return std::make_unique<internal::BranchProcessor<K, V>>(branch, predicates);
            })),
        {node_});
    std::vector<KStream> out;
    for (size_t i = 0; i < predicates.size(); ++i) {
      out.push_back(KStream(graph_, branch, key_serde_, value_serde_, repartition_required_)
                        .PassThrough(absl::StrCat(branch, "-", i)));
    }
    return out;
  }

  // split(): named branches, Kafka's BranchedKStream. Branch names become "<prefix><name>";
  // DefaultBranch catches what no predicate matched.
  class BranchedKStream {
   public:
    BranchedKStream& Branch(Predicate predicate, std::string name) {
      predicates_.push_back(std::move(predicate));
      names_.push_back(std::move(name));
      return *this;
    }
    std::map<std::string, KStream> DefaultBranch(std::string name = "0") {
      predicates_.push_back([](const K&, const V&) { return true; });
      names_.push_back(std::move(name));
      return NoDefaultBranch();
    }
    std::map<std::string, KStream> NoDefaultBranch() {
      std::vector<KStream> streams =
          parent_.Branch(predicates_, prefix_.empty() ? "" : prefix_ + "BRANCH");
      std::map<std::string, KStream> out;
      for (size_t i = 0; i < streams.size(); ++i) out.emplace(prefix_ + names_[i], streams[i]);
      return out;
    }

   private:
    friend class KStream;
    BranchedKStream(KStream parent, std::string prefix)
        : parent_(std::move(parent)), prefix_(std::move(prefix)) {}
    KStream parent_;
    std::string prefix_;
    std::vector<Predicate> predicates_;
    std::vector<std::string> names_;
  };
  BranchedKStream Split(std::string prefix = "") const { return BranchedKStream(*this, prefix); }

  KStream Merge(const KStream& other, std::string name = "") const {
    const std::string merge = name.empty() ? graph_->NewName("KSTREAM-MERGE") : std::move(name);
    graph_->AddNode(PassThroughSpec(merge), {node_, other.node_});
    return KStream(graph_, merge, key_serde_, value_serde_,
                   repartition_required_ || other.repartition_required_);
  }

  void To(const std::string& topic, const Produced<K, V>& produced = {}) const {
    const std::string name =
        produced.name.empty() ? graph_->NewName("KSTREAM-SINK") : produced.name;
    Serde<K> ks =
        internal::ResolveSerde(graph_, produced.key_serde ? produced.key_serde : key_serde_,
                               "the key of sink topic " + topic);
    Serde<V> vs =
        internal::ResolveSerde(graph_, produced.value_serde ? produced.value_serde : value_serde_,
                               "the value of sink topic " + topic);
    AddSink(name, topic, false, ks, vs);
  }

  KGroupedStream<K, V> GroupByKey(const Grouped<K, V>& grouped = {}) const {
    return KGroupedStream<K, V>(*this, grouped);
  }

  // selector(key, value) -> K2: the grouping key. Always repartitions.
  template <typename F>
  auto GroupBy(F selector, const Grouped<std::decay_t<std::invoke_result_t<F, const K&, const V&>>,
                                         V>& grouped = {}) const {
    return SelectKey(std::move(selector)).GroupByKey(grouped);
  }

  // --- for the DSL's own use -------------------------------------------------------------------
  internal::GraphBuilder* graph() const { return graph_; }
  const std::optional<Serde<K>>& key_serde() const { return key_serde_; }
  const std::optional<Serde<V>>& value_serde() const { return value_serde_; }
  bool repartition_required() const { return repartition_required_; }

  void AddSink(const std::string& name, const std::string& topic, bool internal_topic, Serde<K> ks,
               Serde<V> vs) const {
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSink;
    spec.name = name;
    spec.topics = {topic};
    spec.internal_topics = internal_topic;
    spec.factory = [name, topic, ks, vs] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::SinkProcessor<K, V>(name, topic, ks, vs));
    };
    spec.accepts_child = [](const internal::ProcessorNode*) { return false; };
    graph_->AddNode(std::move(spec), {node_});
  }

  // A node that forwards what it gets (the named outputs of a branch, a merge).
  KStream PassThrough(std::string name) const {
    graph_->AddNode(PassThroughSpec(name), {node_});
    return KStream(graph_, std::move(name), key_serde_, value_serde_, repartition_required_);
  }

 private:
  template <typename F>
  static auto CallWithValue(F& f, const K& key, const V& value) {
    if constexpr (std::is_invocable_v<F&, const V&>) {
      return f(value);
    } else {
      return f(key, value);
    }
  }

  static internal::NodeSpec PassThroughSpec(const std::string& name) {
    return internal::ProcessorSpec<K, V, internal::FunctionProcessor<K, V>>(
        name, std::function<std::unique_ptr<internal::FunctionProcessor<K, V>>()>([name] {
          return std::make_unique<internal::FunctionProcessor<K, V>>(
              name, [](const internal::ProcessorNode& self, const Record<K, V>& r) {
                return internal::Forward(self, r);
              });
        }));
  }

  // Adds a FunctionProcessor that takes Record<K, V> and forwards Record<K2, V2>.
  template <typename K2, typename V2>
  KStream<K2, V2> Stateless(const char* prefix, std::string name,
                            std::optional<Serde<K2>> key_serde,
                            std::optional<Serde<V2>> value_serde, bool repartition_required,
                            typename internal::FunctionProcessor<K, V>::Fn fn) const {
    if (name.empty()) name = graph_->NewName(prefix);
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kProcessor;
    spec.name = name;
    spec.factory = [name, fn] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::FunctionProcessor<K, V>(name, fn));
    };
    spec.accepts_child = &internal::TakesRecords<K2, V2>;
    graph_->AddNode(std::move(spec), {node_});
    return KStream<K2, V2>(graph_, name, std::move(key_serde), std::move(value_serde),
                           repartition_required);
  }

  template <typename, typename>
  friend class KStream;

  internal::GraphBuilder* graph_;
  std::string node_;
  std::optional<Serde<K>> key_serde_;
  std::optional<Serde<V>> value_serde_;
  bool repartition_required_ = false;
};

template <typename K, typename V>
class KTable {
 public:
  KTable(internal::GraphBuilder* graph, std::string node, std::optional<Serde<K>> key_serde,
         std::optional<Serde<V>> value_serde, std::string store,
         std::optional<TimeWindows> windows = std::nullopt)
      : graph_(graph),
        node_(std::move(node)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        store_(std::move(store)),
        windows_(windows) {}

  const std::string& node_name() const { return node_; }
  // The store that holds the table ("" when it is not materialized).
  const std::string& store_name() const { return store_; }

  // The table's updates as a stream; deletions (no new value) are left out.
  KStream<K, V> ToStream(std::string name = "") const {
    if (name.empty()) name = graph_->NewName("KTABLE-TOSTREAM");
    AddProcessor<K, V>(
        name, [](const internal::ProcessorNode& self, const Record<K, Change<V>>& r) {
          if (!r.value.new_value.has_value()) return absl::OkStatus();
          return internal::Forward(self, Record<K, V>{r.key, *r.value.new_value, r.timestamp});
        });
    return KStream<K, V>(graph_, name, key_serde_, value_serde_, false);
  }

  // The table's updates written to `topic`, deletions as tombstones (null values).
  void To(const std::string& topic, const Produced<K, V>& produced = {}) const {
    const std::string name = produced.name.empty() ? graph_->NewName("KTABLE-SINK") : produced.name;
    Serde<K> ks =
        internal::ResolveSerde(graph_, produced.key_serde ? produced.key_serde : key_serde_,
                               "the key of sink topic " + topic);
    Serde<V> vs =
        internal::ResolveSerde(graph_, produced.value_serde ? produced.value_serde : value_serde_,
                               "the value of sink topic " + topic);
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSink;
    spec.name = name;
    spec.topics = {topic};
    spec.factory = [name, topic, ks, vs] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::TableSinkProcessor<K, V>(name, topic, ks, vs));
    };
    spec.accepts_child = [](const internal::ProcessorNode*) { return false; };
    graph_->AddNode(std::move(spec), {node_});
  }

  KTable Filter(std::function<bool(const K&, const V&)> predicate, std::string name = "") const {
    if (name.empty()) name = graph_->NewName("KTABLE-FILTER");
    AddProcessor<K, Change<V>>(
        name, [predicate](const internal::ProcessorNode& self, const Record<K, Change<V>>& r) {
          // A row the predicate rejects is, downstream, a row that does not exist.
          Record<K, Change<V>> out{r.key, {}, r.timestamp};
          if (r.value.new_value && predicate(r.key, *r.value.new_value)) {
            out.value.new_value = r.value.new_value;
          }
          if (r.value.old_value && predicate(r.key, *r.value.old_value)) {
            out.value.old_value = r.value.old_value;
          }
          if (!out.value.new_value && !out.value.old_value) return absl::OkStatus();
          return internal::Forward(self, out);
        });
    return KTable(graph_, name, key_serde_, value_serde_, "", windows_);
  }

  // mapper(value) -> V2 for every row.
  template <typename F>
  auto MapValues(F mapper, std::string name = "") const {
    using V2 = std::decay_t<std::invoke_result_t<F, const V&>>;
    if (name.empty()) name = graph_->NewName("KTABLE-MAPVALUES");
    AddProcessor<K, Change<V2>>(
        name, [mapper](const internal::ProcessorNode& self, const Record<K, Change<V>>& r) {
          Record<K, Change<V2>> out{r.key, {}, r.timestamp};
          if (r.value.new_value) out.value.new_value = mapper(*r.value.new_value);
          if (r.value.old_value) out.value.old_value = mapper(*r.value.old_value);
          return internal::Forward(self, out);
        });
    return KTable<K, V2>(graph_, name, key_serde_, std::nullopt, "", windows_);
  }

  // Holds each window's result back until the window closes, then emits it once. Only for the
  // result of a windowed aggregation.
  KTable Suppress(const Suppressed& suppressed) const;

  // selector(key, value) -> std::pair<K2, V2>: regroups the table's rows under new keys, through
  // a repartition topic; aggregations then add each new row and subtract the row it replaced.
  template <typename F>
  auto GroupBy(F selector,
               const Grouped<typename std::invoke_result_t<F, const K&, const V&>::first_type,
                             typename std::invoke_result_t<F, const K&, const V&>::second_type>&
                   grouped = {}) const;

  // --- for the DSL's own use -------------------------------------------------------------------
  internal::GraphBuilder* graph() const { return graph_; }
  const std::optional<Serde<K>>& key_serde() const { return key_serde_; }
  const std::optional<Serde<V>>& value_serde() const { return value_serde_; }

 private:
  template <typename, typename>
  friend class KTable;

  // Adds a FunctionProcessor below this table that takes its changes and forwards
  // Record<K2, V2>.
  template <typename K2, typename V2>
  void AddProcessor(const std::string& name,
                    typename internal::FunctionProcessor<K, Change<V>>::Fn fn) const {
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kProcessor;
    spec.name = name;
    spec.factory = [name, fn] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::FunctionProcessor<K, Change<V>>(name, fn));
    };
    spec.accepts_child = &internal::TakesRecords<K2, V2>;
    graph_->AddNode(std::move(spec), {node_});
  }

  internal::GraphBuilder* graph_;
  std::string node_;
  std::optional<Serde<K>> key_serde_;
  std::optional<Serde<V>> value_serde_;
  std::string store_;
  std::optional<TimeWindows> windows_;  // set for the result of a windowed aggregation
};

namespace internal {

template <typename T>
struct WindowedTraits {
  static constexpr bool kWindowed = false;
};
template <typename K>
struct WindowedTraits<Windowed<K>> {
  static constexpr bool kWindowed = true;
  using Key = K;
};

// The store behind an aggregation: Materialized's name or a generated one.
template <typename K, typename V>
StoreSpec AggregateStoreSpec(GraphBuilder* graph, const Materialized<K, V>& m,
                             StoreSpec::Kind kind) {
  StoreSpec spec;
  spec.name = m.store_name.empty() ? graph->NewName("KSTREAM-AGGREGATE-STATE-STORE") : m.store_name;
  spec.kind = kind;
  spec.persistent = m.store_type.value_or(graph->default_store_type()) == StoreType::kRocksDb;
  spec.logging = m.logging;
  spec.caching = m.caching;
  return spec;
}

}  // namespace internal

template <typename K, typename V>
class KGroupedStream {
 public:
  KGroupedStream(KStream<K, V> stream, Grouped<K, V> grouped)
      : stream_(std::move(stream)), grouped_(std::move(grouped)) {}

  KTable<K, int64_t> Count(const Materialized<K, int64_t>& materialized = {}) const {
    Materialized<K, int64_t> m = materialized;
    if (!m.value_serde) m.value_serde = serdes::Int64();
    return Aggregate([] { return int64_t{0}; },
                     [](const K&, const V&, int64_t count) { return count + 1; }, m);
  }

  // reducer(aggregate, value) -> the new aggregate; the first value of a key is its aggregate.
  KTable<K, V> Reduce(std::function<V(const V&, const V&)> reducer,
                      const Materialized<K, V>& materialized = {}) const {
    Materialized<K, V> m = materialized;
    if (!m.value_serde)
      m.value_serde = grouped_.value_serde ? grouped_.value_serde : stream_.value_serde();
    return AggregateImpl<V>(
        [reducer](const K&, const V& v, const std::optional<V>& agg) {
          return agg.has_value() ? reducer(*agg, v) : v;
        },
        m);
  }

  // initializer() -> the aggregate of a new key; aggregator(key, value, aggregate) -> the new one.
  template <typename Init, typename Agg>
  auto Aggregate(
      Init initializer, Agg aggregator,
      const Materialized<K, std::decay_t<std::invoke_result_t<Init>>>& materialized = {}) const {
    using VA = std::decay_t<std::invoke_result_t<Init>>;
    return AggregateImpl<VA>(
        [initializer, aggregator](const K& k, const V& v, const std::optional<VA>& agg) {
          return aggregator(k, v, agg.has_value() ? *agg : initializer());
        },
        materialized);
  }

  TimeWindowedKStream<K, V> WindowedBy(const TimeWindows& windows) const {
    if (!windows.valid()) {
      stream_.graph()->Fail(absl::InvalidArgumentError(absl::StrCat(
          "invalid time windows: size ", windows.size_ms(), " ms, advance ", windows.advance_ms(),
          " ms, grace ", windows.grace_ms(), " ms (need 0 < advance <= size, grace >= 0)")));
    }
    return TimeWindowedKStream<K, V>(*this, windows);
  }

  // --- for the DSL's own use -------------------------------------------------------------------
  // The node an aggregation hangs below: the stream itself, or - after a key change - the source
  // of the repartition topic "<name>-repartition" that the stream is written through, named after
  // the Grouped name or else `store`.
  std::string Input(const std::string& store) const {
    if (!stream_.repartition_required()) return stream_.node_name();
    internal::GraphBuilder* graph = stream_.graph();
    const std::string topic = (grouped_.name.empty() ? store : grouped_.name) + "-repartition";
    Serde<K> ks = KeySerde("the key of repartition topic " + topic);
    Serde<V> vs = ValueSerde("the value of repartition topic " + topic);
    graph->AddRepartitionTopic({topic, grouped_.partitions});
    stream_.AddSink(graph->NewName("KSTREAM-SINK"), topic, true, ks, vs);
    const std::string source = graph->NewName("KSTREAM-SOURCE");
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSource;
    spec.name = source;
    spec.topics = {topic};
    spec.internal_topics = true;
    spec.factory = [source, ks, vs] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::SourceProcessor<K, V>(source, ks, vs, {}));
    };
    spec.accepts_child = &internal::TakesRecords<K, V>;
    graph->AddNode(std::move(spec), {});
    return source;
  }
  Serde<K> KeySerde(const std::string& what) const {
    return internal::ResolveSerde(
        stream_.graph(), grouped_.key_serde ? grouped_.key_serde : stream_.key_serde(), what);
  }
  Serde<V> ValueSerde(const std::string& what) const {
    return internal::ResolveSerde(
        stream_.graph(), grouped_.value_serde ? grouped_.value_serde : stream_.value_serde(), what);
  }
  const KStream<K, V>& stream() const { return stream_; }

 private:
  template <typename VA>
  KTable<K, VA> AggregateImpl(typename internal::AggregateProcessor<K, V, VA>::Aggregator aggregate,
                              const Materialized<K, VA>& m) const {
    internal::GraphBuilder* graph = stream_.graph();
    internal::StoreSpec store =
        internal::AggregateStoreSpec(graph, m, internal::StoreSpec::Kind::kKeyValue);
    const std::string input = Input(store.name);
    const std::string name = graph->NewName("KSTREAM-AGGREGATE");
    Serde<K> ks = m.key_serde ? *m.key_serde : KeySerde("the key of store " + store.name);
    Serde<VA> as = internal::ResolveSerde(graph, m.value_serde, "the value of store " + store.name);
    graph->AddStore(store);
    graph->AddNode(internal::ProcessorSpec<K, Change<VA>, internal::AggregateProcessor<K, V, VA>>(
                       name,
                       std::function<std::unique_ptr<internal::AggregateProcessor<K, V, VA>>()>(
                           [name, store = store.name, ks, as, aggregate] {
                             return std::make_unique<internal::AggregateProcessor<K, V, VA>>(
                                 name, store, ks, as, aggregate);
                           }),
                       {store.name}),
                   {input});
    return KTable<K, VA>(graph, name, ks, as, store.name);
  }

  KStream<K, V> stream_;
  Grouped<K, V> grouped_;
};

template <typename K, typename V>
class TimeWindowedKStream {
 public:
  TimeWindowedKStream(KGroupedStream<K, V> grouped, TimeWindows windows)
      : grouped_(std::move(grouped)), windows_(windows) {}

  // Beyond Kafka Streams: records too late for their windows are also written to `topic` (with
  // the grouping's serdes), besides being dropped and counted.
  TimeWindowedKStream LateRecordsTo(std::string topic) const {
    TimeWindowedKStream copy = *this;
    copy.late_topic_ = std::move(topic);
    return copy;
  }

  KTable<Windowed<K>, int64_t> Count(const Materialized<K, int64_t>& materialized = {}) const {
    Materialized<K, int64_t> m = materialized;
    if (!m.value_serde) m.value_serde = serdes::Int64();
    return Aggregate([] { return int64_t{0}; },
                     [](const K&, const V&, int64_t count) { return count + 1; }, m);
  }

  KTable<Windowed<K>, V> Reduce(std::function<V(const V&, const V&)> reducer,
                                const Materialized<K, V>& materialized = {}) const {
    Materialized<K, V> m = materialized;
    if (!m.value_serde) m.value_serde = grouped_.ValueSerde("the value of a windowed reduce");
    return AggregateImpl<V>(
        [reducer](const K&, const V& v, const std::optional<V>& agg) {
          return agg.has_value() ? reducer(*agg, v) : v;
        },
        m);
  }

  template <typename Init, typename Agg>
  auto Aggregate(
      Init initializer, Agg aggregator,
      const Materialized<K, std::decay_t<std::invoke_result_t<Init>>>& materialized = {}) const {
    using VA = std::decay_t<std::invoke_result_t<Init>>;
    return AggregateImpl<VA>(
        [initializer, aggregator](const K& k, const V& v, const std::optional<VA>& agg) {
          return aggregator(k, v, agg.has_value() ? *agg : initializer());
        },
        materialized);
  }

 private:
  template <typename VA>
  KTable<Windowed<K>, VA> AggregateImpl(
      typename internal::WindowAggregateProcessor<K, V, VA>::Aggregator aggregate,
      const Materialized<K, VA>& m) const {
    internal::GraphBuilder* graph = grouped_.stream().graph();
    internal::StoreSpec store =
        internal::AggregateStoreSpec(graph, m, internal::StoreSpec::Kind::kWindow);
    store.retention_ms =
        std::max(m.retention_ms.value_or(0), windows_.size_ms() + windows_.grace_ms());
    const std::string input = grouped_.Input(store.name);
    const std::string name = graph->NewName("KSTREAM-AGGREGATE");
    Serde<K> ks = m.key_serde ? *m.key_serde : grouped_.KeySerde("the key of store " + store.name);
    Serde<V> vs = grouped_.ValueSerde("the value of late records of " + name);
    Serde<VA> as = internal::ResolveSerde(graph, m.value_serde, "the value of store " + store.name);
    graph->AddStore(store);
    const TimeWindows windows = windows_;
    const std::string late = late_topic_;
    graph->AddNode(
        internal::ProcessorSpec<Windowed<K>, Change<VA>,
                                internal::WindowAggregateProcessor<K, V, VA>>(
            name,
            std::function<std::unique_ptr<internal::WindowAggregateProcessor<K, V, VA>>()>(
                [name, store = store.name, windows, ks, vs, as, aggregate, late] {
                  return std::make_unique<internal::WindowAggregateProcessor<K, V, VA>>(
                      name, store, windows, ks, vs, as, aggregate, late);
                }),
            {store.name}),
        {input});
    return KTable<Windowed<K>, VA>(graph, name, internal::WindowedSerde(ks), as, store.name,
                                   windows_);
  }

  KGroupedStream<K, V> grouped_;
  TimeWindows windows_;
  std::string late_topic_;
};

template <typename K, typename V>
KTable<K, V> KTable<K, V>::Suppress(const Suppressed& suppressed) const {
  if constexpr (!internal::WindowedTraits<K>::kWindowed) {
    graph_->Fail(absl::InvalidArgumentError(
        absl::StrCat("suppress(untilWindowCloses) on ", node_,
                     ": only the result of a windowed aggregation can wait for its window")));
    return *this;
  } else {
    using Inner = typename internal::WindowedTraits<K>::Key;
    if (!windows_.has_value()) {
      graph_->Fail(absl::InvalidArgumentError(absl::StrCat(
          "suppress(untilWindowCloses) on ", node_, ": the table is not a windowed aggregation")));
      return *this;
    }
    const std::string name =
        suppressed.name.empty() ? graph_->NewName("KTABLE-SUPPRESS") : suppressed.name;
    internal::StoreSpec store;
    store.name = suppressed.name.empty() ? graph_->NewName("KTABLE-SUPPRESS-STATE-STORE")
                                         : suppressed.name + "-store";
    store.kind = internal::StoreSpec::Kind::kKeyValue;
    store.persistent = false;  // an in-memory buffer, restored from its changelog
    store.caching = false;
    graph_->AddStore(store);
    // The inner key serde: a windowed key's bytes are the inner key's plus 16.
    std::optional<Serde<Inner>> inner_default = internal::DefaultSerde<Inner>();
    Serde<K> windowed = internal::ResolveSerde(graph_, key_serde_, "the key of " + name);
    Serde<Inner> ks;
    ks.serialize = [windowed](const Inner& k) {
      std::string bytes = windowed.serialize(K{k, 0, 0});
      bytes.resize(bytes.size() - 16);
      return bytes;
    };
    ks.deserialize = [windowed](std::string_view bytes) -> absl::StatusOr<Inner> {
      std::string padded(bytes);
      padded.append(16, '\0');
      ASSIGN_OR_RETURN(K w, windowed.deserialize(padded));
      return std::move(w.key);
    };
    Serde<V> vs = internal::ResolveSerde(graph_, value_serde_, "the value of " + name);
    const int64_t grace = windows_->grace_ms();
    graph_->AddNode(internal::ProcessorSpec<K, Change<V>, internal::SuppressProcessor<Inner, V>>(
                        name,
                        std::function<std::unique_ptr<internal::SuppressProcessor<Inner, V>>()>(
                            [name, store = store.name, grace, ks, vs] {
                              return std::make_unique<internal::SuppressProcessor<Inner, V>>(
                                  name, store, grace, ks, vs);
                            }),
                        {store.name}),
                    {node_});
    return KTable(graph_, name, key_serde_, value_serde_, "", windows_);
  }
}

template <typename K, typename V>
class KGroupedTable {
 public:
  KGroupedTable(internal::GraphBuilder* graph, std::string source, Serde<K> key_serde,
                Serde<V> value_serde)
      : graph_(graph),
        source_(std::move(source)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  KTable<K, int64_t> Count(const Materialized<K, int64_t>& materialized = {}) const {
    Materialized<K, int64_t> m = materialized;
    if (!m.value_serde) m.value_serde = serdes::Int64();
    return Aggregate([] { return int64_t{0}; }, [](const K&, const V&, int64_t n) { return n + 1; },
                     [](const K&, const V&, int64_t n) { return n - 1; }, m);
  }

  // adder(aggregate, new row) and subtractor(aggregate, old row); a key's first row is its
  // aggregate.
  KTable<K, V> Reduce(std::function<V(const V&, const V&)> adder,
                      std::function<V(const V&, const V&)> subtractor,
                      const Materialized<K, V>& materialized = {}) const {
    Materialized<K, V> m = materialized;
    if (!m.value_serde) m.value_serde = value_serde_;
    return AggregateImpl<V>(
        [] { return V{}; }, [adder](const K&, const V& v, const V& agg) { return adder(agg, v); },
        [subtractor](const K&, const V& v, const V& agg) { return subtractor(agg, v); }, m);
  }

  template <typename Init, typename Add, typename Subtract>
  auto Aggregate(
      Init initializer, Add adder, Subtract subtractor,
      const Materialized<K, std::decay_t<std::invoke_result_t<Init>>>& materialized = {}) const {
    using VA = std::decay_t<std::invoke_result_t<Init>>;
    return AggregateImpl<VA>(initializer, adder, subtractor, materialized);
  }

 private:
  template <typename VA>
  KTable<K, VA> AggregateImpl(
      typename internal::TableAggregateProcessor<K, V, VA>::Initializer init,
      typename internal::TableAggregateProcessor<K, V, VA>::Fold add,
      typename internal::TableAggregateProcessor<K, V, VA>::Fold subtract,
      const Materialized<K, VA>& m) const {
    internal::StoreSpec store =
        internal::AggregateStoreSpec(graph_, m, internal::StoreSpec::Kind::kKeyValue);
    const std::string name = graph_->NewName("KTABLE-AGGREGATE");
    Serde<K> ks = m.key_serde ? *m.key_serde : key_serde_;
    Serde<VA> as =
        internal::ResolveSerde(graph_, m.value_serde, "the value of store " + store.name);
    graph_->AddStore(store);
    graph_->AddNode(
        internal::ProcessorSpec<K, Change<VA>, internal::TableAggregateProcessor<K, V, VA>>(
            name,
            std::function<std::unique_ptr<internal::TableAggregateProcessor<K, V, VA>>()>(
                [name, store = store.name, ks, as, init, add, subtract] {
                  return std::make_unique<internal::TableAggregateProcessor<K, V, VA>>(
                      name, store, ks, as, init, add, subtract);
                }),
            {store.name}),
        {source_});
    return KTable<K, VA>(graph_, name, ks, as, store.name);
  }

  internal::GraphBuilder* graph_;
  std::string source_;  // reads the repartition topic
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

template <typename K, typename V>
template <typename F>
auto KTable<K, V>::GroupBy(
    F selector,
    const Grouped<typename std::invoke_result_t<F, const K&, const V&>::first_type,
                  typename std::invoke_result_t<F, const K&, const V&>::second_type>& grouped)
    const {
  using Pair = std::invoke_result_t<F, const K&, const V&>;
  using K2 = typename Pair::first_type;
  using V2 = typename Pair::second_type;
  const std::string select = graph_->NewName("KTABLE-SELECT");
  AddProcessor<K2, Change<V2>>(
      select, [selector](const internal::ProcessorNode& self, const Record<K, Change<V>>& r) {
        // The old row leaves its group, then the new one joins its (maybe other) group.
        if (r.value.old_value.has_value()) {
          Pair old = selector(r.key, *r.value.old_value);
          RETURN_IF_ERROR(internal::Forward(
              self, Record<K2, Change<V2>>{std::move(old.first),
                                           Change<V2>{std::nullopt, std::move(old.second)},
                                           r.timestamp}));
        }
        if (r.value.new_value.has_value()) {
          Pair now = selector(r.key, *r.value.new_value);
          RETURN_IF_ERROR(internal::Forward(
              self, Record<K2, Change<V2>>{std::move(now.first),
                                           Change<V2>{std::move(now.second), std::nullopt},
                                           r.timestamp}));
        }
        return absl::OkStatus();
      });
  const std::string base = grouped.name.empty() ? select : grouped.name;
  const std::string topic = base + "-repartition";
  Serde<K2> ks =
      internal::ResolveSerde(graph_, grouped.key_serde, "the key of repartition topic " + topic);
  Serde<Change<V2>> vs = internal::ChangeSerde(internal::ResolveSerde(
      graph_, grouped.value_serde, "the value of repartition topic " + topic));
  graph_->AddRepartitionTopic({topic, grouped.partitions});
  KStream<K2, Change<V2>>(graph_, select, ks, vs, false)
      .AddSink(graph_->NewName("KTABLE-SINK"), topic, true, ks, vs);
  const std::string source = graph_->NewName("KTABLE-SOURCE");
  internal::NodeSpec spec;
  spec.kind = internal::NodeSpec::Kind::kSource;
  spec.name = source;
  spec.topics = {topic};
  spec.internal_topics = true;
  spec.factory = [source, ks, vs] {
    return std::unique_ptr<internal::ProcessorNode>(
        new internal::SourceProcessor<K2, Change<V2>>(source, ks, vs, {}));
  };
  spec.accepts_child = &internal::TakesRecords<K2, Change<V2>>;
  graph_->AddNode(std::move(spec), {});
  return KGroupedTable<K2, V2>(
      graph_, source, ks,
      internal::ResolveSerde(graph_, grouped.value_serde, "the value of " + topic));
}

}  // namespace runnel::streams
