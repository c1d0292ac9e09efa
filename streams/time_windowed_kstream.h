// TimeWindowedKStream (Kafka Streams' TimeWindowedKStream): a KGroupedStream cut into time
// windows (tumbling or hopping TimeWindows, or SlidingWindows), what KGroupedStream::WindowedBy
// returns for those; its aggregations make a KTable keyed by Windowed<K>, and records too late
// for their windows are dropped (and optionally written to a topic).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_forward.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/sliding_window_processors.h"
#include "streams/kgrouped_stream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
class TimeWindowedKStream {
 public:
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
  // The DSL's own: KGroupedStream::WindowedBy makes these.
  friend class KGroupedStream<K, V>;

  TimeWindowedKStream(KGroupedStream<K, V> grouped, TimeWindows windows)
      : grouped_(std::move(grouped)), windows_(windows) {}
  TimeWindowedKStream(KGroupedStream<K, V> grouped, SlidingWindows sliding)
      : grouped_(std::move(grouped)),
        windows_(TimeWindows::OfSizeWithNoGrace(sliding.time_difference_ms())),
        sliding_(sliding) {}

  template <typename VA>
  KTable<Windowed<K>, VA> AggregateImpl(
      typename internal::WindowAggregateProcessor<K, V, VA>::Aggregator aggregate,
      const Materialized<K, VA>& m) const {
    internal::GraphBuilder* graph = grouped_.graph();
    internal::StoreSpec store =
        internal::AggregateStoreSpec(graph, m, internal::StoreSpec::Kind::kWindow);
    // Sliding windows look back 2 * time difference for the windows a record needs (Kafka's
    // retention for them).
    store.retention_ms =
        std::max(m.retention_ms.value_or(0),
                 sliding_ ? 2 * sliding_->time_difference_ms() + sliding_->grace_ms()
                          : windows_.size_ms() + windows_.grace_ms());
    const std::string input = grouped_.Input(store.name);
    const std::string name = graph->NewName("KSTREAM-AGGREGATE");
    Serde<K> ks = m.key_serde ? *m.key_serde : grouped_.KeySerde("the key of store " + store.name);
    Serde<V> vs = grouped_.ValueSerde("the value of late records of " + name);
    Serde<VA> as = internal::ResolveSerde(graph, m.value_serde, "the value of store " + store.name);
    graph->AddStore(store);
    const std::string late = late_topic_;
    if (sliding_.has_value()) {
      using Node = internal::SlidingWindowAggregateProcessor<K, V, VA>;
      const SlidingWindows sliding = *sliding_;
      graph->AddNode(internal::ApiProcessorSpec<Node>(
                         name,
                         std::function<std::unique_ptr<Node>()>(
                             [store = store.name, sliding, ks, vs, as, aggregate, late] {
                               return std::make_unique<Node>(store, sliding, ks, vs, as, aggregate,
                                                             late);
                             }),
                         {store.name}),
                     {input});
      // The windows' ends are inclusive: stream time end + grace still accepts a record.
      return KTable<Windowed<K>, VA>(graph, name, internal::WindowedSerde(ks), as, store.name,
                                     sliding.grace_ms() + 1);
    }
    const TimeWindows windows = windows_;
    graph->AddNode(
        internal::ApiProcessorSpec<internal::WindowAggregateProcessor<K, V, VA>>(
            name,
            std::function<std::unique_ptr<internal::WindowAggregateProcessor<K, V, VA>>()>(
                [store = store.name, windows, ks, vs, as, aggregate, late] {
                  return std::make_unique<internal::WindowAggregateProcessor<K, V, VA>>(
                      store, windows, ks, vs, as, aggregate, late);
                }),
            {store.name}),
        {input});
    return KTable<Windowed<K>, VA>(graph, name, internal::WindowedSerde(ks), as, store.name,
                                   windows_.grace_ms());
  }

  KGroupedStream<K, V> grouped_;
  TimeWindows windows_;                    // unused when sliding_ is set
  std::optional<SlidingWindows> sliding_;  // set: sliding windows
  std::string late_topic_;
};

}  // namespace runnel::streams
