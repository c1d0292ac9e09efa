// LeaderEpochCache: for one partition, the first offset written under each leader epoch (Kafka's
// LeaderEpochFileCache), persisted in `<partition dir>/leader-epoch-checkpoint`. Replication uses
// it to find where a follower's log diverges from the leader's (OffsetsForLeaderEpoch): the end
// offset of an epoch is the start offset of the next one.
//
// Invariants (checked): epochs strictly increase along the entries, and so do start offsets.
// Entries are in memory; the owner (Log) calls Persist after a change that must survive a crash.
//
// Thread-safety: none; its Log guards it with its own lock.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace runnel::storage {

struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;

  friend bool operator==(const EpochEntry&, const EpochEntry&) = default;
};

class LeaderEpochCache {
 public:
  static constexpr char kFileName[] = "leader-epoch-checkpoint";
  static constexpr int32_t kNoEpoch = -1;

  // Reads `<dir>/leader-epoch-checkpoint`. NotFound if there is none; DataLoss naming the file and
  // the problem if it does not parse or breaks the invariants.
  static absl::StatusOr<LeaderEpochCache> Load(const std::string& dir);

  // Records that `epoch` starts at `start_offset` if it is newer than the latest epoch (entries
  // starting at or after `start_offset` are replaced); a batch of the latest epoch changes
  // nothing. Returns whether an entry was added. An older epoch is FailedPrecondition (appends
  // under a stale leader epoch would break the divergence search).
  absl::StatusOr<bool> Assign(int32_t epoch, int64_t start_offset);

  // Drops every entry starting at or after `end_offset` (the log was truncated to it). Returns
  // whether anything changed.
  bool TruncateFromEnd(int64_t end_offset);
  // The log now starts at `start_offset`: entries wholly below it go, and the one it falls in
  // starts there. Returns whether anything changed.
  bool TruncateFromStart(int64_t start_offset);

  // Kafka's endOffsetFor: for `epoch`, the largest epoch <= it that the log has and that epoch's
  // end offset (the next epoch's start, or `log_end` for the latest). {kNoEpoch, -1} when `epoch`
  // is newer than the latest or the cache is empty; {epoch, first start} when it is older than
  // the first entry.
  std::pair<int32_t, int64_t> EndOffsetFor(int32_t epoch, int64_t log_end) const;

  int32_t latest_epoch() const { return entries_.empty() ? kNoEpoch : entries_.back().epoch; }
  const std::vector<EpochEntry>& entries() const { return entries_; }

  // Writes the checkpoint durably (temp file, fdatasync, rename, directory fsync).
  absl::Status Persist(const std::string& dir) const;

 private:
  std::vector<EpochEntry> entries_;
};

}  // namespace runnel::storage
