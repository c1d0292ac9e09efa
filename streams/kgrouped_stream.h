// KGroupedStream (Kafka Streams' KGroupedStream): a KStream grouped by key, what
// KStream::GroupByKey and KStream::GroupBy return; its aggregations (count, reduce, aggregate)
// make a KTable, and WindowedBy makes a TimeWindowedKStream (time and sliding windows) or a
// SessionWindowedKStream. A grouping after a key change writes
// the stream through a repartition topic first. The aggregations skip a record whose key or value
// is null and count it in dropped_records (streams/README.md, "Null keys and values").
//
// Include streams/dsl.h (or streams/streams_builder.h), not this header alone: WindowedBy returns a
// TimeWindowedKStream, whose header needs this one, so its body is in
// streams/internal/dsl_impl.h, which dsl.h includes last.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "streams/internal/dsl_forward.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/kstream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
class KGroupedStream {
 public:
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

  // Windowed aggregations over `windows` (an invalid one fails the build).
  TimeWindowedKStream<K, V> WindowedBy(const TimeWindows& windows) const;
  TimeWindowedKStream<K, V> WindowedBy(const SlidingWindows& windows) const;
  SessionWindowedKStream<K, V> WindowedBy(const SessionWindows& windows) const;

 private:
  // The DSL's own: KStream groups, TimeWindowedKStream aggregates through this grouping.
  friend class KStream<K, V>;
  friend class TimeWindowedKStream<K, V>;
  friend class SessionWindowedKStream<K, V>;

  KGroupedStream(KStream<K, V> stream, Grouped<K, V> grouped)
      : stream_(std::move(stream)), grouped_(std::move(grouped)) {}

  internal::GraphBuilder* graph() const { return stream_.graph(); }
  // The node an aggregation hangs below: the stream itself, or - after a key change - the source
  // of the repartition topic "<name>-repartition" that the stream is written through, named after
  // the Grouped name or else `store`.
  std::string Input(const std::string& store) const {
    if (!stream_.repartition_required()) return stream_.node_name();
    const std::string topic = (grouped_.name.empty() ? store : grouped_.name) + "-repartition";
    return stream_
        .ThroughRepartitionTopic(topic, KeySerde("the key of repartition topic " + topic),
                                 ValueSerde("the value of repartition topic " + topic),
                                 grouped_.partitions)
        .node_name();
  }
  Serde<K> KeySerde(const std::string& what) const {
    return internal::ResolveSerde(
        stream_.graph(), grouped_.key_serde ? grouped_.key_serde : stream_.key_serde(), what);
  }
  Serde<V> ValueSerde(const std::string& what) const {
    return internal::ResolveSerde(
        stream_.graph(), grouped_.value_serde ? grouped_.value_serde : stream_.value_serde(), what);
  }

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
    graph->AddNode(internal::ApiProcessorSpec<internal::AggregateProcessor<K, V, VA>>(
                       name,
                       std::function<std::unique_ptr<internal::AggregateProcessor<K, V, VA>>()>(
                           [store = store.name, ks, as, aggregate] {
                             return std::make_unique<internal::AggregateProcessor<K, V, VA>>(
                                 store, ks, as, aggregate);
                           }),
                       {store.name}),
                   {input});
    return KTable<K, VA>(graph, name, ks, as, store.name);
  }

  KStream<K, V> stream_;
  Grouped<K, V> grouped_;
};

}  // namespace runnel::streams
