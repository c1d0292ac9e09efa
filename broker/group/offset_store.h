// OffsetStore: the compacted internal topic __consumer_offsets, and consumer groups' committed
// offsets in it (records in Kafka's layout, offset_codec.h), also kept in memory. The topic is
// created on the first write (cleanup.policy=compact, `partitions` partitions, Kafka's default
// 50); group G's records go to partition OffsetsPartitionFor(G). On start, Load() reads the topic
// back, so committed offsets survive restarts and compaction keeps the latest per key. The
// GroupCoordinator's membership records (group_records.h) go to the same partitions through
// AppendGroupRecords and come back through Load's visitor.
//
// In a cluster the batches go through an OffsetsAppender (Raft: `done` once committed on a
// majority); only the broker leading a group's partition can write that group's records.
//
// Thread-safety: all methods may be called from any thread. Commits are serialised (one append at
// a time); `done` callbacks run on the storage flush thread (in a cluster: the replication
// thread).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "broker/group/offset_codec.h"
#include "broker/group/offsets_appender.h"
#include "broker/partition/partition_manager.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace runnel::broker {

struct OffsetCommit {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string metadata;
};

// One record for __consumer_offsets: a key and a value, or no value for a tombstone.
struct KeyValue {
  std::string key;
  std::optional<std::string> value;
};

// Called by Load for every group-metadata record (IsGroupRecordKey), in log order; no value is a
// tombstone.
using GroupRecordVisitor =
    std::function<void(std::string_view key, std::optional<std::string_view> value)>;

class OffsetStore {
 public:
  static constexpr char kTopic[] = "__consumer_offsets";
  static constexpr size_t kMaxMetadataBytes = 4096;  // Kafka's offset.metadata.max.bytes

  // Borrows `partitions`, `clock` (commit timestamps) and `appender`, which must outlive the
  // store. Without an appender (a single node) batches are appended to this broker's own log of
  // the topic, created through `partitions`; with one (a cluster's broker) they go through it,
  // and every append it took must be answered before the store is destroyed.
  OffsetStore(PartitionManager* partitions, int32_t num_partitions,
              const Clock* clock = &Clock::Real(), OffsetsAppender* appender = nullptr)
      : partitions_(partitions),
        num_partitions_(num_partitions),
        clock_(clock),
        appender_(appender) {}

  // InvalidArgument naming the problem: empty topic, negative partition or offset, metadata over
  // kMaxMetadataBytes.
  // InvalidArgument naming the problem for an empty group id or one too long for the record.
  static absl::Status CheckGroupId(const std::string& group);
  static absl::Status Check(const OffsetCommit& commit);

  // Reads every partition of the topic, if it exists: committed offsets into memory, group
  // records to `group_records` (if set). Records and batches it cannot decode are logged and
  // skipped (their groups fall back to auto.offset.reset); only an unreadable log fails the load.
  absl::Status Load(const GroupRecordVisitor& group_records = nullptr);

  // In a cluster, the store serves only the partitions whose groups this broker coordinates (it
  // leads them), each once loaded: writes of another partition's groups are refused
  // (Unavailable) and the checked reads below refuse too. LoadPartition reads `log` (this broker's
  // replica of the partition) from its start up to its high watermark (what is committed) as
  // Load does and then serves the partition; it is refused (FailedPrecondition) while a write
  // accepted before is not answered yet — once answered, a write is in the log up to the high
  // watermark, or failed — so a load never misses an acknowledged commit. UnloadPartition stops
  // serving the partition and forgets its offsets. A write's answer after either is not applied
  // to the cache (the load read it from the log). A single node serves every partition.
  absl::Status LoadPartition(int32_t partition, const storage::Log& log,
                             const GroupRecordVisitor& group_records);
  void UnloadPartition(int32_t partition);
  // OK when this store serves `group` (always on a single node); else Unavailable naming the
  // partition.
  absl::Status CheckServing(const std::string& group) const;
  // Fetch and FetchAll that fail as CheckServing does, checked with the read.
  absl::StatusOr<std::optional<CommittedOffset>> FetchServed(const std::string& group,
                                                             const std::string& topic,
                                                             int32_t partition) const;
  absl::StatusOr<std::vector<std::pair<OffsetKey, CommittedOffset>>> FetchAllServed(
      const std::string& group) const;
  // The partition of __consumer_offsets holding `group`'s records: by the topic's partition count
  // when it exists, else the count it will be created with.
  int32_t PartitionOf(const std::string& group) const;

  // Checks every entry (InvalidArgument naming the first bad one; nothing is stored then),
  // appends them as one batch to the group's partition, updates what Fetch returns (on a single
  // node at once; in a cluster once committed, before `done`), and calls `done` once the batch is
  // durable (or with the error). `done` runs only when Commit returns OK.
  absl::Status Commit(const std::string& group, const std::vector<OffsetCommit>& offsets,
                      std::function<void(absl::Status)> done);

  // Appends `records` (group_records.h) as one batch to `group`'s partition and calls `done` once
  // it is durable (or with the sync error); `done` runs only when this returns OK.
  absl::Status AppendGroupRecords(const std::string& group, const std::vector<KeyValue>& records,
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
  absl::StatusOr<std::shared_ptr<storage::Log>> GroupLog(const std::string& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Appends `batch` to `group`'s partition: through the appender, else to the local log.
  absl::Status AppendBatch(const std::string& group, std::string batch,
                           std::function<void(absl::Status)> done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // AppendBatch, and the cache takes `changes` (no value: forgotten): at once on a single node,
  // once committed in a cluster.
  absl::Status AppendAndApply(
      const std::string& group, std::string batch,
      std::vector<std::pair<OffsetKey, std::optional<CommittedOffset>>> changes,
      std::function<void(absl::Status)> done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  void Apply(const OffsetKey& key, std::optional<CommittedOffset> value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads `partition` of `log` from its start up to `end` into `into` (control batches skipped;
  // a tombstone erases); the number of committed offsets read.
  absl::StatusOr<int64_t> ReadPartition(int32_t partition, const storage::Log& log, int64_t end,
                                        const GroupRecordVisitor& group_records,
                                        absl::flat_hash_map<OffsetKey, CommittedOffset>* into);
  // Forgets the cached offsets of `partition`'s groups.
  void ForgetPartition(int32_t partition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unavailable unless `partition` is served (see LoadPartition).
  absl::Status ServingLocked(const std::string& group, int32_t partition) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<std::pair<OffsetKey, CommittedOffset>> FetchAllLocked(const std::string& group) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  PartitionManager* const partitions_;
  const int32_t num_partitions_;
  const Clock* const clock_;
  OffsetsAppender* const appender_;  // null on a single node
  Mutex commit_mu_;                  // one append at a time, so the cache follows the log's order
  mutable Mutex mu_;
  absl::flat_hash_map<OffsetKey, CommittedOffset> offsets_ ABSL_GUARDED_BY(mu_);
  // In a cluster, per partition of __consumer_offsets: whether it is served (loaded), a generation
  // bumped by every load and unload (a write's answer applies its changes to the cache only if it
  // has not moved since the write was accepted), and the writes not answered yet.
  struct Shard {
    bool served = false;
    uint64_t generation = 0;
    int64_t in_flight = 0;
  };
  std::map<int32_t, Shard> shards_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
