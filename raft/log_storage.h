// LogStorage: the log a Raft node replicates, as the node sees it. The node reads it and changes it
// through this interface on its own thread; the driver that owns the node makes the changes
// durable when a Ready asks for a sync (node.h). A partition's segment log (entries are RecordBatch
// v2 batches, index = offset, term = partitionLeaderEpoch) and raft::MemoryLog implement it.
//
// Contract (the node relies on every line; implementations check what they can):
//   - Entries are contiguous: each starts at the previous one's last + 1, and terms never
//     decrease along the log, so each term occupies one run of offsets.
//   - Before the first entry sits the log start: StartIndex() - 1 with StartTerm() (the last
//     index and term a snapshot or a log-start install covers; kNoIndex and 0 for a new log).
//   - Changes are visible to reads at once; they survive a crash only once synced.
//   - Append, TruncateAfter and ResetTo may fail only by stopping the process (a log that cannot
//     write has lost its contract with the quorum: Kafka takes the log dir offline, we abort).
//
// Thread-safety: called from the node's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace runnel::raft {

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual Index StartIndex() const = 0;
  virtual Term StartTerm() const = 0;   // the term at StartIndex() - 1
  virtual Index LastIndex() const = 0;  // StartIndex() - 1 when the log is empty

  // The term of the entry covering `index`, for StartIndex() - 1 <= index <= LastIndex();
  // std::nullopt outside that range.
  virtual std::optional<Term> TermAt(Index index) const = 0;
  // The first index of the run of entries with `index`'s term (StartIndex() - 1 <= index <=
  // LastIndex()); for StartIndex() - 1 it is StartIndex() - 1. A partition log answers from its
  // leader-epoch cache.
  virtual Index TermStart(Index index) const = 0;
  // The last index whose term is <= `term`: StartIndex() - 1 if no entry has, or std::nullopt when
  // even the start's term is above `term` (the answer lies in what was deleted). Kafka's
  // OffsetsForLeaderEpoch.
  virtual std::optional<Index> LastIndexAtOrBelowTerm(Term term) const = 0;

  // The first index of the entry covering `index` (StartIndex() <= index <= LastIndex()).
  virtual Index EntryStart(Index index) const = 0;
  // Whole entries starting with the one that begins at `from` (StartIndex() <= from <=
  // LastIndex(); `from` is an entry's first index), up to `max_bytes` of data but at least one.
  virtual std::vector<Entry> Read(Index from, int64_t max_bytes) const = 0;

  // Appends entries (taken: their data moves into the log); the first starts at LastIndex() + 1.
  virtual void Append(std::vector<Entry> entries) = 0;
  // Removes every entry after `index` (an entry's last index, StartIndex() - 1 <= index).
  virtual void TruncateAfter(Index index) = 0;
  // Drops the whole log: it now starts after `index` with `term` (a snapshot or log-start install),
  // `snapshot` is the state machine's state at `index` and `config` the membership in force there
  // (Membership::Encode; empty: the initial one).
  virtual void ResetTo(Index index, Term term, const std::string& snapshot,
                       const std::string& config) = 0;
  // The state machine's state at StartIndex() - 1, which a follower that needs deleted entries
  // installs (empty for a partition log: its records are the state, and a follower starts at the
  // leader's log start as Kafka's does).
  virtual std::string SnapshotData() const = 0;

  // Membership changes are kConfig entries, in force from the moment they are appended. The
  // latest one the log holds (its index and data), or else the configuration in force at the log
  // start (index StartIndex() - 1), or std::nullopt when there is neither. A partition log keeps
  // an index of its configuration batches for this.
  struct ConfigRecord {
    Index index = kNoIndex;
    std::string data;
  };
  virtual std::optional<ConfigRecord> LastConfig() const = 0;
  // The configuration in force at StartIndex() - 1 (empty: none recorded).
  virtual std::string StartConfig() const = 0;
};

}  // namespace runnel::raft
