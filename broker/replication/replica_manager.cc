#include "broker/replication/replica_manager.h"

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "broker/replication/raft_codec.h"
#include "broker/replication/raft_transport.h"
#include "common/check.h"
#include "common/logging.h"

namespace runnel::broker {
namespace {

using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> Logger() { return logging::Get("replication"); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The replication thread's task queue. Shared with the callbacks handed to the storage flusher,
// which may run after the manager is gone: they post into a stopped queue, which drops them.
struct ReplicaManager::Queue {
  Mutex mu;
  CondVar cv;
  std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
  // Run instead of the task of the same number when it is never run (Stop): a produce request's
  // answer.
  std::map<uint64_t, std::function<void()>> cancels ABSL_GUARDED_BY(mu);
  uint64_t posted ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;

  bool Post(std::function<void()> task, std::function<void()> cancel = nullptr) {
    MutexLock lock(&mu);
    if (stopping) return false;
    const uint64_t number = ++posted;
    if (cancel) {
      cancels.emplace(number, std::move(cancel));
      task = [this, number, task = std::move(task)] {
        {
          MutexLock lock(&mu);
          cancels.erase(number);
        }
        task();
      };
    }
    tasks.push_back(std::move(task));
    cv.Signal();
    return true;
  }
};

struct ReplicaManager::Replica {
  storage::TopicPartition tp;
  std::string topic_id;
  std::unique_ptr<PartitionRaftLog> log;
  std::unique_ptr<raft::Node> node;
  // The persistence round in flight: its messages go once the sync is done.
  bool round_in_flight = false;
  uint64_t round = 0;
  std::vector<raft::Message> round_messages;
  // Produce requests waiting for their entry to commit, by last offset.
  struct Waiting {
    raft::Index first = 0;
    raft::Index last = 0;
    raft::Term term = 0;
    ProduceCallback done;
  };
  std::deque<Waiting> waiting;
  raft::Index published_commit = raft::kNoIndex;
  CommitListener listener;
  raft::Index applied = raft::kNoIndex;  // the last entry handed to the listener
  // When each peer was last heard from in this group (a follower's answers, as leader).
  std::map<raft::NodeId, std::chrono::steady_clock::time_point> heard;
};

ReplicaManager::ReplicaManager(ReplicaManagerOptions options, SendFn send)
    : options_(std::move(options)),
      send_(std::move(send)),
      queue_(std::make_shared<struct Queue>()) {
  seed_ = static_cast<uint64_t>(NowMs()) * 1000003u + static_cast<uint64_t>(options_.node_id);
}

ReplicaManager::~ReplicaManager() { Stop(); }

void ReplicaManager::Start() {
  RUNNEL_CHECK(!thread_.joinable(), "ReplicaManager started twice");
  last_checkpoint_ms_ = NowMs();
  thread_ = std::thread([this] { Run(); });
}

void ReplicaManager::Stop() {
  {
    MutexLock lock(&queue_->mu);
    queue_->stopping = true;
    queue_->cv.SignalAll();
  }
  if (!thread_.joinable()) return;
  thread_.join();
  std::map<uint64_t, std::function<void()>> cancels;
  {
    MutexLock lock(&queue_->mu);
    cancels.swap(queue_->cancels);
    queue_->tasks.clear();
  }
  for (auto& [number, cancel] : cancels) cancel();
  for (auto& [tp, replica] : replicas_) {
    for (Replica::Waiting& w : replica->waiting) {
      w.done(absl::UnavailableError("the broker is shutting down"));
    }
    replica->waiting.clear();
    if (absl::Status saved = replica->log->CheckpointHighWatermark(); !saved.ok()) {
      Logger()->warn("partition {}: high watermark not checkpointed: {}", tp.DirName(),
                     saved.ToString());
    }
  }
}

void ReplicaManager::Run() {
  const auto tick = std::chrono::milliseconds(options_.tick_ms);
  auto next_tick = Clock::now() + tick;
  while (true) {
    std::deque<std::function<void()>> tasks;
    {
      MutexLock lock(&queue_->mu);
      while (queue_->tasks.empty() && !queue_->stopping && Clock::now() < next_tick) {
        queue_->cv.WaitWithTimeout(
            &queue_->mu,
            std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()) +
                std::chrono::milliseconds(1));
      }
      if (queue_->stopping) break;
      tasks.swap(queue_->tasks);
    }
    for (std::function<void()>& task : tasks) task();
    if (Clock::now() >= next_tick) {
      Tick();
      next_tick += tick;
      // Behind by more than a tick (a long pause): do not tick in a burst to catch up.
      if (next_tick < Clock::now()) next_tick = Clock::now() + tick;
    }
    SendQueued();
  }
}

void ReplicaManager::Post(std::function<void()> task) { queue_->Post(std::move(task)); }

absl::Status ReplicaManager::Call(std::function<absl::Status()> task) {
  struct Done {
    Mutex mu;
    CondVar cv;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
  };
  if (!thread_.joinable())
    return absl::FailedPreconditionError("the replica manager is not started");
  auto done = std::make_shared<Done>();
  const bool posted = queue_->Post([task = std::move(task), done] {
    absl::Status status = task();
    MutexLock lock(&done->mu);
    done->status = std::move(status);
    done->done = true;
    done->cv.SignalAll();
  });
  if (!posted) return absl::UnavailableError("the replica manager is stopped");
  MutexLock lock(&done->mu);
  // Bounded: the replication thread runs every posted task unless it stops, and a stop is
  // noticed within one wait.
  while (!done->done) {
    done->cv.WaitWithTimeout(&done->mu, std::chrono::milliseconds(100));
    MutexLock queue_lock(&queue_->mu);
    if (queue_->stopping && !done->done) {
      return absl::UnavailableError("the replica manager stopped");
    }
  }
  return done->status;
}

absl::Status ReplicaManager::AddReplica(const storage::TopicPartition& tp,
                                        const std::string& topic_id,
                                        std::shared_ptr<storage::Log> log,
                                        const raft::Membership& initial, CommitListener listener,
                                        bool may_have_lost_state, VoterDirectories directories) {
  return Call([this, tp, topic_id, log = std::move(log), initial, listener = std::move(listener),
               may_have_lost_state,
               directories = std::move(directories)]() mutable -> absl::Status {
    if (replicas_.contains(tp)) {
      return absl::AlreadyExistsError(absl::StrCat("partition ", tp.DirName(), " is replicated"));
    }
    absl::StatusOr<std::unique_ptr<PartitionRaftLog>> raft_log =
        PartitionRaftLog::Open(log, may_have_lost_state);
    if (!raft_log.ok()) return raft_log.status();
    raft::Options options;
    options.id = options_.node_id;
    options.membership = initial;
    options.election_ticks = options_.election_ticks;
    options.heartbeat_ticks = options_.heartbeat_ticks;
    options.max_inflight = options_.max_inflight;
    options.max_append_bytes = options_.max_append_bytes;
    options.max_uncommitted_bytes = options_.max_uncommitted_bytes;
    options.seed = seed_++;
    options.catching_up = (*raft_log)->catching_up();
    options.directory_id = directories.own;
    options.recorded_directory = std::move(directories.recorded);
    if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
    auto replica = std::make_unique<Replica>();
    replica->tp = tp;
    replica->log = *std::move(raft_log);
    replica->node =
        std::make_unique<raft::Node>(options, replica->log.get(), replica->log->hard_state());
    replica->listener = std::move(listener);
    replica->topic_id = topic_id;
    if (ProducerStateManager* states = options_.producer_states) {
      const std::shared_ptr<storage::Log> shared = replica->log->shared_log();
      // A crash between a cut and the removal of the snapshots past it left them: they go now.
      if (absl::Status dropped = states->ReplicaTruncated(tp, shared); !dropped.ok()) {
        return dropped;
      }
      PartitionRaftLog::Observer observer;
      observer.appended = [states, tp, shared](const record::RecordBatchView& batch,
                                               int64_t base_offset) {
        states->RecordReplicated(tp, shared, batch, base_offset);
      };
      observer.truncated = [states, tp, shared] {
        if (absl::Status dropped = states->ReplicaTruncated(tp, shared); !dropped.ok()) {
          Logger()->warn("partition {}: producer-state snapshots past the cut not removed: {}",
                         tp.DirName(), dropped.ToString());
        }
      };
      replica->log->SetObserver(std::move(observer));
    }
    replica->applied = replica->log->StartIndex() - 1;
    Replica& r = *replica;
    replicas_[tp] = std::move(replica);
    // What the last run knew committed is committed still: its state machine comes back at once.
    Apply(r, r.log->log().high_watermark() - 1);
    Drain(r);
    return absl::OkStatus();
  });
}

absl::Status ReplicaManager::RemoveReplica(const storage::TopicPartition& tp) {
  absl::Status removed = Call([this, tp]() -> absl::Status {
    auto it = replicas_.find(tp);
    if (it == replicas_.end()) {
      return absl::NotFoundError(absl::StrCat("partition ", tp.DirName(), " is not replicated"));
    }
    for (Replica::Waiting& w : it->second->waiting) {
      w.done(absl::UnavailableError(
          absl::StrCat("partition ", tp.DirName(), " is no longer replicated here")));
    }
    (void)it->second->log->CheckpointHighWatermark();
    replicas_.erase(it);
    if (options_.producer_states != nullptr) options_.producer_states->Drop(tp);
    return absl::OkStatus();
  });
  if (removed.ok()) {
    MutexLock lock(&status_mu_);
    status_.erase(tp);
  }
  return removed;
}

void ReplicaManager::Produce(const storage::TopicPartition& tp, std::string batch, int64_t count,
                             bool wait_commit, ProduceCallback done) {
  auto shared_done = std::make_shared<ProduceCallback>(std::move(done));
  const bool posted = queue_->Post(
      [this, tp, batch = std::move(batch), count, wait_commit, shared_done]() mutable {
        auto it = replicas_.find(tp);
        if (it == replicas_.end()) {
          (*shared_done)(absl::NotFoundError(
              absl::StrCat("partition ", tp.DirName(), " has no replica on this broker")));
          return;
        }
        Replica& r = *it->second;
        if (absl::Status checked = CheckProduce(r, batch, count, wait_commit, shared_done);
            !checked.ok()) {
          if (!absl::IsAlreadyExists(checked)) (*shared_done)(checked);
          return;  // AlreadyExists: a duplicate, answered (or waiting) already
        }
        absl::StatusOr<raft::Proposal> proposal = r.node->Propose(std::move(batch), count);
        if (!proposal.ok()) {
          (*shared_done)(proposal.status());
          Drain(r);
          return;
        }
        if (wait_commit) {
          r.waiting.push_back(
              {proposal->first, proposal->last, proposal->term, std::move(*shared_done)});
        } else {
          storage::AppendResult result;
          result.base_offset = proposal->first;
          result.last_offset = proposal->last;
          (*shared_done)(result);
        }
        Drain(r);
      },
      [shared_done] { (*shared_done)(absl::UnavailableError("the broker is shutting down")); });
  if (!posted) (*shared_done)(absl::UnavailableError("the broker is shutting down"));
}

absl::Status ReplicaManager::CheckProduce(Replica& r, const std::string& batch, int64_t count,
                                          bool wait_commit,
                                          const std::shared_ptr<ProduceCallback>& done) {
  absl::StatusOr<record::RecordBatchView> view = record::RecordBatchView::Parse(batch);
  if (!view.ok()) return view.status();
  if (int64_t{view->last_offset_delta()} + 1 != count || view->size() != batch.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch of ", int64_t{view->last_offset_delta()} + 1, " offsets and ",
                     batch.size(), " bytes proposed as ", count, " offsets"));
  }
  if (options_.producer_states == nullptr || view->producer_id() < 0 ||
      r.node->role() != raft::Role::kLeader) {
    return absl::OkStatus();  // a follower's Propose refuses it, naming the leader
  }
  absl::StatusOr<BatchSequence> sequence = BatchSequence::FromBatch(*view);
  if (!sequence.ok()) return sequence.status();
  absl::StatusOr<std::optional<ProducerBatch>> verdict =
      options_.producer_states->CheckReplicated(r.tp, r.log->shared_log(), *sequence);
  if (!verdict.ok()) return verdict.status();
  if (!verdict->has_value()) return absl::OkStatus();
  const ProducerBatch& original = **verdict;
  storage::AppendResult result;
  result.base_offset = original.base_offset;
  result.last_offset = original.last_offset;
  if (!wait_commit || original.last_offset <= r.node->commit_index()) {
    (*done)(result);
  } else {
    const std::optional<raft::Term> term = r.log->TermAt(original.last_offset);
    if (!term.has_value()) {
      return absl::UnavailableError(absl::StrCat("the batch this one duplicates, at offset ",
                                                 original.base_offset, ", is gone"));
    }
    // Answered when the original commits; `waiting` stays ordered by last offset.
    Replica::Waiting w{original.base_offset, original.last_offset, *term, std::move(*done)};
    auto at = std::upper_bound(
        r.waiting.begin(), r.waiting.end(), w.last,
        [](raft::Index last, const Replica::Waiting& other) { return last < other.last; });
    r.waiting.insert(at, std::move(w));
  }
  return absl::AlreadyExistsError("a duplicate");
}

absl::Status ReplicaManager::TransferLeadership(const storage::TopicPartition& tp,
                                                raft::NodeId to) {
  return Call([this, tp, to]() -> absl::Status {
    auto it = replicas_.find(tp);
    if (it == replicas_.end()) {
      return absl::NotFoundError(absl::StrCat("partition ", tp.DirName(), " is not replicated"));
    }
    absl::Status status = it->second->node->TransferLeadership(to);
    Drain(*it->second);
    return status;
  });
}

absl::Status ReplicaManager::ChangeMembership(const storage::TopicPartition& tp,
                                              const raft::Membership& next) {
  return Call([this, tp, next]() -> absl::Status {
    auto it = replicas_.find(tp);
    if (it == replicas_.end()) {
      return absl::NotFoundError(absl::StrCat("partition ", tp.DirName(), " is not replicated"));
    }
    absl::Status status = it->second->node->ProposeMembership(next).status();
    Drain(*it->second);
    return status;
  });
}

void ReplicaManager::Receive(raft::NodeId from, v1::RaftBatch batch) {
  Post([this, from, batch = std::move(batch)]() mutable {
    for (v1::GroupMessage& message : *batch.mutable_messages()) Step(from, &message);
  });
}

void ReplicaManager::Step(raft::NodeId from, v1::GroupMessage* message) {
  storage::TopicPartition tp{message->topic(), message->partition()};
  auto it = replicas_.find(tp);
  if (it == replicas_.end()) return;  // not (or no longer, or not yet) a replica here
  if (message->topic_id() != it->second->topic_id) {
    // Another topic of this name: one side has not applied a delete and re-create yet.
    messages_refused_.fetch_add(1, std::memory_order_relaxed);
    Logger()->debug("partition {}: a message of topic id {} ignored (ours is {})", tp.DirName(),
                    message->topic_id(), it->second->topic_id);
    return;
  }
  absl::StatusOr<raft::Message> m = FromProto(std::move(*message->mutable_message()));
  if (m.ok() && (m->from != from || m->to != options_.node_id)) {
    m = absl::InvalidArgumentError(absl::StrCat("addressed from node ", m->from, " to node ", m->to,
                                                " on the stream from node ", from));
  }
  if (!m.ok()) {
    messages_refused_.fetch_add(1, std::memory_order_relaxed);
    Logger()->warn("partition {}: refused a raft message from node {}: {}", tp.DirName(), from,
                   m.status().ToString());
    return;
  }
  it->second->heard[from] = std::chrono::steady_clock::now();
  it->second->node->Step(*std::move(m));
  Drain(*it->second);
}

void ReplicaManager::Tick() {
  for (auto& [tp, replica] : replicas_) {
    replica->node->Tick();
    Drain(*replica);
  }
  const int64_t now = NowMs();
  if (now - last_checkpoint_ms_ >= options_.high_watermark_checkpoint_ms) {
    last_checkpoint_ms_ = now;
    for (auto& [tp, replica] : replicas_) {
      if (absl::Status saved = replica->log->CheckpointHighWatermark(); !saved.ok()) {
        Logger()->warn("partition {}: high watermark not checkpointed: {}", tp.DirName(),
                       saved.ToString());
      }
    }
  }
}

void ReplicaManager::Drain(Replica& r) {
  // Bounded: each pass either takes a round without a sync (completed here) or stops.
  for (int pass = 0; pass < 1000; ++pass) {
    for (raft::Message& m : r.node->TakeMessages()) Queue(r, std::move(m));
    if (r.round_in_flight || !r.node->HasReady()) break;
    raft::Ready ready = r.node->TakeReady();
    if (ready.hard_state.has_value()) {
      if (absl::Status saved = r.log->SaveHardState(*ready.hard_state); !saved.ok()) {
        Fail(r, "writing the hard state", saved);
      }
    }
    if (!ready.sync) {
      for (raft::Message& m : ready.messages) Queue(r, std::move(m));
      r.node->Advance();
      continue;
    }
    r.round_in_flight = true;
    r.round_messages = std::move(ready.messages);
    const uint64_t round = ++next_round_;
    r.round = round;
    std::weak_ptr<struct Queue> queue = queue_;
    r.log->log().WhenDurable(
        r.log->LastIndex() + 1, [this, queue, tp = r.tp, round](absl::Status status) {
          // On a flush thread: hand over to the replication thread (if it still runs).
          if (std::shared_ptr<struct Queue> q = queue.lock()) {
            q->Post([this, tp, round, status] { OnSynced(tp, round, status); });
          }
        });
    break;
  }
  if (r.log->catching_up() && !r.node->catching_up()) {
    // Not removing the marker only keeps the replica abstaining after a restart: safe, so a
    // failure here is reported, not fatal.
    if (absl::Status done = r.log->FinishCatchingUp(); !done.ok()) {
      Logger()->warn("partition {}: caught up, but {} stays: {}", r.tp.DirName(),
                     PartitionRaftLog::kCatchingUpFile, done.ToString());
    } else {
      Logger()->info("partition {}: caught up (its log holds term {} up to the commit index)",
                     r.tp.DirName(), r.node->term());
    }
  }
  Resolve(r);
  Publish(r);
}

void ReplicaManager::OnSynced(const storage::TopicPartition& tp, uint64_t round,
                              const absl::Status& status) {
  auto it = replicas_.find(tp);
  if (it == replicas_.end()) return;
  Replica& r = *it->second;
  if (!r.round_in_flight || r.round != round) return;
  if (absl::IsAborted(status)) {
    // The log was truncated under the sync (raft::Node allows it while a round is out, and lowers
    // what the round covers): the requested end is gone, not unsynced. Sync what the log holds now.
    std::weak_ptr<struct Queue> queue = queue_;
    r.log->log().WhenDurable(r.log->LastIndex() + 1, [this, queue, tp, round](absl::Status again) {
      if (std::shared_ptr<struct Queue> q = queue.lock()) {
        q->Post([this, tp, round, again] { OnSynced(tp, round, again); });
      }
    });
    return;
  }
  if (!status.ok()) Fail(r, "syncing the log", status);
  for (raft::Message& m : r.round_messages) Queue(r, std::move(m));
  r.round_messages.clear();
  r.round_in_flight = false;
  r.node->Advance();
  Drain(r);
}

void ReplicaManager::Resolve(Replica& r) {
  const raft::Index commit = r.node->commit_index();
  if (commit > r.published_commit) {
    r.log->SetCommitted(commit);
    r.published_commit = commit;
    Apply(r, commit);
  }
  // Committed, or replaced by another leader's entries (the log no longer holds the term there).
  while (!r.waiting.empty() && r.waiting.front().last <= commit) {
    Replica::Waiting w = std::move(r.waiting.front());
    r.waiting.pop_front();
    if (r.log->TermAt(w.last) == w.term) {
      storage::AppendResult result;
      result.base_offset = w.first;
      result.last_offset = w.last;
      w.done(result);
    } else {
      w.done(absl::UnavailableError(absl::StrCat("the entry at offset ", w.first, " of term ",
                                                 w.term, " was replaced by a new leader's")));
    }
  }
  while (!r.waiting.empty() && r.log->TermAt(r.waiting.back().last) != r.waiting.back().term) {
    Replica::Waiting w = std::move(r.waiting.back());
    r.waiting.pop_back();
    w.done(absl::UnavailableError(absl::StrCat("the entry at offset ", w.first, " of term ", w.term,
                                               " was replaced by a new leader's")));
  }
}

void ReplicaManager::Apply(Replica& r, raft::Index commit) {
  if (!r.listener) return;
  if (r.applied + 1 < r.log->StartIndex()) {
    // Entries were installed past what was applied (a log-start install): the state machine
    // cannot be rebuilt from this log. Groups with a listener keep their whole log.
    Logger()->error("partition {}: entries {}..{} went before they were applied", r.tp.DirName(),
                    r.applied + 1, r.log->StartIndex() - 1);
    r.applied = r.log->StartIndex() - 1;
  }
  // Bounded: each read hands over at least one entry.
  while (r.applied < commit) {
    std::vector<raft::Entry> entries = r.log->Read(r.applied + 1, 1 << 20);
    while (!entries.empty() && entries.back().last > commit) entries.pop_back();
    if (entries.empty()) break;  // the next entry straddles `commit`: not possible for an index
    r.applied = entries.back().last;
    r.listener(entries);
  }
}

void ReplicaManager::Publish(Replica& r) {
  ReplicaStatus s;
  const raft::Node& node = *r.node;
  s.leader = node.leader();
  s.term = node.term();
  s.role = node.role();
  s.log_start = r.log->StartIndex();
  s.log_end = r.log->LastIndex() + 1;
  s.high_watermark = node.commit_index() + 1;
  if (node.role() == raft::Role::kLeader) s.term_start = node.term_start();
  s.voters.assign(node.membership().voters().begin(), node.membership().voters().end());
  s.learners.assign(node.membership().learners().begin(), node.membership().learners().end());
  s.membership_committed = node.config_index() <= node.commit_index();
  if (node.role() == raft::Role::kLeader) {
    // In sync: has everything committed, and answered within replica.lag.time.max.ms (an idle
    // partition's dead follower still matches the commit index; its silence takes it out).
    const auto now = std::chrono::steady_clock::now();
    const auto lag = std::chrono::milliseconds(options_.replica_lag_time_max_ms);
    for (raft::NodeId id : node.membership().Members()) {
      const raft::Progress* p = node.progress(id);
      const auto heard = r.heard.find(id);
      if (id == options_.node_id || (p != nullptr && p->match() >= node.commit_index() &&
                                     heard != r.heard.end() && now - heard->second <= lag)) {
        s.in_sync.push_back(id);
      }
    }
  }
  MutexLock lock(&status_mu_);
  status_[r.tp] = std::move(s);
}

void ReplicaManager::Queue(const Replica& r, raft::Message m) {
  int64_t bytes = 64;  // the message's fields, roughly
  for (const raft::Entry& entry : m.entries) bytes += 32 + static_cast<int64_t>(entry.data.size());
  std::vector<v1::RaftBatch>& batches = outbox_[m.to];
  int64_t& last_bytes = outbox_bytes_[m.to];
  if (batches.empty() || (last_bytes > 0 && last_bytes + bytes > kMaxWriteBytes)) {
    batches.emplace_back();
    last_bytes = 0;
  }
  last_bytes += bytes;
  v1::GroupMessage* out = batches.back().add_messages();
  out->set_topic(r.tp.topic);
  out->set_partition(r.tp.partition);
  out->set_topic_id(r.topic_id);
  ToProto(std::move(m), out->mutable_message());
}

void ReplicaManager::SendQueued() {
  for (auto& [to, batches] : outbox_) {
    for (v1::RaftBatch& batch : batches) send_(to, std::move(batch));
  }
  outbox_.clear();
  outbox_bytes_.clear();
}

void ReplicaManager::Fail(const Replica& r, const char* what, const absl::Status& status) {
  const auto logger = Logger();
  logger->critical("partition {}: {} failed ({}); this replica stops, the others carry on",
                   r.tp.DirName(), what, status.ToString());
  logger->flush();
  std::abort();
}

std::optional<ReplicaStatus> ReplicaManager::Status(const storage::TopicPartition& tp) const {
  MutexLock lock(&status_mu_);
  auto it = status_.find(tp);
  if (it == status_.end()) return std::nullopt;
  return it->second;
}

std::vector<storage::TopicPartition> ReplicaManager::Replicas() const {
  MutexLock lock(&status_mu_);
  std::vector<storage::TopicPartition> out;
  for (const auto& [tp, s] : status_) out.push_back(tp);
  return out;
}

int64_t ReplicaManager::messages_refused() const {
  return messages_refused_.load(std::memory_order_relaxed);
}

}  // namespace runnel::broker
