// KStream (Kafka Streams' KStream): a stream of records, the DSL's starting point and what most
// of its operations return. A KStream is a light handle on the StreamsBuilder that made it: each
// operation adds nodes to that builder's topology and returns a new handle; mistakes (a missing
// serde, an invalid window) are reported by StreamsBuilder::Build. Also KStream::BranchedKStream,
// what Split returns (Kafka's BranchedKStream). How a null key or value passes each operation:
// streams/README.md, "Null keys and values".
//
// Include streams/dsl.h (or streams/streams_builder.h), not this header alone: GroupByKey and
// GroupBy return a KGroupedStream, whose header needs this one, so their bodies are in
// streams/internal/dsl_impl.h, which dsl.h includes last.
#pragma once

#include <cstddef>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/internal/dsl_forward.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/global_table_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/join_processors.h"
#include "streams/join_windows.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams {

template <typename K, typename V>
class KStream {
 public:
  using Predicate = std::function<bool(const K&, const V&)>;

  // The name of the node whose output this stream is.
  const std::string& node_name() const { return node_; }

  KStream Filter(Predicate predicate, std::string name = "") const {
    return Stateless<K, V>(
        "KSTREAM-FILTER", std::move(name), key_serde_, value_serde_, repartition_required_,
        [predicate](auto& context, const Record<K, V>& r) {
          return predicate(r.key, r.value) ? context.Forward(r) : absl::OkStatus();
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
    return Stateless<K2, V2>("KSTREAM-MAP", std::move(name), std::nullopt, std::nullopt, true,
                             [mapper](auto& context, const Record<K, V>& r) {
                               Pair kv = mapper(r.key, r.value);
                               return context.Forward(Record<K2, V2>{
                                   std::move(kv.first), std::move(kv.second), r.timestamp});
                             });
  }

  // mapper(value) or mapper(key, value) -> V2. Keeps the key.
  template <typename F>
  auto MapValues(F mapper, std::string name = "") const {
    using V2 = internal::DecayedResult<decltype(CallWithValue(mapper, std::declval<const K&>(),
                                                              std::declval<const V&>()))>;
    return Stateless<K, V2>(
        "KSTREAM-MAPVALUES", std::move(name), key_serde_, std::nullopt, repartition_required_,
        [mapper](auto& context, const Record<K, V>& r) {
          return context.Forward(
              Record<K, V2>{r.key, CallWithValue(mapper, r.key, r.value), r.timestamp, r.key_null});
        });
  }

  // processor(record) -> V2: a new value computed from the whole record, timestamp included
  // (Kafka Streams' processValues, with a function in place of a processor). Keeps the key.
  template <typename F>
  auto ProcessValues(F processor, std::string name = "") const {
    using V2 = std::decay_t<std::invoke_result_t<F, const Record<K, V>&>>;
    return Stateless<K, V2>(
        "KSTREAM-PROCESSVALUES", std::move(name), key_serde_, std::nullopt, repartition_required_,
        [processor](auto& context, const Record<K, V>& r) {
          return context.Forward(Record<K, V2>{r.key, processor(r), r.timestamp, r.key_null});
        });
  }

  // Kafka Streams' process(): runs a user processor (streams/processor.h) on each record.
  // `supplier()` returns a std::unique_ptr<P>, P a Processor<K, V, KOut, VOut>; it is called once
  // per task. `stores`: the stores (added with StreamsBuilder::AddStateStore) the processor may
  // reach through ProcessorContext::GetKeyValueStore; Build fails naming a store nobody added.
  // Returns the stream of what the processor forwards, without serdes (the types' built-in ones
  // unless To or Repartition give others); the key may have changed, so a later grouping or
  // join repartitions. `name` names the node (default KSTREAM-PROCESSOR-n). Body in
  // streams/internal/dsl_process_impl.h.
  template <typename F>
  auto Process(F supplier, std::vector<std::string> stores = {}, std::string name = "") const;

  // mapper(key, value) -> a range of std::pair<K2, V2>. Changes the key.
  template <typename F>
  auto FlatMap(F mapper, std::string name = "") const {
    using Range = std::invoke_result_t<F, const K&, const V&>;
    using Pair = std::decay_t<decltype(*std::begin(std::declval<Range&>()))>;
    using K2 = typename Pair::first_type;
    using V2 = typename Pair::second_type;
    return Stateless<K2, V2>("KSTREAM-FLATMAP", std::move(name), std::nullopt, std::nullopt, true,
                             [mapper](auto& context, const Record<K, V>& r) {
                               for (auto& kv : mapper(r.key, r.value)) {
                                 RETURN_IF_ERROR(context.Forward(Record<K2, V2>{
                                     std::move(kv.first), std::move(kv.second), r.timestamp}));
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
                            repartition_required_, [mapper](auto& context, const Record<K, V>& r) {
                              for (auto& v : CallWithValue(mapper, r.key, r.value)) {
                                RETURN_IF_ERROR(context.Forward(
                                    Record<K, V2>{r.key, std::move(v), r.timestamp, r.key_null}));
                              }
                              return absl::OkStatus();
                            });
  }

  // selector(key, value) -> K2: the new key. A later grouping repartitions.
  template <typename F>
  auto SelectKey(F selector, std::string name = "") const {
    using K2 = std::decay_t<std::invoke_result_t<F, const K&, const V&>>;
    return Stateless<K2, V>(
        "KSTREAM-KEY-SELECT", std::move(name), std::nullopt, value_serde_, true,
        [selector](auto& context, const Record<K, V>& r) {
          return context.Forward(
              Record<K2, V>{selector(r.key, r.value), r.value, r.timestamp, false, r.value_null});
        });
  }

  KStream Peek(std::function<void(const K&, const V&)> action, std::string name = "") const {
    return Stateless<K, V>("KSTREAM-PEEK", std::move(name), key_serde_, value_serde_,
                           repartition_required_, [action](auto& context, const Record<K, V>& r) {
                             action(r.key, r.value);
                             return context.Forward(r);
                           });
  }

  // A terminal step: `action` sees every record.
  void Foreach(std::function<void(const K&, const V&)> action, std::string name = "") const {
    Stateless<K, V>("KSTREAM-FOREACH", std::move(name), key_serde_, value_serde_,
                    repartition_required_, [action](auto&, const Record<K, V>& r) {
                      action(r.key, r.value);
                      return absl::OkStatus();
                    });
  }

  // branch(): stream i gets the records whose first matching predicate is predicates[i];
  // records matching none are dropped (end with a predicate that is always true to keep them).
  std::vector<KStream> Branch(std::vector<Predicate> predicates, std::string name = "") const {
    const std::string branch = name.empty() ? graph_->NewName("KSTREAM-BRANCH") : std::move(name);
    graph_->AddNode(internal::ApiProcessorSpec<internal::BranchProcessor<K, V>>(
                        branch, std::function<std::unique_ptr<internal::BranchProcessor<K, V>>()>(
                                    [branch, predicates] {
                                      std::vector<std::string> children;
                                      for (size_t i = 0; i < predicates.size(); ++i) {
                                        children.push_back(absl::StrCat(branch, "-", i));
                                      }
                                      return std::make_unique<internal::BranchProcessor<K, V>>(
                                          predicates, std::move(children));
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

  // Writes the stream to the internal topic "<application.id>-<name>-repartition" and reads it
  // back: records land on the partition of their current key, with as many partitions as
  // `repartitioned` asks for (default: the upstream sub-topology's task count, or feeding a join,
  // the other side's partition count). Name: Repartitioned's, else "KSTREAM-REPARTITION-<n>".
  KStream Repartition(const Repartitioned<K, V>& repartitioned = {}) const {
    const std::string name =
        repartitioned.name.empty() ? graph_->NewName("KSTREAM-REPARTITION") : repartitioned.name;
    const std::string topic = name + "-repartition";
    Serde<K> ks = internal::ResolveSerde(
        graph_, repartitioned.key_serde ? repartitioned.key_serde : key_serde_,
        "the key of repartition topic " + topic);
    Serde<V> vs = internal::ResolveSerde(
        graph_, repartitioned.value_serde ? repartitioned.value_serde : value_serde_,
        "the value of repartition topic " + topic);
    return ThroughRepartitionTopic(topic, ks, vs, repartitioned.partitions);
  }

  // Windowed KStream-KStream joins (Kafka Streams' join / leftJoin / outerJoin with JoinWindows):
  // records of this stream and `other` with the same key whose timestamps are within `windows`
  // are joined, the result's timestamp the later of the two. Inner: joiner(v, v2); left:
  // joiner(v, std::optional<V2>), called with nullopt for a record of this stream that found no
  // partner once its window closed; outer: joiner(std::optional<V>, std::optional<V2>), for
  // unmatched records of either side. Each joiner may also take the key first. Both streams are
  // buffered in window stores (and, for left and outer joins, a store of unmatched records), all
  // changelogged. A side whose key an earlier step changed is repartitioned first. The rules
  // (lateness, when unmatched records are emitted, nulls) are in
  // streams/internal/join_processors.h and streams/README.md.
  template <typename V2, typename F>
  auto Join(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
            const StreamJoined<K, V, V2>& joined = {}) const;
  template <typename V2, typename F>
  auto LeftJoin(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
                const StreamJoined<K, V, V2>& joined = {}) const;
  template <typename V2, typename F>
  auto OuterJoin(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
                 const StreamJoined<K, V, V2>& joined = {}) const;

  // KStream-KTable joins: each record of this stream is joined with the table's current value
  // for its key (the table must be materialized: a table from StreamsBuilder::Table or an
  // aggregation); table updates emit nothing. Inner: joiner(v, vt), records whose key has no row
  // are dropped; left: joiner(v, std::optional<VT>). Each joiner may also take the key first. The
  // result keeps the stream record's timestamp. The stream is repartitioned first if an earlier
  // step changed its key; the table's topic and the stream's must be co-partitioned.
  template <typename VT, typename F>
  auto Join(const KTable<K, VT>& table, F joiner, const Joined<K, V, VT>& joined = {}) const;
  template <typename VT, typename F>
  auto LeftJoin(const KTable<K, VT>& table, F joiner, const Joined<K, V, VT>& joined = {}) const;

  // KStream-GlobalKTable joins: each record of this stream is joined with the global table's
  // current row for key_mapper(key, value) (or key_mapper(value)) -> KG; no co-partitioning and
  // no repartitioning (the table is whole on every instance). Inner: joiner(v, vg), records whose
  // mapped key has no row are dropped; left: joiner(v, std::optional<VG>). Each joiner may take
  // the stream's key first. The result keeps the stream record's key and timestamp. `name` names
  // the join processor (default KSTREAM-JOIN-n / KSTREAM-LEFTJOIN-n).
  template <typename KG, typename VG, typename M, typename F>
  auto Join(const GlobalKTable<KG, VG>& table, M key_mapper, F joiner, std::string name = "") const;
  template <typename KG, typename VG, typename M, typename F>
  auto LeftJoin(const GlobalKTable<KG, VG>& table, M key_mapper, F joiner,
                std::string name = "") const;

  // Groups by the current key; repartitions first if an earlier step changed the key.
  KGroupedStream<K, V> GroupByKey(const Grouped<K, V>& grouped = {}) const;

  // selector(key, value) -> K2: the grouping key. Always repartitions.
  template <typename F>
  auto GroupBy(F selector, const Grouped<std::decay_t<std::invoke_result_t<F, const K&, const V&>>,
                                         V>& grouped = {}) const;

 private:
  // The DSL's own: StreamsBuilder and the other DSL types make streams and read their parts.
  friend class StreamsBuilder;
  template <typename, typename>
  friend class KStream;
  friend class KGroupedStream<K, V>;
  template <typename, typename>
  friend class KTable;

  KStream(internal::GraphBuilder* graph, std::string node, std::optional<Serde<K>> key_serde,
          std::optional<Serde<V>> value_serde, bool repartition_required)
      : graph_(graph),
        node_(std::move(node)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        repartition_required_(repartition_required) {}

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

  // Writes the stream to repartition topic `topic` (without the application id) and returns
  // the stream read back from it: the records keyed as now, no repartition required.
  KStream ThroughRepartitionTopic(const std::string& topic, Serde<K> ks, Serde<V> vs,
                                  std::optional<int32_t> partitions) const {
    graph_->AddRepartitionTopic({topic, partitions});
    AddSink(graph_->NewName("KSTREAM-SINK"), topic, true, ks, vs);
    const std::string source = graph_->NewName("KSTREAM-SOURCE");
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
    graph_->AddNode(std::move(spec), {});
    return KStream(graph_, source, ks, vs, false);
  }

  // The join of this stream (left) and `other` (right) behind Join, LeftJoin and OuterJoin;
  // `left_outer` / `right_outer`: that side's unmatched records are emitted.
  template <typename V2, typename VR>
  KStream<K, VR> StreamJoin(const KStream<K, V2>& other,
                            internal::StreamJoiner<K, V, V2, VR> joiner, const JoinWindows& windows,
                            const StreamJoined<K, V, V2>& joined, bool left_outer,
                            bool right_outer) const;
  // The join with a table behind Join and LeftJoin.
  template <typename VT, typename VR>
  KStream<K, VR> TableJoin(const KTable<K, VT>& table,
                           typename internal::StreamTableJoinProcessor<K, V, VT, VR>::Joiner joiner,
                           const Joined<K, V, VT>& joined, bool left) const;

  // The join with a global table behind Join and LeftJoin.
  template <typename KG, typename VG, typename VR>
  KStream<K, VR> GlobalTableJoin(
      const GlobalKTable<KG, VG>& table,
      typename internal::StreamGlobalTableJoinProcessor<K, V, KG, VG, VR>::KeyMapper key_mapper,
      typename internal::StreamGlobalTableJoinProcessor<K, V, KG, VG, VR>::Joiner joiner,
      std::string name, bool left) const;

  // A node that forwards what it gets (the named outputs of a branch, a merge).
  KStream PassThrough(std::string name) const {
    graph_->AddNode(PassThroughSpec(name), {node_});
    return KStream(graph_, std::move(name), key_serde_, value_serde_, repartition_required_);
  }

  template <typename F>
  static auto CallWithValue(F& f, const K& key, const V& value) {
    if constexpr (std::is_invocable_v<F&, const V&>) {
      return f(value);
    } else {
      return f(key, value);
    }
  }

  static internal::NodeSpec PassThroughSpec(const std::string& name) {
    using P = internal::FunctionProcessor<K, V, K, V>;
    return internal::ApiProcessorSpec<P>(
        name, std::function<std::unique_ptr<P>()>([] {
          return std::make_unique<P>(
              [](auto& context, const Record<K, V>& r) { return context.Forward(r); });
        }));
  }

  // Adds a FunctionProcessor that takes Record<K, V> and forwards Record<K2, V2>.
  template <typename K2, typename V2>
  KStream<K2, V2> Stateless(const char* prefix, std::string name,
                            std::optional<Serde<K2>> key_serde,
                            std::optional<Serde<V2>> value_serde, bool repartition_required,
                            typename internal::FunctionProcessor<K, V, K2, V2>::Fn fn) const {
    using P = internal::FunctionProcessor<K, V, K2, V2>;
    if (name.empty()) name = graph_->NewName(prefix);
    graph_->AddNode(internal::ApiProcessorSpec<P>(name, std::function<std::unique_ptr<P>()>([fn] {
                                                    return std::make_unique<P>(fn);
                                                  })),
                    {node_});
    return KStream<K2, V2>(graph_, name, std::move(key_serde), std::move(value_serde),
                           repartition_required);
  }

  internal::GraphBuilder* graph_;
  std::string node_;
  std::optional<Serde<K>> key_serde_;
  std::optional<Serde<V>> value_serde_;
  bool repartition_required_ = false;
};

}  // namespace runnel::streams
