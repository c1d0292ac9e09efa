// The records that flow between the nodes of a topology, and the key of a windowed result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace runnel::streams {

// A record as a processor sees it: typed key and value and the event time (epoch ms) that
// windows and stream time use. Kafka's null key or value has no place in K or V: a source gives
// a record without a key `K{}` (DSL operations that need a key, such as groupByKey, drop it).
template <typename K, typename V>
struct Record {
  K key;
  V value;
  int64_t timestamp = 0;
};

// An update of a table row: the new value (nullopt: the row was deleted) and the value it replaces
// (nullopt: there was none). KTables forward changes so that downstream aggregations can subtract
// the old value before adding the new one, as Kafka Streams' Change<V> does.
template <typename V>
struct Change {
  std::optional<V> new_value;
  std::optional<V> old_value;
};

// The key of a windowed aggregation's result: the record key and the window [start, end).
template <typename K>
struct Windowed {
  K key;
  int64_t start = 0;
  int64_t end = 0;

  friend bool operator==(const Windowed& a, const Windowed& b) {
    return a.key == b.key && a.start == b.start && a.end == b.end;
  }
  friend bool operator<(const Windowed& a, const Windowed& b) {
    return std::tie(a.key, a.start, a.end) < std::tie(b.key, b.start, b.end);
  }
};

}  // namespace runnel::streams
