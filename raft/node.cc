#include "raft/node.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/check.h"

namespace runnel::raft {
namespace {

constexpr Index kNoFloor = std::numeric_limits<Index>::max();

// splitmix64: a small, well-mixed generator; the node needs only election jitter from it.
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResponse:
      return "AppendResponse";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

absl::Status Options::Validate() const {
  if (id < 0) return absl::InvalidArgumentError(absl::StrFormat("id: %d is not a node id", id));
  if (heartbeat_ticks < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("heartbeat_ticks: %d is below 1", heartbeat_ticks));
  }
  if (election_ticks <= heartbeat_ticks) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "election_ticks: %d must be above heartbeat_ticks (%d)", election_ticks, heartbeat_ticks));
  }
  if (max_inflight < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("max_inflight: %d is below 1", max_inflight));
  }
  if (max_append_bytes < 1 || max_uncommitted_bytes < 1) {
    return absl::InvalidArgumentError("max_append_bytes and max_uncommitted_bytes must be above 0");
  }
  return absl::OkStatus();
}

Node::Node(Options options, LogStorage* log, HardState state)
    : options_(std::move(options)),
      log_(log),
      rng_(options_.seed ^ (static_cast<uint64_t>(options_.id) << 32)),
      term_(state.term),
      vote_(state.vote),
      commit_(log->StartIndex() - 1),
      // What the log holds when the node starts is what survived: it is on disk.
      durable_(log->LastIndex()),
      membership_(options_.membership) {
  absl::Status valid = options_.Validate();
  RUNNEL_CHECK(valid.ok(), "raft node options: %s", valid.ToString());
  // The hard state and the log are two files: a crash may keep entries of a term whose hard state
  // was not synced. No vote in that term was ever sent (a grant waits for its sync), so taking the
  // term with no vote is safe.
  if (LastTerm() > term_) {
    term_ = LastTerm();
    vote_ = kNoNode;
    hard_state_dirty_ = true;
  }
  RefreshMembership();
  ResetElectionTimeout();
}

// --- Roles
// ----------------------------------------------------------------------------------------

void Node::Reset(Term term) {
  if (term != term_) {
    RUNNEL_CHECK(term > term_, "node %d: term would go back from %d to %d", options_.id, term_,
                 term);
    term_ = term;
    vote_ = kNoNode;
    hard_state_dirty_ = true;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetElectionTimeout();
  votes_.clear();
  progress_.clear();
  transferee_ = kNoNode;
  pending_reads_.clear();
  uncommitted_.clear();
  uncommitted_bytes_ = 0;
}

void Node::ResetElectionTimeout() {
  randomized_election_timeout_ =
      options_.election_ticks +
      static_cast<int>(NextRandom(rng_) % static_cast<uint64_t>(options_.election_ticks));
}

void Node::BecomeFollower(Term term, NodeId leader) {
  Reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Node::BecomePreCandidate() {
  RUNNEL_CHECK(role_ != Role::kLeader, "node %d: a leader cannot pre-campaign", options_.id);
  // A pre-candidate keeps its term and vote: it only asks.
  votes_.clear();
  leader_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void Node::BecomeCandidate() {
  RUNNEL_CHECK(role_ != Role::kLeader, "node %d: a leader cannot campaign", options_.id);
  Reset(term_ + 1);
  vote_ = options_.id;
  hard_state_dirty_ = true;
  role_ = Role::kCandidate;
}

void Node::BecomeLeader() {
  RUNNEL_CHECK(role_ == Role::kCandidate, "node %d: only a candidate becomes leader (was %s)",
               options_.id, RoleName(role_));
  Reset(term_);
  role_ = Role::kLeader;
  leader_ = options_.id;
  for (NodeId id : membership_.Members()) {
    if (id == options_.id) continue;
    progress_.emplace(id, Progress(log_->LastIndex() + 1, options_.max_inflight));
  }
  // The leader's first entry commits its term: once it is committed, so is everything before it.
  Entry entry;
  entry.first = log_->LastIndex() + 1;
  entry.last = entry.first;
  entry.term = term_;
  entry.type = EntryType::kLeaderChange;
  term_start_ = entry.first;
  AppendToLog({entry});
  BroadcastAppend();
}

void Node::Campaign(bool pre, bool transfer) {
  Term vote_term;
  if (pre) {
    BecomePreCandidate();
    vote_term = term_ + 1;
    // A pre-vote for oneself needs no disk: nothing is promised.
    RecordVote(options_.id, true);
  } else {
    BecomeCandidate();
    vote_term = term_;
    // The vote for itself counts once it is on disk (Advance), or this node could vote again in
    // this term after a crash and two leaders could share it.
  }
  if (role_ == Role::kLeader || (!pre && role_ != Role::kCandidate)) return;
  if (pre && role_ != Role::kPreCandidate) return;  // won alone and moved on
  for (NodeId id : membership_.voters()) {
    if (id == options_.id) continue;
    Message m;
    m.type = pre ? MessageType::kPreVote : MessageType::kVote;
    m.to = id;
    m.term = vote_term;
    m.index = log_->LastIndex();
    m.log_term = LastTerm();
    m.transfer = transfer;
    Send(std::move(m));
  }
}

void Node::RecordVote(NodeId from, bool granted) {
  votes_.emplace(from, granted);
  VoteResult result = membership_.Tally([this](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    if (it == votes_.end()) return std::nullopt;
    return it->second;
  });
  if (result == VoteResult::kWon) {
    if (role_ == Role::kPreCandidate) {
      Campaign(/*pre=*/false, /*transfer=*/false);
    } else {
      BecomeLeader();
    }
  } else if (result == VoteResult::kLost) {
    BecomeFollower(term_, kNoNode);
  }
}

// --- Inputs
// ---------------------------------------------------------------------------------------

void Node::Tick() {
  if (role_ == Role::kLeader) {
    election_elapsed_++;
    if (election_elapsed_ >= options_.election_ticks) {
      election_elapsed_ = 0;
      if (options_.check_quorum) {
        if (!QuorumActive()) {
          BecomeFollower(term_, kNoNode);
          return;
        }
        for (auto& [id, progress] : progress_) progress.set_recent_active(false);
      }
      if (transferee_ != kNoNode) AbortTransfer();
    }
    if (++heartbeat_elapsed_ >= options_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      BroadcastHeartbeat();
    }
    return;
  }
  election_elapsed_++;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    Campaign(/*pre=*/options_.pre_vote, /*transfer=*/false);
  }
}

void Node::Step(const Message& m) {
  RUNNEL_CHECK(m.to == options_.id, "node %d: stepped a message for %d", options_.id, m.to);
  const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
  if (m.term > term_) {
    if (vote_request && options_.check_quorum && !m.transfer && leader_ != kNoNode &&
        election_elapsed_ < options_.election_ticks) {
      // The leader lease: this node heard from a leader within an election timeout, so the
      // candidate is the one cut off. Ignoring it keeps the leader in place.
      return;
    }
    if (m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResponse && !m.reject)) {
      // A pre-vote carries the term the candidate would take; a grant echoes it. Neither moves
      // this node's term.
    } else {
      const bool from_leader = m.type == MessageType::kAppend ||
                               m.type == MessageType::kHeartbeat ||
                               m.type == MessageType::kSnapshot;
      BecomeFollower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((options_.check_quorum || options_.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
      // A leader from an older term (cut off, then healed): tell it the term so it steps down.
      // Without this a node that ignores lower terms could leave it leading forever.
      Message response;
      response.type = MessageType::kAppendResponse;
      response.to = m.from;
      response.term = term_;
      Send(std::move(response));
    } else if (m.type == MessageType::kPreVote) {
      Message response;
      response.type = MessageType::kPreVoteResponse;
      response.to = m.from;
      response.term = term_;
      response.reject = true;
      Send(std::move(response));
    }
    return;
  }

  if (vote_request) {
    HandleVoteRequest(m);
    return;
  }
  switch (role_) {
    case Role::kFollower:
      StepFollower(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      StepCandidate(m);
      break;
    case Role::kLeader:
      StepLeader(m);
      break;
  }
}

void Node::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // Same term: only a node that has not voted and knows no leader (or voted for this very
  // candidate) may grant. A pre-vote for a later term may be granted regardless: it binds nothing.
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  // Raft's election restriction: the candidate's log is at least as up to date as ours.
  const Term last_term = LastTerm();
  const bool up_to_date =
      m.log_term > last_term || (m.log_term == last_term && m.index >= log_->LastIndex());
  Message response;
  response.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  response.to = m.from;
  if (can_vote && up_to_date) {
    response.term = m.term;
    if (pre) {
      Send(std::move(response));
    } else {
      election_elapsed_ = 0;
      vote_ = m.from;
      hard_state_dirty_ = true;
      // The grant goes out only once the vote is on disk.
      SendAfterSync(std::move(response));
    }
  } else {
    response.term = term_;
    response.reject = true;
    Send(std::move(response));
  }
}

void Node::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleAppend(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleHeartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleSnapshot(m);
      break;
    case MessageType::kTimeoutNow:
      if (Promotable()) Campaign(/*pre=*/false, /*transfer=*/true);
      break;
    default:
      break;  // answers to a role this node no longer has
  }
}

void Node::StepCandidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // A leader of this term exists: it won.
      BecomeFollower(m.term, m.from);
      StepFollower(m);
      break;
    case MessageType::kPreVoteResponse:
      if (role_ == Role::kPreCandidate) RecordVote(m.from, !m.reject);
      break;
    case MessageType::kVoteResponse:
      if (role_ == Role::kCandidate) RecordVote(m.from, !m.reject);
      break;
    default:
      break;
  }
}

void Node::StepLeader(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;  // not a member (any more)
  Progress& progress = it->second;
  switch (m.type) {
    case MessageType::kAppendResponse:
      progress.set_recent_active(true);
      HandleAppendResponse(m);
      break;
    case MessageType::kHeartbeatResponse:
      progress.set_recent_active(true);
      progress.HeartbeatAnswered();
      if (m.context != 0) ConfirmReads(m.from, m.context);
      if (progress.state() == Progress::State::kSnapshot &&
          progress.heartbeats_since_snapshot() * options_.heartbeat_ticks >=
              options_.election_ticks) {
        // An election timeout of answered heartbeats and no answer to the snapshot: it was lost.
        // Probe again; the probe finds what the follower needs (a new snapshot if still behind).
        progress.BecomeProbe();
      }
      // Behind: an append (empty if everything was sent) makes a follower whose appends were lost
      // reject, and the leader probes back to what it has.
      if (progress.match() < log_->LastIndex()) SendAppend(m.from, /*allow_empty=*/true);
      break;
    default:
      break;
  }
}

// --- Follower
// -------------------------------------------------------------------------------------

void Node::HandleAppend(const Message& m) {
  Message response;
  response.type = MessageType::kAppendResponse;
  response.to = m.from;
  response.term = term_;
  if (m.index < commit_) {
    // Everything up to commit_ is committed and therefore matches: say so.
    response.index = commit_;
    SendAfterSync(std::move(response));
    return;
  }
  const std::optional<Term> prev_term = log_->TermAt(m.index);
  if (!prev_term.has_value() || *prev_term != m.log_term) {
    response.index = m.index;
    response.reject = true;
    if (!prev_term.has_value()) {
      response.hint_index = log_->LastIndex() + 1;  // our log ends before m.index
    } else {
      response.hint_term = *prev_term;
      response.hint_index = log_->TermStart(m.index);
    }
    Send(std::move(response));
    return;
  }
  // Matched at m.index: by log matching, an entry of the same term covering m.index is the same
  // entry, so m.index ends an entry here too.
  RUNNEL_CHECK(m.index == log_->LastIndex() || log_->EntryStart(m.index + 1) == m.index + 1,
               "node %d: matched append prev %d is inside an entry", options_.id, m.index);
  // Skip what we already hold; the first entry we do not hold (or hold with another term) and
  // everything after it replace our tail.
  size_t keep = 0;
  Index expected_first = m.index + 1;
  for (const Entry& entry : m.entries) {
    RUNNEL_CHECK(entry.first == expected_first && entry.last >= entry.first,
                 "node %d: append from %d has entry [%d, %d] where %d was expected", options_.id,
                 m.from, entry.first, entry.last, expected_first);
    expected_first = entry.last + 1;
  }
  while (keep < m.entries.size()) {
    const Entry& entry = m.entries[keep];
    std::optional<Term> have = log_->TermAt(entry.first);
    if (!have.has_value() || *have != entry.term) break;
    RUNNEL_CHECK(
        log_->TermAt(entry.last) == entry.term && log_->EntryStart(entry.first) == entry.first,
        "node %d: entry [%d, %d] term %d differs in shape from ours", options_.id, entry.first,
        entry.last, entry.term);
    keep++;
  }
  if (keep < m.entries.size()) {
    const Index from = m.entries[keep].first;
    if (from <= log_->LastIndex()) TruncateLog(from - 1);
    AppendToLog(
        std::vector<Entry>(m.entries.begin() + static_cast<ptrdiff_t>(keep), m.entries.end()));
  }
  const Index last_new = m.entries.empty() ? m.index : m.entries.back().last;
  // Beyond last_new our log may hold entries of an older leader: only up to it is known to match.
  CommitTo(std::min(m.commit, last_new));
  response.index = last_new;
  SendAfterSync(std::move(response));
}

void Node::HandleHeartbeat(const Message& m) {
  // The leader sends at most our match as commit, so we hold those entries.
  CommitTo(std::min(m.commit, log_->LastIndex()));
  Message response;
  response.type = MessageType::kHeartbeatResponse;
  response.to = m.from;
  response.term = term_;
  response.context = m.context;
  Send(std::move(response));
}

void Node::HandleSnapshot(const Message& m) {
  Message response;
  response.type = MessageType::kAppendResponse;
  response.to = m.from;
  response.term = term_;
  if (m.index <= commit_) {
    response.index = commit_;
    SendAfterSync(std::move(response));
    return;
  }
  if (log_->TermAt(m.index) == m.log_term) {
    // We hold the snapshot's last entry: everything up to it matches and is committed.
    CommitTo(m.index);
  } else {
    log_->ResetTo(m.index, m.log_term, m.data, m.config);
    RefreshMembership();
    // Until the reset is synced, a crash brings back the old log: nothing is known durable.
    durable_ = kNoIndex;
    if (ready_in_flight_) in_flight_floor_ = kNoIndex;
    log_dirty_ = true;
    commit_ = m.index;
    Ready::Snapshot snapshot;
    snapshot.index = m.index;
    snapshot.term = m.log_term;
    snapshot.data = m.data;
    snapshot_ = std::move(snapshot);
  }
  response.index = m.index;
  SendAfterSync(std::move(response));
}

// --- Leader
// ---------------------------------------------------------------------------------------

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

void Node::CommitTo(Index index) {
  if (index <= commit_) return;
  RUNNEL_CHECK(index <= log_->LastIndex(), "node %d: commit %d beyond the log's last index %d",
               options_.id, index, log_->LastIndex());
  commit_ = index;
  while (!uncommitted_.empty() && uncommitted_.front().first <= commit_) {
    uncommitted_bytes_ -= uncommitted_.front().second;
    uncommitted_.pop_front();
  }
  MaybeStepDownAfterRemoval();
}

bool Node::QuorumActive() const {
  return membership_.Tally([this](NodeId id) -> std::optional<bool> {
    if (id == options_.id) return true;
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.recent_active()) return true;
    return std::nullopt;
  }) == VoteResult::kWon;
}

absl::StatusOr<Proposal> Node::Propose(std::string data, int64_t count) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "node %d is not the leader of term %d (leader: %d)", options_.id, term_, leader_));
  }
  if (transferee_ != kNoNode) {
    return absl::UnavailableError(
        absl::StrFormat("leadership is being transferred to node %d", transferee_));
  }
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
  AppendToLog({std::move(entry)});
  uncommitted_.emplace_back(proposal.last, bytes);
  uncommitted_bytes_ += bytes;
  BroadcastAppend();
  return proposal;
}

absl::Status Node::RequestRead(uint64_t id) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "node %d is not the leader of term %d (leader: %d)", options_.id, term_, leader_));
  }
  RUNNEL_CHECK(id != 0 && (pending_reads_.empty() || id > pending_reads_.back().id),
               "node %d: read ids must grow and not be 0 (got %d)", options_.id, id);
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
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "node %d is not the leader of term %d (leader: %d)", options_.id, term_, leader_));
  }
  if (transferee_ != kNoNode) {
    return absl::UnavailableError(
        absl::StrFormat("leadership is being transferred to node %d", transferee_));
  }
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
  AppendToLog({std::move(entry)});
  BroadcastAppend();
  return proposal;
}

void Node::RefreshMembership() {
  Membership next = options_.membership;
  Index index = kNoIndex;
  if (std::optional<LogStorage::ConfigRecord> last = log_->LastConfig(); last.has_value()) {
    absl::StatusOr<Membership> decoded = Membership::Decode(last->data);
    RUNNEL_CHECK(decoded.ok(), "node %d: the configuration at %d does not decode: %s", options_.id,
                 last->index, decoded.status().ToString());
    next = *std::move(decoded);
    index = last->index;
  }
  config_index_ = index;
  if (next == membership_) return;
  membership_ = std::move(next);
  if (role_ != Role::kLeader) return;
  for (NodeId id : membership_.Members()) {
    if (id != options_.id && !progress_.contains(id)) {
      progress_.emplace(id, Progress(log_->LastIndex() + 1, options_.max_inflight));
    }
  }
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = membership_.IsMember(it->first) ? std::next(it) : progress_.erase(it);
  }
  if (transferee_ != kNoNode && !membership_.IsVoter(transferee_)) AbortTransfer();
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
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrFormat("node %d is not the leader (leader: %d)", options_.id, leader_));
  }
  if (to == options_.id) return absl::OkStatus();
  if (!membership_.IsVoter(to)) {
    return absl::InvalidArgumentError(absl::StrFormat("node %d is not a voter", to));
  }
  transferee_ = to;
  election_elapsed_ = 0;  // the transfer gets one election timeout
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

// --- Log and outputs
// ------------------------------------------------------------------------------

void Node::AppendToLog(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  RUNNEL_CHECK(entries.front().first == log_->LastIndex() + 1,
               "node %d: appending at %d after last index %d", options_.id, entries.front().first,
               log_->LastIndex());
  RUNNEL_CHECK(entries.front().term >= LastTerm(), "node %d: appending term %d after term %d",
               options_.id, entries.front().term, LastTerm());
  log_->Append(entries);
  log_dirty_ = true;
  for (const Entry& entry : entries) {
    if (entry.type == EntryType::kConfig) {
      RefreshMembership();
      break;
    }
  }
}

void Node::TruncateLog(Index after) {
  // Committed entries are on a quorum and every later leader has them: removing one would lose
  // an acknowledged write.
  RUNNEL_CHECK(after >= commit_, "node %d: truncating after %d, below the commit index %d",
               options_.id, after, commit_);
  log_->TruncateAfter(after);
  if (config_index_ > after) RefreshMembership();  // the change was removed with the tail
  durable_ = std::min(durable_, after);
  if (ready_in_flight_) in_flight_floor_ = std::min(in_flight_floor_, after);
  log_dirty_ = true;
}

Term Node::LastTerm() const { return *log_->TermAt(log_->LastIndex()); }

void Node::Send(Message m) {
  m.from = options_.id;
  messages_.push_back(std::move(m));
}

void Node::SendAfterSync(Message m) {
  m.from = options_.id;
  after_sync_.push_back(std::move(m));
}

std::vector<Message> Node::TakeMessages() { return std::exchange(messages_, {}); }

bool Node::HasReady() const {
  return !ready_in_flight_ &&
         (hard_state_dirty_ || log_dirty_ || snapshot_.has_value() || !after_sync_.empty());
}

Ready Node::TakeReady() {
  RUNNEL_CHECK(!ready_in_flight_, "node %d: a persistence round is already out", options_.id);
  Ready ready;
  if (hard_state_dirty_) {
    ready.hard_state = HardState{term_, vote_};
    hard_state_dirty_ = false;
  }
  ready.sync = log_dirty_ || ready.hard_state.has_value() || snapshot_.has_value();
  log_dirty_ = false;
  ready.snapshot = std::exchange(snapshot_, std::nullopt);
  ready.messages = std::exchange(after_sync_, {});
  ready_in_flight_ = true;
  in_flight_last_ = log_->LastIndex();
  in_flight_floor_ = kNoFloor;
  in_flight_self_vote_ =
      (ready.hard_state.has_value() && role_ == Role::kCandidate && vote_ == options_.id) ? term_
                                                                                          : 0;
  return ready;
}

void Node::Advance() {
  RUNNEL_CHECK(ready_in_flight_, "node %d: Advance without a persistence round", options_.id);
  ready_in_flight_ = false;
  durable_ = std::max(durable_, std::min(in_flight_last_, in_flight_floor_));
  RUNNEL_CHECK(durable_ <= log_->LastIndex(), "node %d: durable %d beyond the log's last %d",
               options_.id, durable_, log_->LastIndex());
  if (in_flight_self_vote_ != 0 && in_flight_self_vote_ == term_ && role_ == Role::kCandidate) {
    RecordVote(options_.id, true);
  }
  if (role_ == Role::kLeader && MaybeCommit()) BroadcastAppend();
}

}  // namespace runnel::raft
