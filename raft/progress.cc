#include "raft/progress.h"

#include <algorithm>

#include "common/check.h"

namespace runnel::raft {

bool Progress::Paused() const {
  switch (state_) {
    case State::kProbe:
      return probe_sent_;
    case State::kReplicate:
      return static_cast<int>(inflight_.size()) >= max_inflight_;
    case State::kSnapshot:
      return true;
  }
  return true;
}

void Progress::BecomeProbe() {
  // After a snapshot the follower has at least the snapshot's index.
  if (state_ == State::kSnapshot) {
    next_ = std::max(match_ + 1, pending_snapshot_ + 1);
  } else {
    next_ = match_ + 1;
  }
  state_ = State::kProbe;
  probe_sent_ = false;
  pending_snapshot_ = kNoIndex;
  inflight_.clear();
}

void Progress::ForgetMatch(Index last) {
  match_ = std::min(match_, last);
  state_ = State::kReplicate;  // BecomeProbe from a non-snapshot state: next = match + 1
  BecomeProbe();
}

void Progress::BecomeReplicate() {
  state_ = State::kReplicate;
  next_ = match_ + 1;
  probe_sent_ = false;
  pending_snapshot_ = kNoIndex;
  inflight_.clear();
}

void Progress::BecomeSnapshot(Index snapshot_index) {
  state_ = State::kSnapshot;
  pending_snapshot_ = snapshot_index;
  heartbeats_since_snapshot_ = 0;
  probe_sent_ = false;
  inflight_.clear();
}

void Progress::SentAppend(Index last) {
  switch (state_) {
    case State::kReplicate:
      if (last != kNoIndex) {
        RUNNEL_CHECK(last >= next_, "sent up to %d below next %d", last, next_);
        next_ = last + 1;
        inflight_.push_back(last);
      }
      break;
    case State::kProbe:
      probe_sent_ = true;
      break;
    case State::kSnapshot:
      RUNNEL_CHECK(false, "append sent to a follower waiting for a snapshot");
  }
}

void Progress::HeartbeatAnswered() {
  probe_sent_ = false;
  if (state_ == State::kSnapshot) heartbeats_since_snapshot_++;
  if (state_ == State::kReplicate && static_cast<int>(inflight_.size()) >= max_inflight_) {
    inflight_.pop_front();
  }
}

bool Progress::MaybeUpdate(Index match) {
  probe_sent_ = false;
  if (match <= match_) return false;
  match_ = match;
  next_ = std::max(next_, match + 1);
  while (!inflight_.empty() && inflight_.front() <= match) inflight_.pop_front();
  return true;
}

bool Progress::MaybeDecrease(Index rejected, Index next) {
  if (state_ == State::kReplicate) {
    // A rejection of something at or below what matched is an old answer.
    if (rejected <= match_) return false;
    next_ = std::max(match_ + 1, std::min(next, rejected));
    // The pipeline is built on a wrong guess: probe from the new next.
    state_ = State::kProbe;
    probe_sent_ = false;
    inflight_.clear();
    return true;
  }
  // kProbe (and kSnapshot, which a late rejection cannot move): only the answer to the append
  // sent from next - 1 counts.
  if (state_ != State::kProbe || rejected != next_ - 1) return false;
  next_ = std::max(match_ + 1, std::min(next, rejected));
  probe_sent_ = false;
  return true;
}

}  // namespace runnel::raft
