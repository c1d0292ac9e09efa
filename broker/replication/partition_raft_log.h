// PartitionRaftLog: a replicated partition's segment log (storage::Log) as the Raft log of its
// group (raft::LogStorage; docs/ARCHITECTURE.md section 3). Index = offset, term =
// partitionLeaderEpoch, one entry = one RecordBatch v2 batch:
//
//   - kData entries are produced batches. The leader proposes a batch its log prepared
//     (Log::PrepareAppend); every replica stores it with the entry's offsets and term
//     (Log::AppendReplicated), so replicas hold the same bytes.
//   - kLeaderChange and kConfig entries are control batches of one record (control_record.h:
//     types kLeaderChange and kVoters; the value is the entry's data), which consumers skip.
//
// Beside the segments, in owner files (Log::WriteOwnerFile, docs/FORMAT.md section 23):
//   - `raft-state`: the hard state (term, vote), written durably by SaveHardState;
//   - `raft-log-start`: the index and term before the log start, and the membership in force
//     there, written durably before a ResetTo changes the log (a crash part way is completed at
//     the next Open);
//   - `raft-configs`: the index and data of every configuration batch above the log start,
//     written durably before such a batch is appended, and checked against the log at Open;
//   - `raft-catching-up`: present while the replica has not caught up since it started without
//     state (written at Open, removed once it has);
//   - `raft-high-watermark`: the commit index + 1 last checkpointed (not synced: any value up to
//     the commit index is safe, and a replica whose log lost the tail in a power loss reads at
//     most to its log end), so consumers of a restarted leader resume before it learns the
//     commit index again.
// Terms come from the log's leader-epoch cache, mirrored here so a lookup reads no file.
//
// A write that fails (an I/O error, a full disk) stops the process: the node cannot go on without
// what it was told is in its log, and never acknowledges what is not durable; the other replicas
// carry on (LogStorage's contract).
//
// Thread-safety: none; the replica's driver calls it from one thread (as the node).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/record/record_batch.h"
#include "raft/log_storage.h"
#include "raft/types.h"
#include "storage/log.h"

namespace runnel::broker {

class PartitionRaftLog final : public raft::LogStorage {
 public:
  static constexpr char kStateFile[] = "raft-state";
  static constexpr char kStartFile[] = "raft-log-start";
  static constexpr char kConfigsFile[] = "raft-configs";
  static constexpr char kHighWatermarkFile[] = "raft-high-watermark";
  static constexpr char kCatchingUpFile[] = "raft-catching-up";

  // Reads the owner files (missing ones: a new replica) and completes an interrupted ResetTo.
  // `may_have_lost_state`: a replica without Raft state may be one whose disk was wiped (the
  // caller knows: ReplicaReconciler), so it starts catching up. DataLoss naming the file for one
  // that does not parse or disagrees with the log.
  static absl::StatusOr<std::unique_ptr<PartitionRaftLog>> Open(std::shared_ptr<storage::Log> log,
                                                                bool may_have_lost_state = false);

  raft::HardState hard_state() const { return hard_state_; }
  // Writes the hard state durably (a vote must survive a crash before it is granted).
  absl::Status SaveHardState(const raft::HardState& state);

  storage::Log& log() const { return *log_; }
  const std::shared_ptr<storage::Log>& shared_log() const { return log_; }

  // Told of what changes the records (the broker's producer state follows them).
  struct Observer {
    // A data batch was stored at offsets from `base_offset` (`batch` is its bytes as proposed:
    // their own base offset is not stamped).
    std::function<void(const record::RecordBatchView& batch, int64_t base_offset)> appended;
    // The tail was cut, or the log reset.
    std::function<void()> truncated;
  };
  void SetObserver(Observer observer) { observer_ = std::move(observer); }

  // Entries up to `commit` are committed: consumers may read them (the log's high watermark
  // becomes commit + 1). Lower values than before are ignored.
  void SetCommitted(raft::Index commit);
  // Writes `raft-high-watermark` if it changed since the last checkpoint (the driver calls it
  // every few seconds and at shutdown).
  absl::Status CheckpointHighWatermark();

  // Whether this replica may have lost its Raft state (raft::Options::catching_up): it had no
  // `raft-state` when first opened with `may_have_lost_state`, and has not caught up since. Open
  // writes `raft-catching-up` durably then, before any state can be written, so a crash part way
  // through catching up keeps it.
  bool catching_up() const { return catching_up_; }
  // The node caught up: removes `raft-catching-up` durably.
  absl::Status FinishCatchingUp();

  raft::Index StartIndex() const override;
  raft::Term StartTerm() const override;
  raft::Index LastIndex() const override { return end_ - 1; }
  std::optional<raft::Term> TermAt(raft::Index index) const override;
  raft::Index TermStart(raft::Index index) const override;
  std::optional<raft::Index> LastIndexAtOrBelowTerm(raft::Term term) const override;
  raft::Index EntryStart(raft::Index index) const override;
  std::vector<raft::Entry> Read(raft::Index from, int64_t max_bytes) const override;
  void Append(std::vector<raft::Entry> entries) override;
  void TruncateAfter(raft::Index index) override;
  void ResetTo(raft::Index index, raft::Term term, const std::string& snapshot,
               const std::string& config) override;
  std::string SnapshotData() const override { return {}; }
  std::optional<ConfigRecord> LastConfig() const override;
  std::string StartConfig() const override { return start_config_; }

 private:
  explicit PartitionRaftLog(std::shared_ptr<storage::Log> log);

  absl::Status Load(bool may_have_lost_state);
  absl::Status LoadState();
  absl::Status LoadStart();
  absl::Status LoadConfigs();
  absl::Status LoadHighWatermark();
  absl::Status SaveStart() const;
  absl::Status SaveConfigs() const;
  // The index of the first epoch entry covering `index` (epochs_.size() when none does).
  size_t EpochCovering(raft::Index index) const;
  // The entry stored as `batch`. `whole`: null, or the buffer `batch` views when it is exactly that
  // batch, taken as a data entry's data instead of a copy.
  raft::Entry ToEntry(const record::RecordBatchView& batch, std::string* whole) const;
  [[noreturn]] void Stop(const char* what, const absl::Status& status) const;

  const std::shared_ptr<storage::Log> log_;
  raft::HardState hard_state_;
  bool has_state_ = false;  // a `raft-state` file was there at Open
  bool catching_up_ = false;
  // Before the log start: the last index and term a ResetTo installed (kNoIndex: none), and the
  // membership in force there.
  raft::Index start_index_ = raft::kNoIndex;
  raft::Term start_term_ = 0;
  std::string start_config_;
  std::map<raft::Index, std::string> configs_;  // configuration batches by offset
  std::vector<storage::EpochEntry> epochs_;     // the log's leader-epoch cache, mirrored
  raft::Index end_ = 0;                         // the log end, mirrored
  int64_t high_watermark_ = 0;                  // commit index + 1
  int64_t checkpointed_high_watermark_ = -1;
  Observer observer_;
};

}  // namespace runnel::broker
