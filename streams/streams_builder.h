// StreamsBuilder: where a topology is described, as in Kafka Streams:
//
//   StreamsBuilder builder;
//   builder.Stream<std::string, std::string>("words")
//       .GroupBy([](const std::string&, const std::string& w) { return w; })
//       .Count(Materialized<std::string, int64_t>::As("counts"))
//       .ToStream()
//       .To("word-counts");
//   absl::StatusOr<Topology> topology = builder.Build();
//
// Not thread-safe; the streams and tables it hands out borrow it and must not outlive it.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "streams/dsl.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/global_table_processors.h"
#include "streams/internal/graph_builder.h"
#include "streams/options.h"
#include "streams/processor.h"
#include "streams/record.h"
#include "streams/serde.h"
#include "streams/topology.h"

namespace runnel::streams {

class StreamsBuilder {
 public:
  // `default_store_type`: the store of aggregations and tables whose Materialized names none
  // (Kafka's default.dsl.store).
  explicit StreamsBuilder(StoreType default_store_type = StoreType::kRocksDb) {
    graph_.set_default_store_type(default_store_type);
  }
  StreamsBuilder(const StreamsBuilder&) = delete;
  StreamsBuilder& operator=(const StreamsBuilder&) = delete;

  // The records of `topics` as a stream.
  template <typename K, typename V>
  KStream<K, V> Stream(std::vector<std::string> topics, const Consumed<K, V>& consumed = {}) {
    const std::string name =
        consumed.name.empty() ? graph_.NewName("KSTREAM-SOURCE") : consumed.name;
    if (topics.empty()) graph_.Fail(absl::InvalidArgumentError("source " + name + " has no topic"));
    Serde<K> ks = internal::ResolveSerde(&graph_, consumed.key_serde, "the key of source " + name);
    Serde<V> vs =
        internal::ResolveSerde(&graph_, consumed.value_serde, "the value of source " + name);
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSource;
    spec.name = name;
    spec.topics = std::move(topics);
    spec.factory = [name, ks, vs, extractor = consumed.timestamp_extractor] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::SourceProcessor<K, V>(name, ks, vs, extractor));
    };
    spec.accepts_child = &internal::TakesRecords<K, V>;
    graph_.AddNode(std::move(spec), {});
    return KStream<K, V>(&graph_, name, ks, vs, false);
  }
  template <typename K, typename V>
  KStream<K, V> Stream(const std::string& topic, const Consumed<K, V>& consumed = {}) {
    return Stream<K, V>(std::vector<std::string>{topic}, consumed);
  }

  // The latest value per key of `topic` as a table, materialized in a store (a null value
  // deletes the key). The store's changelog is its own (Kafka's source-topic optimisation,
  // which reuses the input topic, is not applied).
  template <typename K, typename V>
  KTable<K, V> Table(const std::string& topic, const Consumed<K, V>& consumed = {},
                     const Materialized<K, V>& materialized = {}) {
    const std::string name =
        consumed.name.empty() ? graph_.NewName("KTABLE-SOURCE") : consumed.name;
    Serde<K> ks = internal::ResolveSerde(
        &graph_, materialized.key_serde ? materialized.key_serde : consumed.key_serde,
        "the key of table " + topic);
    Serde<V> vs = internal::ResolveSerde(
        &graph_, materialized.value_serde ? materialized.value_serde : consumed.value_serde,
        "the value of table " + topic);
    internal::StoreSpec store =
        internal::AggregateStoreSpec(&graph_, materialized, internal::StoreSpec::Kind::kKeyValue);
    if (materialized.store_name.empty()) store.name = name + "-STATE-STORE";
    graph_.AddStore(store);
    internal::NodeSpec spec;
    spec.kind = internal::NodeSpec::Kind::kSource;
    spec.name = name;
    spec.topics = {topic};
    spec.stores = {store.name};
    spec.factory = [name, store = store.name, ks, vs, extractor = consumed.timestamp_extractor] {
      return std::unique_ptr<internal::ProcessorNode>(
          new internal::TableSourceProcessor<K, V>(name, store, ks, vs, extractor));
    };
    spec.accepts_child = &internal::TakesRecords<K, Change<V>>;
    graph_.AddNode(std::move(spec), {});
    return KTable<K, V>(&graph_, name, ks, vs, store.name);
  }

  // The latest value per key of every partition of `topic`, held whole by every instance in a
  // global store (Materialized's name, else "<source>-STATE-STORE"; in memory or RocksDB as
  // Materialized or default.dsl.store says; never changelogged or cached: the topic is its
  // changelog). Streams join it with KStream::Join / LeftJoin and a key mapper.
  template <typename K, typename V>
  GlobalKTable<K, V> GlobalTable(const std::string& topic, const Consumed<K, V>& consumed = {},
                                 const Materialized<K, V>& materialized = {}) {
    const std::string name =
        consumed.name.empty() ? graph_.NewName("KTABLE-SOURCE") : consumed.name;
    Serde<K> ks = internal::ResolveSerde(
        &graph_, materialized.key_serde ? materialized.key_serde : consumed.key_serde,
        "the key of global table " + topic);
    Serde<V> vs = internal::ResolveSerde(
        &graph_, materialized.value_serde ? materialized.value_serde : consumed.value_serde,
        "the value of global table " + topic);
    internal::GlobalStoreSpec global;
    global.store.name =
        materialized.store_name.empty() ? name + "-STATE-STORE" : materialized.store_name;
    global.store.kind = internal::StoreSpec::Kind::kKeyValue;
    global.store.persistent =
        materialized.store_type.value_or(graph_.default_store_type()) == StoreType::kRocksDb;
    global.store.logging = false;
    global.store.caching = false;
    global.topic = topic;
    global.source_name = name;
    global.apply = internal::GlobalTableApplier<V>(topic, vs, consumed.timestamp_extractor);
    const std::string store = global.store.name;
    graph_.AddGlobalStore(std::move(global));
    return GlobalKTable<K, V>(&graph_, store, ks, vs);
  }

  // Adds a key-value store for user processors (KStream::Process connects it by name): per task,
  // in memory or RocksDB (the builder's default.dsl.store unless `builder` says), changelogged
  // unless logging is disabled. A name already taken is an error reported by Build.
  template <typename K, typename V>
  void AddStateStore(const KeyValueStoreBuilder<K, V>& builder) {
    internal::StoreSpec store;
    store.name = builder.name;
    store.kind = internal::StoreSpec::Kind::kKeyValue;
    store.persistent =
        builder.store_type.value_or(graph_.default_store_type()) == StoreType::kRocksDb;
    store.logging = builder.logging;
    store.caching = builder.caching;
    store.serdes = internal::StoreSerdes<K, V>{
        internal::ResolveSerde(&graph_, builder.key_serde, "the key of store " + builder.name),
        internal::ResolveSerde(&graph_, builder.value_serde, "the value of store " + builder.name)};
    graph_.AddStore(std::move(store));
  }

  // The same for a window store (`retention_ms` at least 1) and a session store, reached with
  // ProcessorContext::GetWindowStore / GetSessionStore.
  template <typename K, typename V, typename Kind>
  void AddStateStore(const internal::RetainedStoreBuilder<K, V, Kind>& builder) {
    if (builder.retention_ms < 1) {
      graph_.Fail(absl::InvalidArgumentError(absl::StrCat(
          "store ", builder.name, ": retention_ms is ", builder.retention_ms, "; at least 1")));
      return;
    }
    internal::StoreSpec store;
    store.name = builder.name;
    store.kind = std::is_same_v<Kind, internal::WindowStoreTag>
                     ? internal::StoreSpec::Kind::kWindow
                     : internal::StoreSpec::Kind::kSession;
    store.persistent =
        builder.store_type.value_or(graph_.default_store_type()) == StoreType::kRocksDb;
    store.logging = builder.logging;
    store.caching = false;
    store.retention_ms = builder.retention_ms;
    store.serdes = internal::StoreSerdes<K, V>{
        internal::ResolveSerde(&graph_, builder.key_serde, "the key of store " + builder.name),
        internal::ResolveSerde(&graph_, builder.value_serde, "the value of store " + builder.name)};
    graph_.AddStore(std::move(store));
  }

  // The described topology, or the first mistake made while describing it.
  absl::StatusOr<Topology> Build() const { return graph_.Build(); }

 private:
  internal::GraphBuilder graph_;
};

}  // namespace runnel::streams
