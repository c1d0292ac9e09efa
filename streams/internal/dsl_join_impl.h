// The bodies of KStream's joins (Join, LeftJoin, OuterJoin with a KStream or a KTable): what
// nodes, stores and repartition topics a join adds. Here rather than in kstream.h because the
// table joins need KTable complete; streams/dsl.h includes this after every DSL type.
//
// A KStream-KStream join adds, as Kafka Streams does (names from StreamJoined or generated):
//   KSTREAM-JOINTHIS-n  (OUTERTHIS for an outer join)    the left side's processor
//   KSTREAM-JOINOTHER-n (OUTEROTHER for left and outer)  the right side's processor
//   KSTREAM-MERGE-n                                      the join's output
// with stores "<this>-store" and "<other>-store" (window stores of the two sides) and, for left
// and outer joins, "KSTREAM-OUTERSHARED-n-store" (the unmatched records); none is cached.
// A KStream-KTable join adds one processor, KSTREAM-JOIN-n (KSTREAM-LEFTJOIN-n), reading the
// table's store. Each of these joins declares its inputs' source topics a co-partition group.
// A KStream-GlobalKTable join adds one processor too, reading the global store; it needs no
// co-partitioning and never repartitions.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "streams/global_ktable.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/global_table_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/join_processors.h"
#include "streams/join_windows.h"
#include "streams/kstream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams {

template <typename K, typename V>
template <typename V2, typename F>
auto KStream<K, V>::Join(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
                         const StreamJoined<K, V, V2>& joined) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(
      joiner, std::declval<const K&>(), std::declval<const V&>(), std::declval<const V2&>()))>;
  return StreamJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, *a, *b);
      },
      windows, joined, false, false);
}

template <typename K, typename V>
template <typename V2, typename F>
auto KStream<K, V>::LeftJoin(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
                             const StreamJoined<K, V, V2>& joined) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(joiner, std::declval<const K&>(),
                                                        std::declval<const V&>(),
                                                        std::declval<const std::optional<V2>&>()))>;
  return StreamJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, *a, b);
      },
      windows, joined, true, false);
}

template <typename K, typename V>
template <typename V2, typename F>
auto KStream<K, V>::OuterJoin(const KStream<K, V2>& other, F joiner, const JoinWindows& windows,
                              const StreamJoined<K, V, V2>& joined) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(joiner, std::declval<const K&>(),
                                                        std::declval<const std::optional<V>&>(),
                                                        std::declval<const std::optional<V2>&>()))>;
  return StreamJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, a, b);
      },
      windows, joined, true, true);
}

template <typename K, typename V>
template <typename V2, typename VR>
KStream<K, VR> KStream<K, V>::StreamJoin(const KStream<K, V2>& other,
                                         internal::StreamJoiner<K, V, V2, VR> joiner,
                                         const JoinWindows& windows,
                                         const StreamJoined<K, V, V2>& joined, bool left_outer,
                                         bool right_outer) const {
  if (!windows.valid()) {
    graph_->Fail(absl::InvalidArgumentError(absl::StrCat(
        "invalid join windows: before ", windows.before_ms(), " ms, after ", windows.after_ms(),
        " ms, grace ", windows.grace_ms(), " ms (need before + after >= 0, grace >= 0)")));
  }
  const std::string& n = joined.name;
  const std::string this_name =
      n.empty() ? graph_->NewName(right_outer ? "KSTREAM-OUTERTHIS" : "KSTREAM-JOINTHIS")
                : n + (right_outer ? "-outer-this" : "-join-this");
  const std::string other_name =
      n.empty() ? graph_->NewName(left_outer ? "KSTREAM-OUTEROTHER" : "KSTREAM-JOINOTHER")
                : n + (left_outer ? "-outer-other" : "-join-other");
  const std::string merge_name = n.empty() ? graph_->NewName("KSTREAM-MERGE") : n + "-merge";
  Serde<K> ks = internal::ResolveSerde(graph_, joined.key_serde ? joined.key_serde : key_serde_,
                                       "the key of join " + this_name);
  Serde<V> vs = internal::ResolveSerde(
      graph_, joined.value_serde ? joined.value_serde : value_serde_, "the value of " + this_name);
  Serde<V2> os = internal::ResolveSerde(
      graph_, joined.other_value_serde ? joined.other_value_serde : other.value_serde_,
      "the value of " + other_name);
  // A side whose key changed is written through a repartition topic first.
  const KStream<K, V> left =
      repartition_required_
          ? ThroughRepartitionTopic(n.empty() ? node_ + "-repartition" : n + "-left-repartition",
                                    ks, vs, std::nullopt)
          : *this;
  const KStream<K, V2> right =
      other.repartition_required_
          ? other.ThroughRepartitionTopic(
                n.empty() ? other.node_ + "-repartition" : n + "-right-repartition", ks, os,
                std::nullopt)
          : other;

  const std::string& s = joined.store_name;
  internal::StoreSpec this_store;
  this_store.name = s.empty() ? this_name + "-store" : s + "-this-join-store";
  this_store.kind = internal::StoreSpec::Kind::kWindow;
  this_store.persistent =
      joined.store_type.value_or(graph_->default_store_type()) == StoreType::kRocksDb;
  this_store.logging = joined.logging;
  this_store.caching = false;
  // A record is needed until its window has closed for the other side's records (Kafka's
  // retention for join stores: window size + grace).
  this_store.retention_ms = std::max<int64_t>(0, windows.size_ms()) + windows.grace_ms();
  internal::StoreSpec other_store = this_store;
  other_store.name = s.empty() ? other_name + "-store" : s + "-other-join-store";
  std::vector<std::string> stores = {this_store.name, other_store.name};
  graph_->AddStore(this_store);
  graph_->AddStore(other_store);
  std::string outer_store;
  if (left_outer || right_outer) {
    internal::StoreSpec shared = this_store;
    shared.kind = internal::StoreSpec::Kind::kKeyValue;
    shared.retention_ms = 0;
    shared.name = s.empty() ? graph_->NewName("KSTREAM-OUTERSHARED") + "-store"
                            : s + "-outer-shared-join-store";
    outer_store = shared.name;
    stores.push_back(shared.name);
    graph_->AddStore(shared);
  }

  using LeftNode = internal::StreamStreamJoinProcessor<K, V, V2, VR, true>;
  using RightNode = internal::StreamStreamJoinProcessor<K, V, V2, VR, false>;
  typename LeftNode::Config left_config{this_store.name,
                                        other_store.name,
                                        outer_store,
                                        windows,
                                        left_outer,
                                        right_outer,
                                        ks,
                                        vs,
                                        os,
                                        joiner,
                                        joined.late_records_topic};
  typename RightNode::Config right_config{other_store.name,
                                          this_store.name,
                                          outer_store,
                                          windows,
                                          right_outer,
                                          left_outer,
                                          ks,
                                          vs,
                                          os,
                                          joiner,
                                          joined.other_late_records_topic};
  graph_->AddNode(internal::ApiProcessorSpec<LeftNode>(
                      this_name, std::function<std::unique_ptr<LeftNode>()>([left_config] {
                        return std::make_unique<LeftNode>(left_config);
                      }),
                      stores),
                  {left.node_});
  graph_->AddNode(internal::ApiProcessorSpec<RightNode>(
                      other_name, std::function<std::unique_ptr<RightNode>()>([right_config] {
                        return std::make_unique<RightNode>(right_config);
                      }),
                      stores),
                  {right.node_});
  graph_->AddNode(KStream<K, VR>::PassThroughSpec(merge_name), {this_name, other_name});
  graph_->AddCopartitionGroup({left.node_, right.node_});
  return KStream<K, VR>(graph_, merge_name, ks, std::nullopt, false);
}

template <typename K, typename V>
template <typename VT, typename F>
auto KStream<K, V>::Join(const KTable<K, VT>& table, F joiner,
                         const Joined<K, V, VT>& joined) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(
      joiner, std::declval<const K&>(), std::declval<const V&>(), std::declval<const VT&>()))>;
  return TableJoin<VT, VR>(
      table,
      [joiner](const K& k, const V& v, const std::optional<VT>& row) -> VR {
        return internal::CallJoiner(joiner, k, v, *row);
      },
      joined, false);
}

template <typename K, typename V>
template <typename VT, typename F>
auto KStream<K, V>::LeftJoin(const KTable<K, VT>& table, F joiner,
                             const Joined<K, V, VT>& joined) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(joiner, std::declval<const K&>(),
                                                        std::declval<const V&>(),
                                                        std::declval<const std::optional<VT>&>()))>;
  return TableJoin<VT, VR>(
      table,
      [joiner](const K& k, const V& v, const std::optional<VT>& row) -> VR {
        return internal::CallJoiner(joiner, k, v, row);
      },
      joined, true);
}

template <typename K, typename V>
template <typename VT, typename VR>
KStream<K, VR> KStream<K, V>::TableJoin(
    const KTable<K, VT>& table,
    typename internal::StreamTableJoinProcessor<K, V, VT, VR>::Joiner joiner,
    const Joined<K, V, VT>& joined, bool left) const {
  const std::string name = joined.name.empty()
                               ? graph_->NewName(left ? "KSTREAM-LEFTJOIN" : "KSTREAM-JOIN")
                               : joined.name;
  if (table.store_.empty()) {
    graph_->Fail(absl::InvalidArgumentError(absl::StrCat(
        "join ", name, " with table ", table.node_,
        ": the table is not materialized (join a table from StreamsBuilder::Table or an "
        "aggregation)")));
    return KStream<K, VR>(graph_, node_, std::nullopt, std::nullopt, false);
  }
  Serde<K> ks = internal::ResolveSerde(graph_, joined.key_serde ? joined.key_serde : key_serde_,
                                       "the key of join " + name);
  Serde<VT> ts =
      internal::ResolveSerde(graph_, table.value_serde_, "the value of table " + table.node_);
  const KStream<K, V> stream =
      repartition_required_
          ? ThroughRepartitionTopic(
                (joined.name.empty() ? node_ : joined.name) + "-repartition", ks,
                internal::ResolveSerde(graph_,
                                       joined.value_serde ? joined.value_serde : value_serde_,
                                       "the value of the repartition topic of " + name),
                std::nullopt)
          : *this;
  using Node = internal::StreamTableJoinProcessor<K, V, VT, VR>;
  graph_->AddNode(
      internal::ApiProcessorSpec<Node>(
          name,
          std::function<std::unique_ptr<Node>()>([store = table.store_, left, ks, ts, joiner] {
            return std::make_unique<Node>(store, left, ks, ts, joiner);
          }),
          {table.store_}),
      {stream.node_});
  graph_->AddCopartitionGroup({stream.node_, table.node_});
  return KStream<K, VR>(graph_, name, ks, std::nullopt, false);
}

template <typename K, typename V>
template <typename KG, typename VG, typename M, typename F>
auto KStream<K, V>::Join(const GlobalKTable<KG, VG>& table, M key_mapper, F joiner,
                         std::string name) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(
      joiner, std::declval<const K&>(), std::declval<const V&>(), std::declval<const VG&>()))>;
  return GlobalTableJoin<KG, VG, VR>(
      table, [key_mapper](const K& k, const V& v) -> KG { return CallWithValue(key_mapper, k, v); },
      [joiner](const K& k, const V& v, const std::optional<VG>& row) -> VR {
        return internal::CallJoiner(joiner, k, v, *row);
      },
      std::move(name), false);
}

template <typename K, typename V>
template <typename KG, typename VG, typename M, typename F>
auto KStream<K, V>::LeftJoin(const GlobalKTable<KG, VG>& table, M key_mapper, F joiner,
                             std::string name) const {
  using VR = std::decay_t<decltype(internal::CallJoiner(joiner, std::declval<const K&>(),
                                                        std::declval<const V&>(),
                                                        std::declval<const std::optional<VG>&>()))>;
  return GlobalTableJoin<KG, VG, VR>(
      table, [key_mapper](const K& k, const V& v) -> KG { return CallWithValue(key_mapper, k, v); },
      [joiner](const K& k, const V& v, const std::optional<VG>& row) -> VR {
        return internal::CallJoiner(joiner, k, v, row);
      },
      std::move(name), true);
}

template <typename K, typename V>
template <typename KG, typename VG, typename VR>
KStream<K, VR> KStream<K, V>::GlobalTableJoin(
    const GlobalKTable<KG, VG>& table,
    typename internal::StreamGlobalTableJoinProcessor<K, V, KG, VG, VR>::KeyMapper key_mapper,
    typename internal::StreamGlobalTableJoinProcessor<K, V, KG, VG, VR>::Joiner joiner,
    std::string name, bool left) const {
  if (name.empty()) name = graph_->NewName(left ? "KSTREAM-LEFTJOIN" : "KSTREAM-JOIN");
  using Node = internal::StreamGlobalTableJoinProcessor<K, V, KG, VG, VR>;
  typename Node::Config config{table.store_,       left,       table.key_serde_,
                               table.value_serde_, key_mapper, joiner};
  // The global store is the instance's, not the task's: the node does not declare it.
  graph_->AddNode(
      internal::ApiProcessorSpec<Node>(name, std::function<std::unique_ptr<Node>()>([config] {
                                         return std::make_unique<Node>(config);
                                       })),
      {node_});
  return KStream<K, VR>(graph_, name, key_serde_, std::nullopt, repartition_required_);
}

}  // namespace runnel::streams
