// TopicPartitions: partitions by topic, sorted — the shape the group code computes, compares and
// stores assignments in — and the set operations on it. Pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace runnel::broker {

using TopicPartitions = std::map<std::string, std::set<int32_t>>;

bool Contains(const TopicPartitions& set, const std::string& topic, int32_t partition);
// Whether a and b share a partition.
bool Intersects(const TopicPartitions& a, const TopicPartitions& b);
// Whether every partition of a is in b.
bool IsSubset(const TopicPartitions& a, const TopicPartitions& b);
// The partitions of a that are not in b (no empty topic entries).
TopicPartitions Minus(const TopicPartitions& a, const TopicPartitions& b);
// Adds every partition of b to a.
void AddAll(TopicPartitions* a, const TopicPartitions& b);

}  // namespace runnel::broker
