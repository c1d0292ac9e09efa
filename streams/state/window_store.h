// WindowStore: a byte-level store of windowed values, keyed by (key, window start) (Kafka's
// WindowStore<Bytes, byte[]>), its two implementations, and the binary windowed key that the
// RocksDB store and the changelog topics use.
//
// Windowed key layout (docs/FORMAT.md, "Streams: windowed store keys"):
//
//   key bytes (any length) | window start: 8 bytes, big-endian, sign bit flipped
//
// i.e. the start is written as uint64(start) XOR 0x8000000000000000, so that byte order is
// numeric order for every int64, negative starts included (-1 -> 7f ff ff ff ff ff ff ff,
// 0 -> 80 00 00 00 00 00 00 00, 5 -> 80 00 00 00 00 00 00 05). The last 8 bytes are always the
// start, so a windowed key splits without knowing the key's length. For one key, byte order is
// window-start order; different keys may interleave when one key is a prefix of another, and the
// stores account for that. (Not byte-compatible with Java Kafka Streams' window changelogs, which
// append the start unflipped plus a 4-byte sequence number.)
//
// Retention: stream time is the largest value given to ObserveStreamTime (Put does not advance
// it). A window with start < stream time - retention_ms has expired: no read returns it, a Put
// to it is dropped (Kafka: "skipping record for expired segment"), and its space is reclaimed —
// at once in memory; in RocksDB a segment at a time (see OpenRocksDbWindowStore).
//
// Ordering of results: Fetch(key, from, to) by window start; FetchAll and All by window start,
// then key (unsigned byte-wise). Errors and threading: as key_value_store.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/state/state_store.h"

namespace runnel::streams {

// `key` followed by the 8-byte order-preserving encoding of `window_start` (layout above).
std::string WindowedKey(std::string_view key, int64_t window_start);
// The inverse. InvalidArgument if `bytes` is shorter than 8 bytes.
absl::StatusOr<std::pair<std::string, int64_t>> SplitWindowedKey(std::string_view bytes);

// The smallest window start that has not expired at `stream_time`: stream_time - retention_ms,
// or INT64_MIN when that does not fit (stream time INT64_MIN means nothing observed yet).
int64_t OldestLiveWindowStart(int64_t stream_time, int64_t retention_ms);

class WindowStore : public StateStore {
 public:
  struct Entry {
    std::string key;
    int64_t window_start = 0;
    std::string value;

    friend bool operator==(const Entry& a, const Entry& b) {
      return a.key == b.key && a.window_start == b.window_start && a.value == b.value;
    }
  };

  // Inserts or replaces the value of window (key, window_start); dropped if the window expired.
  virtual absl::Status Put(std::string_view key, int64_t window_start, std::string_view value) = 0;
  // Removes window (key, window_start); removing a missing window is not an error.
  virtual absl::Status Delete(std::string_view key, int64_t window_start) = 0;
  // The value of window (key, window_start), nullopt if there is none or it expired.
  virtual absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                           int64_t window_start) = 0;
  // The windows of `key` with start_from <= start <= start_to, by start.
  virtual absl::StatusOr<std::vector<Entry>> Fetch(std::string_view key, int64_t start_from,
                                                   int64_t start_to) = 0;
  // The windows of every key with start_from <= start <= start_to, by start then key.
  virtual absl::StatusOr<std::vector<Entry>> FetchAll(int64_t start_from, int64_t start_to) = 0;
  // Every unexpired window, by start then key.
  virtual absl::StatusOr<std::vector<Entry>> All() = 0;

  // Advances stream time to max(current, stream_time) and expires windows accordingly.
  virtual void ObserveStreamTime(int64_t stream_time) = 0;
  // The current stream time; INT64_MIN before the first ObserveStreamTime.
  virtual int64_t stream_time() const = 0;
  virtual int64_t retention_ms() const = 0;
};

// Windows in a std::map by start, then key; persistent() is false. Expiry is exact: windows are
// erased as soon as stream time moves past them. A negative retention_ms counts as 0.
std::unique_ptr<WindowStore> NewInMemoryWindowStore(std::string name, int64_t retention_ms);

// A RocksDB database in `dir` (as OpenRocksDbKeyValueStore, whose errors and durability it shares)
// with one column family per segment: segment n ("segment-<n>") holds the windows with
// n * interval <= start < (n + 1) * interval, interval = max(retention_ms / 2, 60 s) (Kafka's
// segment interval). The interval is fixed when the database is created and kept in the default
// column family as "segment.interval.ms", so a reopen with another retention keeps the segments
// consistent. Keys in a segment are WindowedKey(key, start). A segment is dropped whole once
// every start it can hold has expired, so at most about three segments are live; reads filter out
// the expired windows of live segments. Fetch(key, ...) seeks to the key in each segment the
// range touches; FetchAll and All scan every segment in range and sort, so they cost
// O(windows in those segments).
absl::StatusOr<std::unique_ptr<WindowStore>> OpenRocksDbWindowStore(std::string name,
                                                                    std::string dir,
                                                                    int64_t retention_ms,
                                                                    bool write_ahead_log = true);

}  // namespace runnel::streams
