// SessionStore: a byte-level store of sessions, keyed by (key, session start, session end)
// (Kafka's SessionStore<Bytes, byte[]>), its two implementations, and the binary session key
// that the RocksDB store and the changelog topics use.
//
// Session key layout (docs/FORMAT.md, "Streams: session store keys"):
//
//   key bytes (any length) | session end: 8 bytes | session start: 8 bytes
//
// both times big-endian with the sign bit flipped (as window_store.h's window start), so that for
// one key byte order is (end, start) order. The last 16 bytes are always end and start, so a
// session key splits without knowing the key's length. (Kafka's SessionKeySchema also puts the
// end before the start; its times are not sign-flipped.)
//
// A session [start, end] has both bounds inclusive; start <= end.
//
// Retention: stream time is the largest value given to ObserveStreamTime (Put does not advance
// it). A session with end < stream time - retention_ms has expired: no read returns it, a Put to
// it is dropped, and its space is reclaimed (at once in memory; in RocksDB a segment at a time,
// see OpenRocksDbSessionStore).
//
// Errors and threading: as key_value_store.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/state/state_store.h"

namespace runnel::streams {

struct SessionKeyParts {
  std::string key;
  int64_t start = 0;
  int64_t end = 0;
};

// `key` followed by the 16-byte encoding of `end` and `start` (layout above).
std::string SessionKey(std::string_view key, int64_t start, int64_t end);
// The inverse. InvalidArgument if `bytes` is shorter than 16 bytes.
absl::StatusOr<SessionKeyParts> SplitSessionKey(std::string_view bytes);

class SessionStore : public StateStore {
 public:
  struct Session {
    std::string key;
    int64_t start = 0;
    int64_t end = 0;
    std::string value;

    friend bool operator==(const Session& a, const Session& b) {
      return a.key == b.key && a.start == b.start && a.end == b.end && a.value == b.value;
    }
  };

  // Inserts or replaces session (key, start, end); dropped if it expired.
  virtual absl::Status Put(std::string_view key, int64_t start, int64_t end,
                           std::string_view value) = 0;
  // Removes session (key, start, end); removing a missing session is not an error.
  virtual absl::Status Remove(std::string_view key, int64_t start, int64_t end) = 0;
  // The value of session (key, start, end), nullopt if there is none or it expired.
  virtual absl::StatusOr<std::optional<std::string>> FetchSession(std::string_view key,
                                                                  int64_t start, int64_t end) = 0;
  // The sessions of `key` that end at or after `earliest_end` and start at or before
  // `latest_start` (Kafka's findSessions: those overlapping [earliest_end, latest_start]), by
  // end, then start.
  virtual absl::StatusOr<std::vector<Session>> FindSessions(std::string_view key,
                                                            int64_t earliest_end,
                                                            int64_t latest_start) = 0;
  // Every unexpired session, by end, then key (unsigned byte-wise), then start.
  virtual absl::StatusOr<std::vector<Session>> All() = 0;

  // Advances stream time to max(current, stream_time) and expires sessions accordingly.
  virtual void ObserveStreamTime(int64_t stream_time) = 0;
  // The current stream time; INT64_MIN before the first ObserveStreamTime.
  virtual int64_t stream_time() const = 0;
  virtual int64_t retention_ms() const = 0;
};

// Sessions in a std::map by end, key and start; persistent() is false. Expiry is exact. A
// negative retention_ms counts as 0.
std::unique_ptr<SessionStore> NewInMemorySessionStore(std::string name, int64_t retention_ms);

// A RocksDB database in `dir` (as OpenRocksDbKeyValueStore, whose errors and durability it
// shares) with one column family per segment of session ends (rocksdb_segments.h: segment n
// holds the sessions with n * interval <= end < (n + 1) * interval); keys in a segment are
// SessionKey(key, start, end). A segment is dropped whole once every end it can hold has
// expired. FindSessions seeks to the key in each segment from the one of `earliest_end` on; All
// scans every segment and sorts.
absl::StatusOr<std::unique_ptr<SessionStore>> OpenRocksDbSessionStore(std::string name,
                                                                      std::string dir,
                                                                      int64_t retention_ms,
                                                                      bool write_ahead_log = true);

}  // namespace runnel::streams
