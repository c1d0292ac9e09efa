// ReplicaManager: drives the Raft groups of the partitions this broker replicates (one raft::Node
// over a PartitionRaftLog each) on one thread, the replication thread. It ticks every node, steps
// the messages the transport delivers, carries out each node's persistence rounds (the hard state
// written durably; the log synced through the storage flusher, so one fdatasync covers every
// append of a partition that arrived meanwhile: group commit), sends what the nodes say to the
// peers (every message for one peer produced in one pass travels as one RaftBatch), publishes
// the commit index as the partition's high watermark, and answers produce requests: acks=1 once
// the leader appended, acks=all once the entry is committed (synced on a majority).
//
// Thread-safety: every public method may be called from any thread. Callbacks (produce answers)
// run on the replication thread and must only hand the result on.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "broker/partition/producer_state_manager.h"
#include "broker/replication/partition_raft_log.h"
#include "common/mutex.h"
#include "raft/membership.h"
#include "raft/node.h"
#include "runnel/v1/raft.pb.h"
#include "storage/log.h"
#include "storage/log_manager.h"

namespace runnel::broker {

struct ReplicaManagerOptions {
  raft::NodeId node_id = raft::kNoNode;
  // One tick; a follower campaigns after [election_ticks, 2 * election_ticks) ticks without a
  // leader, a leader heartbeats every heartbeat_ticks.
  int tick_ms = 50;
  int election_ticks = 12;
  int heartbeat_ticks = 2;
  int max_inflight = 64;
  int64_t max_append_bytes = 1 << 20;
  int64_t max_uncommitted_bytes = 64 << 20;
  // A follower that has not answered its leader for this long is out of the in-sync replicas
  // (Kafka's replica.lag.time.max.ms), even when it has every committed entry.
  int64_t replica_lag_time_max_ms = 30'000;
  // How often each replica's high watermark is checkpointed (raft-high-watermark).
  int64_t high_watermark_checkpoint_ms = 5'000;
  // Borrowed, optional: the idempotent producers' state, checked by a leader before it proposes
  // a batch with a producer id and kept on every replica as its log changes.
  ProducerStateManager* producer_states = nullptr;
};

// What one replica knows of its group, as of the replication thread's last pass.
struct ReplicaStatus {
  raft::NodeId leader = raft::kNoNode;
  raft::Term term = 0;
  raft::Role role = raft::Role::kFollower;
  int64_t log_start = 0;
  int64_t log_end = 0;
  int64_t high_watermark = 0;  // commit index + 1
  // As the leader: the offset of its term's first entry (-1 otherwise). Once the high watermark
  // is past it, everything the log held when this leader took over is committed.
  int64_t term_start = -1;
  std::vector<raft::NodeId> voters;
  std::vector<raft::NodeId> learners;
  // Whether the membership above is committed (as far as this replica knows its commit index).
  bool membership_committed = false;
  // As the leader: the members whose log matches the leader's up to the commit index and that
  // answered within replica_lag_time_max_ms (the leader included). Empty on a follower.
  std::vector<raft::NodeId> in_sync;

  // As the leader: whether an entry of its own term is committed (the high watermark is past
  // term_start). Until then its log may end with earlier terms' entries not known committed
  // here, so its high watermark can be below the one its predecessor gave out.
  bool TermCommitted() const {
    return role == raft::Role::kLeader && term_start >= 0 && high_watermark > term_start;
  }
};

class ReplicaManager {
 public:
  using SendFn = std::function<void(raft::NodeId to, v1::RaftBatch batch)>;
  using ProduceCallback = std::function<void(absl::StatusOr<storage::AppendResult>)>;
  // Gets committed entries in log order, each once per process (a group's state machine, e.g.
  // the metadata log's image). Runs on the replication thread.
  using CommitListener = std::function<void(const std::vector<raft::Entry>& committed)>;

  ReplicaManager(ReplicaManagerOptions options, SendFn send);
  ~ReplicaManager();  // Stop()

  ReplicaManager(const ReplicaManager&) = delete;
  ReplicaManager& operator=(const ReplicaManager&) = delete;

  // Starts the replication thread; call it before anything else.
  void Start();
  // Stops the replication thread: produce requests still waiting are answered Unavailable, every
  // high watermark is checkpointed.
  void Stop();

  // Starts replicating `tp` of the topic with id `topic_id`, whose log is `log`, in a group whose
  // members are `initial` until its log records a membership change. Messages for `tp` carrying
  // another topic id are ignored (a deleted topic's replica is not of the group). With
  // `listener`, the entries known committed (up to the checkpointed high watermark) are handed to
  // it at once, and then each entry as it commits. AlreadyExists if it is replicated already;
  // DataLoss from PartitionRaftLog::Open.
  // `may_have_lost_state`: PartitionRaftLog::Open's (a replica that starts without Raft state
  // then catches up before it votes). `directories`: for a group whose state records the voters'
  // data directories (the metadata log), raft::Options::directory_id and recorded_directory.
  struct VoterDirectories {
    std::string own;
    std::function<std::string(raft::NodeId)> recorded;
  };
  absl::Status AddReplica(const storage::TopicPartition& tp, const std::string& topic_id,
                          std::shared_ptr<storage::Log> log, const raft::Membership& initial,
                          CommitListener listener = {}, bool may_have_lost_state = false,
                          VoterDirectories directories = {});
  // Stops replicating `tp` (its log stays); produce requests waiting are answered Unavailable.
  absl::Status RemoveReplica(const storage::TopicPartition& tp);

  // Appends `batch` (Log::PrepareAppend'ed, covering `count` offsets) as the leader of `tp`.
  // `done` gets the offsets once the leader appended it (`wait_commit` false: acks=1) or once it
  // is committed (acks=all). A batch of an idempotent producer is checked first: a duplicate of
  // a retained batch is answered with that batch's offsets (once it is committed, for acks=all)
  // and not appended again. Errors: NotFound (not a replica here), FailedPrecondition naming the
  // leader (not the leader; ReplicaStatus has its id), Unavailable (a leadership transfer, the
  // entry replaced by a new leader's, shutting down), ResourceExhausted (too much uncommitted),
  // InvalidArgument (`count` is not the batch's), ProducerStateTable::Check's errors.
  void Produce(const storage::TopicPartition& tp, std::string batch, int64_t count,
               bool wait_commit, ProduceCallback done);
  // Asks the leader of `tp` to hand leadership to `to` (Node::TransferLeadership).
  absl::Status TransferLeadership(const storage::TopicPartition& tp, raft::NodeId to);
  // Proposes `next` as the membership of `tp`'s group, as its leader (Node::ProposeMembership:
  // one voter added or removed at a time, after the previous change committed). NotFound when
  // not a replica here; Node::ProposeMembership's errors.
  absl::Status ChangeMembership(const storage::TopicPartition& tp, const raft::Membership& next);

  // A batch the transport received from `from`.
  void Receive(raft::NodeId from, v1::RaftBatch batch);

  std::optional<ReplicaStatus> Status(const storage::TopicPartition& tp) const;
  std::vector<storage::TopicPartition> Replicas() const;
  // Messages refused as malformed or misaddressed (FromProto), since the start.
  int64_t messages_refused() const;

 private:
  struct Replica;
  struct Queue;

  void Run();
  // Runs `task` on the replication thread; the result of a task posted after Stop is never run.
  void Post(std::function<void()> task);
  // Runs `task` on the replication thread and waits for it (Unavailable once stopped).
  absl::Status Call(std::function<absl::Status()> task);

  void Tick();
  void Step(raft::NodeId from, v1::GroupMessage* message);  // takes the message's entries
  // Carries out `replica`'s outputs until it has none (a sync in flight ends a pass).
  void Drain(Replica& replica);
  void OnSynced(const storage::TopicPartition& tp, uint64_t round, const absl::Status& status);
  void Resolve(Replica& replica);
  // Checks a produced batch before it is proposed: OK to propose it; AlreadyExists when it
  // duplicates a retained batch of its producer (then `done` was answered, or waits for the
  // original to commit); other errors to answer.
  absl::Status CheckProduce(Replica& replica, const std::string& batch, int64_t count,
                            bool wait_commit, const std::shared_ptr<ProduceCallback>& done);
  // Hands the entries committed up to `commit` and not yet handed over to the replica's listener.
  void Apply(Replica& replica, raft::Index commit);
  void Publish(Replica& replica);
  void Queue(const Replica& replica, raft::Message message);
  void SendQueued();
  [[noreturn]] void Fail(const Replica& replica, const char* what, const absl::Status& status);

  const ReplicaManagerOptions options_;
  const SendFn send_;
  const std::shared_ptr<struct Queue> queue_;
  std::thread thread_;

  // Replication thread only.
  std::map<storage::TopicPartition, std::unique_ptr<Replica>> replicas_;
  // Per peer, batches of at most kMaxWriteBytes (a message larger alone is a batch of its own).
  std::map<raft::NodeId, std::vector<v1::RaftBatch>> outbox_;
  std::map<raft::NodeId, int64_t> outbox_bytes_;  // of each peer's last batch
  // Persistence rounds are numbered across replicas, so a sync answer of a replica removed and
  // added again is never taken for the new one's.
  uint64_t next_round_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  uint64_t seed_ = 0;

  mutable Mutex status_mu_;
  std::map<storage::TopicPartition, ReplicaStatus> status_ ABSL_GUARDED_BY(status_mu_);
  std::atomic<int64_t> messages_refused_{0};
};

}  // namespace runnel::broker
