#include "broker/group/topic_partitions.h"

namespace runnel::broker {

bool Contains(const TopicPartitions& set, const std::string& topic, int32_t partition) {
  auto it = set.find(topic);
  return it != set.end() && it->second.contains(partition);
}

bool Intersects(const TopicPartitions& a, const TopicPartitions& b) {
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (Contains(b, topic, p)) return true;
    }
  }
  return false;
}

bool IsSubset(const TopicPartitions& a, const TopicPartitions& b) {
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (!Contains(b, topic, p)) return false;
    }
  }
  return true;
}

TopicPartitions Minus(const TopicPartitions& a, const TopicPartitions& b) {
  TopicPartitions out;
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (!Contains(b, topic, p)) out[topic].insert(p);
    }
  }
  return out;
}

void AddAll(TopicPartitions* a, const TopicPartitions& b) {
  for (const auto& [topic, partitions] : b)
    (*a)[topic].insert(partitions.begin(), partitions.end());
}

}  // namespace runnel::broker
