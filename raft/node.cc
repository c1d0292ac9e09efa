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
      // What the log shows at start may be only in the page cache (the process died, the machine
      // did not): nothing past the start is counted or acknowledged before the first sync.
      durable_(log->StartIndex() - 1),
      membership_(options_.membership),
      catching_up_(options_.catching_up) {
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
  log_dirty_ = log_->LastIndex() >= log_->StartIndex();
  RefreshMembership();
  ResetElectionTimeout();
}

// --- Roles ---

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
  last_read_id_ = 0;
  transfer_elapsed_ = 0;
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
    if (options_.recorded_directory) m.voter_directory = options_.recorded_directory(id);
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

// --- Inputs ---

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
    }
    if (transferee_ != kNoNode && ++transfer_elapsed_ >= options_.election_ticks) AbortTransfer();
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

void Node::Step(Message m) {
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
  // A node that lost its state cannot tell which entries it helped commit: only a candidate with
  // nothing at all (a new group's) gets its vote.
  const bool may_vote_for = !catching_up_ || m.log_term == 0;
  // A candidate whose state knows this node under another directory predates its wipe.
  const bool same_directory = m.voter_directory.empty() || options_.directory_id.empty() ||
                              m.voter_directory == options_.directory_id;
  Message response;
  response.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  response.to = m.from;
  if (can_vote && up_to_date && may_vote_for && same_directory) {
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

void Node::StepFollower(Message& m) {
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

void Node::StepCandidate(Message& m) {
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
      if (m.index < progress.match()) {
        // The follower's log ends below what it acknowledged: its disk was wiped or lost synced
        // data. Nothing it said still holds; probe from what it has. (A late answer sent before
        // an acknowledgement looks the same and costs one probe.)
        Index next = std::min(m.index + 1, log_->LastIndex() + 1);
        if (next >= log_->StartIndex() && next <= log_->LastIndex()) next = log_->EntryStart(next);
        progress.ForgetMatch(next - 1);
      }
      // Behind: an append (empty if everything was sent) makes a follower whose appends were lost
      // reject, and the leader probes back to what it has.
      if (progress.match() < log_->LastIndex()) SendAppend(m.from, /*allow_empty=*/true);
      break;
    default:
      break;
  }
}

// --- Follower ---

void Node::HandleAppend(Message& m) {
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
  const Index last_new = m.entries.empty() ? m.index : m.entries.back().last;
  if (keep < m.entries.size()) {
    const Index from = m.entries[keep].first;
    if (from <= log_->LastIndex()) TruncateLog(from - 1);
    m.entries.erase(m.entries.begin(), m.entries.begin() + static_cast<ptrdiff_t>(keep));
    AppendToLog(std::move(m.entries));
  }
  if (catching_up_ && last_new >= m.commit && m.commit >= log_->StartIndex() &&
      log_->TermAt(m.commit) == std::optional<Term>(term_)) {
    // The leader's whole commit index (appends carry it uncapped), past an entry of its own term:
    // every entry committed before this node lost its state is at or below it, and our log now
    // matches the leader's up to it.
    caught_up_at_ = std::max(caught_up_at_, m.commit);
  }
  // Beyond last_new our log may hold entries of an older leader: only up to it is known to match.
  CommitTo(std::min(m.commit, last_new));
  response.index = last_new;
  SendAfterSync(std::move(response));
}

void Node::HandleHeartbeat(const Message& m) {
  if (catching_up_ && m.commit == m.index && m.commit >= log_->StartIndex() &&
      m.commit <= log_->LastIndex() && log_->TermAt(m.commit) == std::optional<Term>(term_)) {
    // The leader's whole commit index (m.index) is not capped here: we hold it, and an entry of
    // this term there is this term's leader's, so our log matches the leader's up to it.
    caught_up_at_ = std::max(caught_up_at_, m.commit);
  }
  // The leader sends at most our match as commit, so we hold those entries.
  CommitTo(std::min(m.commit, log_->LastIndex()));
  Message response;
  response.type = MessageType::kHeartbeatResponse;
  response.to = m.from;
  response.term = term_;
  response.context = m.context;
  response.index = log_->LastIndex();  // lets a leader see a log that lost what it acknowledged
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

void Node::CommitTo(Index index) {
  if (index <= commit_) return;
  RUNNEL_CHECK(index <= log_->LastIndex(), "node %d: commit %d beyond the log's last index %d",
               options_.id, index, log_->LastIndex());
  commit_ = index;
  while (!uncommitted_.empty() && uncommitted_.front().first <= commit_) {
    uncommitted_bytes_ -= uncommitted_.front().second;
    uncommitted_.pop_front();
  }
  MaybeFinishCatchingUp();
  MaybeStepDownAfterRemoval();
}

void Node::MaybeFinishCatchingUp() {
  if (!catching_up_) return;
  if (role_ == Role::kLeader && commit_ >= log_->StartIndex() &&
      log_->TermAt(commit_) == std::optional<Term>(term_)) {
    caught_up_at_ = std::max(caught_up_at_, commit_);  // a new group's first leader
  }
  if (caught_up_at_ != kNoIndex && durable_ >= caught_up_at_) catching_up_ = false;
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
      auto [it, inserted] =
          progress_.emplace(id, Progress(log_->LastIndex() + 1, options_.max_inflight));
      // A new member has an election timeout to answer before check-quorum counts it silent.
      it->second.set_recent_active(true);
    }
  }
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = membership_.IsMember(it->first) ? std::next(it) : progress_.erase(it);
  }
  if (transferee_ != kNoNode && !membership_.IsVoter(transferee_)) AbortTransfer();
}

// --- Log and outputs ---

void Node::AppendToLog(std::vector<Entry> entries) {
  if (entries.empty()) return;
  RUNNEL_CHECK(entries.front().first == log_->LastIndex() + 1,
               "node %d: appending at %d after last index %d", options_.id, entries.front().first,
               log_->LastIndex());
  RUNNEL_CHECK(entries.front().term >= LastTerm(), "node %d: appending term %d after term %d",
               options_.id, entries.front().term, LastTerm());
  const bool config = std::any_of(entries.begin(), entries.end(), [](const Entry& entry) {
    return entry.type == EntryType::kConfig;
  });
  log_->Append(std::move(entries));
  log_dirty_ = true;
  if (config) RefreshMembership();
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
  MaybeFinishCatchingUp();
  if (role_ == Role::kLeader && MaybeCommit()) BroadcastAppend();
}

}  // namespace runnel::raft
