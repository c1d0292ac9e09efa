// GlobalKTable (Kafka Streams' GlobalKTable): a table of which every instance holds all
// partitions of its topic, in a global store read whole before processing starts and kept up to
// date as the topic changes. Streams join it through a key mapper (KStream::Join / LeftJoin with
// a GlobalKTable), so neither side needs to be co-partitioned with the other. Made by
// StreamsBuilder::GlobalTable; a light handle on the builder, like KTable.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "streams/internal/dsl_forward.h"
#include "streams/internal/graph_builder.h"
#include "streams/serde.h"

namespace runnel::streams {

template <typename K, typename V>
class GlobalKTable {
 public:
  // The global store that holds the table.
  const std::string& store_name() const { return store_; }

 private:
  friend class StreamsBuilder;
  template <typename, typename>
  friend class KStream;

  GlobalKTable(internal::GraphBuilder* graph, std::string store, Serde<K> key_serde,
               Serde<V> value_serde)
      : graph_(graph),
        store_(std::move(store)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  internal::GraphBuilder* graph_;
  std::string store_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

}  // namespace runnel::streams
