// Log's methods for a replicated partition, whose log is the Raft log of its group (log.h,
// "Replicas").
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/record/batch_validator.h"
#include "common/status_macros.h"
#include "storage/batch_checks.h"
#include "storage/log.h"

namespace runnel::storage {

using record::RecordBatchView;

absl::Status Log::PrepareAppend(std::string* batch, int64_t* log_append_time) const {
  *log_append_time = -1;
  RETURN_IF_ERROR(record::ValidateBatch(*batch));
  {
    // Control batches are the log's own (a replica reads them back as leader and membership
    // changes); Kafka refuses them from clients too.
    ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(*batch));
    if (view.is_control()) {
      return absl::InvalidArgumentError("a produced batch may not be a control batch");
    }
  }
  if (compact_.load(std::memory_order_relaxed)) RETURN_IF_ERROR(RequireKeys(*batch));
  const int64_t now = clock_->NowMs();
  ReaderMutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckUsable());
  RETURN_IF_ERROR(CheckSize(batch->size(), config_));
  if (config_.message_timestamp_type == record::TimestampType::kLogAppendTime) {
    StampLogAppendTime(batch, now);
    *log_append_time = now;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(*batch));
  return CheckTimestamps(view, config_, now);
}

absl::StatusOr<AppendResult> Log::AppendReplicated(std::string* batch, int64_t base_offset,
                                                   int32_t epoch) {
  {
    ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(*batch));
    if (view.size() != batch->size()) {
      return absl::InvalidArgumentError(absl::StrCat("replicated batch at offset ", base_offset,
                                                     " has ", batch->size() - view.size(),
                                                     " bytes after its end"));
    }
    if (view.ComputeCrc() != view.crc()) {
      return absl::InvalidArgumentError(absl::StrCat("replicated batch at offset ", base_offset,
                                                     " fails its CRC check: stored ", view.crc(),
                                                     ", computed ", view.ComputeCrc()));
    }
  }
  StampOffsets(batch, base_offset, epoch);
  ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(*batch));
  AppendResult result;
  {
    MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckUsable());
    const int64_t end = active().next_offset();
    if (base_offset != end) {
      return absl::FailedPreconditionError(absl::StrCat("replicated batch at offset ", base_offset,
                                                        " does not start at the log end ", end,
                                                        " of ", dir_));
    }
    // Epochs never decrease along the log as it is now. Not leader_epoch_: a truncation or a
    // reset leaves it at a deposed leader's epoch whose entries are gone, and the new leader's
    // entries in their place may carry a lower one (Raft's figure 7).
    if (epoch < epochs_.latest_epoch()) {
      return absl::FailedPreconditionError(absl::StrCat("replicated batch of leader epoch ", epoch,
                                                        " is below the log's last epoch ",
                                                        epochs_.latest_epoch(), " in ", dir_));
    }
    leader_epoch_ = epoch;
    RETURN_IF_ERROR(WriteLocked(view, base_offset));
    result.base_offset = base_offset;
    result.last_offset = view.last_offset();
    if (view.timestamp_type() == record::TimestampType::kLogAppendTime) {
      result.log_append_time = view.max_timestamp();
    }
  }
  // Synced soon even if no one waits (as Append): the replication layer asks WhenDurable.
  flusher_->RequestFlush(this, result.last_offset + 1, {});
  return result;
}

absl::Status Log::ResetTo(int64_t offset) {
  MutexLock compaction_lock(&compaction_mu_);
  MutexLock flush_lock(&flush_mu_);
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckUsable());
    if (offset < start_offset_) {
      return absl::OutOfRangeError(absl::StrCat("ResetTo ", offset, " is below the log start ",
                                                start_offset_, " of ", dir_));
    }
    // Everything visible goes first: what is left lies below the start.
    if (active().next_offset() > start_offset_) RETURN_IF_ERROR(TruncateLocked(start_offset_));
    if (active().next_offset() > offset) {
      return absl::FailedPreconditionError(
          absl::StrCat("ResetTo ", offset, " falls inside a batch that straddles the log start ",
                       start_offset_, " of ", dir_));
    }
    if (!(active().empty() && active().base_offset() == offset)) {
      absl::StatusOr<std::unique_ptr<Segment>> segment =
          Segment::Create(dir_, offset, static_cast<uint32_t>(config_.index_interval_bytes));
      RETURN_IF_ERROR(Io(segment.status()));
      (*segment)->set_created_ms(clock_->NowMs());
      RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
      segments_.push_back(std::move(*segment));
    }
    // The old epochs go before the new start is persisted: a crash between the two must not
    // leave an empty log at `offset` whose checkpoint still holds the old log's last epoch (the
    // open moves it to the start, where it outranks the new leader's entries). A crash before the
    // start is persisted is completed by the replica's next open (PartitionRaftLog).
    epochs_ = LeaderEpochCache();
    RETURN_IF_ERROR(Io(epochs_.Persist(dir_)));
    epochs_persisted_version_ = ++epochs_version_;
    RETURN_IF_ERROR(PersistStartOffset(offset));
    start_offset_ = offset;
    flushed_offset_ = offset;
    if (first_dirty_ != offset) {
      first_dirty_ = offset;
      RETURN_IF_ERROR(PersistCleanerCheckpoint(/*durable=*/true));
    }
    ++truncation_count_;
    doomed.assign(segments_.begin(), segments_.end() - 1);
    segments_.erase(segments_.begin(), segments_.end() - 1);
  }
  for (const auto& segment : doomed) RETURN_IF_ERROR(Io(segment->Remove()));
  RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
  logging::Get("storage")->info("log {}: reset to start at offset {}", dir_, offset);
  return absl::OkStatus();
}

int64_t Log::replicated_high_watermark() const {
  ReaderMutexLock lock(&mu_);
  return replicated_high_watermark_;
}

void Log::SetReplicatedHighWatermark(int64_t offset) {
  std::function<void()> listener;
  {
    MutexLock lock(&mu_);
    RUNNEL_CHECK(offset >= replicated_high_watermark_,
                 "log %s: the high watermark moves back from %d to %d", dir_,
                 replicated_high_watermark_, offset);
    if (offset == replicated_high_watermark_) return;
    replicated_high_watermark_ = offset;
    listener = high_watermark_listener_;
  }
  if (listener) listener();
}

}  // namespace runnel::storage
