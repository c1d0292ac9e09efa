#include "tests/raft/sim/simulation.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "raft/node.h"
#include "tests/raft/sim/history.h"
#include "tests/raft/sim/sim_disk.h"

namespace runnel::raft::sim {
namespace {

std::string DescribeMessage(const Message& m) {
  std::string out = absl::StrFormat("%d->%d %s t%d idx=%d lt=%d", m.from, m.to,
                                    MessageTypeName(m.type), m.term, m.index, m.log_term);
  if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) {
    absl::StrAppend(&out, " commit=", m.commit);
  }
  if (!m.entries.empty()) {
    absl::StrAppend(
        &out, absl::StrFormat(" entries=[%d..%d]", m.entries.front().first, m.entries.back().last));
  }
  if (m.reject)
    absl::StrAppend(&out, absl::StrFormat(" reject hint=%d/t%d", m.hint_index, m.hint_term));
  return out;
}

class Simulation {
 public:
  explicit Simulation(const SimConfig& config) : config_(config), rng_(config.seed) {
    n_ = config.nodes > 0 ? config.nodes : (Draw(0, 1) == 0 ? 3 : 5);
    drop_rate_ = Uniform() * 0.2;
    duplicate_rate_ = Uniform() * 0.05;
    max_delay_ = static_cast<int>(Draw(2, 40));
    max_sync_latency_ = static_cast<int>(Draw(1, 20));
    crash_rate_ = Uniform() * 0.003;
    // Leaders are where the hard cases start (entries of a term on a minority, then a new term):
    // crash them more often than anyone.
    leader_crash_rate_ = Uniform() * 0.01;
    // Small appends split a term's entries over many messages; a one-slot pipeline and a long one
    // exercise flow control's two ends.
    constexpr int64_t kAppendBytes[] = {1, 8, 64, 1024};
    max_append_bytes_ = kAppendBytes[Draw(0, 3)];
    constexpr int kInflight[] = {1, 4, 32};
    max_inflight_ = kInflight[Draw(0, 2)];
    partition_rate_ = Uniform() * 0.01;
    propose_rate_ = 0.02 + Uniform() * 0.1;
    compact_rate_ = Uniform() * 0.003;
    transfer_rate_ = Uniform() * 0.0008;
    max_restart_delay_ = 400;
    sync_crash_rate_ = Uniform() * 0.05;
    // A third of the seeds churn: leaders crash soon after they are elected and come back fast,
    // with one entry per append, so entries of many terms sit on minorities at the same offsets
    // (the raw material of Raft's figure 8).
    if (Draw(0, 2) == 0) {
      leader_crash_rate_ = 0.01 + Uniform() * 0.04;
      crash_rate_ = Uniform() * 0.01;
      max_restart_delay_ = 100;
      max_append_bytes_ = 1;
    }
    // Five-node seeds start half the time with three voters: the others join through membership
    // changes (as learners first, or straight as voters).
    const int initial_voters = (n_ == 5 && Draw(0, 1) == 0) ? 3 : n_;
    std::set<NodeId> voters;
    for (int i = 1; i <= initial_voters; ++i) voters.insert(i);
    membership_ = Membership(voters);
    config_change_rate_ = Uniform() * 0.004;
    read_rate_ = Uniform() * 0.2;
    for (int i = 1; i <= n_; ++i) {
      auto node = std::make_unique<SimNode>();
      node->id = i;
      node->tick_period = static_cast<int>(Draw(8, 13));  // clock skew between nodes
      nodes_.push_back(std::move(node));
    }
    for (auto& node : nodes_) Start(*node);
    Trace(absl::StrFormat(
        "seed %d: %d nodes, drop %.3f, duplicate %.3f, delay <= %d, sync <= %d, crash %.4f, "
        "leader crash %.4f, crash in sync %.4f, partition %.4f, propose %.3f, compact %.4f, "
        "transfer %.4f, append "
        "bytes %d, inflight %d",
        config.seed, n_, drop_rate_, duplicate_rate_, max_delay_, max_sync_latency_, crash_rate_,
        leader_crash_rate_, sync_crash_rate_, partition_rate_, propose_rate_, compact_rate_,
        transfer_rate_, max_append_bytes_, max_inflight_));
  }

  SimResult Run() {
    const int64_t commit_deadline = config_.fault_time + config_.liveness_time;
    const int64_t end = commit_deadline + config_.catch_up_time;
    for (now_ = 0; now_ < end && status_.ok(); ++now_) {
      if (now_ < config_.fault_time) {
        InjectFaults();
      } else if (now_ == config_.fault_time) {
        StopFaults();
      }
      DeliverDue();
      CompleteRounds();
      TickDue();
      if (now_ < config_.fault_time && Uniform() < propose_rate_) ProposeSomewhere(/*final=*/false);
      if (now_ < config_.fault_time && Uniform() < read_rate_) RequestRead();
      if (now_ >= config_.fault_time && status_.ok() && Live()) break;
      if (now_ == commit_deadline && !final_acked_) break;
    }
    if (status_.ok() && !final_acked_) {
      Fail(absl::StrFormat("liveness: %d time units after the faults stopped, %s",
                           config_.liveness_time,
                           final_proposal_.has_value() ? "no write proposed since is committed"
                                                       : "no leader accepted a write"));
    } else if (status_.ok() && !final_applied_everywhere_) {
      Fail(
          absl::StrFormat("liveness: %d time units after a write committed, not every member "
                          "has applied it, or a read asked of a node still leading is unanswered",
                          config_.catch_up_time));
    }
    if (status_.ok()) FinalCheck();
    result_.status = status_;
    result_.end_time = now_;
    result_.committed_entries = history_.entries();
    result_.acknowledged_writes = static_cast<int64_t>(acked_.size());
    result_.leaders = history_.leaders();
    return result_;
  }

 private:
  struct SimNode {
    NodeId id = kNoNode;
    SimDisk disk;
    std::unique_ptr<Node> node;
    int incarnation = 0;
    int64_t restart_at = 0;
    int tick_period = 10;
    int64_t next_tick = 0;
    // The persistence round in flight.
    bool round = false;
    bool crash_in_sync = false;        // the node crashes when the round's sync would complete
    bool page_cache_survived = false;  // the last crash was the process's only
    int64_t power_loss_at = std::numeric_limits<int64_t>::max();
    Ready ready;
    SimDisk::SyncPoint sync_point;
    int64_t round_done = 0;
    // The state machine: applied through `applied`, whose hash chain is `state`.
    Index applied = kNoIndex;
    uint64_t state = History::kStartState;
    Role last_role = Role::kFollower;
    Term last_term = 0;
  };
  struct InFlight {
    int64_t at;
    uint64_t sequence;
    Message message;
    bool operator>(const InFlight& o) const {
      return at != o.at ? at > o.at : sequence > o.sequence;
    }
  };
  struct PendingRead {
    NodeId node;
    int incarnation;
    Term term;
    Index must_see;
  };
  struct ProposalRecord {
    NodeId node;
    int incarnation;
    std::string value;
  };

  // --- Randomness (all from the seed) ---
  int64_t Draw(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  void Trace(const std::string& line) {
    if (config_.trace)
      std::fprintf(stderr, "[t=%lld] %s\n", static_cast<long long>(now_), line.c_str());
  }
  void Fail(const std::string& what) {
    if (!status_.ok()) return;
    status_ =
        absl::InternalError(absl::StrFormat("seed %d, time %d: %s", config_.seed, now_, what));
    Trace("VIOLATION: " + what);
  }

  void Check(const absl::Status& status) {
    if (!status.ok()) Fail(std::string(status.message()));
  }

  // --- Nodes ---
  void Start(SimNode& n) {
    Options options;
    options.id = n.id;
    options.membership = membership_;
    options.election_ticks = 10;
    options.heartbeat_ticks = 2;
    options.max_inflight = max_inflight_;
    options.max_append_bytes = max_append_bytes_;
    options.max_uncommitted_bytes = 4096;
    options.seed = config_.seed * 1000003 + static_cast<uint64_t>(n.id) * 101 +
                   static_cast<uint64_t>(n.incarnation);
    n.node = std::make_unique<Node>(options, &n.disk, n.disk.hard_state());
    n.round = false;
    n.applied = n.disk.StartIndex() - 1;
    n.state = History::StateFromSnapshot(n.disk.SnapshotData());
    Check(history_.CheckState(n.id, n.applied, n.state));
    n.next_tick = now_ + n.tick_period;
    n.last_role = Role::kFollower;
    n.last_term = n.node->term();
    Trace(absl::StrFormat("n%d starts: term %d vote %d log [%d, %d]", n.id, n.node->term(),
                          n.node->vote(), n.disk.StartIndex(), n.disk.LastIndex()));
  }

  bool Up(const SimNode& n) const { return n.node != nullptr; }

  // A power loss loses what was not synced; a process crash (power == false) keeps the page
  // cache: the restarted node sees unsynced data, which a later power loss may still take.
  void Crash(SimNode& n, bool power) {
    Trace(absl::StrFormat("n%d %s (durable log [%d, %d])", n.id,
                          power ? "loses power: unsynced work lost" : "process dies",
                          n.disk.durable_log().StartIndex(), n.disk.durable_log().LastIndex()));
    n.node.reset();
    n.round = false;
    if (power) n.disk.Crash(rng_);
    n.page_cache_survived = !power;
    n.power_loss_at = std::numeric_limits<int64_t>::max();
    n.incarnation++;
    n.restart_at = now_ + Draw(5, max_restart_delay_);
    result_.crashes++;
  }

  // Hands a node's outputs to the network and the disk, then applies what it committed.
  void Pump(SimNode& n) {
    for (int rounds = 0; Up(n); ++rounds) {
      for (Message& m : n.node->TakeMessages()) Send(std::move(m));
      if (!n.round && n.node->HasReady()) {
        n.ready = n.node->TakeReady();
        if (n.ready.hard_state.has_value()) n.disk.WriteHardState(*n.ready.hard_state);
        n.sync_point = n.disk.MarkSync();
        n.round = true;
        n.round_done = now_ + (n.ready.sync ? Draw(1, max_sync_latency_) : 0);
        // Power fails while the disk syncs: nothing of the round is promised yet, so losing it
        // must be harmless (a vote granted or an append acknowledged early would not be).
        n.crash_in_sync = n.ready.sync && !faults_stopped_ && Uniform() < sync_crash_rate_;
      }
      if (n.round && n.round_done <= now_ && !n.crash_in_sync && rounds < 8) {
        CompleteRound(n);
        continue;
      }
      break;
    }
    if (Up(n)) {
      Apply(n);
      ObserveRole(n);
      CheckReads(n);
    }
  }

  void CompleteRound(SimNode& n) {
    n.disk.CompleteSync(n.sync_point);
    n.round = false;
    if (n.ready.snapshot.has_value()) {
      // Apply() installed it already (it found its applied index below the log start).
      result_.snapshots_installed++;
      Trace(absl::StrFormat("n%d's snapshot through %d (term %d) is durable", n.id,
                            n.ready.snapshot->index, n.ready.snapshot->term));
    }
    for (Message& m : n.ready.messages) Send(std::move(m));
    n.ready = Ready();
    n.node->Advance();
  }

  void ObserveRole(SimNode& n) {
    const Role role = n.node->role();
    const Term term = n.node->term();
    if (role == n.last_role && term == n.last_term) return;
    n.last_role = role;
    n.last_term = term;
    Trace(absl::StrFormat("n%d is %s in term %d", n.id, RoleName(role), term));
    if (role != Role::kLeader) return;
    Check(history_.BecameLeader(n.id, term, n.disk));
  }

  // --- The state machine and the history ---
  void Apply(SimNode& n) {
    const Index commit = n.node->commit_index();
    if (n.applied < n.disk.StartIndex() - 1) {
      // The log was reset to a snapshot: its state replaces what was applied.
      n.applied = n.disk.StartIndex() - 1;
      n.state = History::StateFromSnapshot(n.disk.SnapshotData());
      Check(history_.CheckState(n.id, n.applied, n.state));
    }
    while (n.applied < commit && status_.ok()) {
      std::vector<Entry> entries = n.disk.Read(n.applied + 1, 1 << 20);
      for (const Entry& e : entries) {
        if (e.last > commit) return;
        Check(history_.Committed(n.id, n.node->term(), e));
        if (!status_.ok()) return;
        n.state = History::Apply(n.state, e);
        n.applied = e.last;
        if (e.type == EntryType::kData) {
          auto it = proposals_.find({e.term, e.first});
          if (it != proposals_.end() && it->second.node == n.id &&
              it->second.incarnation == n.incarnation && it->second.value == e.data) {
            acked_.push_back(e);
            max_acked_last_ = std::max(max_acked_last_, e.last);
            proposals_.erase(it);
            if (final_proposal_.has_value() && final_proposal_->first == e.term &&
                final_proposal_->second == e.first) {
              final_acked_ = true;
            }
          }
        }
      }
    }
  }

  // --- Linearizable reads (ReadIndex) ---
  // Asks a node that believes it leads (a deposed leader cut off from the others may still
  // believe so: its reads are the ones that could be stale).
  void RequestRead() {
    std::vector<SimNode*> leaders;
    for (auto& n : nodes_) {
      if (Up(*n) && n->node->role() == Role::kLeader) leaders.push_back(n.get());
    }
    if (leaders.empty()) return;
    SimNode& n = *leaders[Draw(0, static_cast<int64_t>(leaders.size()) - 1)];
    const uint64_t id = next_read_id_++;
    if (!n.node->RequestRead(id).ok()) return;
    // Every write acknowledged before the read was asked must be visible to it.
    reads_[id] = PendingRead{n.id, n.incarnation, n.node->term(), max_acked_last_};
    Pump(n);
  }

  void CheckReads(SimNode& n) {
    for (const ReadState& state : n.node->TakeReadStates()) {
      auto it = reads_.find(state.id);
      if (it == reads_.end() || it->second.node != n.id) {
        Fail(absl::StrFormat("n%d confirmed read %d it was never asked", n.id, state.id));
        return;
      }
      if (state.index > n.node->commit_index()) {
        Fail(absl::StrFormat("n%d's read %d at index %d is past its commit index %d", n.id,
                             state.id, state.index, n.node->commit_index()));
        return;
      }
      if (state.index < it->second.must_see) {
        Fail(
            absl::StrFormat("n%d's read %d at index %d misses a write acknowledged at %d before "
                            "it was asked (a stale leader served it)",
                            n.id, state.id, state.index, it->second.must_see));
        return;
      }
      result_.reads++;
      reads_.erase(it);
    }
  }

  // --- Network ---
  void Send(Message m) {
    if (!status_.ok()) return;
    if (Uniform() < drop_rate_) return;
    const int copies = Uniform() < duplicate_rate_ ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      network_.push(InFlight{now_ + Draw(1, max_delay_), sequence_++, m});
    }
  }

  void DeliverDue() {
    while (!network_.empty() && network_.top().at <= now_ && status_.ok()) {
      Message m = network_.top().message;
      network_.pop();
      SimNode& to = *nodes_[m.to - 1];
      if (!Up(to) || blocked_.contains({m.from, m.to})) continue;
      if (config_.trace) Trace(DescribeMessage(m));
      result_.messages_delivered++;
      to.node->Step(m);
      Pump(to);
    }
  }

  void CompleteRounds() {
    for (auto& n : nodes_) {
      if (Up(*n) && n->round && n->round_done <= now_) {
        if (n->crash_in_sync) {
          Crash(*n, /*power=*/true);
          continue;
        }
        CompleteRound(*n);
        Pump(*n);
      }
    }
  }

  void TickDue() {
    for (auto& n : nodes_) {
      if (!Up(*n)) {
        if (n->restart_at <= now_ && !faults_stopped_) {
          Start(*n);
          // Flapping: the machine of a process that just restarted loses power soon after,
          // before whatever the restart found in the page cache was necessarily synced.
          if (n->page_cache_survived && Uniform() < 0.3) n->power_loss_at = now_ + Draw(1, 60);
        }
        continue;
      }
      if (n->power_loss_at <= now_ && !faults_stopped_) {
        n->power_loss_at = std::numeric_limits<int64_t>::max();
        Crash(*n, /*power=*/true);
        continue;
      }
      if (n->next_tick <= now_) {
        n->next_tick = now_ + n->tick_period;
        n->node->Tick();
        Pump(*n);
      }
    }
  }

  // --- Faults ---
  void InjectFaults() {
    if (Uniform() < crash_rate_) {
      SimNode& n = *nodes_[Draw(0, n_ - 1)];
      if (Up(n)) Crash(n, /*power=*/Draw(0, 1) == 1);
    }
    if (Uniform() < leader_crash_rate_) {
      for (auto& n : nodes_) {
        if (Up(*n) && n->node->role() == Role::kLeader) {
          Crash(*n, /*power=*/Draw(0, 1) == 1);
          break;
        }
      }
    }
    if (Uniform() < partition_rate_) {
      if (!blocked_.empty() && Uniform() < 0.5) {
        blocked_.clear();
        Trace("network heals");
      } else {
        Partition();
      }
    }
    if (Uniform() < compact_rate_) Compact(*nodes_[Draw(0, n_ - 1)]);
    if (Uniform() < config_change_rate_) ChangeMembership();
    if (Uniform() < transfer_rate_) {
      for (auto& n : nodes_) {
        if (Up(*n) && n->node->role() == Role::kLeader) {
          const NodeId to = static_cast<NodeId>(Draw(1, n_));
          Trace(absl::StrFormat("n%d transfers leadership to n%d", n->id, to));
          (void)n->node->TransferLeadership(to);
          Pump(*n);
          break;
        }
      }
    }
  }

  // The leader adds a node (as a learner or straight as a voter), promotes a caught-up learner, or
  // removes a voter (itself included), one voter at a time.
  void ChangeMembership() {
    SimNode* leader = nullptr;
    for (auto& n : nodes_) {
      if (Up(*n) && n->node->role() == Role::kLeader) leader = n.get();
    }
    if (leader == nullptr) return;
    const Membership& current = leader->node->membership();
    std::set<NodeId> voters = current.voters();
    std::set<NodeId> learners = current.learners();
    std::vector<NodeId> outside;
    for (NodeId id = 1; id <= n_; ++id) {
      if (!current.IsMember(id)) outside.push_back(id);
    }
    const int choice = static_cast<int>(Draw(0, 3));
    if (choice == 0 && !outside.empty()) {
      learners.insert(outside[Draw(0, static_cast<int64_t>(outside.size()) - 1)]);
    } else if (choice == 1 && !outside.empty()) {
      voters.insert(outside[Draw(0, static_cast<int64_t>(outside.size()) - 1)]);
    } else if (choice == 2 && !learners.empty()) {
      const NodeId id = *learners.begin();
      const Progress* progress = leader->node->progress(id);
      if (progress == nullptr || progress->match() < leader->node->commit_index()) return;
      learners.erase(id);
      voters.insert(id);
    } else if (choice == 3 && voters.size() > 2) {
      auto it = voters.begin();
      std::advance(it, Draw(0, static_cast<int64_t>(voters.size()) - 1));
      voters.erase(it);
    } else {
      return;
    }
    const Membership next(voters, learners);
    absl::StatusOr<Proposal> p = leader->node->ProposeMembership(next);
    Trace(absl::StrFormat("n%d proposes membership %s: %s", leader->id, next.ToString(),
                          p.ok() ? absl::StrFormat("at %d", p->first) : p.status().ToString()));
    Pump(*leader);
  }

  void Partition() {
    blocked_.clear();
    const int kind = static_cast<int>(Draw(0, 2));
    if (kind == 0) {
      // Two sides, cut both ways.
      std::vector<bool> side(n_ + 1);
      for (int i = 1; i <= n_; ++i) side[i] = Draw(0, 1) == 1;
      for (int a = 1; a <= n_; ++a) {
        for (int b = 1; b <= n_; ++b) {
          if (side[a] != side[b]) blocked_.insert({a, b});
        }
      }
      Trace("network splits in two");
    } else if (kind == 1) {
      // Often the leader: it keeps appending to itself while the others elect another.
      NodeId alone = static_cast<NodeId>(Draw(1, n_));
      for (auto& n : nodes_) {
        if (Up(*n) && n->node->role() == Role::kLeader && Draw(0, 1) == 1) alone = n->id;
      }
      for (int b = 1; b <= n_; ++b) {
        if (b != alone) {
          blocked_.insert({alone, b});
          blocked_.insert({b, alone});
        }
      }
      Trace(absl::StrFormat("n%d is cut off", alone));
    } else {
      // One way: a hears nothing from b (b still hears a), for a few random pairs.
      const int pairs = static_cast<int>(Draw(1, n_));
      for (int i = 0; i < pairs; ++i) {
        const NodeId a = static_cast<NodeId>(Draw(1, n_));
        const NodeId b = static_cast<NodeId>(Draw(1, n_));
        if (a != b) blocked_.insert({b, a});
      }
      Trace("some links fail one way");
    }
  }

  void Compact(SimNode& n) {
    if (!Up(n) || n.applied < n.disk.StartIndex()) return;
    // Through a random applied entry.
    const Index target = Draw(n.disk.StartIndex(), n.applied);
    const Index start = n.disk.EntryStart(target);
    const Index last = n.disk.Read(start, 0).front().last;
    if (last > n.applied) return;
    const std::optional<uint64_t> state = history_.StateAfter(last);
    if (!state.has_value()) return;
    n.disk.CompactThrough(last, std::to_string(*state));
    Trace(absl::StrFormat("n%d compacts its log through %d", n.id, last));
  }

  void StopFaults() {
    faults_stopped_ = true;
    blocked_.clear();
    drop_rate_ = 0;
    duplicate_rate_ = 0;
    for (auto& n : nodes_) {
      n->crash_in_sync = false;
      if (!Up(*n)) Start(*n);
    }
    Trace("faults stop: every node up, network healed");
  }

  // --- Proposals and liveness ---
  void ProposeSomewhere(bool final) {
    SimNode& n = *nodes_[Draw(0, n_ - 1)];
    for (int i = 0; i < n_; ++i) {
      SimNode& candidate = *nodes_[(n.id - 1 + i) % n_];
      if (!Up(candidate) || candidate.node->role() != Role::kLeader) continue;
      std::string value = absl::StrCat(final ? "final-" : "w", next_value_++);
      const int64_t count = Draw(1, 5);
      absl::StatusOr<Proposal> p = candidate.node->Propose(value, count);
      if (!p.ok()) return;
      proposals_[{p->term, p->first}] = ProposalRecord{candidate.id, candidate.incarnation, value};
      if (final) {
        final_proposal_ = std::make_pair(p->term, p->first);
        final_proposer_ = candidate.id;
      }
      Trace(absl::StrFormat("n%d proposes %s at [%d, %d] term %d", candidate.id, value, p->first,
                            p->last, p->term));
      Pump(candidate);
      return;
    }
  }

  bool Live() {
    if (!final_acked_) {
      // Propose again if the last try was lost with its leader's term.
      if (!final_proposal_.has_value() || now_ % 200 == 0) ProposeSomewhere(/*final=*/true);
      return false;
    }
    const Entry* final_entry = history_.At(final_proposal_->second);
    // Every member of the configuration the final write committed under; removed nodes no longer
    // receive the log.
    const Membership& members = nodes_[final_proposer_ - 1]->node != nullptr
                                    ? nodes_[final_proposer_ - 1]->node->membership()
                                    : membership_;
    for (auto& n : nodes_) {
      if (!members.IsMember(n->id)) continue;
      if (!Up(*n) || final_entry == nullptr || n->applied < final_entry->last) return false;
    }
    if (!ReadsSettled()) return false;
    final_applied_everywhere_ = true;
    return true;
  }

  void FinalCheck() {
    // Every member's log agrees with the history wherever both have it, entry for entry, and
    // holds every acknowledged write (or a snapshot past it).
    const Membership& members = nodes_[final_proposer_ - 1]->node->membership();
    for (auto& n : nodes_) {
      const SimDisk& disk = n->disk;
      Check(history_.CheckLog(n->id, disk, n->node->commit_index()));
      if (!status_.ok()) return;
      if (!members.IsMember(n->id)) continue;
      for (const Entry& e : acked_) {
        if (e.last < disk.StartIndex()) continue;
        if (e.last > disk.LastIndex() || disk.EntryStart(e.first) != e.first ||
            !(disk.Read(e.first, 0).front() == e)) {
          Fail(absl::StrFormat("n%d lacks acknowledged write %s at %d", n->id, e.data, e.first));
          return;
        }
      }
    }
  }

  // Every read asked of a node that still leads in the term it was asked in has been answered.
  bool ReadsSettled() const {
    for (const auto& [id, read] : reads_) {
      const SimNode& n = *nodes_[read.node - 1];
      if (Up(n) && n.incarnation == read.incarnation && n.node->role() == Role::kLeader &&
          n.node->term() == read.term) {
        return false;
      }
    }
    return true;
  }

  const SimConfig config_;
  std::mt19937_64 rng_;
  int n_ = 3;
  double drop_rate_, duplicate_rate_, crash_rate_, leader_crash_rate_, sync_crash_rate_,
      partition_rate_, propose_rate_, compact_rate_, transfer_rate_, config_change_rate_,
      read_rate_;
  int max_delay_, max_sync_latency_, max_inflight_, max_restart_delay_;
  int64_t max_append_bytes_;
  Membership membership_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  int64_t now_ = 0;
  uint64_t sequence_ = 0;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> network_;
  std::set<std::pair<NodeId, NodeId>> blocked_;  // (from, to) links that lose everything
  bool faults_stopped_ = false;

  History history_;
  std::map<std::pair<Term, Index>, ProposalRecord> proposals_;
  std::vector<Entry> acked_;
  Index max_acked_last_ = kNoIndex;
  std::map<uint64_t, PendingRead> reads_;
  uint64_t next_read_id_ = 1;
  int64_t next_value_ = 0;
  std::optional<std::pair<Term, Index>> final_proposal_;
  NodeId final_proposer_ = kNoNode;
  bool final_acked_ = false;
  bool final_applied_everywhere_ = false;

  absl::Status status_;
  SimResult result_;
};

// The replay commands of the simulations running now, for the abort reporter. A slot is claimed
// with `busy`, its text written, then published with `ready`; the handler reads only published
// slots, with write(2), which is async-signal-safe.
struct RunningSlot {
  std::atomic<bool> busy{false};
  std::atomic<bool> ready{false};
  char command[256] = {};
};
std::array<RunningSlot, 64> running_slots;

void ReportRunningSeeds(int) {
  for (RunningSlot& slot : running_slots) {
    if (!slot.ready.load()) continue;
    constexpr char kPrefix[] = "raft simulation aborted; replay with: ";
    (void)!write(STDERR_FILENO, kPrefix, sizeof kPrefix - 1);
    (void)!write(STDERR_FILENO, slot.command, strnlen(slot.command, sizeof slot.command));
    (void)!write(STDERR_FILENO, "\n", 1);
  }
}

}  // namespace

void InstallAbortReporter() {
  struct sigaction action = {};
  action.sa_handler = ReportRunningSeeds;
  action.sa_flags = SA_RESETHAND;  // report once, then abort as usual
  sigemptyset(&action.sa_mask);
  sigaction(SIGABRT, &action, nullptr);
}

SimResult RunSimulation(const SimConfig& config) {
  RunningSlot* slot = nullptr;
  for (RunningSlot& candidate : running_slots) {
    bool expected = false;
    if (candidate.busy.compare_exchange_strong(expected, true)) {
      slot = &candidate;
      break;
    }
  }
  if (slot != nullptr) {
    std::snprintf(slot->command, sizeof slot->command, "%s", ReplayCommand(config).c_str());
    slot->ready.store(true);
  }
  SimResult result = Simulation(config).Run();
  if (slot != nullptr) {
    slot->ready.store(false);
    slot->busy.store(false);
  }
  return result;
}

std::string ReplayCommand(const SimConfig& config) {
  std::string command = absl::StrFormat("build/bin/raft_sim --seed %d", config.seed);
  if (config.nodes > 0) absl::StrAppend(&command, " --nodes ", config.nodes);
  if (config.fault_time != SimConfig().fault_time) {
    absl::StrAppend(&command, " --fault-time ", config.fault_time);
  }
  if (config.liveness_time != SimConfig().liveness_time) {
    absl::StrAppend(&command, " --liveness-time ", config.liveness_time);
  }
  if (config.catch_up_time != SimConfig().catch_up_time) {
    absl::StrAppend(&command, " --catch-up-time ", config.catch_up_time);
  }
  return command + " --trace";
}

}  // namespace runnel::raft::sim
