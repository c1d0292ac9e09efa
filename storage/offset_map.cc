#include "storage/offset_map.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>

#include "common/logging.h"

namespace runnel::storage {
namespace {

size_t KeysFor(size_t slots, double load_factor) {
  return std::max<size_t>(1, static_cast<size_t>(static_cast<double>(slots) * load_factor));
}

[[noreturn]] void Die(const char* what) {
  logging::Get("storage")->critical("OffsetMap: {}", what);
  std::abort();
}

}  // namespace

OffsetMap::OffsetMap(size_t memory_bytes, double load_factor)
    : max_slots_(std::max<size_t>(2, memory_bytes / sizeof(Slot))),
      load_factor_(std::clamp(load_factor, 0.1, 0.95)),
      capacity_(KeysFor(max_slots_, load_factor_)) {}

void OffsetMap::Reset(int64_t expected_keys) {
  const size_t wanted = static_cast<size_t>(
      static_cast<double>(std::max<int64_t>(1, expected_keys)) / load_factor_ + 1);
  const size_t slots = std::clamp<size_t>(wanted, 2, max_slots_);
  slots_.assign(slots, Slot{});
  slots_.shrink_to_fit();  // a smaller table than last time gives the memory back
  max_keys_ = KeysFor(slots, load_factor_);
  size_ = 0;
  latest_offset_ = -1;
}

size_t OffsetMap::Find(uint64_t high, uint64_t low) const {
  // Lemire's multiply-shift maps the hash onto [0, slots) without a power-of-two table.
  size_t i = static_cast<size_t>((static_cast<unsigned __int128>(high) * slots_.size()) >> 64);
  while (true) {
    const Slot& slot = slots_[i];
    if (slot.offset < 0 || (slot.high == high && slot.low == low)) return i;
    if (++i == slots_.size()) i = 0;
  }
}

void OffsetMap::Put(std::string_view key, int64_t offset) {
  if (offset <= latest_offset_) Die("offsets must grow from one Put to the next");
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  Slot& slot = slots_[Find(h.high64, h.low64)];
  if (slot.offset < 0) {
    if (full()) Die("Put on a full map");
    slot.high = h.high64;
    slot.low = h.low64;
    ++size_;
  }
  slot.offset = offset;
  latest_offset_ = offset;
}

int64_t OffsetMap::Get(std::string_view key) const {
  if (slots_.empty()) return -1;
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return slots_[Find(h.high64, h.low64)].offset;
}

}  // namespace runnel::storage
