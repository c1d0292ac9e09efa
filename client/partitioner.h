// Kafka's default key partitioner, bit for bit: murmur2 of the key bytes (Kafka's
// Utils.murmur2, seed 0x9747b28c), made positive by masking the sign bit (Utils.toPositive),
// modulo the partition count. A keyed record therefore lands on the same partition as it would
// with the Java client, librdkafka's murmur2 partitioner or kafkajs. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace runnel::client {

int32_t Murmur2(std::string_view key);
inline int32_t ToPositive(int32_t n) { return n & 0x7fffffff; }
// `num_partitions` must be at least 1.
inline int32_t PartitionForKey(std::string_view key, int32_t num_partitions) {
  return ToPositive(Murmur2(key)) % num_partitions;
}

}  // namespace runnel::client
