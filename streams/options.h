// The options of DSL operations, named as in Kafka Streams: Consumed (how a source topic is
// read), Produced (how a sink topic is written), Grouped (how a grouping repartitions),
// Materialized (the state store behind an aggregation or table), Suppressed (when a windowed
// table emits), StreamJoined and Joined (the serdes, names and stores of a join), Repartitioned
// (an explicit repartition).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "streams/serde.h"

namespace runnel::streams {

// Event time of a record read from a topic: given the record's key and value bytes and the
// timestamp it carries, returns the time in epoch ms. The default takes the record timestamp.
using TimestampExtractor =
    std::function<int64_t(const std::optional<std::string>& key,
                          const std::optional<std::string>& value, int64_t record_timestamp)>;

template <typename K, typename V>
struct Consumed {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  TimestampExtractor timestamp_extractor;  // empty: the record timestamp
  std::string name;                        // of the source node; empty: generated

  static Consumed With(Serde<K> k, Serde<V> v) { return {std::move(k), std::move(v), {}, {}}; }
  static Consumed As(std::string name) { return {{}, {}, {}, std::move(name)}; }
  Consumed WithTimestampExtractor(TimestampExtractor e) && {
    timestamp_extractor = std::move(e);
    return std::move(*this);
  }
  Consumed WithName(std::string n) && {
    name = std::move(n);
    return std::move(*this);
  }
};

// Chooses the partition of an output record from its key and value bytes and the topic's
// partition count; nullopt: Kafka's default (murmur2 of the key).
template <typename K, typename V>
using StreamPartitioner =
    std::function<std::optional<int32_t>(const K& key, const V& value, int32_t partitions)>;

template <typename K, typename V>
struct Produced {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  std::string name;

  static Produced With(Serde<K> k, Serde<V> v) { return {std::move(k), std::move(v), {}}; }
  static Produced As(std::string name) { return {{}, {}, std::move(name)}; }
};

template <typename K, typename V>
struct Grouped {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  // Names the repartition topic "<application.id>-<name>-repartition" when one is needed.
  std::string name;
  // Partitions of the repartition topic (beyond Kafka Streams' Grouped, which leaves this to
  // Repartitioned); nullopt: as many as the upstream sub-topology has tasks.
  std::optional<int32_t> partitions;

  static Grouped With(Serde<K> k, Serde<V> v) { return {std::move(k), std::move(v), {}, {}}; }
  static Grouped As(std::string name) { return {{}, {}, std::move(name), {}}; }
  Grouped WithName(std::string n) && {
    name = std::move(n);
    return std::move(*this);
  }
  Grouped WithNumberOfPartitions(int32_t n) && {
    partitions = n;
    return std::move(*this);
  }
};

enum class StoreType { kRocksDb, kInMemory };

template <typename K, typename V>
struct Materialized {
  std::string store_name;  // empty: generated (and then not meant to be queried)
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  std::optional<StoreType> store_type;  // nullopt: the application's default.dsl.store
  bool logging = true;
  bool caching = true;
  std::optional<int64_t> retention_ms;  // window stores; at least window size + grace

  static Materialized As(std::string name) {
    Materialized m;
    m.store_name = std::move(name);
    return m;
  }
  static Materialized With(Serde<K> k, Serde<V> v) {
    Materialized m;
    m.key_serde = std::move(k);
    m.value_serde = std::move(v);
    return m;
  }
  Materialized WithKeySerde(Serde<K> s) && {
    key_serde = std::move(s);
    return std::move(*this);
  }
  Materialized WithValueSerde(Serde<V> s) && {
    value_serde = std::move(s);
    return std::move(*this);
  }
  Materialized WithStoreType(StoreType t) && {
    store_type = t;
    return std::move(*this);
  }
  Materialized WithLoggingDisabled() && {
    logging = false;
    return std::move(*this);
  }
  Materialized WithCachingDisabled() && {
    caching = false;
    return std::move(*this);
  }
  Materialized WithRetention(int64_t ms) && {
    retention_ms = ms;
    return std::move(*this);
  }
};

// The serdes, names and stores of a KStream-KStream join (Kafka Streams' StreamJoined). Serdes
// not given are the streams' own (needed when a side is repartitioned and for the join stores).
template <typename K, typename V1, typename V2>
struct StreamJoined {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V1>> value_serde;        // the left (this) stream's values
  std::optional<Serde<V2>> other_value_serde;  // the right (other) stream's values
  // Names the processors "<name>-join-this", ... and the repartition topics
  // "<name>-left-repartition" / "<name>-right-repartition"; empty: generated.
  std::string name;
  // Names the stores "<store_name>-this-join-store", "<store_name>-other-join-store" and
  // "<store_name>-outer-shared-join-store"; empty: generated from the processor names.
  std::string store_name;
  std::optional<StoreType> store_type;  // nullopt: the application's default.dsl.store
  bool logging = true;
  // Beyond Kafka Streams: the left (this) and right (other) stream's records too late for their
  // join window are also written to these topics (key and value with the join's serdes; "": not
  // written), besides being dropped and counted.
  std::string late_records_topic;
  std::string other_late_records_topic;

  static StreamJoined With(Serde<K> k, Serde<V1> v, Serde<V2> other) {
    StreamJoined s;
    s.key_serde = std::move(k);
    s.value_serde = std::move(v);
    s.other_value_serde = std::move(other);
    return s;
  }
  static StreamJoined As(std::string store_name) {
    StreamJoined s;
    s.store_name = std::move(store_name);
    return s;
  }
  StreamJoined WithName(std::string n) && {
    name = std::move(n);
    return std::move(*this);
  }
  StreamJoined WithStoreName(std::string n) && {
    store_name = std::move(n);
    return std::move(*this);
  }
  StreamJoined WithStoreType(StoreType t) && {
    store_type = t;
    return std::move(*this);
  }
  StreamJoined WithLoggingDisabled() && {
    logging = false;
    return std::move(*this);
  }
  StreamJoined WithLateRecordsTo(std::string this_topic, std::string other_topic) && {
    late_records_topic = std::move(this_topic);
    other_late_records_topic = std::move(other_topic);
    return std::move(*this);
  }
};

// The serdes and name of a KStream-KTable join (Kafka Streams' Joined): the stream's serdes are
// needed when the stream is repartitioned first.
template <typename K, typename V, typename VT>
struct Joined {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;         // the stream's values
  std::optional<Serde<VT>> other_value_serde;  // the table's values (unused: the table has its own)
  // Names the join processor and the repartition topic "<name>-repartition"; empty: generated.
  std::string name;

  static Joined With(Serde<K> k, Serde<V> v, Serde<VT> other) {
    return {std::move(k), std::move(v), std::move(other), {}};
  }
  static Joined As(std::string name) { return {{}, {}, {}, std::move(name)}; }
};

// An explicit repartition (Kafka Streams' Repartitioned): the stream is written to the internal
// topic "<application.id>-<name>-repartition" and read back, keyed by the current key.
template <typename K, typename V>
struct Repartitioned {
  std::optional<Serde<K>> key_serde;
  std::optional<Serde<V>> value_serde;
  std::string name;                   // empty: generated
  std::optional<int32_t> partitions;  // nullopt: as many as the upstream sub-topology has tasks
                                      // (or, feeding a join, as the other side)

  static Repartitioned With(Serde<K> k, Serde<V> v) { return {std::move(k), std::move(v), {}, {}}; }
  static Repartitioned As(std::string name) { return {{}, {}, std::move(name), {}}; }
  Repartitioned WithNumberOfPartitions(int32_t n) && {
    partitions = n;
    return std::move(*this);
  }
};

// suppress(): only untilWindowCloses (one final result per window) for now.
struct Suppressed {
  static Suppressed UntilWindowCloses() { return {}; }
  std::string name;
  Suppressed WithName(std::string n) && {
    name = std::move(n);
    return std::move(*this);
  }
};

}  // namespace runnel::streams
