// OffsetsAppender: where the OffsetStore appends its batches in a cluster. A single node appends
// to its own log of __consumer_offsets (OffsetStore without an appender); a cluster's broker
// proposes each batch to the Raft group of the group's offsets partition
// (replicated_offsets_appender.h), so committed offsets and group records replicate like any data.
//
// Thread-safety: implementations may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace runnel::broker {

class OffsetsAppender {
 public:
  virtual ~OffsetsAppender() = default;

  // Appends `batch` (a RecordBatch v2 built by the OffsetStore) to `group`'s partition of
  // __consumer_offsets, creating the topic (`num_partitions` partitions, compacted) when it does
  // not exist yet, and calls `done` once it is durable (in a cluster: committed, fsync'd on a
  // majority), or with the error. `done` runs only when this returns OK, possibly on another
  // thread, and must only hand the result on. FailedPrecondition when this broker may not write
  // the partition (it does not lead it).
  virtual absl::Status Append(const std::string& group, int32_t num_partitions, std::string batch,
                              std::function<void(absl::Status)> done) = 0;
};

}  // namespace runnel::broker
