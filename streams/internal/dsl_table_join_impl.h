// The bodies of KTable's joins with another KTable, on the key (Join, LeftJoin, OuterJoin) and on
// a foreign key (Join, LeftJoin with an extractor): what nodes, stores and topics a join adds.
// streams/dsl.h includes this after every DSL type.
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
#include "streams/internal/dsl_processors.h"
#include "streams/internal/fk_join_processors.h"
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
  if (FailUnlessMaterialized("join " + this_name, other)) {
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
  graph_->AddNode(internal::ApiProcessorSpec<LeftNode>(
                      this_name, std::function<std::unique_ptr<LeftNode>()>([left_config] {
                        return std::make_unique<LeftNode>(left_config);
                      }),
                      {other.store_}),
                  {node_});
  graph_->AddNode(internal::ApiProcessorSpec<RightNode>(
                      other_name, std::function<std::unique_ptr<RightNode>()>([right_config] {
                        return std::make_unique<RightNode>(right_config);
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
  graph_->AddNode(internal::ApiProcessorSpec<Merge>(
                      merge_name, std::function<std::unique_ptr<Merge>()>([store, ks, rs] {
                        return std::make_unique<Merge>(store, ks, rs);
                      }),
                      merge_stores),
                  {this_name, other_name});
  graph_->AddCopartitionGroup({node_, other.node_});
  return KTable<K, VR>(graph_, merge_name, ks, result_serde, store);
}

template <typename K, typename V>
template <typename KO, typename VO>
bool KTable<K, V>::FailUnlessMaterialized(const std::string& join,
                                          const KTable<KO, VO>& other) const {
  if (!store_.empty() && !other.store_.empty()) return false;
  graph_->Fail(absl::InvalidArgumentError(absl::StrCat(
      join, " of tables ", node_, " and ", other.node_, ": table ",
      store_.empty() ? node_ : other.node_,
      " is not materialized (join a table from StreamsBuilder::Table or an aggregation)")));
  return true;
}

// A foreign-key join adds (n from the first generated name, "KTABLE-FK-JOIN-n"):
//   <base>-subscription-send      below the left table: subscriptions
//   <base>-subscription-sink      -> <base>-subscription-registration-topic
//   <base>-subscription-source    <- it, co-partitioned with the right table
//   <base>-subscription-receive   the subscription store; answers from the right store
//   <base>-foreign-table          below the right table: answers to its subscribers
//   <base>-response-sink          -> <base>-subscription-response-topic
//   <base>-response-source        <- it, co-partitioned with the left table
//   <base>-response-join          against the left store: the join results
//   <base>-merge                  the result table (its store when materialized)
template <typename K, typename V>
template <typename KO, typename VO, typename VR>
KTable<K, VR> KTable<K, V>::ForeignKeyJoin(
    const KTable<KO, VO>& other, std::function<KO(const V&)> extractor,
    std::function<VR(const K&, const V&, const std::optional<VO>&)> joiner,
    const Materialized<K, VR>& materialized, bool left) const {
  const std::string base = graph_->NewName("KTABLE-FK-JOIN");
  if (FailUnlessMaterialized("foreign-key join " + base, other)) {
    return KTable<K, VR>(graph_, node_, key_serde_, std::nullopt, "");
  }
  Serde<K> ks = internal::ResolveSerde(graph_, key_serde_, "the key of join " + base);
  Serde<V> vs = internal::ResolveSerde(graph_, value_serde_, "the value of table " + node_);
  Serde<KO> kos =
      internal::ResolveSerde(graph_, other.key_serde_, "the key of table " + other.node_);
  Serde<VO> vos =
      internal::ResolveSerde(graph_, other.value_serde_, "the value of table " + other.node_);
  const Serde<std::string> bytes = serdes::String();
  const std::string registration = base + "-subscription-registration-topic";
  const std::string response = base + "-subscription-response-topic";
  graph_->AddRepartitionTopic({registration, std::nullopt});
  graph_->AddRepartitionTopic({response, std::nullopt});
  internal::StoreSpec subscriptions;
  subscriptions.name = base + "-subscription-store";
  subscriptions.kind = internal::StoreSpec::Kind::kKeyValue;
  subscriptions.persistent = graph_->default_store_type() == StoreType::kRocksDb;
  subscriptions.caching = false;
  graph_->AddStore(subscriptions);

  auto add_sink = [&](const std::string& name, const std::string& topic,
                      std::vector<std::string> parents) {
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSink;
    spec.name = name;
    spec.topics = {topic};
    spec.internal_topics = true;
    spec.factory = [name, topic, bytes] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::SinkProcessor<std::string, std::string>(name, topic, bytes, bytes));
    };
    spec.accepts_child = [](const internal::ProcessorNode*) { return false; };
    graph_->AddNode(std::move(spec), parents);
  };
  auto add_source = [&](const std::string& name, const std::string& topic) {
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSource;
    spec.name = name;
    spec.topics = {topic};
    spec.internal_topics = true;
    spec.factory = [name, bytes] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::SourceProcessor<std::string, std::string>(name, bytes, bytes, {}));
    };
    spec.accepts_child = &internal::TakesRecords<std::string, std::string>;
    graph_->AddNode(std::move(spec), {});
  };

  using Send = internal::SubscriptionSendProcessor<K, V, KO>;
  const std::string send = base + "-subscription-send";
  typename Send::Config send_config{extractor, left, ks, vs, kos};
  graph_->AddNode(
      internal::ApiProcessorSpec<Send>(send, std::function<std::unique_ptr<Send>()>([send_config] {
                                         return std::make_unique<Send>(send_config);
                                       })),
      {node_});
  add_sink(base + "-subscription-sink", registration, {send});
  const std::string subscription_source = base + "-subscription-source";
  add_source(subscription_source, registration);
  using Receive = internal::SubscriptionReceiveProcessor;
  const std::string receive = base + "-subscription-receive";
  graph_->AddNode(
      internal::ApiProcessorSpec<Receive>(receive,
                                          std::function<std::unique_ptr<Receive>()>(
                                              [store = subscriptions.name, right = other.store_] {
                                                return std::make_unique<Receive>(store, right);
                                              }),
                                          {subscriptions.name, other.store_}),
      {subscription_source});
  using Foreign = internal::ForeignTableChangeProcessor<KO, VO>;
  const std::string foreign = base + "-foreign-table";
  graph_->AddNode(
      internal::ApiProcessorSpec<Foreign>(
          foreign,
          std::function<std::unique_ptr<Foreign>()>([store = subscriptions.name, kos, vos] {
            return std::make_unique<Foreign>(store, kos, vos);
          }),
          {subscriptions.name}),
      {other.node_});
  add_sink(base + "-response-sink", response, {receive, foreign});
  const std::string response_source = base + "-response-source";
  add_source(response_source, response);

  using ResponseJoin = internal::ResponseJoinProcessor<K, V, VO, VR>;
  const std::string response_join = base + "-response-join";
  typename ResponseJoin::Config join_config{store_, left, ks, vs, vos, joiner};
  graph_->AddNode(internal::ApiProcessorSpec<ResponseJoin>(
                      response_join, std::function<std::unique_ptr<ResponseJoin>()>([join_config] {
                        return std::make_unique<ResponseJoin>(join_config);
                      }),
                      {store_}),
                  {response_source});

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
  const std::string merge = base + "-merge";
  std::vector<std::string> merge_stores;
  if (!store.empty()) merge_stores.push_back(store);
  graph_->AddNode(internal::ApiProcessorSpec<Merge>(
                      merge, std::function<std::unique_ptr<Merge>()>([store, ks, rs] {
                        return std::make_unique<Merge>(store, ks, rs);
                      }),
                      merge_stores),
                  {response_join});
  graph_->AddCopartitionGroup({subscription_source, other.node_});
  graph_->AddCopartitionGroup({response_source, node_});
  return KTable<K, VR>(graph_, merge, ks, result_serde, store);
}

}  // namespace runnel::streams
