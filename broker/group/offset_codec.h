// The records of the internal topic __consumer_offsets, in Kafka's own layouts so the topic reads
// the same as Kafka's (docs/FORMAT.md, "__consumer_offsets"):
//   key    OffsetCommitKey v1:   int16 version=1, string group, string topic, int32 partition
//   value  OffsetCommitValue v3: int16 version=3, int64 offset, int32 leader_epoch,
//                                string metadata, int64 commit_timestamp
// Strings are an int16 byte length then the bytes (big-endian throughout). A record with this key
// and a null value deletes the committed offset. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace runnel::broker {

struct OffsetKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;

  friend bool operator==(const OffsetKey&, const OffsetKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const OffsetKey& k) {
    return H::combine(std::move(h), k.group, k.topic, k.partition);
  }
};

struct CommittedOffset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp = 0;

  friend bool operator==(const CommittedOffset&, const CommittedOffset&) = default;
};

std::string EncodeOffsetKey(const OffsetKey& key);
std::string EncodeOffsetValue(const CommittedOffset& value);
// InvalidArgument naming the field for a malformed key or value; versions other than the
// offset-commit ones (group metadata records, v0 keys) are reported as Unimplemented so a reader
// can skip them.
absl::StatusOr<OffsetKey> DecodeOffsetKey(std::string_view bytes);
absl::StatusOr<CommittedOffset> DecodeOffsetValue(std::string_view bytes);

// The __consumer_offsets partition that holds `group`: Kafka's
// Utils.abs(groupId.hashCode()) % partitions, with Java's String.hashCode over the group's bytes
// (identical to Kafka's for ASCII group ids).
int32_t OffsetsPartitionFor(std::string_view group, int32_t partitions);

}  // namespace runnel::broker
