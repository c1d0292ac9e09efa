// KGroupedTable (Kafka Streams' KGroupedTable): a KTable's rows regrouped under new keys, what
// KTable::GroupBy returns; its aggregations (count, reduce, aggregate) add each new row to its
// group and subtract the row it replaced.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "streams/internal/dsl_forward.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams {

template <typename K, typename V>
class KGroupedTable {
 public:
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
  // The DSL's own: KTable::GroupBy makes these.
  template <typename, typename>
  friend class KTable;

  KGroupedTable(internal::GraphBuilder* graph, std::string source, Serde<K> key_serde,
                Serde<V> value_serde)
      : graph_(graph),
        source_(std::move(source)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

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
        internal::ApiProcessorSpec<internal::TableAggregateProcessor<K, V, VA>>(
            name,
            std::function<std::unique_ptr<internal::TableAggregateProcessor<K, V, VA>>()>(
                [store = store.name, ks, as, init, add, subtract] {
                  return std::make_unique<internal::TableAggregateProcessor<K, V, VA>>(
                      store, ks, as, init, add, subtract);
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

}  // namespace runnel::streams
