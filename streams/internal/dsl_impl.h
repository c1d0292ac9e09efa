// The DSL members that close the include cycles between the DSL headers. Each returns a type
// whose header includes its own class's header, so its body cannot be in its class's header; it
// is here, where every DSL type is complete. streams/dsl.h includes this last; nothing else
// should.
//
//   KStream::GroupByKey, KStream::GroupBy  return a KGroupedStream (which holds a KStream)
//   KGroupedStream::WindowedBy             returns a TimeWindowedKStream or a
//                                          SessionWindowedKStream (which hold a KGroupedStream)
//   KTable::GroupBy                        returns a KGroupedTable (whose aggregations return
//                                          KTables)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/kgrouped_stream.h"
#include "streams/kgrouped_table.h"
#include "streams/kstream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/session_windowed_kstream.h"
#include "streams/time_windowed_kstream.h"
#include "streams/topology.h"
#include "streams/windows.h"

namespace runnel::streams {

template <typename K, typename V>
KGroupedStream<K, V> KStream<K, V>::GroupByKey(const Grouped<K, V>& grouped) const {
  return KGroupedStream<K, V>(*this, grouped);
}

template <typename K, typename V>
template <typename F>
auto KStream<K, V>::GroupBy(
    F selector,
    const Grouped<std::decay_t<std::invoke_result_t<F, const K&, const V&>>, V>& grouped) const {
  return SelectKey(std::move(selector)).GroupByKey(grouped);
}

template <typename K, typename V>
TimeWindowedKStream<K, V> KGroupedStream<K, V>::WindowedBy(const TimeWindows& windows) const {
  if (!windows.valid()) {
    stream_.graph()->Fail(absl::InvalidArgumentError(absl::StrCat(
        "invalid time windows: size ", windows.size_ms(), " ms, advance ", windows.advance_ms(),
        " ms, grace ", windows.grace_ms(), " ms (need 0 < advance <= size, grace >= 0)")));
  }
  return TimeWindowedKStream<K, V>(*this, windows);
}

template <typename K, typename V>
TimeWindowedKStream<K, V> KGroupedStream<K, V>::WindowedBy(const SlidingWindows& windows) const {
  if (!windows.valid()) {
    stream_.graph()->Fail(absl::InvalidArgumentError(
        absl::StrCat("invalid sliding windows: time difference ", windows.time_difference_ms(),
                     " ms, grace ", windows.grace_ms(), " ms (need difference > 0, grace >= 0)")));
  }
  return TimeWindowedKStream<K, V>(*this, windows);
}

template <typename K, typename V>
SessionWindowedKStream<K, V> KGroupedStream<K, V>::WindowedBy(const SessionWindows& windows) const {
  if (!windows.valid()) {
    stream_.graph()->Fail(absl::InvalidArgumentError(
        absl::StrCat("invalid session windows: inactivity gap ", windows.inactivity_gap_ms(),
                     " ms, grace ", windows.grace_ms(), " ms (need gap > 0, grace >= 0)")));
  }
  return SessionWindowedKStream<K, V>(*this, windows);
}

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
  AddProcessor<K2, Change<V2>>(select, [selector](auto& context, const Record<K, Change<V>>& r) {
    // The old row leaves its group, then the new one joins its (maybe other) group.
    if (r.value.old_value.has_value()) {
      Pair old = selector(r.key, *r.value.old_value);
      RETURN_IF_ERROR(context.Forward(Record<K2, Change<V2>>{
          std::move(old.first), Change<V2>{std::nullopt, std::move(old.second)}, r.timestamp}));
    }
    if (r.value.new_value.has_value()) {
      Pair now = selector(r.key, *r.value.new_value);
      RETURN_IF_ERROR(context.Forward(Record<K2, Change<V2>>{
          std::move(now.first), Change<V2>{std::move(now.second), std::nullopt}, r.timestamp}));
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
