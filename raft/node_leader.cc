// The leader's half of raft::Node (node.h): replication to followers with flow control and
// conflict hints, the commit rule, proposals, linearizable reads, membership changes and
// leadership transfer. node.cc holds elections, the follower's half and the outputs.
#include "raft/node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/check.h"

namespace runnel::raft {

void Node::HandleAppendResponse(const Message& m) {
  Progress& progress = progress_.at(m.from);
  if (m.reject) {
    if (progress.state() == Progress::State::kSnapshot) {
      progress.BecomeProbe();
    } else if (!progress.MaybeDecrease(m.index, NextFromHint(m))) {
      return;
    }
    SendAppend(m.from, /*allow_empty=*/true);
    return;
  }
  if (!progress.MaybeUpdate(m.index)) {
    // Nothing new, but a probe waiting on this answer may go on.
    if (progress.state() != Progress::State::kSnapshot) SendAppend(m.from, false);
    return;
  }
  switch (progress.state()) {
    case Progress::State::kProbe:
      progress.BecomeReplicate();
      break;
    case Progress::State::kSnapshot:
      progress.BecomeProbe();
      break;
    case Progress::State::kReplicate:
      break;
  }
  if (MaybeCommit()) {
    BroadcastAppend();
  } else {
    while (SendAppend(m.from, /*allow_empty=*/false)) {
    }
  }
  if (role_ == Role::kLeader && m.from == transferee_ && progress.match() == log_->LastIndex()) {
    Message timeout;
    timeout.type = MessageType::kTimeoutNow;
    timeout.to = m.from;
    timeout.term = term_;
    Send(std::move(timeout));
  }
}

Index Node::NextFromHint(const Message& m) const {
  Index next = m.hint_index;
  if (m.hint_term != 0) {
    // If we hold the follower's conflicting term, everything up to our last entry of it matches.
    std::optional<Index> last_of_term = log_->LastIndexAtOrBelowTerm(m.hint_term);
    if (last_of_term.has_value() && log_->TermAt(*last_of_term) == m.hint_term) {
      next = *last_of_term + 1;
    }
  }
  // Appends start at one of our entries' first index.
  next = std::min(next, log_->LastIndex() + 1);
  if (next >= log_->StartIndex() && next <= log_->LastIndex()) next = log_->EntryStart(next);
  return next;
}

bool Node::SendAppend(NodeId to, bool allow_empty) {
  Progress& progress = progress_.at(to);
  if (progress.Paused()) return false;
  const Index prev = progress.next() - 1;
  if (prev < log_->StartIndex() - 1) {
    SendSnapshot(to, progress);
    return false;
  }
  const std::optional<Term> prev_term = log_->TermAt(prev);
  RUNNEL_CHECK(prev_term.has_value(), "node %d: no term at %d for follower %d (log [%d, %d])",
               options_.id, prev, to, log_->StartIndex(), log_->LastIndex());
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term_;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit_;
  if (progress.next() <= log_->LastIndex()) {
    m.entries = log_->Read(progress.next(), options_.max_append_bytes);
  }
  if (m.entries.empty() && !allow_empty) return false;
  progress.SentAppend(m.entries.empty() ? kNoIndex : m.entries.back().last);
  Send(std::move(m));
  return true;
}

void Node::SendSnapshot(NodeId to, Progress& progress) {
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.term = term_;
  m.index = log_->StartIndex() - 1;
  m.log_term = log_->StartTerm();
  m.data = log_->SnapshotData();
  m.config = log_->StartConfig();
  progress.BecomeSnapshot(m.index);
  Send(std::move(m));
}

void Node::BroadcastAppend() {
  for (auto& [id, progress] : progress_) SendAppend(id, /*allow_empty=*/true);
}

void Node::BroadcastHeartbeat() {
  for (auto& [id, progress] : progress_) {
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    m.term = term_;
    // Never more than the follower matched: it may hold other entries beyond that.
    m.commit = std::min(progress.match(), commit_);
    m.index = commit_;  // the whole commit index: a catching-up follower needs to see it
    // Every heartbeat also asks about the latest pending read: one whose own heartbeat or answer
    // was lost is confirmed by the next round.
    m.context = pending_reads_.empty() ? 0 : pending_reads_.back().id;
    Send(std::move(m));
  }
}

bool Node::MaybeCommit() {
  const Index quorum_index = membership_.QuorumIndex([this](NodeId id) {
    if (id == options_.id) return durable_;
    auto it = progress_.find(id);
    return it == progress_.end() ? kNoIndex : it->second.match();
  });
  if (quorum_index <= commit_) return false;
  // Figure 8: an entry of an earlier term is not committed by being on a quorum; it is committed
  // by an entry of this term after it.
  if (log_->TermAt(quorum_index) != term_) return false;
  CommitTo(quorum_index);
  return true;
}

bool Node::QuorumActive() const {
  return membership_.Tally([this](NodeId id) -> std::optional<bool> {
    if (id == options_.id) return true;
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.recent_active()) return true;
    return std::nullopt;
  }) == VoteResult::kWon;
}

absl::Status Node::CheckLeader() const {
  if (role_ == Role::kLeader) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "node %d is not the leader of term %d (leader: %d)", options_.id, term_, leader_));
}

absl::Status Node::CheckCanPropose() const {
  if (absl::Status leader = CheckLeader(); !leader.ok()) return leader;
  if (transferee_ != kNoNode) {
    return absl::UnavailableError(
        absl::StrFormat("leadership is being transferred to node %d", transferee_));
  }
  return absl::OkStatus();
}

absl::StatusOr<Proposal> Node::Propose(std::string data, int64_t count) {
  if (absl::Status can = CheckCanPropose(); !can.ok()) return can;
  if (count < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("count: %d is below 1", count));
  }
  const int64_t bytes = static_cast<int64_t>(data.size());
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + bytes > options_.max_uncommitted_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%d bytes proposed and not yet committed (max_uncommitted_bytes %d)",
                        uncommitted_bytes_, options_.max_uncommitted_bytes));
  }
  Entry entry;
  entry.first = log_->LastIndex() + 1;
  entry.last = entry.first + count - 1;
  entry.term = term_;
  entry.type = EntryType::kData;
  entry.data = std::move(data);
  Proposal proposal{entry.first, entry.last, entry.term};
  std::vector<Entry> entries;
  entries.push_back(std::move(entry));  // not an initializer list: that would copy the data
  AppendToLog(std::move(entries));
  uncommitted_.emplace_back(proposal.last, bytes);
  uncommitted_bytes_ += bytes;
  BroadcastAppend();
  return proposal;
}

absl::Status Node::RequestRead(uint64_t id) {
  if (absl::Status leader = CheckLeader(); !leader.ok()) return leader;
  // An answer to a heartbeat confirms every read with an id up to its context; a smaller id asked
  // later could be confirmed by an answer sent before it was asked.
  RUNNEL_CHECK(id != 0 && id > last_read_id_,
               "node %d: read ids must grow within a term and not be 0 (got %d after %d)",
               options_.id, id, last_read_id_);
  last_read_id_ = id;
  // Until an entry of its term is committed the leader may not know everything committed.
  if (commit_ < term_start_) {
    return absl::UnavailableError(
        absl::StrFormat("node %d has not committed an entry of term %d yet", options_.id, term_));
  }
  PendingRead read{id, commit_, {options_.id}};
  pending_reads_.push_back(std::move(read));
  ConfirmReads(options_.id, id);  // a group of one confirms at once
  if (pending_reads_.empty() || pending_reads_.back().id != id) return absl::OkStatus();
  for (auto& [to, progress] : progress_) {
    if (!membership_.IsVoter(to)) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = to;
    m.term = term_;
    m.commit = std::min(progress.match(), commit_);
    m.index = commit_;  // the whole commit index: a catching-up follower needs to see it
    m.context = id;
    Send(std::move(m));
  }
  return absl::OkStatus();
}

void Node::ConfirmReads(NodeId from, uint64_t context) {
  // An answer to the heartbeat of read `context` confirms this node led when every earlier read
  // was asked, too.
  for (PendingRead& read : pending_reads_) {
    if (read.id > context) break;
    read.acks.insert(from);
  }
  while (!pending_reads_.empty()) {
    const PendingRead& oldest = pending_reads_.front();
    const VoteResult result = membership_.Tally([&oldest](NodeId id) -> std::optional<bool> {
      return oldest.acks.contains(id) ? std::optional<bool>(true) : std::nullopt;
    });
    if (result != VoteResult::kWon) break;
    read_states_.push_back(ReadState{oldest.id, oldest.index});
    pending_reads_.pop_front();
  }
}

std::vector<ReadState> Node::TakeReadStates() { return std::exchange(read_states_, {}); }

absl::StatusOr<Proposal> Node::ProposeMembership(const Membership& next) {
  if (absl::Status can = CheckCanPropose(); !can.ok()) return can;
  // Until an entry of its term is committed, a new leader may not know the latest committed
  // configuration; changing it then can break the single-server rule's overlap (the bug Ongaro
  // reported in 2015).
  if (commit_ < term_start_) {
    return absl::UnavailableError(absl::StrFormat(
        "node %d has not committed an entry of term %d yet (commit %d, term starts at %d)",
        options_.id, term_, commit_, term_start_));
  }
  if (config_index_ > commit_) {
    return absl::UnavailableError(absl::StrFormat(
        "the membership change at %d is not committed yet (commit %d)", config_index_, commit_));
  }
  if (absl::Status step = membership_.CheckSingleStep(next); !step.ok()) return step;
  Entry entry;
  entry.first = log_->LastIndex() + 1;
  entry.last = entry.first;
  entry.term = term_;
  entry.type = EntryType::kConfig;
  entry.data = next.Encode();
  Proposal proposal{entry.first, entry.last, entry.term};
  std::vector<Entry> entries;
  entries.push_back(std::move(entry));
  AppendToLog(std::move(entries));
  BroadcastAppend();
  return proposal;
}

void Node::MaybeStepDownAfterRemoval() {
  if (role_ != Role::kLeader || membership_.IsVoter(options_.id) || commit_ < config_index_) {
    return;
  }
  // Removed and the removal is committed: hand leadership to the voter furthest along, so the
  // group does not wait an election timeout.
  NodeId successor = kNoNode;
  Index best = kNoIndex;
  for (const auto& [id, progress] : progress_) {
    if (membership_.IsVoter(id) && progress.match() > best) {
      best = progress.match();
      successor = id;
    }
  }
  if (successor != kNoNode && best == log_->LastIndex()) {
    Message timeout;
    timeout.type = MessageType::kTimeoutNow;
    timeout.to = successor;
    timeout.term = term_;
    Send(std::move(timeout));
  }
  BecomeFollower(term_, kNoNode);
}

absl::Status Node::TransferLeadership(NodeId to) {
  if (absl::Status leader = CheckLeader(); !leader.ok()) return leader;
  if (to == options_.id) return absl::OkStatus();
  if (!membership_.IsVoter(to)) {
    return absl::InvalidArgumentError(absl::StrFormat("node %d is not a voter", to));
  }
  if (transferee_ != to) transfer_elapsed_ = 0;  // a transfer gets one election timeout
  transferee_ = to;
  const Progress& progress = progress_.at(to);
  if (progress.match() == log_->LastIndex()) {
    Message timeout;
    timeout.type = MessageType::kTimeoutNow;
    timeout.to = to;
    timeout.term = term_;
    Send(std::move(timeout));
  } else {
    SendAppend(to, /*allow_empty=*/true);
  }
  return absl::OkStatus();
}

void Node::AbortTransfer() { transferee_ = kNoNode; }

const Progress* Node::progress(NodeId id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

}  // namespace runnel::raft
