// Log: one partition's log — a directory of segments (segment.h) named by base offset, of which
// the last is appended to. See storage/README.md for the crash guarantees and docs/FORMAT.md for
// the files.
//
// Threading: every method may be called from any thread. Appends are serialised by an exclusive
// lock; reads share a reader lock and only ever see whole batches that were fully written. Syncs
// (Flush) run without the lock so appends continue while fdatasync runs. Durability callbacks run
// on the Flusher's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status_cause.h"
#include "storage/flusher.h"
#include "storage/leader_epoch_cache.h"
#include "storage/log_config.h"
#include "storage/offset_map.h"
#include "storage/segment.h"

namespace runnel::storage {

struct AppendResult {
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int64_t log_append_time = -1;  // the broker time stamped on the batch, -1 for CreateTime
};

// How far a read may go. Consumers read to the high watermark: only what is durable (synced on
// this node; the commit index once replicated), so no consumer sees, or commits past, a record
// that a power loss could take back and a later record could then reuse the offset of. The broker's
// own replays (producer state, group records) read to the log end.
enum class ReadLimit { kHighWatermark, kLogEnd };

// Why Append refused a batch the record format allows: the status's cause
// (CauseOf<AppendError>, common/status_cause.h).
enum class AppendError {
  kMissingKey,        // a record without a key on a compacted topic (Kafka: INVALID_RECORD)
  kInvalidTimestamp,  // outside message.timestamp.after/before.max.ms (INVALID_TIMESTAMP)
  kTooLarge,          // over max.message.bytes (MESSAGE_TOO_LARGE)
};
constexpr const char* CauseTypeUrl(AppendError) { return "runnel.storage.AppendError"; }

// Where a compacted log stands, for the cleaner's choice of log (log_cleaner.h): the closed
// segments split into the clean part (below the first dirty offset, compacted before) and the
// dirty part (appended since).
struct CleaningState {
  int64_t first_dirty_offset = 0;        // the cleaner checkpoint, within the closed segments
  int64_t first_uncleanable_offset = 0;  // the active segment's base: never cleaned
  uint64_t clean_bytes = 0;
  uint64_t dirty_bytes = 0;
  // The earliest delete horizon of the tombstones the last round kept (-1 if none): once it
  // passes, a round drops them even if no new record came.
  int64_t tombstone_deadline_ms = -1;

  double dirty_ratio() const {
    const uint64_t total = clean_bytes + dirty_bytes;
    return total == 0 ? 0.0 : static_cast<double>(dirty_bytes) / static_cast<double>(total);
  }
};

// What one cleaning round did.
struct CleanStats {
  bool ran = false;            // false: not compacted, or nothing closed to clean
  int64_t mapped_end = 0;      // records below were deduplicated: the new first dirty offset
  int64_t dirty_left = 0;      // offsets from there to the active segment, not mapped this round
  size_t keys_mapped = 0;      // distinct keys in the dedupe map
  size_t map_bytes = 0;        // the dedupe map's table
  uint64_t bytes_read = 0;     // of segments rewritten or checked
  uint64_t bytes_written = 0;  // of cleaned segments swapped in
  int64_t records_read = 0;
  int64_t records_written = 0;
  int segments_before = 0;  // segments of the groups swapped in ...
  int segments_after = 0;   // ... and what replaced them
};

struct LogOpenReport {
  bool clean_shutdown = false;
  RecoveryReport recovery;  // what was cut from the active segment's tail
};

class Log {
 public:
  // Opens (or creates) the log in `dir`. Without a clean-shutdown marker the active segment is
  // scanned batch by batch and a torn or corrupt tail cut off. `flusher` is borrowed and must
  // outlive the log.
  static absl::StatusOr<std::unique_ptr<Log>> Open(const std::string& dir, const LogConfig& config,
                                                   Flusher* flusher,
                                                   const Clock* clock = &Clock::Real(),
                                                   LogOpenReport* report = nullptr);
  // Waits for queued durability requests; does not write the clean-shutdown marker (Close does).
  ~Log();

  // Validates `batch` (common/record validator), assigns its offsets (and LogAppendTime when
  // configured), rolls the segment if needed, and writes it. A batch that fails validation or
  // exceeds max.message.bytes is never written. If `on_durable` is set it is called (on the flush
  // thread) once the batch is on disk, or with the sync error.
  absl::StatusOr<AppendResult> Append(std::string batch, DurableCallback on_durable = {});

  // Calls `done` (on the flush thread, or with the sync error) once everything below `end_offset`
  // is durable — at once if it already is.
  void WhenDurable(int64_t end_offset, DurableCallback done);

  // Whole stored batches starting with the one holding `offset`, at most `max_bytes` unless the
  // first batch alone is larger (it is returned whole, like Kafka), and none at or past `limit`.
  // Empty at the limit (also between the high watermark and the log end); OutOfRange for an
  // offset below the start or above the log end.
  absl::StatusOr<std::string> Read(int64_t offset, size_t max_bytes,
                                   ReadLimit limit = ReadLimit::kLogEnd) const;

  // The first offset whose record timestamp is >= `timestamp`, std::nullopt if none.
  absl::StatusOr<std::optional<int64_t>> OffsetForTimestamp(int64_t timestamp) const;

  int64_t start_offset() const;
  int64_t end_offset() const;  // the offset the next record will get
  int64_t flushed_offset() const;
  // The offset below which consumers may read: the synced offset on a log without replicas, the
  // replicated high watermark (SetReplicatedHighWatermark) on a replica.
  int64_t high_watermark() const;
  // Whether a Flush would do anything for a request up to `end_offset`: data not yet synced, or a
  // closed segment whose sync and index files are still pending.
  bool NeedsFlush(int64_t end_offset) const;
  uint64_t size_bytes() const;
  size_t segment_count() const;
  // Records below this offset lie in closed segments, the ones compaction and retention act on.
  int64_t active_segment_base_offset() const;
  const std::string& dir() const { return dir_; }
  LogConfig config() const;
  void SetConfig(const LogConfig& config);
  // `listener` is called (on the thread that synced, usually the flush thread; it must only hand
  // the news on) each time the high watermark grows. Set it before the log is shared.
  void SetHighWatermarkListener(std::function<void()> listener);

  // The id of the topic this partition belongs to, from `partition.metadata` (Kafka's file of the
  // same name); empty when the directory has none (made before topic ids, or not yet tagged).
  std::string topic_id() const;
  // Tags the directory with `id` (written durably). FailedPrecondition naming both ids if it is
  // already tagged with another: the directory belongs to another topic of the same name, and
  // adopting it would bring that topic's records back.
  absl::Status SetTopicId(const std::string& id);

  // Writes `name` in the log's directory (WriteFileAtomically, durable or not) for an owner's file
  // beside the segments (the broker's producer-state snapshot), under the log's lock so it cannot
  // race MarkDeleted: NotFound once the log is deleted, and nothing is written then.
  absl::Status WriteOwnerFile(const std::string& name, std::string_view contents, bool durable);
  // Removes such a file (a missing one is no error), then, if `durable`, syncs the directory.
  absl::Status RemoveOwnerFile(const std::string& name, bool durable);

  // The partition is being deleted: waits for a sync in flight, then every later operation fails
  // with NotFound naming the log (appends, reads, syncs; queued durability requests get that
  // error), and no file in its directory is written again, so the directory can be renamed and
  // removed while others still hold the log (LogManager hands out shared handles).
  void MarkDeleted();

  // The leader epoch appends are stamped with (partitionLeaderEpoch; the Raft term once
  // replicated): the latest in the leader-epoch checkpoint at open, at least 0.
  int32_t leader_epoch() const;
  // Raises the epoch later appends are stamped with; the first batch of a new epoch records
  // (epoch, its base offset) in the leader-epoch checkpoint. FailedPrecondition if `epoch` is below
  // the current one: leader epochs only grow.
  absl::Status SetLeaderEpoch(int32_t epoch);
  // Kafka's OffsetsForLeaderEpoch on this log: the largest epoch <= `epoch` it holds and the end
  // offset of that epoch (LeaderEpochCache::EndOffsetFor).
  std::pair<int32_t, int64_t> EndOffsetForEpoch(int32_t epoch) const;
  std::vector<EpochEntry> epoch_entries() const;

  // --- Replicas (log_replication.cc) ---
  // A replicated partition's log is the Raft log of its group (broker/replication/): the leader
  // checks and prepares a produced batch (PrepareAppend), proposes it, and every replica stores it
  // at the offsets and epoch the leader chose (AppendReplicated).

  // The checks Append makes of a produced batch (structure and CRC, keys on a compacted log,
  // max.message.bytes, the timestamp bounds), with the same errors and causes, and the
  // LogAppendTime stamp when the topic asks for it (returned in `*log_append_time`, else -1): what
  // is proposed is what every replica stores. Offsets and epoch are stamped by AppendReplicated.
  absl::Status PrepareAppend(std::string* batch, int64_t* log_append_time) const;
  // Stores `*batch` (prepared by a leader, or read from the leader's log) as offsets from
  // `base_offset`, which must be the log end, under `epoch` (raised first, as SetLeaderEpoch). The
  // batch's base offset and partitionLeaderEpoch are overwritten in `*batch` (they are outside its
  // CRC), which is left to the caller as stored; its CRC is checked, not its records: the leader
  // checked them. InvalidArgument for a batch that
  // does not parse or whose CRC is wrong, FailedPrecondition for an offset other than the log end
  // or an epoch below the latest one the log still holds (a truncation may have removed higher
  // ones: a follower then takes the new leader's lower epoch); I/O errors as Append. Syncs are the
  // caller's (WhenDurable).
  absl::StatusOr<AppendResult> AppendReplicated(std::string* batch, int64_t base_offset,
                                                int32_t epoch);
  // Empties the log: it now starts, and ends, at `offset` (at or past the start; a replica too far
  // behind its leader's log start starts over there). What is visible is cut first, then the new
  // empty segment is created, the emptied leader-epoch checkpoint and then the start offset are
  // persisted, and the old segments go: a crash part way leaves a shorter log, or the old
  // segments with an empty one at `offset` (the owner completes the reset at its next open:
  // PartitionRaftLog records the start first).
  absl::Status ResetTo(int64_t offset);
  // Makes this log a replica's: from now on consumers read below `offset` (the commit index + 1,
  // at most the log end; it only grows) instead of below the synced offset, and the high
  // watermark listener runs when it grows. Retention never deletes at or past it.
  void SetReplicatedHighWatermark(int64_t offset);
  // What SetReplicatedHighWatermark last set (-1: not a replica's log).
  int64_t replicated_high_watermark() const;

  // Removes every batch whose base offset is at or after `offset` (a batch straddling it stays
  // whole, so the log end may stay above `offset`), for a follower whose log diverged from its
  // leader's: segments past it are deleted, the one it falls in is cut and its index rebuilt, the
  // leader-epoch checkpoint loses the epochs that started past the new end. Never below the start
  // offset. Owners keeping state derived from the records (producer state) must rebuild it; see
  // truncation_count().
  absl::Status TruncateTo(int64_t offset);
  // How many TruncateTo calls removed anything from this log since it was opened.
  int64_t truncation_count() const;
  // Moves the log start to `offset` and deletes the segments wholly below it.
  absl::Status DeleteBefore(int64_t offset);

  // Syncs everything appended so far below `up_to` (everything by default), plus any closed
  // segment whose sync and index files are pending.
  absl::Status Flush(int64_t up_to = std::numeric_limits<int64_t>::max());
  // Flush if flush.ms has passed since the last one (called periodically by LogManager).
  absl::Status MaybeFlushByTime();

  // Deletes the oldest segments past retention.ms / retention.bytes (cleanup.policy delete). A
  // segment is past retention.ms when its max timestamp is; when every segment is, the active one
  // included, a new empty segment is rolled first (Kafka's rule), so a partition no longer written
  // to does not keep its last records forever. Size retention never takes the active segment.
  absl::Status ApplyRetention();
  // Compaction (cleanup.policy compact), Kafka's log cleaner; see log_compactor.cc and
  // docs/FORMAT.md section 14. One round: the keyed records of the dirty part (from the first
  // dirty offset to the active segment) go into `map`, as far as it holds them; then every closed
  // segment below where the mapping stopped is rewritten, in groups merged up to segment.bytes,
  // keeping a keyed record only if no later record of its key was mapped. A tombstone that is
  // kept gets a delete horizon (now + delete.retention.ms) on its batch, and a later round drops
  // it once that has passed. Unkeyed records and control batches always stay; offsets never
  // change. Each group is swapped in atomically (`.cleaned` -> `.log.<end>.swap` -> `.log`), so a
  // crash at any point leaves either the old segments or the new one. Appends and reads go on
  // meanwhile. `stop` (if set) makes a round give up between batches (Cancelled).
  absl::StatusOr<CleanStats> Clean(OffsetMap* map, const std::atomic<bool>* stop = nullptr);
  // Rounds of Clean until no dirty record is left, whatever min.cleanable.dirty.ratio says.
  absl::Status Compact(size_t dedupe_buffer_bytes = kDefaultDedupeBufferBytes);
  CleaningState cleaning_state() const;

  // Flushes, persists indexes and writes the clean-shutdown marker. The log must not be used
  // afterwards.
  absl::Status Close();

  static constexpr char kCleanShutdownFile[] = "clean-shutdown";
  static constexpr char kStartOffsetFile[] = "log-start-offset";
  static constexpr char kPartitionMetadataFile[] = "partition.metadata";
  static constexpr char kCleanerCheckpointFile[] = "cleaner-checkpoint";
  static constexpr size_t kDefaultDedupeBufferBytes = size_t{128} << 20;  // Kafka's default

 private:
  Log(std::string dir, const LogConfig& config, Flusher* flusher, const Clock* clock);

  absl::Status LoadSegments(LogOpenReport* report);
  // Reads partition.metadata into topic_id_ (log_metadata.cc).
  absl::Status LoadTopicId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loads the leader-epoch checkpoint and adds the epochs of the batches in segments recovery
  // scanned (from `first_recovered`, -1 for none), or rebuilds it from every batch header when it
  // is missing or damaged; fits it to the log's start and end.
  absl::Status LoadLeaderEpochs(int64_t first_recovered) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the cleaner checkpoint (log_metadata.cc); missing or unreadable means "nothing clean".
  void LoadCleanerCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Not durable after a round (an old or missing checkpoint after a crash only makes the next
  // round redo work); durable when TruncateTo lowers it.
  absl::Status PersistCleanerCheckpoint(bool durable = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rewrites one group of consecutive closed segments of a cleaning round (log_compactor.cc).
  struct CleanRound;
  absl::Status CleanGroup(CleanRound* round, const std::vector<std::shared_ptr<Segment>>& group,
                          CleanStats* stats);
  absl::Status RollLocked(int64_t next_offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // TruncateTo under the three locks it needs.
  absl::Status TruncateLocked(int64_t offset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(compaction_mu_, flush_mu_, mu_);
  // Writes `batch`, stamped with offsets from `base` and leader_epoch_, to the active segment
  // (rolled first when full or old) and records a new epoch's start.
  absl::Status WriteLocked(const record::RecordBatchView& batch, int64_t base)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where consumers' reads stop and retention's deletions too (high_watermark()).
  int64_t HighWatermarkLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Writes the start offset file (two syncs). Callers hold flush_mu_ but not mu_ (or are opening
  // the log), so writes happen in order and appends and reads go on meanwhile.
  absl::Status PersistStartOffset(int64_t offset);
  // Deletes the oldest closed segments for which `should_delete(segment)` holds, in order,
  // stopping at the first that doesn't.
  absl::Status DeleteOldestSegments(const std::function<bool(const Segment&)>& should_delete);
  absl::Status DeleteOldestSegmentsLocked(const std::function<bool(const Segment&)>& should_delete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  Segment& active() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return *segments_.back(); }
  // Passes what a mutating file operation returned through the data dir's failure state: an I/O
  // error (not a full disk) takes the whole dir offline (data_dir_failure.h).
  absl::Status Io(absl::Status status) { return flusher_->failure().OnIoError(status); }
  // OK while the data dir is healthy and the log not deleted, else the error every operation gets.
  absl::Status CheckUsable() const;

  const std::string dir_;
  Flusher* const flusher_;
  const Clock* const clock_;  // borrowed; wall time for rolls, retention and append times

  mutable Mutex mu_;
  LogConfig config_ ABSL_GUARDED_BY(mu_);
  // config_.cleanup_compact, readable without mu_ (Append checks keys before taking it).
  std::atomic<bool> compact_;
  // Ordered by base offset; never empty once open. shared_ptr: a sync in flight keeps its
  // segment alive while retention may drop it from the list.
  std::vector<std::shared_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);
  int64_t start_offset_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t flushed_offset_ ABSL_GUARDED_BY(mu_) = 0;
  // -1 unless a replica's (SetReplicatedHighWatermark).
  int64_t replicated_high_watermark_ ABSL_GUARDED_BY(mu_) = -1;
  std::function<void()> high_watermark_listener_ ABSL_GUARDED_BY(mu_);
  int64_t last_flush_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::string topic_id_ ABSL_GUARDED_BY(mu_);
  LeaderEpochCache epochs_ ABSL_GUARDED_BY(mu_);
  // Changes to epochs_ and how many of them the checkpoint file has (Flush persists the rest).
  uint64_t epochs_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epochs_persisted_version_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t leader_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t truncation_count_ ABSL_GUARDED_BY(mu_) = 0;
  // The cleaner checkpoint (cleaner-checkpoint): records below first_dirty_ were compacted.
  int64_t first_dirty_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t tombstone_deadline_ms_ ABSL_GUARDED_BY(mu_) = -1;
  // Set first by MarkDeleted: a cleaning round in progress gives up at its next batch.
  std::atomic<bool> deleting_{false};
  // Set under mu_ and flush_mu_ (so appends, rolls and syncs see it), read without them too.
  std::atomic<bool> deleted_{false};

  // Lock order: compaction_mu_, flush_mu_, mu_ (TruncateTo and a compaction's swap take all three).
  Mutex flush_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one Flush at a time (they write the index files)
  // One cleaning round at a time; appends continue meanwhile.
  Mutex compaction_mu_ ABSL_ACQUIRED_BEFORE(flush_mu_);
};

}  // namespace runnel::storage
