// Node: one member of one Raft group, as a pure state machine (etcd's raft.go shape). No threads,
// sockets or clock inside: the driver that owns it feeds it messages (Step), timer ticks (Tick) and
// proposals (Propose), changes the log through the LogStorage it was given, and carries out what
// the node asks:
//
//   - TakeMessages(): messages that promise nothing about this node's disk (a leader's appends and
//     heartbeats, vote requests, rejections) — send them at once, in any order.
//   - TakeReady() / Advance(): a persistence round. Write the Ready's hard state, sync it and the
//     log (when `sync`), install its snapshot, then send its messages (vote grants and append
//     acknowledgements: promises that must survive a crash) and call Advance(). One round at a
//     time; Step, Tick and Propose may be called while it runs, and what they need persisted waits
//     for the next round — so one sync covers every append that arrived meanwhile (group commit).
//
// Safety rules the node asserts (RUNNEL_CHECK) rather than hopes for: the log is never truncated at
// or below the commit index; the commit index only grows and only past entries the log has; a
// leader commits by counting replicas only for an entry of its own term (Raft's figure 8); a vote
// and the term it was given in reach the disk before the grant is sent; a leader counts its own
// log only up to what it has synced.
//
// Thread-safety: none; the driver calls a node from one thread (or strand) at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/membership.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace runnel::raft {

struct Options {
  NodeId id = kNoNode;
  Membership membership;
  // A follower that hears no leader for a random number of ticks in [election_ticks,
  // 2 * election_ticks) campaigns; a leader heartbeats every heartbeat_ticks.
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // Per follower: unanswered appends in flight, and the data one append carries (at least one
  // entry is sent whatever its size).
  int max_inflight = 64;
  int64_t max_append_bytes = 1 << 20;
  // Proposed but uncommitted data a leader accepts before refusing proposals.
  int64_t max_uncommitted_bytes = 64 << 20;
  // Pre-vote: a node asks whether it could win before it raises its term, so a node cut off and
  // back does not depose a healthy leader. Check-quorum: a leader that has not heard from a quorum
  // within an election timeout steps down, and followers that heard from a leader within one
  // ignore vote requests (the leader lease).
  bool pre_vote = true;
  bool check_quorum = true;
  // The node lost its state (its disk was wiped): it may have voted and acknowledged entries it
  // no longer has, so its vote could elect a candidate that misses entries its lost copy helped
  // commit. Until it is caught up — an append matched its log to the leader's whole commit index
  // (appends carry it; heartbeats cap it), that index holds an entry of the leader's term (so
  // every entry committed earlier is below it), and the log is synced that far — it grants votes
  // (and pre-votes) only to candidates whose log is empty, and campaigns only while its own log
  // is empty (so a new group whose members all count as catching up still elects a leader). The
  // driver persists the flag (catching_up()).
  bool catching_up = false;
  // Directory ids (Kafka's KIP-853 voter directories), for a group whose state machine records
  // each voter's data directory (the metadata log: a broker's registration carries it). A vote
  // request carries the directory the candidate's state records for the receiver
  // (`recorded_directory`, "" when it records none); a receiver whose own `directory_id` is
  // another refuses it: its directory was wiped since the candidate's state was written, so it
  // may have acknowledged entries the candidate misses. Once its new directory is recorded (it
  // registered again through a leader) candidates knowing that vote it again. Empty or unset:
  // not checked. Unlike `catching_up` this needs no marker and leaves a new group's first
  // election alone (nothing is recorded yet).
  std::string directory_id;
  std::function<std::string(NodeId)> recorded_directory;
  // Seeds the randomised election timeout (a simulation passes its own; a broker any value).
  uint64_t seed = 0;

  absl::Status Validate() const;
};

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

struct Ready {
  std::optional<HardState> hard_state;  // write it (before the sync)
  bool sync = false;                    // sync the hard state and the log
  // A snapshot to install into the state machine (the log was reset to start after `index`).
  struct Snapshot {
    Index index = kNoIndex;
    Term term = 0;
    std::string data;
  };
  std::optional<Snapshot> snapshot;
  std::vector<Message> messages;  // send once the above is durable
};

// Where a proposal landed: it is committed once commit_index() >= last while the log still holds
// `term` at `last` (a later leader may have replaced it).
struct Proposal {
  Index first = 0;
  Index last = 0;
  Term term = 0;
};

class Node {
 public:
  // `log` is borrowed and must outlive the node; `state` is what the disk holds (HardState{} for
  // a new node). A restarted node is a new Node over what the log shows, which may include data
  // not yet synced (a process restart keeps the page cache): its first Ready syncs it before
  // anything in it is acknowledged or counted.
  Node(Options options, LogStorage* log, HardState state);

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // One timer tick (the driver decides how long a tick is; the broker uses 100 ms).
  void Tick();
  // A message addressed to this node (taken: an append's entries move into the log).
  void Step(Message message);
  // Appends `data`, covering `count` offsets, as the leader. FailedPrecondition when this node
  // is not the leader (naming the leader it knows), Unavailable during a leadership transfer,
  // ResourceExhausted past max_uncommitted_bytes.
  absl::StatusOr<Proposal> Propose(std::string data, int64_t count = 1);
  // As the leader, appends a membership change (a kConfig entry, in force on each node as soon as
  // it is appended). One at a time and one voter at a time (Membership::CheckSingleStep); refused
  // until this leader has committed an entry of its own term and while an earlier change is
  // uncommitted. Add a replica as a learner, let it catch up (progress()), then promote it. A
  // leader that removes itself leads until the change commits, then hands over and steps down.
  absl::StatusOr<Proposal> ProposeMembership(const Membership& next);
  // As the leader, hands leadership to voter `to` once its log has caught up (TimeoutNow);
  // proposals are refused meanwhile, and the transfer is abandoned after an election timeout.
  absl::Status TransferLeadership(NodeId to);

  // ReadIndex (Raft thesis 6.4): as the leader, asks a quorum whether it still leads; the answer
  // comes out of TakeReadStates() as {id, the commit index at the time of asking}. No log entry is
  // written. Refused (Unavailable) before this leader has committed an entry of its term, and
  // FailedPrecondition on a follower (naming the leader, to which the driver forwards). Reads
  // still waiting are dropped when the node stops leading; the driver asks again.
  absl::Status RequestRead(uint64_t id);
  std::vector<ReadState> TakeReadStates();

  std::vector<Message> TakeMessages();
  bool HasReady() const;
  Ready TakeReady();
  void Advance();

  NodeId id() const { return options_.id; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  Role role() const { return role_; }
  NodeId leader() const { return leader_; }
  // Entries up to here are committed: the driver may apply them, reading them from the log. When
  // what it applied is below the log's start (a snapshot was installed), it first installs the
  // log's SnapshotData(), the state at StartIndex() - 1.
  Index commit_index() const { return commit_; }
  // As leader: the index of this term's first entry (its leader-change entry); once it is
  // committed, so is everything the log held before it. kNoIndex otherwise.
  Index term_start() const { return role_ == Role::kLeader ? term_start_ : kNoIndex; }
  // The log is synced up to here.
  Index durable_index() const { return durable_; }
  // The membership in force: the last kConfig entry in the log (or the log start's, or the
  // initial one in Options).
  const Membership& membership() const { return membership_; }
  Index config_index() const { return config_index_; }
  // The leader's view of a follower (nullptr when not leader or not a member).
  const Progress* progress(NodeId id) const;
  NodeId transferee() const { return transferee_; }
  // Options::catching_up, until the node has caught up (it never turns true again).
  bool catching_up() const { return catching_up_; }

 private:
  void Reset(Term term);
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Campaign(bool pre, bool transfer);
  bool Promotable() const {
    return membership_.IsVoter(options_.id) && (!catching_up_ || LastTerm() == 0);
  }
  // Ends catching up once the log is synced up to a commit index of an entry of this term.
  void MaybeFinishCatchingUp();
  void RefreshMembership();
  void MaybeStepDownAfterRemoval();
  void ResetElectionTimeout();

  // The handlers of a message to a follower may take its entries.
  void StepFollower(Message& m);
  void StepCandidate(Message& m);
  void StepLeader(const Message& m);
  void HandleVoteRequest(const Message& m);
  void HandleAppend(Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(const Message& m);
  void HandleAppendResponse(const Message& m);
  void RecordVote(NodeId from, bool granted);

  bool SendAppend(NodeId to, bool allow_empty);
  void SendSnapshot(NodeId to, Progress& progress);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  bool MaybeCommit();
  void CommitTo(Index index);
  Index NextFromHint(const Message& m) const;
  bool QuorumActive() const;
  // FailedPrecondition naming the leader unless this node leads; CheckCanPropose also refuses
  // (Unavailable) during a leadership transfer.
  absl::Status CheckLeader() const;
  absl::Status CheckCanPropose() const;
  void ConfirmReads(NodeId from, uint64_t context);
  void AbortTransfer();

  void AppendToLog(std::vector<Entry> entries);
  void TruncateLog(Index after);
  Term LastTerm() const;

  // Sends now / after the next persistence round.
  void Send(Message m);
  void SendAfterSync(Message m);

  Options options_;
  LogStorage* const log_;
  uint64_t rng_;

  Term term_;
  NodeId vote_;
  Role role_ = Role::kFollower;
  NodeId leader_ = kNoNode;
  Index commit_;
  Index durable_;
  Membership membership_;
  Index config_index_ = kNoIndex;
  Index term_start_ = kNoIndex;  // as leader: the index of this term's first entry
  bool catching_up_ = false;
  // While catching up: a leader's commit index, of its own term, that the log matched (an append
  // reached it); caught up once the log is synced that far.
  Index caught_up_at_ = kNoIndex;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;
  NodeId transferee_ = kNoNode;
  int transfer_elapsed_ = 0;  // ticks since the transfer to transferee_ began
  // Reads asked and not yet confirmed by a quorum, oldest (lowest id) first.
  struct PendingRead {
    uint64_t id;
    Index index;
    std::set<NodeId> acks;
  };
  std::deque<PendingRead> pending_reads_;
  uint64_t last_read_id_ = 0;  // the highest read id asked in this term
  std::vector<ReadState> read_states_;
  // This leader's proposals not yet committed: (last index, bytes), oldest first.
  std::deque<std::pair<Index, int64_t>> uncommitted_;
  int64_t uncommitted_bytes_ = 0;

  // Outputs.
  std::vector<Message> messages_;
  std::vector<Message> after_sync_;
  bool hard_state_dirty_ = false;
  bool log_dirty_ = false;
  std::optional<Ready::Snapshot> snapshot_;
  // The persistence round handed out and not yet advanced.
  bool ready_in_flight_ = false;
  Index in_flight_last_ = kNoIndex;   // the log's last index when the round was taken
  Index in_flight_floor_ = kNoIndex;  // the lowest truncation since then (INT64_MAX: none)
  Term in_flight_self_vote_ = 0;      // the round persists this candidate's vote for itself
};

}  // namespace runnel::raft
