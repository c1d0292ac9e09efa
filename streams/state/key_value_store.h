// KeyValueStore: a byte-level key-value state store (Kafka's KeyValueStore<Bytes, byte[]>), and
// its two implementations, in memory and in RocksDB.
//
// Keys are ordered by unsigned byte-wise comparison (memcmp, shorter prefix first), which is
// RocksDB's default order and std::string's: "" < "\x00" < "\x00\x00" < "\x01" < "\x7f" <
// "\x80" < "\xff" < "\xff\x00". Empty keys and empty values are allowed; an empty value is a
// value, not a delete.
//
// Errors: a call on a closed store is FailedPrecondition; a RocksDB failure is Internal (or
// DataLoss for corruption) naming the store and RocksDB's message. Threading: see state_store.h.
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

class KeyValueStore : public StateStore {
 public:
  // The value of `key`, or nullopt if there is none.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  // Inserts or replaces.
  virtual absl::Status Put(std::string_view key, std::string_view value) = 0;
  // Removes `key`; removing a missing key is not an error.
  virtual absl::Status Delete(std::string_view key) = 0;
  // The entries with from <= key <= to (both ends inclusive), in key order; empty if from > to.
  virtual absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from,
                                                      std::string_view to) = 0;
  // Every entry, in key order.
  virtual absl::StatusOr<std::vector<KeyValue>> All() = 0;
  // The number of entries: exact in memory, RocksDB's estimate on disk (may be off after deletes).
  virtual int64_t ApproximateNumEntries() = 0;
};

// A store in a std::map; persistent() is false. Close drops the data.
std::unique_ptr<KeyValueStore> NewInMemoryKeyValueStore(std::string name);

// A RocksDB database in `dir`, created with its parent directories if missing (the runtime uses
// <state.dir>/<application.id>/<task>/rocksdb/<name>); persistent() is true. Fails with
// FailedPrecondition naming the store and `dir` when the database cannot be opened: `dir` is a
// file, is not writable, or is already open (by this process or another). Flush() syncs
// RocksDB's write-ahead log, so what was written before it survives a crash of the process or the
// machine; Close() (and the destructor) also writes the memtable out. The changelog stays the
// source of truth: the runtime may wipe the directory and restore from it. With
// `write_ahead_log` false (the runtime's choice for changelogged stores, which it restores into an
// empty directory at every start, as Kafka Streams disables RocksDB's WAL), writes skip the log,
// Flush() syncs nothing, and a crashed process loses what was not in a flushed memtable.
absl::StatusOr<std::unique_ptr<KeyValueStore>> OpenRocksDbKeyValueStore(
    std::string name, std::string dir, bool write_ahead_log = true);

}  // namespace runnel::streams
