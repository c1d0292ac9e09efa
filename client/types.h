// Value types shared by the Producer and Consumer.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace runnel::client {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const TopicPartition& tp) {
    return H::combine(std::move(h), tp.topic, tp.partition);
  }
};

// "topic-partition", as Kafka prints a TopicPartition.
inline std::string ToString(const TopicPartition& tp) {
  return tp.topic + "-" + std::to_string(tp.partition);
}

// An offset to commit, or a committed one, with the committer's metadata (Kafka's
// OffsetAndMetadata): any string up to 4096 bytes (the broker's limit), stored with the offset.
struct OffsetAndMetadata {
  int64_t offset = 0;
  std::string metadata;

  friend bool operator==(const OffsetAndMetadata&, const OffsetAndMetadata&) = default;
};

// A record header; the value may be null.
struct Header {
  std::string key;
  std::optional<std::string> value;

  friend bool operator==(const Header&, const Header&) = default;
};

}  // namespace runnel::client
