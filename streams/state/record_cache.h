// RecordCache<Key>: the dirty entries of a caching store (caching_store.h) with their size and
// the order of their last writes. A plain container: the caching stores decide when to flush.
// Used by caching_key_value_store.cc and caching_window_store.cc only. Not synchronised.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace runnel::streams {

template <typename Key>
class RecordCache {
 public:
  // What an entry costs besides its key and value bytes (map node, sequence number, ...).
  static constexpr size_t kEntryOverhead = 64;

  struct Entry {
    std::optional<std::string> value;  // nullopt: deleted
    uint64_t write = 0;                // when it was last written (grows with every write)
    size_t bytes = 0;                  // what it counts against the limit
  };
  using Map = std::map<Key, Entry, std::less<>>;

  explicit RecordCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Records a write of `key` (nullopt: a delete); `key_bytes` is the key's size in bytes.
  void Write(const Key& key, std::optional<std::string> value, size_t key_bytes) {
    const size_t bytes = key_bytes + (value ? value->size() : 0) + kEntryOverhead;
    auto [it, inserted] = map_.try_emplace(key);
    if (!inserted) bytes_ -= it->second.bytes;
    it->second = Entry{std::move(value), ++writes_, bytes};
    bytes_ += bytes;
  }

  // True when the entries cost more than the limit (always, with a limit of 0 and an entry).
  bool over_limit() const { return bytes_ > max_bytes_; }
  bool empty() const { return map_.empty(); }
  size_t bytes() const { return bytes_; }

  template <typename K>
  const Entry* Find(const K& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  const Map& entries() const { return map_; }

  // The keys, oldest last write first.
  std::vector<Key> KeysInWriteOrder() const {
    std::vector<std::pair<uint64_t, const Key*>> order;
    order.reserve(map_.size());
    for (const auto& [key, entry] : map_) order.emplace_back(entry.write, &key);
    std::sort(order.begin(), order.end());
    std::vector<Key> keys;
    keys.reserve(order.size());
    for (const auto& [write, key] : order) keys.push_back(*key);
    return keys;
  }

  void Erase(const Key& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    bytes_ -= it->second.bytes;
    map_.erase(it);
  }

  void Clear() {
    map_.clear();
    bytes_ = 0;
  }

 private:
  const size_t max_bytes_;
  size_t bytes_ = 0;
  uint64_t writes_ = 0;
  Map map_;
};

}  // namespace runnel::streams
