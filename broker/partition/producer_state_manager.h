// ProducerStateManager: the idempotent-producer state of every partition of the broker, and the
// path by which produced batches reach a partition log. A batch with a producer id is checked
// against its partition's ProducerStateTable (producer_state.h) and then appended and recorded,
// or answered as a duplicate, or refused; batches without one go straight to Log::Append.
//
// A partition's state is loaded by the background thread after a start (Start) or on first use:
// the newest valid `<end>.snapshot` of its directory (producer_state_snapshot.h), then the batch
// headers of the log from the snapshot's end offset (or, without a usable snapshot, from the log
// start) to the log end. Snapshots are written at every segment roll of a partition whose state is
// loaded (once the data they cover is durable, so a power loss cannot leave a snapshot describing
// batches the log lost; each file is written atomically but not synced: an older one is as good,
// only the scan after it is longer) and durably by WriteSnapshots at clean shutdown; the last
// kSnapshotsKept stay, so a truncation below the newest falls back to an older one. So a producer
// whose batches all lie in older segments is still known after a kill -9.
//
// Loading happens in the background after a start (Start): every partition with a snapshot is
// loaded then, so the first produce after a restart finds its state ready instead of scanning the
// log on a gRPC thread. A partition not loaded yet when a batch comes is loaded by that append.
// The same thread forgets producers idle for producer.id.expiration.ms (Kafka's KIP-854 rule:
// by the timestamp of their last batch), every check interval, and at each load.
//
// Thread-safety: all methods may be called from any thread. Each partition has a mutex held
// across check, append and record, so two Produce streams writing to one partition cannot both
// pass the check with the same sequence. Loading reads the log under that mutex (once per
// partition and process).
#pragma once

#include <memory>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "broker/partition/producer_state.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "storage/log.h"
#include "storage/log_manager.h"

namespace runnel::broker {

// What appending one batch did.
struct BatchAppend {
  // The batch's offsets. For a duplicate, those of the original batch (log_append_time -1:
  // the original's append time is not kept).
  storage::AppendResult result;
  bool duplicate = false;  // nothing was appended
};

struct ProducerStateOptions {
  int64_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms (one day)
  // producer.id.expiration.check.interval.ms: how often the background thread looks.
  int64_t expiration_check_interval_ms = 600'000;
  const Clock* clock = &Clock::Real();  // borrowed; must outlive the manager
};

// Rebuilds `log`'s producer state: its snapshot if valid (an absent, unreadable, corrupt or
// too-new snapshot is ignored, with a warning for the last three), then a scan of the batch
// headers from max(snapshot end offset, log start) — from the log start without a snapshot — to
// the log end. Errors: reading the log.
absl::StatusOr<ProducerStateTable> LoadProducerState(const storage::Log& log);

class ProducerStateManager {
 public:
  explicit ProducerStateManager(ProducerStateOptions options = {});
  ~ProducerStateManager();  // Stop()

  // Starts the background thread: it loads the state of every partition of `logs` that has a
  // snapshot (partitions without one never had a loaded idempotent producer in
  // an earlier run, or lost it: they load at their first idempotent batch), then expires idle
  // producers every check interval. `logs` must outlive Stop().
  void Start(storage::LogManager* logs);
  // Stops and joins the background thread (a load in progress finishes first).
  void Stop();

  // Forgets, in every loaded partition, the producers whose last batch is older than
  // producer.id.expiration.ms. Returns how many went.
  int ExpireProducers();
  // Whether `tp`'s state is loaded (for tests and the background load).
  bool IsLoaded(const storage::TopicPartition& tp);

  // Appends one batch (already validated, e.g. by ValidateBatch) to `log`, the log of `tp`
  // (remembered, without keeping it alive, for WriteSnapshots).
  // Errors: Log::Append's; loading the partition's state; ProducerStateTable::Check's and
  // BatchSequence::FromBatch's, which carry a ProducerError (CauseOf<ProducerError>).
  absl::StatusOr<BatchAppend> Append(const storage::TopicPartition& tp,
                                     const std::shared_ptr<storage::Log>& log, std::string batch);

  // Truncates `log` (the log of `tp`) to `offset` (storage::Log::TruncateTo) for a follower whose
  // log diverged, and makes the partition's producer state follow: snapshot writes queued before
  // are dropped, a snapshot covering offsets past the new end is deleted, and the state is rebuilt
  // from the log at the next append. So a retried batch whose original was truncated away is
  // appended again, not answered as a duplicate of records that no longer exist.
  absl::Status TruncateLog(const storage::TopicPartition& tp,
                           const std::shared_ptr<storage::Log>& log, int64_t offset);

  // --- Replicated partitions (broker/replication/) ---
  // Their batches reach the log through Raft, on every replica: the leader checks a batch before
  // proposing it (CheckReplicated), and each replica records the batches its log stores
  // (RecordReplicated) and forgets what a truncation took (ReplicaTruncated). So a follower that
  // becomes leader holds the producers' state, and a retry of an acknowledged batch is answered
  // as a duplicate on the new leader too.

  // The verdict on `batch` (which has a producer id) against `tp`'s state, loaded first if need
  // be: std::nullopt (append it), the retained batch it duplicates, or ProducerStateTable::Check's
  // error.
  absl::StatusOr<std::optional<ProducerBatch>> CheckReplicated(
      const storage::TopicPartition& tp, const std::shared_ptr<storage::Log>& log,
      const BatchSequence& batch);
  // `log` (of `tp`) now holds `batch` at offsets from `base_offset`. Recorded if the state is
  // loaded (else the next load finds it in the log); snapshots follow rolls as for Append.
  void RecordReplicated(const storage::TopicPartition& tp, const std::shared_ptr<storage::Log>& log,
                        const record::RecordBatchView& batch, int64_t base_offset);
  // `log` (of `tp`) was cut or reset: the state is rebuilt at the next use, and snapshots past
  // the new end are deleted (as TruncateLog does).
  absl::Status ReplicaTruncated(const storage::TopicPartition& tp,
                                const std::shared_ptr<storage::Log>& log);

  // Forgets `tp`'s state: its log is about to be deleted. Waits for a snapshot being written;
  // none is written into the log's directory afterwards. A later Append starts afresh.
  void Drop(const storage::TopicPartition& tp);

  // For each partition whose state is loaded: flushes its log up to its end (so a snapshot never
  // covers data a crash could still lose), then writes its `<end>.snapshot` durably
  // (WriteFileAtomically). Call at shutdown once appends have stopped, before the logs are
  // closed. Tries every partition and returns the first error.
  absl::Status WriteSnapshots();

 private:
  struct Partition {
    Mutex mu;
    // The log `table` describes. Weak: the state must not keep a deleted log alive, and its
    // snapshot callbacks (which hold the partition) must not drop the last handle to a log on a
    // flush thread.
    std::weak_ptr<storage::Log> log ABSL_GUARDED_BY(mu);
    bool loaded ABSL_GUARDED_BY(mu) = false;
    int64_t truncations ABSL_GUARDED_BY(mu) = 0;  // the log's truncation_count() at the load
    ProducerStateTable table ABSL_GUARDED_BY(mu);
    // The log's active segment when the last snapshot was taken (or the state loaded): a roll
    // since makes the next append take one.
    int64_t snapshot_segment ABSL_GUARDED_BY(mu) = -1;
    // Serialises writes of the snapshot file (a roll's, on the flush thread, and WriteSnapshots);
    // a write older than the last one written is skipped.
    Mutex file_mu;
    int64_t written_end ABSL_GUARDED_BY(file_mu) = -1;
    bool dropped ABSL_GUARDED_BY(file_mu) = false;  // by Drop: no more snapshot writes
    // Bumped by TruncateLog: a snapshot taken before (it may describe truncated batches) is not
    // written.
    int64_t generation ABSL_GUARDED_BY(file_mu) = 0;

    // The generation a snapshot taken now is written under.
    int64_t SnapshotGeneration() {
      MutexLock lock(&file_mu);
      return generation;
    }
    // Snapshots taken before now describe another state (another log of this name, or one cut
    // since): none of them is written, and the next one may have any end.
    void ForgetSnapshots() {
      MutexLock lock(&file_mu);
      ++generation;
      written_end = -1;
    }
  };
  // Replaces `log`'s snapshot file with `bytes` (covering offsets below `end`) unless a newer one
  // was written.
  static absl::Status WriteSnapshotFile(Partition* partition, storage::Log& log, int64_t end,
                                        const std::string& bytes, bool durable, int64_t generation);

  // Loads `partition`'s state from `log` unless it is loaded from that very log and not truncated
  // since.
  absl::Status EnsureLoadedLocked(const storage::TopicPartition& tp, Partition* partition,
                                  const std::shared_ptr<storage::Log>& log)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(partition->mu);
  void Run(storage::LogManager* logs);

  // shared_ptr: an Append in progress keeps its partition alive while Drop removes it.
  std::shared_ptr<Partition> GetPartition(const storage::TopicPartition& tp);
  // nullptr if `tp` has no state.
  std::shared_ptr<Partition> FindPartition(const storage::TopicPartition& tp);
  // After an append: if the log rolled since the last snapshot, asks for one to be written once
  // the log is durable up to its current end (the table covers every idempotent batch below it:
  // they are appended and recorded under `partition->mu`).
  static void MaybeSnapshotLocked(const std::shared_ptr<Partition>& partition, storage::Log* log)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(partition->mu);
  // Forgets snapshots taken before and deletes those past the log's end; the caller holds the
  // partition's mutex and marks it unloaded.
  static absl::Status DropSnapshotsPastEndLocked(Partition* partition, storage::Log* log);
  absl::StatusOr<BatchAppend> AppendIdempotent(const storage::TopicPartition& tp,
                                               const std::shared_ptr<storage::Log>& log,
                                               std::string batch, const BatchSequence& sequence);

  const ProducerStateOptions options_;
  Mutex mu_;
  absl::flat_hash_map<storage::TopicPartition, std::shared_ptr<Partition>> partitions_
      ABSL_GUARDED_BY(mu_);
  Mutex thread_mu_;
  CondVar thread_cv_;
  bool stopping_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
};

}  // namespace runnel::broker
