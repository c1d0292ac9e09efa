// StateStore: what every state store of a streams task has, whatever it holds (Kafka's
// StateStore). Stores hold bytes; typed views over them live in the DSL.
//
// Threading: a store is not synchronised. It belongs to one task and is used by one thread at a
// time (the task's), which also opens and closes it. Global stores, written by the global stream
// thread and read by every task, are wrapped in a SynchronizedKeyValueStore
// (synchronized_key_value_store.h).
//
// Layering, as the runtime builds it (Kafka Streams' order, outermost first):
//   CachingKeyValueStore / CachingWindowStore   (caching_store.h: record cache, dedup, flush)
//   LoggedKeyValueStore / LoggedWindowStore     (changelog.h: every change to the changelog)
//   in-memory or RocksDB store                  (key_value_store.h, window_store.h)
// The changelog topic, not the local RocksDB files, is the source of truth: a task restores its
// stores from their changelogs, and RocksDB's own durability only saves work.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace runnel::streams {

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The store name, as the topology declares it (also the middle of its changelog topic name).
  virtual const std::string& name() const = 0;
  // True if the store keeps its data on disk (RocksDB).
  virtual bool persistent() const = 0;
  // Makes everything written so far visible below this layer: a cache writes its dirty entries
  // down, a RocksDB store makes its writes survive a process restart. Errors name the store.
  virtual absl::Status Flush() = 0;
  // Releases the store's resources. Does not flush a cache (call Flush first for a clean close);
  // a RocksDB store still writes its memtable out so that a reopen finds everything. Idempotent;
  // any other call after Close fails with FailedPrecondition.
  virtual void Close() = 0;
};

// One entry of a key-value store.
struct KeyValue {
  std::string key;
  std::string value;

  friend bool operator==(const KeyValue& a, const KeyValue& b) {
    return a.key == b.key && a.value == b.value;
  }
};

}  // namespace runnel::streams
