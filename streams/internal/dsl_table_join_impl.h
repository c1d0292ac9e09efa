// The bodies of KTable's joins with another KTable on the key (Join, LeftJoin, OuterJoin): what
// nodes and stores a join adds. streams/dsl.h includes this after every DSL type.
//
// As in Kafka Streams (names generated, or from the result's Materialized store name):
//   KTABLE-JOINTHIS-n  (LEFTTHIS, OUTERTHIS)   the left table's changes, reading the right store
//   KTABLE-JOINOTHER-n (LEFTOTHER, OUTEROTHER) the right table's changes, reading the left store
//   KTABLE-MERGE-n                             the join's output (writing the result's store)
// The two tables' source topics are declared a co-partition group.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/join_processors.h"
#include "streams/internal/table_join_processors.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams {

template <typename K, typename V>
template <typename V2, typename F, typename VR>
KTable<K, VR> KTable<K, V>::Join(const KTable<K, V2>& other, F joiner,
                                 const Materialized<K, VR>& materialized) const {
  return TableJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, *a, *b);
      },
      materialized, false, false);
}

template <typename K, typename V>
template <typename V2, typename F, typename VR>
KTable<K, VR> KTable<K, V>::LeftJoin(const KTable<K, V2>& other, F joiner,
                                     const Materialized<K, VR>& materialized) const {
  return TableJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, *a, b);
      },
      materialized, true, false);
}

template <typename K, typename V>
template <typename V2, typename F, typename VR>
KTable<K, VR> KTable<K, V>::OuterJoin(const KTable<K, V2>& other, F joiner,
                                      const Materialized<K, VR>& materialized) const {
  return TableJoin<V2, VR>(
      other,
      [joiner](const K& k, const std::optional<V>& a, const std::optional<V2>& b) -> VR {
        return internal::CallJoiner(joiner, k, a, b);
      },
      materialized, true, true);
}

template <typename K, typename V>
template <typename V2, typename VR>
KTable<K, VR> KTable<K, V>::TableJoin(const KTable<K, V2>& other,
                                      internal::TableJoiner<K, V, V2, VR> joiner,
                                      const Materialized<K, VR>& materialized, bool left_outer,
                                      bool right_outer) const {
  const char* kind = right_outer ? "OUTER" : left_outer ? "LEFT" : "JOIN";
  const std::string this_name = graph_->NewName(absl::StrCat("KTABLE-", kind, "THIS"));
  const std::string other_name = graph_->NewName(absl::StrCat("KTABLE-", kind, "OTHER"));
  const std::string merge_name = graph_->NewName("KTABLE-MERGE");
  if (store_.empty() || other.store_.empty()) {
    graph_->Fail(absl::InvalidArgumentError(absl::StrCat(
        "join ", this_name, " of tables ", node_, " and ", other.node_, ": table ",
        store_.empty() ? node_ : other.node_,
        " is not materialized (join a table from StreamsBuilder::Table or an aggregation)")));
    return KTable<K, VR>(graph_, node_, key_serde_, std::nullopt, "");
  }
  Serde<K> ks = internal::ResolveSerde(graph_, key_serde_, "the key of join " + this_name);
  Serde<V> vs = internal::ResolveSerde(graph_, value_serde_, "the value of table " + node_);
  Serde<V2> os =
      internal::ResolveSerde(graph_, other.value_serde_, "the value of table " + other.node_);

  using LeftNode = internal::TableTableJoinProcessor<K, V, V2, VR, true>;
  using RightNode = internal::TableTableJoinProcessor<K, V, V2, VR, false>;
  typename LeftNode::Config left_config{other.store_, left_outer, right_outer, ks, os, joiner};
  typename RightNode::Config right_config{store_, right_outer, left_outer, ks, vs, joiner};
  graph_->AddNode(
      internal::ProcessorSpec<K, Change<VR>, LeftNode>(
          this_name, std::function<std::unique_ptr<LeftNode>()>([this_name, left_config] {
            return std::make_unique<LeftNode>(this_name, left_config);
          }),
          {other.store_}),
      {node_});
  graph_->AddNode(
      internal::ProcessorSpec<K, Change<VR>, RightNode>(
          other_name, std::function<std::unique_ptr<RightNode>()>([other_name, right_config] {
            return std::make_unique<RightNode>(other_name, right_config);
          }),
          {store_}),
      {other.node_});

  std::string store;
  std::optional<Serde<VR>> result_serde = materialized.value_serde;
  Serde<VR> rs;
  if (!materialized.store_name.empty()) {
    internal::StoreSpec spec =
        internal::AggregateStoreSpec(graph_, materialized, internal::StoreSpec::Kind::kKeyValue);
    graph_->AddStore(spec);
    store = spec.name;
    rs = internal::ResolveSerde(graph_, result_serde, "the value of store " + store);
    result_serde = rs;
  }
  using Merge = internal::TableJoinMergeProcessor<K, VR>;
  std::vector<std::string> merge_stores;
  if (!store.empty()) merge_stores.push_back(store);
  graph_->AddNode(
      internal::ProcessorSpec<K, Change<VR>, Merge>(
          merge_name, std::function<std::unique_ptr<Merge>()>([merge_name, store, ks, rs] {
            return std::make_unique<Merge>(merge_name, store, ks, rs);
          }),
          merge_stores),
      {this_name, other_name});
  graph_->AddCopartitionGroup({node_, other.node_});
  return KTable<K, VR>(graph_, merge_name, ks, result_serde, store);
}

}  // namespace runnel::streams
