// OffsetMap: the log cleaner's dedupe buffer (Kafka's SkimpyOffsetMap). Maps a key, by a 128-bit
// hash of it (XXH3-128; a collision would make the cleaner drop a record of another key, and at
// 2^-128 per pair it does not happen in practice), to the offset of its latest record, in a
// table of fixed size: 24 bytes per entry, so its memory never depends on how many keys a log
// has. When it is full the cleaner stops mapping and cleans what it mapped; the rest waits for
// the next round.
//
// Not synchronised: one cleaner thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace runnel::storage {

class OffsetMap {
 public:
  // At most `memory_bytes` of table (at least 2 entries), filled to at most `load_factor` so
  // lookups stay short (linear probing).
  explicit OffsetMap(size_t memory_bytes, double load_factor = 0.75);

  // Empties the map and sizes the table for `expected_keys` (capped by the memory given at
  // construction): a log with few dirty records does not touch the whole buffer.
  void Reset(int64_t expected_keys);

  // A key's 128-bit hash: what the map stores instead of the key.
  struct KeyHash {
    uint64_t high;
    uint64_t low;
  };
  static KeyHash Hash(std::string_view key);
  // Starts loading the slot a lookup of `hash` begins at. The table is far larger than the CPU's
  // caches, so a lookup is mostly a wait for memory: prefetching a few keys ahead overlaps them.
  void Prefetch(const KeyHash& hash) const;

  // Records `offset` as the latest for the key. Offsets must grow from one Put to the next
  // (checked): the cleaner maps a log in offset order. Must not be called when full() unless the
  // key is already in the map.
  void Put(const KeyHash& hash, int64_t offset);
  void Put(std::string_view key, int64_t offset) { Put(Hash(key), offset); }
  // The latest offset recorded for the key, -1 if none.
  int64_t Get(const KeyHash& hash) const;
  int64_t Get(std::string_view key) const { return Get(Hash(key)); }

  size_t size() const { return size_; }
  // How many keys this table (as sized by Reset) holds before it counts as full.
  size_t max_keys() const { return max_keys_; }
  // How many keys the largest table allowed by the memory given at construction holds.
  size_t capacity() const { return capacity_; }
  bool full() const { return size_ >= max_keys_; }
  // The largest offset Put, -1 if none since Reset.
  int64_t latest_offset() const { return latest_offset_; }
  // Bytes of the table as sized now.
  size_t memory_bytes() const { return slot_count_ * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t high = 0;
    uint64_t low = 0;
    int64_t offset = -1;  // -1: empty
  };
  static_assert(sizeof(Slot) == 24);

  // Where a lookup of `hash` starts.
  size_t Home(const KeyHash& hash) const;
  // The slot holding the key with this hash, or the empty slot where it would go.
  size_t Find(const KeyHash& hash) const;

  struct Free {
    void operator()(Slot* slots) const;
  };

  const size_t max_slots_;
  const double load_factor_;
  const size_t capacity_;
  // In huge pages where the kernel gives them: lookups land anywhere in the table, and with 4 KiB
  // pages nearly each one would also miss the TLB.
  std::unique_ptr<Slot[], Free> slots_;
  size_t slot_count_ = 0;
  size_t max_keys_ = 0;
  size_t size_ = 0;
  int64_t latest_offset_ = -1;
};

}  // namespace runnel::storage
