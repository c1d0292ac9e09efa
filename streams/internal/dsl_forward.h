// Forward declarations of the DSL types, which name each other in their signatures
// (KStream::GroupByKey returns a KGroupedStream, KTable::ToStream a KStream, ...), and of
// StreamsBuilder, the only other code that may construct them. Each type is defined in its own
// header; streams/dsl.h includes them all.
#pragma once

namespace runnel::streams {

class StreamsBuilder;

template <typename K, typename V>
class KStream;
template <typename K, typename V>
class KGroupedStream;
template <typename K, typename V>
class TimeWindowedKStream;
template <typename K, typename V>
class SessionWindowedKStream;
template <typename K, typename V>
class KTable;
template <typename K, typename V>
class KGroupedTable;
template <typename K, typename V>
class GlobalKTable;

}  // namespace runnel::streams
