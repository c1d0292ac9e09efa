// The helper templates the DSL types (and StreamsBuilder) share to describe their nodes:
// resolving a serde, what a node's children must take, the store behind an aggregation, and
// telling a windowed key type from a plain one (a processor's NodeSpec: processor_api_node.h).
// Not user API.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/graph_builder.h"
#include "streams/internal/processor_node.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

// The given serde, else T's built-in one; with neither, the builder fails naming `what`.
template <typename T>
Serde<T> ResolveSerde(GraphBuilder* graph, const std::optional<Serde<T>>& serde,
                      const std::string& what) {
  if (serde.has_value()) return *serde;
  if (std::optional<Serde<T>> d = DefaultSerde<T>()) return *d;
  graph->Fail(absl::InvalidArgumentError(
      absl::StrCat("no serde for ", what,
                   ": its type has no built-in serde; give one (Consumed/Produced/Grouped/"
                   "Materialized::With)")));
  Serde<T> failing;
  failing.serialize = [](const T&) { return std::string(); };
  failing.deserialize = [what](std::string_view) -> absl::StatusOr<T> {
    return absl::FailedPreconditionError("no serde for " + what);
  };
  return failing;
}

// The `accepts_child` of a node that forwards Record<K, V>.
template <typename K, typename V>
bool TakesRecords(const ProcessorNode* child) {
  return dynamic_cast<const Processor<K, V>*>(child) != nullptr;
}

template <typename T>
using DecayedResult = std::decay_t<T>;

template <typename T>
struct WindowedTraits {
  static constexpr bool kWindowed = false;
};
template <typename K>
struct WindowedTraits<Windowed<K>> {
  static constexpr bool kWindowed = true;
  using Key = K;
};

// The store behind an aggregation: Materialized's name or a generated one.
template <typename K, typename V>
StoreSpec AggregateStoreSpec(GraphBuilder* graph, const Materialized<K, V>& m,
                             StoreSpec::Kind kind) {
  StoreSpec spec;
  spec.name = m.store_name.empty() ? graph->NewName("KSTREAM-AGGREGATE-STATE-STORE") : m.store_name;
  spec.kind = kind;
  spec.persistent = m.store_type.value_or(graph->default_store_type()) == StoreType::kRocksDb;
  spec.logging = m.logging;
  spec.caching = m.caching;
  return spec;
}

}  // namespace runnel::streams::internal
