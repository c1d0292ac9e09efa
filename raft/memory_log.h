// MemoryLog: a LogStorage held in memory. The Raft simulation builds its simulated disks on it,
// the benchmarks and unit tests use it as the log, and a small metadata group could too. It checks
// the LogStorage contract on every change (contiguous entries, terms that never decrease,
// truncation at entry boundaries) and aborts naming the break.
//
// Thread-safety: none (as LogStorage).
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "raft/log_storage.h"

namespace runnel::raft {

class MemoryLog final : public LogStorage {
 public:
  MemoryLog() = default;

  Index StartIndex() const override { return start_index_; }
  Term StartTerm() const override { return start_term_; }
  Index LastIndex() const override {
    return entries_.empty() ? start_index_ - 1 : entries_.back().last;
  }
  std::optional<Term> TermAt(Index index) const override;
  Index TermStart(Index index) const override;
  std::optional<Index> LastIndexAtOrBelowTerm(Term term) const override;
  Index EntryStart(Index index) const override;
  std::vector<Entry> Read(Index from, int64_t max_bytes) const override;
  void Append(std::vector<Entry> entries) override;
  void TruncateAfter(Index index) override;
  void ResetTo(Index index, Term term, const std::string& snapshot,
               const std::string& config) override;
  std::string SnapshotData() const override { return snapshot_; }
  std::optional<ConfigRecord> LastConfig() const override;
  std::string StartConfig() const override { return start_config_; }

  // Retention: drops the entries up to `index` (an entry's last index, at most LastIndex()), whose
  // state the caller summarised in `snapshot`. Only committed entries may be dropped.
  void CompactThrough(Index index, std::string snapshot);

  const std::deque<Entry>& entries() const { return entries_; }
  int64_t bytes() const { return bytes_; }

 private:
  // The position in entries_ of the entry covering `index` (StartIndex() <= index <= LastIndex()).
  size_t Find(Index index) const;

  Index start_index_ = 0;
  Term start_term_ = 0;
  std::string snapshot_;
  std::string start_config_;
  std::deque<Entry> entries_;
  // The kConfig entries held, by first index.
  std::map<Index, std::string> configs_;
  int64_t bytes_ = 0;
};

}  // namespace runnel::raft
