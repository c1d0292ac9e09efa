// SessionWindowedKStream (Kafka Streams' SessionWindowedKStream): a KGroupedStream cut into
// per-key sessions, what KGroupedStream::WindowedBy(SessionWindows) returns; its aggregations make
// a KTable keyed by Windowed<K> whose windows are sessions [first record, last record]. A record
// that joins sessions merges them; the merged-away sessions are retracted downstream as deletions
// (internal/session_window_processors.h has the rules, lateness included). Session stores have no
// record cache: every update reaches downstream at once.
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
#include "streams/internal/graph_builder.h"
#include "streams/internal/session_window_processors.h"
#include "streams/kgrouped_stream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
class SessionWindowedKStream {
 public:
  // Beyond Kafka Streams: records too late for their session are also written to `topic` (with
  // the grouping's serdes), besides being dropped and counted.
  SessionWindowedKStream LateRecordsTo(std::string topic) const {
    SessionWindowedKStream copy = *this;
    copy.late_topic_ = std::move(topic);
    return copy;
  }

  KTable<Windowed<K>, int64_t> Count(const Materialized<K, int64_t>& materialized = {}) const {
    Materialized<K, int64_t> m = materialized;
    if (!m.value_serde) m.value_serde = serdes::Int64();
    return Aggregate([] { return int64_t{0}; },
                     [](const K&, const V&, int64_t count) { return count + 1; },
                     [](const K&, int64_t a, int64_t b) { return a + b; }, m);
  }

  // reducer(aggregate, value) -> the new aggregate; merging sessions reduces their aggregates.
  KTable<Windowed<K>, V> Reduce(std::function<V(const V&, const V&)> reducer,
                                const Materialized<K, V>& materialized = {}) const {
    Materialized<K, V> m = materialized;
    if (!m.value_serde) m.value_serde = grouped_.ValueSerde("the value of a session reduce");
    return AggregateImpl<V>(
        [reducer](const K&, const V& v, const std::optional<V>& agg) {
          return agg.has_value() ? reducer(*agg, v) : v;
        },
        [reducer](const K&, const std::optional<V>& agg, const V& session) {
          return agg.has_value() ? reducer(*agg, session) : session;
        },
        m);
  }

  // initializer() -> the aggregate of a new session; aggregator(key, value, aggregate) -> the
  // new one; merger(key, aggregate one, aggregate two) -> the aggregate of two merged sessions.
  template <typename Init, typename Agg, typename Merge>
  auto Aggregate(
      Init initializer, Agg aggregator, Merge merger,
      const Materialized<K, std::decay_t<std::invoke_result_t<Init>>>& materialized = {}) const {
    using VA = std::decay_t<std::invoke_result_t<Init>>;
    return AggregateImpl<VA>(
        [initializer, aggregator](const K& k, const V& v, const std::optional<VA>& agg) {
          return aggregator(k, v, agg.has_value() ? *agg : initializer());
        },
        [initializer, merger](const K& k, const std::optional<VA>& agg, const VA& session) {
          return merger(k, agg.has_value() ? *agg : initializer(), session);
        },
        materialized);
  }

 private:
  // The DSL's own: KGroupedStream::WindowedBy makes these.
  friend class KGroupedStream<K, V>;

  SessionWindowedKStream(KGroupedStream<K, V> grouped, SessionWindows windows)
      : grouped_(std::move(grouped)), windows_(windows) {}

  template <typename VA>
  KTable<Windowed<K>, VA> AggregateImpl(
      typename internal::SessionWindowAggregateProcessor<K, V, VA>::Aggregator aggregate,
      typename internal::SessionWindowAggregateProcessor<K, V, VA>::Merger merge,
      const Materialized<K, VA>& m) const {
    using Node = internal::SessionWindowAggregateProcessor<K, V, VA>;
    internal::GraphBuilder* graph = grouped_.graph();
    internal::StoreSpec store =
        internal::AggregateStoreSpec(graph, m, internal::StoreSpec::Kind::kSession);
    store.caching = false;  // session stores have no record cache
    // Kafka's session store retention: a session may grow until stream time passes
    // end + gap + grace.
    store.retention_ms =
        std::max(m.retention_ms.value_or(0), windows_.inactivity_gap_ms() + windows_.grace_ms());
    const std::string input = grouped_.Input(store.name);
    const std::string name = graph->NewName("KSTREAM-AGGREGATE");
    Serde<K> ks = m.key_serde ? *m.key_serde : grouped_.KeySerde("the key of store " + store.name);
    Serde<V> vs = grouped_.ValueSerde("the value of late records of " + name);
    Serde<VA> as = internal::ResolveSerde(graph, m.value_serde, "the value of store " + store.name);
    graph->AddStore(store);
    const SessionWindows windows = windows_;
    const std::string late = late_topic_;
    graph->AddNode(internal::ApiProcessorSpec<Node>(
                       name,
                       std::function<std::unique_ptr<Node>()>(
                           [store = store.name, windows, ks, vs, as, aggregate, merge, late] {
                             return std::make_unique<Node>(store, windows, ks, vs, as, aggregate,
                                                           merge, late);
                           }),
                       {store.name}),
                   {input});
    // A session takes records until stream time passes end + gap + grace.
    return KTable<Windowed<K>, VA>(graph, name, internal::WindowedSerde(ks), as, store.name,
                                   windows_.inactivity_gap_ms() + windows_.grace_ms() + 1);
  }

  KGroupedStream<K, V> grouped_;
  SessionWindows windows_;
  std::string late_topic_;
};

}  // namespace runnel::streams
