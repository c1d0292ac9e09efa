// SimDisk: one simulated node's disk for the Raft simulation. The node sees a LogStorage whose
// changes are visible at once (the page cache); each change is also queued as an operation that
// becomes durable only when a sync covering it completes. A crash keeps what was synced plus a
// random prefix of what was not — of the log file and, independently, of the hard-state file (two
// files: either may have reached the disk without the other) — with an append torn between its
// entries, as a torn segment tail is cut at the first bad batch by the log's recovery.
//
// Thread-safety: none; the simulation is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/memory_log.h"
#include "raft/types.h"

namespace runnel::raft::sim {

class SimDisk final : public LogStorage {
 public:
  SimDisk() = default;

  // --- LogStorage: the visible log ---
  Index StartIndex() const override { return visible_.StartIndex(); }
  Term StartTerm() const override { return visible_.StartTerm(); }
  Index LastIndex() const override { return visible_.LastIndex(); }
  std::optional<Term> TermAt(Index index) const override { return visible_.TermAt(index); }
  Index TermStart(Index index) const override { return visible_.TermStart(index); }
  std::optional<Index> LastIndexAtOrBelowTerm(Term term) const override {
    return visible_.LastIndexAtOrBelowTerm(term);
  }
  Index EntryStart(Index index) const override { return visible_.EntryStart(index); }
  std::vector<Entry> Read(Index from, int64_t max_bytes) const override {
    return visible_.Read(from, max_bytes);
  }
  void Append(std::vector<Entry> entries) override;
  void TruncateAfter(Index index) override;
  void ResetTo(Index index, Term term, const std::string& snapshot,
               const std::string& config) override;
  std::string SnapshotData() const override { return visible_.SnapshotData(); }
  std::optional<ConfigRecord> LastConfig() const override { return visible_.LastConfig(); }
  std::string StartConfig() const override { return visible_.StartConfig(); }

  // Retention by the driver: drops entries through `index` (applied ones), summarised by
  // `snapshot`.
  void CompactThrough(Index index, std::string snapshot);
  void WriteHardState(const HardState& state);
  HardState hard_state() const { return hard_state_; }

  // A sync started now covers the operations queued so far: SyncPoint() marks them, and
  // CompleteSync(point) makes them durable.
  struct SyncPoint {
    size_t log_ops = 0;
    size_t hard_state_ops = 0;
  };
  SyncPoint MarkSync() const;
  void CompleteSync(const SyncPoint& point);

  // Loses what was not synced (keeping random prefixes, see above) and makes the durable state the
  // visible one, as a restart finds it.
  void Crash(std::mt19937_64& rng);

  const MemoryLog& log() const { return visible_; }
  const MemoryLog& durable_log() const { return durable_; }

 private:
  // One change to the log file, as it is queued for the disk.
  struct LogOp {
    enum class Kind { kAppend, kTruncate, kReset, kCompact };
    Kind kind = Kind::kAppend;
    std::vector<Entry> entries;  // kAppend
    Index index = kNoIndex;      // kTruncate: after; kReset, kCompact: through
    Term term = 0;               // kReset
    std::string snapshot;        // kReset, kCompact
    std::string config;          // kReset
  };
  static void Apply(const LogOp& op, MemoryLog& log);

  MemoryLog visible_;
  MemoryLog durable_;
  HardState hard_state_;
  HardState durable_hard_state_;
  // Queued since the last completed sync; a sync completes a prefix of each queue.
  std::vector<LogOp> log_ops_;
  std::vector<HardState> hard_state_ops_;
  // Operations completed by syncs are removed from the front; these count them so a SyncPoint
  // (absolute positions) stays meaningful.
  size_t log_ops_done_ = 0;
  size_t hard_state_ops_done_ = 0;
};

}  // namespace runnel::raft::sim
