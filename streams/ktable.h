// KTable (Kafka Streams' KTable): a changelog stream read as a table, the latest value per key;
// what StreamsBuilder::Table and the aggregations return. Like KStream, a light handle on the
// StreamsBuilder that made it.
//
// Include streams/dsl.h (or streams/streams_builder.h), not this header alone: GroupBy returns a
// KGroupedTable, whose header needs this one, so its body is in streams/internal/dsl_impl.h,
// which dsl.h includes last.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_forward.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/fk_join_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/join_processors.h"
#include "streams/internal/table_join_processors.h"
#include "streams/kstream.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
class KTable {
 public:
  // The name of the node whose output this table is.
  const std::string& node_name() const { return node_; }
  // The store that holds the table ("" when it is not materialized).
  const std::string& store_name() const { return store_; }

  // The table's updates as a stream; a deletion (no new value) is forwarded as (key, null), as
  // Kafka Streams' toStream does, so that a sink writes it as a tombstone.
  KStream<K, V> ToStream(std::string name = "") const {
    if (name.empty()) name = graph_->NewName("KTABLE-TOSTREAM");
    AddProcessor<K, V>(name, [](auto& context, const Record<K, Change<V>>& r) {
      Record<K, V> out{r.key, V{}, r.timestamp, r.key_null, true};
      if (r.value.new_value.has_value()) {
        out.value = *r.value.new_value;
        out.value_null = false;
      }
      return context.Forward(out);
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
    AddProcessor<K, Change<V>>(name, [predicate](auto& context, const Record<K, Change<V>>& r) {
      // A row the predicate rejects is, downstream, a row that does not exist.
      Record<K, Change<V>> out{r.key, {}, r.timestamp};
      if (r.value.new_value && predicate(r.key, *r.value.new_value)) {
        out.value.new_value = r.value.new_value;
      }
      if (r.value.old_value && predicate(r.key, *r.value.old_value)) {
        out.value.old_value = r.value.old_value;
      }
      if (!out.value.new_value && !out.value.old_value) return absl::OkStatus();
      return context.Forward(out);
    });
    return KTable(graph_, name, key_serde_, value_serde_, "", window_close_ms_);
  }

  // mapper(value) -> V2 for every row.
  template <typename F>
  auto MapValues(F mapper, std::string name = "") const {
    using V2 = std::decay_t<std::invoke_result_t<F, const V&>>;
    if (name.empty()) name = graph_->NewName("KTABLE-MAPVALUES");
    AddProcessor<K, Change<V2>>(name, [mapper](auto& context, const Record<K, Change<V>>& r) {
      Record<K, Change<V2>> out{r.key, {}, r.timestamp};
      if (r.value.new_value) out.value.new_value = mapper(*r.value.new_value);
      if (r.value.old_value) out.value.old_value = mapper(*r.value.old_value);
      return context.Forward(out);
    });
    return KTable<K, V2>(graph_, name, key_serde_, std::nullopt, "", window_close_ms_);
  }

  // KTable-KTable joins on the key (Kafka Streams' join / leftJoin / outerJoin with a KTable): an
  // update on either side looks up the other table's current row for the key and emits the new
  // join result with timestamp max(the two rows' timestamps), the old result as the Change's old
  // value. Inner: joiner(v, v2), results exist while both rows do; a row going (tombstone) on
  // either side emits a tombstone. Left: joiner(v, std::optional<V2>), results exist while the
  // left row does; the right row going emits joiner(v, nullopt). Outer: joiner(std::optional<V>,
  // std::optional<V2>), results exist while either row does. Each joiner may take the key first.
  // Both tables must be materialized (from StreamsBuilder::Table or an aggregation) and their
  // topics co-partitioned. The result is materialized in a store when `materialized` names one
  // (then downstream sees one update per key per commit, through the store's cache), else it is
  // not (it cannot then be joined with a stream or another table). The rules:
  // streams/internal/table_join_processors.h.
  template <typename V2, typename F, typename VR = internal::JoinerResult<F, K, V, V2>>
  KTable<K, VR> Join(const KTable<K, V2>& other, F joiner,
                     const Materialized<K, VR>& materialized = {}) const;
  template <typename V2, typename F,
            typename VR = internal::JoinerResult<F, K, V, std::optional<V2>>>
  KTable<K, VR> LeftJoin(const KTable<K, V2>& other, F joiner,
                         const Materialized<K, VR>& materialized = {}) const;
  template <typename V2, typename F,
            typename VR = internal::JoinerResult<F, K, std::optional<V>, std::optional<V2>>>
  KTable<K, VR> OuterJoin(const KTable<K, V2>& other, F joiner,
                          const Materialized<K, VR>& materialized = {}) const;

  // Foreign-key KTable-KTable joins (Kafka Streams' join / leftJoin with a foreign-key
  // extractor): each row of this table joins the row of `other` whose key is
  // foreign_key_extractor(value) -> KO. A result changes when the left row changes (a changed
  // foreign key drops the old association) and when the right row changes (every left row that
  // references it is joined again); inner: joiner(v, vo), a tombstone when the right row is
  // missing or goes; left: joiner(v, std::optional<VO>). A left row going emits a tombstone. The
  // tables need not be co-partitioned: the left side subscribes to foreign keys through the
  // internal topic "<application.id>-KTABLE-FK-JOIN-n-subscription-registration-topic" and the
  // right side answers through "...-subscription-response-topic"; subscriptions live in the store
  // "KTABLE-FK-JOIN-n-subscription-store"; answers to an older left value are dropped (by a hash of
  // the value). Both tables must be materialized. The result carries old values only when
  // materialized (a store name in `materialized`). Rules: streams/internal/fk_join_processors.h.
  template <typename KO, typename VO, typename FKE, typename F,
            typename VR = internal::JoinerResult<F, K, V, VO>>
  requires std::is_invocable_v<const FKE&, const V&> KTable<K, VR> Join(
      const KTable<KO, VO>& other, FKE foreign_key_extractor, F joiner,
      const Materialized<K, VR>& materialized = {})
  const {
    return ForeignKeyJoin<KO, VO, VR>(
        other, foreign_key_extractor,
        [joiner](const K& k, const V& v, const std::optional<VO>& vo) -> VR {
          return internal::CallJoiner(joiner, k, v, *vo);
        },
        materialized, false);
  }
  template <typename KO, typename VO, typename FKE, typename F,
            typename VR = internal::JoinerResult<F, K, V, std::optional<VO>>>
  requires std::is_invocable_v<const FKE&, const V&> KTable<K, VR> LeftJoin(
      const KTable<KO, VO>& other, FKE foreign_key_extractor, F joiner,
      const Materialized<K, VR>& materialized = {})
  const {
    return ForeignKeyJoin<KO, VO, VR>(
        other, foreign_key_extractor,
        [joiner](const K& k, const V& v, const std::optional<VO>& vo) -> VR {
          return internal::CallJoiner(joiner, k, v, vo);
        },
        materialized, true);
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

 private:
  // The DSL's own: StreamsBuilder and the aggregations make tables; KStream joins read them.
  friend class StreamsBuilder;
  template <typename, typename>
  friend class KStream;
  template <typename, typename>
  friend class KTable;
  template <typename, typename>
  friend class KGroupedStream;
  template <typename, typename>
  friend class TimeWindowedKStream;
  template <typename, typename>
  friend class SessionWindowedKStream;
  template <typename, typename>
  friend class KGroupedTable;

  KTable(internal::GraphBuilder* graph, std::string node, std::optional<Serde<K>> key_serde,
         std::optional<Serde<V>> value_serde, std::string store,
         std::optional<int64_t> window_close_ms = std::nullopt)
      : graph_(graph),
        node_(std::move(node)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        store_(std::move(store)),
        window_close_ms_(window_close_ms) {}

  // The join behind Join, LeftJoin and OuterJoin; `left_outer` / `right_outer`: that side's rows
  // join without a partner.
  template <typename V2, typename VR>
  KTable<K, VR> TableJoin(const KTable<K, V2>& other, internal::TableJoiner<K, V, V2, VR> joiner,
                          const Materialized<K, VR>& materialized, bool left_outer,
                          bool right_outer) const;

  // Fails the topology, naming `join`, when this table or `other` has no store (the joins look
  // rows up in both); true then.
  template <typename KO, typename VO>
  bool FailUnlessMaterialized(const std::string& join, const KTable<KO, VO>& other) const;

  // The foreign-key join behind Join and LeftJoin with an extractor.
  template <typename KO, typename VO, typename VR>
  KTable<K, VR> ForeignKeyJoin(
      const KTable<KO, VO>& other, std::function<KO(const V&)> extractor,
      std::function<VR(const K&, const V&, const std::optional<VO>&)> joiner,
      const Materialized<K, VR>& materialized, bool left) const;

  // Adds a FunctionProcessor below this table that takes its changes and forwards
  // Record<K2, V2>.
  template <typename K2, typename V2>
  void AddProcessor(const std::string& name,
                    typename internal::FunctionProcessor<K, Change<V>, K2, V2>::Fn fn) const {
    using P = internal::FunctionProcessor<K, Change<V>, K2, V2>;
    graph_->AddNode(internal::ApiProcessorSpec<P>(name, std::function<std::unique_ptr<P>()>([fn] {
                                                    return std::make_unique<P>(fn);
                                                  })),
                    {node_});
  }

  internal::GraphBuilder* graph_;
  std::string node_;
  std::optional<Serde<K>> key_serde_;
  std::optional<Serde<V>> value_serde_;
  std::string store_;
  // Set for the result of a windowed aggregation: a window with end e has closed (its aggregation
  // takes no more records) once stream time >= e + this. Time windows: grace (their end is
  // exclusive); sliding windows: grace + 1; session windows: gap + grace + 1.
  std::optional<int64_t> window_close_ms_;
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
    if (!window_close_ms_.has_value()) {
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
    const int64_t close_ms = *window_close_ms_;
    graph_->AddNode(internal::ApiProcessorSpec<internal::SuppressProcessor<Inner, V>>(
                        name,
                        std::function<std::unique_ptr<internal::SuppressProcessor<Inner, V>>()>(
                            [store = store.name, close_ms, ks, vs] {
                              return std::make_unique<internal::SuppressProcessor<Inner, V>>(
                                  store, close_ms, ks, vs);
                            }),
                        {store.name}),
                    {node_});
    return KTable(graph_, name, key_serde_, value_serde_, "", window_close_ms_);
  }
}

}  // namespace runnel::streams
