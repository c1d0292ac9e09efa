#include "tests/raft/sim/sim_disk.h"

#include <algorithm>

#include "common/check.h"

namespace runnel::raft::sim {

void SimDisk::Apply(const LogOp& op, MemoryLog& log) {
  switch (op.kind) {
    case LogOp::Kind::kAppend:
      log.Append(op.entries);
      break;
    case LogOp::Kind::kTruncate:
      log.TruncateAfter(op.index);
      break;
    case LogOp::Kind::kReset:
      log.ResetTo(op.index, op.term, op.snapshot, op.config);
      break;
    case LogOp::Kind::kCompact:
      log.CompactThrough(op.index, op.snapshot);
      break;
  }
}

void SimDisk::Append(std::vector<Entry> entries) {
  visible_.Append(entries);
  LogOp op;
  op.entries = std::move(entries);
  log_ops_.push_back(std::move(op));
}

void SimDisk::TruncateAfter(Index index) {
  visible_.TruncateAfter(index);
  LogOp op;
  op.kind = LogOp::Kind::kTruncate;
  op.index = index;
  log_ops_.push_back(std::move(op));
}

void SimDisk::ResetTo(Index index, Term term, const std::string& snapshot,
                      const std::string& config) {
  visible_.ResetTo(index, term, snapshot, config);
  LogOp op;
  op.kind = LogOp::Kind::kReset;
  op.index = index;
  op.term = term;
  op.snapshot = snapshot;
  op.config = config;
  log_ops_.push_back(std::move(op));
}

void SimDisk::CompactThrough(Index index, std::string snapshot) {
  visible_.CompactThrough(index, snapshot);
  LogOp op;
  op.kind = LogOp::Kind::kCompact;
  op.index = index;
  op.snapshot = std::move(snapshot);
  log_ops_.push_back(std::move(op));
}

void SimDisk::WriteHardState(const HardState& state) {
  hard_state_ = state;
  hard_state_ops_.push_back(state);
}

SimDisk::SyncPoint SimDisk::MarkSync() const {
  return SyncPoint{log_ops_done_ + log_ops_.size(), hard_state_ops_done_ + hard_state_ops_.size()};
}

void SimDisk::CompleteSync(const SyncPoint& point) {
  // A crash since the sync started cleared the queues: what it covered is gone or on disk.
  if (point.log_ops > log_ops_done_) {
    const size_t n = std::min(point.log_ops - log_ops_done_, log_ops_.size());
    for (size_t i = 0; i < n; ++i) Apply(log_ops_[i], durable_);
    log_ops_.erase(log_ops_.begin(), log_ops_.begin() + static_cast<ptrdiff_t>(n));
    log_ops_done_ += n;
  }
  if (point.hard_state_ops > hard_state_ops_done_) {
    const size_t n = std::min(point.hard_state_ops - hard_state_ops_done_, hard_state_ops_.size());
    if (n > 0) durable_hard_state_ = hard_state_ops_[n - 1];
    hard_state_ops_.erase(hard_state_ops_.begin(),
                          hard_state_ops_.begin() + static_cast<ptrdiff_t>(n));
    hard_state_ops_done_ += n;
  }
}

void SimDisk::Crash(std::mt19937_64& rng) {
  // The log file: a random prefix of the unsynced operations reached the disk, the last one
  // possibly torn between entries.
  const size_t log_kept = std::uniform_int_distribution<size_t>(0, log_ops_.size())(rng);
  for (size_t i = 0; i < log_kept; ++i) Apply(log_ops_[i], durable_);
  if (log_kept < log_ops_.size()) {
    const LogOp& next = log_ops_[log_kept];
    if (next.kind == LogOp::Kind::kAppend) {
      const size_t torn = std::uniform_int_distribution<size_t>(0, next.entries.size())(rng);
      if (torn > 0) {
        durable_.Append(std::vector<Entry>(next.entries.begin(),
                                           next.entries.begin() + static_cast<ptrdiff_t>(torn)));
      }
    }
  }
  // The hard-state file is replaced whole (write, rename): one of the unsynced versions or none.
  const size_t state_kept = std::uniform_int_distribution<size_t>(0, hard_state_ops_.size())(rng);
  if (state_kept > 0) durable_hard_state_ = hard_state_ops_[state_kept - 1];

  log_ops_done_ += log_ops_.size();
  hard_state_ops_done_ += hard_state_ops_.size();
  log_ops_.clear();
  hard_state_ops_.clear();
  visible_ = durable_;
  hard_state_ = durable_hard_state_;
}

}  // namespace runnel::raft::sim
