#include "storage/offset_map.h"

#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>

#include "common/logging.h"

namespace runnel::storage {
namespace {

size_t KeysFor(size_t slots, double load_factor) {
  return std::max<size_t>(1, static_cast<size_t>(static_cast<double>(slots) * load_factor));
}

constexpr size_t kHugePage = size_t{2} << 20;

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
  if (slots != slot_count_) {  // a smaller table than last time gives the memory back
    slots_.reset();
    const size_t bytes = (slots * sizeof(Slot) + kHugePage - 1) / kHugePage * kHugePage;
    void* memory = std::aligned_alloc(kHugePage, bytes);
    if (memory == nullptr) Die("out of memory for the table");
    ::madvise(memory, bytes, MADV_HUGEPAGE);  // only a hint: 4 KiB pages work too
    slots_.reset(static_cast<Slot*>(memory));
    slot_count_ = slots;
  }
  std::fill_n(slots_.get(), slot_count_, Slot{});
  max_keys_ = KeysFor(slots, load_factor_);
  size_ = 0;
  latest_offset_ = -1;
}

void OffsetMap::Free::operator()(Slot* slots) const { std::free(slots); }

OffsetMap::KeyHash OffsetMap::Hash(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.high64, h.low64};
}

size_t OffsetMap::Home(const KeyHash& hash) const {
  // Lemire's multiply-shift maps the hash onto [0, slots) without a power-of-two table.
  return static_cast<size_t>((static_cast<unsigned __int128>(hash.high) * slot_count_) >> 64);
}

void OffsetMap::Prefetch(const KeyHash& hash) const {
  if (slot_count_ > 0) __builtin_prefetch(&slots_[Home(hash)]);
}

size_t OffsetMap::Find(const KeyHash& hash) const {
  // Linear probing ends at an empty slot: the load factor keeps one.
  for (size_t i = Home(hash);; i = i + 1 == slot_count_ ? 0 : i + 1) {
    const Slot& slot = slots_[i];
    if (slot.offset < 0 || (slot.high == hash.high && slot.low == hash.low)) return i;
  }
}

void OffsetMap::Put(const KeyHash& hash, int64_t offset) {
  if (offset <= latest_offset_) Die("offsets must grow from one Put to the next");
  Slot& slot = slots_[Find(hash)];
  if (slot.offset < 0) {
    if (full()) Die("Put of a new key on a full map");
    slot.high = hash.high;
    slot.low = hash.low;
    ++size_;
  }
  slot.offset = offset;
  latest_offset_ = offset;
}

int64_t OffsetMap::Get(const KeyHash& hash) const {
  return slot_count_ == 0 ? -1 : slots_[Find(hash)].offset;
}

}  // namespace runnel::storage
