// The records that flow between the nodes of a topology, and the key of a windowed result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace runnel::streams {

// A record as a processor sees it: typed key and value and the event time (epoch ms) that
// windows and stream time use.
//
// Kafka's null key or value (a record without a key, a tombstone) is carried by a flag beside
// the field, which then holds K{} or V{}: `key_null` / `value_null`. The fields stay plain K and
// V so that user functions take `const K&` and `const V&`; a null is never a value of K or V
// (an empty string or a 0 is not null). The DSL's rule (streams/README.md, "Null keys and
// values"): a sink writes a null as a Kafka null; a step that does not compute a new key (value)
// passes its null on; a user function is called with K{} (V{}) in place of a null and what it
// returns is not null; KStream aggregations skip a record with a null key or value and count it
// in `dropped_records`.
template <typename K, typename V>
struct Record {
  K key{};
  V value{};
  int64_t timestamp = 0;
  bool key_null = false;
  bool value_null = false;
};

// An update of a table row: the new value (nullopt: the row was deleted) and the value it replaces
// (nullopt: there was none). KTables forward changes so that downstream aggregations can subtract
// the old value before adding the new one, as Kafka Streams' Change<V> does.
template <typename V>
struct Change {
  std::optional<V> new_value;
  std::optional<V> old_value;
};

// The key of a windowed aggregation's result: the record key and the window: [start, end) for
// time windows, [start, end] (end inclusive) for sliding windows and sessions.
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
