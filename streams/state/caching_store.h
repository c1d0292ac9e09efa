// Record caches (Kafka Streams' caching layer): a write-back cache in front of a store that
// collapses repeated updates of a key into one, so that downstream processors and the changelog
// see one update per key per commit interval instead of one per record.
//
// Writes (Put, Delete) land in the cache as dirty entries; reads (Get, Range, All, Fetch, ...)
// see the cache over the inner store (a cached Delete hides the inner value). Dirty entries are
// written down when
//   - Flush() is called (the runtime does so at every commit), then the inner store is flushed;
//   - the cache holds more than `max_bytes` after a write: all dirty entries are written down
//     (Kafka likewise flushes the whole named cache when it must evict a dirty entry);
//   - (window store) ObserveStreamTime would expire a dirty window: the cache is flushed first,
//     so no accepted update is lost to retention.
// With max_bytes == 0 every write is passed on at once. An entry costs key + value bytes plus
// 64 bytes of bookkeeping (window keys 8 more). Flushed entries are not kept: reads of them go to
// the inner store (RocksDB has its own block cache).
//
// Writing down a dirty entry: the inner store's current value is read (the old value), the new
// value is Put (or Deleted) in the inner store, then `on_flush(key, new value, old value)` is
// called, nullopt meaning "none" / "deleted". Entries go down in the order of their last write.
// An entry whose new and old values are both none (a key put and deleted between two flushes) is
// neither written nor passed to on_flush. If a write fails, Flush stops and returns the error;
// the entries not yet written stay dirty. on_flush may write to any store, this one included:
// such writes are cached and go down at the next flush. A window flush triggered by
// ObserveStreamTime (which returns nothing) keeps its error for the next Put, Delete or Flush.
//
// Close() does not flush: it drops the dirty entries without calling on_flush and closes the
// inner store (flush first for a clean close). Threading: as state_store.h; on_flush is called
// on the store's thread, from Flush, Put, Delete or ObserveStreamTime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "streams/state/key_value_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams {

using KeyValueFlushCallback =
    std::function<void(const std::string& key, const std::optional<std::string>& new_value,
                       const std::optional<std::string>& old_value)>;
using WindowFlushCallback = std::function<void(const std::string& key, int64_t window_start,
                                               const std::optional<std::string>& new_value,
                                               const std::optional<std::string>& old_value)>;

// `on_flush` may be empty (nothing is told about flushed entries).
std::unique_ptr<KeyValueStore> CachingKeyValueStore(std::unique_ptr<KeyValueStore> inner,
                                                    size_t max_bytes,
                                                    KeyValueFlushCallback on_flush);
// Expiry follows the inner store's stream time and retention (window_store.h).
std::unique_ptr<WindowStore> CachingWindowStore(std::unique_ptr<WindowStore> inner,
                                                size_t max_bytes, WindowFlushCallback on_flush);

}  // namespace runnel::streams
