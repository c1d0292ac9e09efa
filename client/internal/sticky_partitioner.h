// StickyPartitioner: where a record with neither partition nor key goes (Kafka's KIP-480
// sticky partitioner): every such record of a topic goes to one partition until the batch there
// is full or a new batch has to start, then to another partition chosen at random, so keyless
// records fill a few large batches instead of many small ones. Internal to client/.
//
// Thread-safety: none; the Producer calls it under its own mutex.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace runnel::client::internal {

class StickyPartitioner {
 public:
  explicit StickyPartitioner(uint32_t seed = std::random_device{}()) : random_(seed) {}

  // The topic's current sticky partition, chosen at random on first use or after the partition
  // count changed under it. `partitions` >= 1.
  int32_t Partition(const std::string& topic, int32_t partitions) {
    int32_t& sticky = sticky_.try_emplace(topic, -1).first->second;
    if (sticky < 0 || sticky >= partitions) {
      sticky = std::uniform_int_distribution<int32_t>(0, partitions - 1)(random_);
    }
    return sticky;
  }

  // Moves the topic to a random partition other than `current` (when there is another) and
  // returns it: the batch on `current` is full, or a record did not fit it.
  int32_t Next(const std::string& topic, int32_t partitions, int32_t current) {
    int32_t next = current;
    if (partitions > 1) {
      next = std::uniform_int_distribution<int32_t>(0, partitions - 2)(random_);
      if (next >= current) ++next;
    }
    sticky_[topic] = next;
    return next;
  }

 private:
  absl::flat_hash_map<std::string, int32_t> sticky_;
  std::mt19937 random_;
};

}  // namespace runnel::client::internal
