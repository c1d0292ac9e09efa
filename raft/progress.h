// Progress: what a leader knows about one follower's log and how much it may send it (etcd's
// Progress and Inflights). Three states:
//   kProbe      the follower's position is unknown: one append at a time (the next waits for its
//               answer or the next heartbeat), stepping `next` back on each rejection.
//   kReplicate  the follower matched: appends are pipelined, `next` moves on as they are sent,
//               with at most `max_inflight` unanswered appends (flow control per follower).
//   kSnapshot   the follower needs entries the leader's log no longer has: a snapshot (or a
//               log-start install) is on its way; nothing else is sent until it is answered.
//
// Thread-safety: a value type owned by the node; not synchronised.
#pragma once

#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace runnel::raft {

class Progress {
 public:
  enum class State { kProbe, kReplicate, kSnapshot };

  Progress(Index next, int max_inflight) : next_(next), max_inflight_(max_inflight) {}

  State state() const { return state_; }
  Index match() const { return match_; }
  Index next() const { return next_; }
  // Heard from since the leader last checked its quorum (check-quorum).
  bool recent_active() const { return recent_active_; }
  void set_recent_active(bool active) { recent_active_ = active; }

  // No append may be sent now: a probe is unanswered, the pipeline is full, or a snapshot is out.
  bool Paused() const;
  int inflight() const { return static_cast<int>(inflight_.size()); }

  void BecomeProbe();
  // The follower's log ends at or after `last` (an entry's last index), below its match (it lost
  // its disk): probe from there.
  void ForgetMatch(Index last);
  void BecomeReplicate();
  void BecomeSnapshot(Index snapshot_index);

  // An append ending at `last` was sent (kNoIndex last for an empty probe).
  void SentAppend(Index last);
  // A heartbeat answer: a probe may be sent again, and a full pipeline frees one slot (its
  // appends may have been lost; the next one sent finds out). In kSnapshot it counts: a follower
  // that answers heartbeats but not the snapshot may never have received it.
  void HeartbeatAnswered();
  int heartbeats_since_snapshot() const { return heartbeats_since_snapshot_; }
  // The follower has everything up to `match`. False when that was known already (a stale or
  // duplicated answer).
  bool MaybeUpdate(Index match);
  // The follower rejected an append after `rejected`; `next` is where to try next (the caller
  // derived it from the follower's hint). False when the rejection is stale.
  bool MaybeDecrease(Index rejected, Index next);

 private:
  State state_ = State::kProbe;
  Index match_ = kNoIndex;
  Index next_;
  bool probe_sent_ = false;
  bool recent_active_ = false;
  Index pending_snapshot_ = kNoIndex;
  int heartbeats_since_snapshot_ = 0;
  // The last index of each unanswered pipelined append, oldest first.
  std::deque<Index> inflight_;
  const int max_inflight_;
};

}  // namespace runnel::raft
