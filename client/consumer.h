// Consumer: reads records from the broker's Fetch API (proto/runnel/v1/broker.proto), in the
// shape of Kafka's consumer: partitions are either assigned by hand (Assign) or by the group
// coordinator (Subscribe, with group.id). Its settings are ConsumerOptions
// (client/consumer_options.h).
//
// Groups: after Subscribe, a background thread heartbeats the group coordinator (Kafka's
// KIP-848 consumer protocol, proto/runnel/v1/groups.proto). Changes of assignment are applied
// inside Poll, incrementally: partitions taken away are first committed (with enable.auto.commit)
// and handed to RebalanceListener::OnPartitionsRevoked, then given up; new partitions are added
// and handed to OnPartitionsAssigned, starting at the group's committed offset. Partitions the
// change does not touch keep their positions and prefetched data. Close commits, revokes and
// leaves the group at once, so its partitions move without waiting for the session timeout.
//
// Positions: each assigned partition has a position, the offset of the next record Poll returns.
// A new assignment has none; the first Poll (or Position) looks it up by auto.offset.reset
// (earliest, latest, or none = an error). Seek / SeekToBeginning / SeekToEnd set it; a fetch that
// finds the position out of range (retention deleted it) resets it the same way.
//
// Prefetching: one Fetch RPC (long-polling up to fetch.max.wait.ms) is kept in flight while the
// application works through what the previous one returned: as soon as a response is taken, the
// next fetch starts from where that response ended, so a consumer that keeps polling never waits
// for a round trip while data is available. At most one fetched response per partition waits in
// memory besides the one in flight.
//
// Records: a ConsumerRecord's key, value and headers are views into the fetched bytes, kept alive
// by the record itself (its `storage`), so copying a record is cheap and views stay valid for as
// long as any copy of the record lives.
//
// Thread-safety: like Kafka's consumer, a Consumer is used from one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/consumer_options.h"
#include "client/properties.h"
#include "client/types.h"
#include "common/clock.h"
#include "common/record/record.h"
#include "common/record/record_batch.h"

namespace runnel::client {

struct ConsumerRecord {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;  // epoch ms
  record::TimestampType timestamp_type = record::TimestampType::kCreateTime;
  std::optional<std::string_view> key;    // std::nullopt: null key
  std::optional<std::string_view> value;  // std::nullopt: null value (tombstone)
  std::vector<record::RecordHeader> headers;
  std::shared_ptr<const void> storage;  // keeps the views above valid
};

struct OffsetAndTimestamp {
  int64_t offset = 0;
  int64_t timestamp = 0;
};

// Told about partitions the group gives to or takes from this consumer; called from inside Poll
// (and Close / Unsubscribe) on the consumer's thread, so it may call the consumer (e.g. Commit).
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Before the partitions are given up: the last chance to commit what was processed.
  virtual void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // After new partitions were added (their positions are looked up by the next Poll; Seek works).
  virtual void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // The partitions were taken away without a chance to commit (the member was fenced, e.g. it
  // did not heartbeat within the session timeout): they may already be someone else's.
  virtual void OnPartitionsLost(const std::vector<TopicPartition>& partitions) {
    OnPartitionsRevoked(partitions);
  }
};

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const Properties& properties);
  // The same with time read from `clock` rather than Clock::Real() (Kafka's Time): Poll's
  // timeout, retry.backoff.ms, auto.commit.interval.ms and the heartbeat interval. gRPC deadlines
  // stay on the real clock. With a ManualClock, Poll returns without records only once the clock
  // has passed its timeout. `clock` is borrowed and must outlive the consumer.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options,
                                                          const Clock& clock);
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const Properties& properties,
                                                          const Clock& clock);
  // A temporary clock would be destroyed while the consumer still reads it: refused.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions&,
                                                          const Clock&&) = delete;
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const Properties&,
                                                          const Clock&&) = delete;
  ~Consumer();

  // Joins group.id's group, asking for the partitions of `topics` (or of every non-internal
  // topic whose name fully matches `regex`, RE2 syntax, evaluated by the broker). `listener`
  // (may be null) must outlive the subscription. Subscribing again replaces the subscription.
  // Errors: FailedPrecondition without group.id or with a manual assignment; InvalidArgument for
  // an empty list or topic name. Errors the coordinator finds (a bad regex, an unknown
  // assignor, FENCED_INSTANCE_ID) come from the next Poll.
  absl::Status Subscribe(const std::vector<std::string>& topics,
                         RebalanceListener* listener = nullptr);
  absl::Status SubscribePattern(const std::string& regex, RebalanceListener* listener = nullptr);
  // Revokes every partition (committing first with enable.auto.commit) and leaves the group.
  absl::Status Unsubscribe();
  // The subscribed topics, or {regex}; empty when not subscribed.
  std::vector<std::string> Subscription() const;
  // The member id and epoch the coordinator gave this consumer (Kafka's groupMetadata()): "" and
  // -1 when not subscribed or before the first join completes. The assignment that came with the
  // join is handed to the listener by the next Poll.
  std::pair<std::string, int32_t> GroupMember() const;

  // Replaces the assignment. Partitions kept keep their positions; new ones have none yet.
  // Fails (InvalidArgument) on an empty topic name or a negative partition, FailedPrecondition
  // while subscribed.
  absl::Status Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const;

  // Errors: FailedPrecondition for a partition not assigned, InvalidArgument for offset < 0.
  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::Status SeekToBeginning(const std::vector<TopicPartition>& partitions);
  absl::Status SeekToEnd(const std::vector<TopicPartition>& partitions);

  // The records fetched since the last Poll, at most max.poll.records, waiting up to `timeout_ms`
  // for some. Empty when none arrived in time. Errors: a partition without position under
  // auto.offset.reset=none (FailedPrecondition), a corrupt batch (DataLoss, naming the partition
  // and offset; the position stays so the caller may Seek past it), an unknown topic (NotFound).
  // A leader that moved, an election running and an unreachable broker are not errors: the
  // fetches and offset lookups they stop are retried after retry.backoff.ms.
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(int64_t timeout_ms);

  // The offset of the next record Poll returns for `tp`, looking it up if needed.
  absl::StatusOr<int64_t> Position(const TopicPartition& tp);
  // As of when (the consumer's clock, ms since the epoch; when that fetch was sent) a fetch
  // response last showed partition `tp` with nothing to read past the position: its high watermark
  // (Kafka's currentLag is 0) and no fetched record left for Poll to return; nullopt when records
  // wait, the partition is not assigned, or no fetch answered since its position was set. Streams'
  // window.idle.close.ms uses it to tell an idle input from an application that stopped reading.
  std::optional<int64_t> CaughtUpAtMs(const TopicPartition& tp) const;

  // Poll returns nothing from paused partitions and fetches nothing for them until resumed.
  absl::Status Pause(const std::vector<TopicPartition>& partitions);
  absl::Status Resume(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Paused() const;

  // Per partition, the first offset whose timestamp is at or after the given one (std::nullopt
  // when there is none).
  absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndTimestamp>>> OffsetsForTimes(
      const std::map<TopicPartition, int64_t>& timestamps);
  absl::StatusOr<std::map<TopicPartition, int64_t>> BeginningOffsets(
      const std::vector<TopicPartition>& partitions);
  absl::StatusOr<std::map<TopicPartition, int64_t>> EndOffsets(
      const std::vector<TopicPartition>& partitions);

  // Stores offsets for group.id, durably (FailedPrecondition without group.id): the positions of
  // every assigned partition that has one, or the given offsets (the next offset to read). A
  // subscribed consumer commits as its member id and epoch; the coordinator refuses a commit of a
  // member it has fenced (FailedPrecondition naming UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID).
  absl::Status Commit();
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets);
  // The same without waiting: `done` runs inside a later Poll (or Close) with the result.
  void CommitAsync(std::function<void(absl::Status)> done = nullptr);
  void CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                   std::function<void(absl::Status)> done = nullptr);
  // The group's committed offsets (std::nullopt where nothing is committed).
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Committed(
      const std::vector<TopicPartition>& partitions);
  // Commit and Committed with each offset's metadata (Kafka's OffsetAndMetadata): a string of at
  // most 4096 bytes stored with the offset (a longer one fails that partition's commit).
  absl::Status CommitWithMetadata(const std::map<TopicPartition, OffsetAndMetadata>& offsets);
  absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndMetadata>>> CommittedWithMetadata(
      const std::vector<TopicPartition>& partitions);

  // Commits the positions if enable.auto.commit (with group.id), revokes the partitions and leaves
  // the group when subscribed (a static member leaves with epoch -2: its partitions wait for it
  // for the session timeout), waits for async commits, then cancels the fetch in flight.
  // Idempotent; the consumer must not be used afterwards.
  void Close();

  class Impl;

 private:
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace runnel::client
