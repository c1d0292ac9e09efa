// OffsetStore: consumer groups' committed offsets, kept in the compacted internal topic
// __consumer_offsets (records in Kafka's layout, offset_codec.h) and in memory. The topic is
// created on the first commit (cleanup.policy=compact, `partitions` partitions, Kafka's default
// 50); group G's records go to partition OffsetsPartitionFor(G). On start, Load() reads the topic
// back, so committed offsets survive restarts and compaction keeps the latest per key.
//
// Thread-safety: all methods may be called from any thread. Commits are serialised (one append at
// a time); `done` callbacks run on the storage flush thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "broker/group/offset_codec.h"
#include "broker/partition/partition_manager.h"
#include "common/mutex.h"

namespace runnel::broker {

struct OffsetCommit {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string metadata;
};

class OffsetStore {
 public:
  static constexpr char kTopic[] = "__consumer_offsets";
  static constexpr size_t kMaxMetadataBytes = 4096;  // Kafka's offset.metadata.max.bytes

  // Borrows `partitions`, which must outlive the store.
  OffsetStore(PartitionManager* partitions, int32_t num_partitions)
      : partitions_(partitions), num_partitions_(num_partitions) {}

  // InvalidArgument naming the problem: empty topic, negative partition or offset, metadata over
  // kMaxMetadataBytes.
  static absl::Status Check(const OffsetCommit& commit);

  // Reads every partition of the topic, if it exists, into memory. Records and batches it cannot
  // decode are logged and skipped (their groups fall back to auto.offset.reset); only an unreadable
  // log fails the load.
  absl::Status Load();

  // Checks every entry (InvalidArgument naming the first bad one; nothing is stored then),
  // appends them as one batch to the group's partition, updates what Fetch returns, and calls
  // `done` once the batch is durable (or with the sync error). `done` runs only when Commit
  // returns OK.
  absl::Status Commit(const std::string& group, const std::vector<OffsetCommit>& offsets,
                      std::function<void(absl::Status)> done);

  std::optional<CommittedOffset> Fetch(const std::string& group, const std::string& topic,
                                       int32_t partition) const;
  // Every committed offset of `group`, ordered by topic and partition.
  std::vector<std::pair<OffsetKey, CommittedOffset>> FetchAll(const std::string& group) const;

  // Every group with committed offsets, sorted.
  std::vector<std::string> Groups() const;

  // Writes a tombstone for each of the group's committed offsets and forgets them; `done` as for
  // Commit. NotFound if the group has none.
  absl::Status DeleteGroup(const std::string& group, std::function<void(absl::Status)> done);

  int32_t num_partitions() const { return num_partitions_; }

 private:
  absl::StatusOr<storage::Log*> GroupLog(const std::string& group);
  void Apply(const OffsetKey& key, std::optional<CommittedOffset> value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  PartitionManager* const partitions_;
  const int32_t num_partitions_;
  Mutex commit_mu_;  // one commit appends at a time, so the cache follows the log's order
  mutable Mutex mu_;
  absl::flat_hash_map<OffsetKey, CommittedOffset> offsets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
