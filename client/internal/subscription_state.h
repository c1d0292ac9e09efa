// SubscriptionState: which partitions a Consumer reads and where it stands in each (Kafka's
// SubscriptionState; client-internal, not installed). Per assigned partition:
//   - the position, the offset of the next record Poll returns; none until it is looked up (the
//     group's committed offset, else auto.offset.reset) or set by a seek;
//   - paused: Poll returns nothing from it and nothing is fetched for it;
//   - the offset-reset state: a fetch that found the position out of range (retention deleted
//     it) marks the partition as awaiting a reset to auto.offset.reset's end of the log, and it
//     is not fetched until the consumer has looked that offset up and set it;
//   - an epoch, new for every position set (seek, lookup, reset) and drawn from one counter, so a
//     partition assigned again never reuses one: fetched data and fetches in flight remember the
//     epoch they were asked for, and data of an older epoch is dropped (client/internal/fetcher.h).
// It is state only: no RPCs and no clock. The consumer does the lookups and hands the offsets in.
//
// Ownership: Consumer::Impl owns it; its Fetcher and Rebalancer hold pointers to it.
// Thread-safety: none; used from the consumer's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/consumer_options.h"
#include "client/types.h"
#include "common/offset_query.h"

namespace runnel::client::internal {

// The ListOffsets query timestamps that mean the log start and the log end (common/offset_query.h).
inline constexpr int64_t kEarliest = kEarliestOffsetQuery;
inline constexpr int64_t kLatest = kLatestOffsetQuery;

class SubscriptionState {
 public:
  // A reset a fetch asked for: the ListOffsets query (kEarliest or kLatest) and why.
  struct OffsetReset {
    int64_t query = kLatest;
    std::string why;
  };

  struct Partition {
    std::optional<int64_t> position;   // the next offset Poll returns
    bool paused = false;               // Pause / Resume
    std::optional<OffsetReset> reset;  // awaiting an offset reset (position out of range)
    uint64_t epoch = 0;                // new for every position set; 0: never positioned
  };

  explicit SubscriptionState(AutoOffsetReset auto_offset_reset)
      : auto_offset_reset_(auto_offset_reset) {}

  // Replaces the assignment (manual Assign). Partitions kept keep their state; new ones have no
  // position. InvalidArgument (changing nothing) for an empty topic name or a negative partition.
  absl::Status Assign(const std::vector<TopicPartition>& partitions);
  // Adds partitions without a position (the group assigned them); ones already assigned stay.
  void Add(const std::vector<TopicPartition>& partitions);
  // Drops partitions (revoked) or all of them (lost, unsubscribed).
  void Remove(const std::vector<TopicPartition>& partitions);
  void Clear() { partitions_.clear(); }

  bool empty() const { return partitions_.empty(); }
  bool IsAssigned(const TopicPartition& tp) const { return partitions_.contains(tp); }
  std::vector<TopicPartition> Assignment() const;  // in order
  std::set<TopicPartition> AssignedSet() const;
  const Partition* Find(const TopicPartition& tp) const;
  const std::map<TopicPartition, Partition>& partitions() const { return partitions_; }

  // Seek: FailedPrecondition for a partition not assigned, InvalidArgument for offset < 0.
  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  // A position found by a lookup (seek to beginning / end, committed offset, offset reset): like
  // Seek, it starts a new epoch and ends a pending reset. Ignored for a partition not assigned.
  void SetPosition(const TopicPartition& tp, int64_t offset);
  // Poll handed out the records before `next`: the position moves, the epoch stays (what is
  // buffered after it is still good).
  void Advance(const TopicPartition& tp, int64_t next);
  std::optional<int64_t> Position(const TopicPartition& tp) const;
  // The positions of every assigned partition that has one (what Commit() stores).
  std::map<TopicPartition, int64_t> Positions() const;

  // All or nothing: FailedPrecondition naming the first partition that is not assigned.
  absl::Status SetPaused(const std::vector<TopicPartition>& partitions, bool paused);
  std::vector<TopicPartition> Paused() const;

  // The partitions that have no position yet, in order.
  std::vector<TopicPartition> WithoutPosition() const;
  // Per partition without a position, the ListOffsets query auto.offset.reset picks.
  // FailedPrecondition under auto.offset.reset=none, naming the first such partition.
  absl::StatusOr<std::map<TopicPartition, int64_t>> ResetQueries() const;

  // A fetch found the position of `tp` out of range (`why` says how): the partition awaits a reset
  // to auto.offset.reset's end of the log. Under none the position stays and the error is
  // OutOfRange: "<why> and auto.offset.reset is none". Ignored for a partition not assigned.
  absl::Status RequestReset(const TopicPartition& tp, const std::string& why);
  // The partitions awaiting a reset, in order.
  std::map<TopicPartition, OffsetReset> PendingResets() const;
  // Forgets every pending reset (its lookup failed): the partitions keep their positions, so the
  // next fetch from them finds them out of range again and asks again.
  void CancelResets();

  // Whether a fetch may ask for the partition: not paused, positioned, not awaiting a reset.
  static bool IsFetchable(const Partition& p) {
    return !p.paused && p.position.has_value() && !p.reset.has_value();
  }

 private:
  Partition* FindMutable(const TopicPartition& tp);

  const AutoOffsetReset auto_offset_reset_;
  std::map<TopicPartition, Partition> partitions_;
  uint64_t last_epoch_ = 0;
};

}  // namespace runnel::client::internal
