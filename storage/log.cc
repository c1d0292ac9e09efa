#include "storage/log.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/check.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "common/record/batch_validator.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "storage/batch_checks.h"

namespace runnel::storage {
namespace {

using record::RecordBatchView;

// Files in a partition directory, by what recovery does with them.
struct DirListing {
  std::vector<int64_t> segment_bases;  // <base>.log
  std::vector<std::string> leftovers;  // .tmp, .cleaned, .deleted, orphan indexes: removed
  // A finished compaction to install: `<base>.log.<end>.swap` replaces the segments with base
  // offsets in [base, end); `<base>.log.swap` (before groups were merged) replaces `<base>.log`.
  struct Swap {
    std::string name;
    int64_t base;
    int64_t end;
  };
  std::vector<Swap> swaps;
};

absl::StatusOr<DirListing> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return absl::InternalError(absl::StrCat(dir, ": opendir failed: ", ErrnoText(errno)));
  }
  DirListing listing;
  std::vector<std::pair<std::string, std::string>> indexes;  // (stem, name)
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const size_t dot = name.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    const std::string stem = name.substr(0, dot);
    const std::string ext = name.substr(dot);
    const std::optional<int64_t> base = Segment::ParseFileStem(stem);
    if (ext == ".log" && base) {
      listing.segment_bases.push_back(*base);
    } else if (ext == ".log.swap" && base) {
      listing.swaps.push_back({name, *base, *base + 1});
    } else if (absl::StartsWith(ext, ".log.") && absl::EndsWith(ext, ".swap") && base &&
               ext.size() == 5 + 20 + 5) {
      const std::optional<int64_t> end = Segment::ParseFileStem(ext.substr(5, 20));
      if (end && *end > *base) listing.swaps.push_back({name, *base, *end});
    } else if (ext == ".index" || ext == ".timeindex") {
      indexes.emplace_back(stem, name);
    } else if (absl::EndsWith(name, ".tmp") || absl::EndsWith(name, ".cleaned") ||
               absl::EndsWith(name, ".deleted")) {
      listing.leftovers.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(listing.segment_bases.begin(), listing.segment_bases.end());
  for (const auto& [stem, name] : indexes) {
    const std::optional<int64_t> base = Segment::ParseFileStem(stem);
    if (!base ||
        !std::binary_search(listing.segment_bases.begin(), listing.segment_bases.end(), *base)) {
      listing.leftovers.push_back(name);  // an index whose segment is gone
    }
  }
  return listing;
}

}  // namespace

Log::Log(std::string dir, const LogConfig& config, Flusher* flusher, const Clock* clock)
    : dir_(std::move(dir)),
      flusher_(flusher),
      clock_(clock),
      config_(config),
      compact_(config.cleanup_compact) {}

Log::~Log() { flusher_->Drain(this); }

absl::Status Log::CheckUsable() const {
  if (deleted_.load(std::memory_order_acquire)) {
    return absl::NotFoundError(absl::StrCat("partition log ", dir_, " was deleted"));
  }
  return flusher_->failure().Check();
}

absl::Status Log::WriteOwnerFile(const std::string& name, std::string_view contents, bool durable) {
  ReaderMutexLock lock(&mu_);  // MarkDeleted waits for it, or it sees the log deleted
  RETURN_IF_ERROR(CheckUsable());
  return Io(WriteFileAtomically(absl::StrCat(dir_, "/", name), contents, durable));
}

absl::Status Log::RemoveOwnerFile(const std::string& name, bool durable) {
  ReaderMutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckUsable());
  RETURN_IF_ERROR(Io(RemoveFile(absl::StrCat(dir_, "/", name))));
  return durable ? Io(SyncDirectory(dir_)) : absl::OkStatus();
}

void Log::MarkDeleted() {
  deleting_.store(true, std::memory_order_release);  // a cleaning round gives up at once ...
  MutexLock compaction_lock(&compaction_mu_);        // ... and is gone before the rename
  MutexLock flush_lock(&flush_mu_);  // a sync in flight writes index files: let it finish
  MutexLock lock(&mu_);
  deleted_.store(true, std::memory_order_release);
}

absl::StatusOr<std::unique_ptr<Log>> Log::Open(const std::string& dir, const LogConfig& config,
                                               Flusher* flusher, const Clock* clock,
                                               LogOpenReport* report) {
  RETURN_IF_ERROR(config.Validate());
  const bool created = ::mkdir(dir.c_str(), 0755) == 0;
  if (!created && errno != EEXIST) {
    return absl::InternalError(absl::StrCat(dir, ": mkdir failed: ", ErrnoText(errno)));
  }
  // The new directory's entry in the data dir must be durable before anything in it can be.
  if (created) RETURN_IF_ERROR(SyncDirectory(ParentDirectory(dir)));
  std::unique_ptr<Log> log(new Log(dir, config, flusher, clock));
  LogOpenReport local_report;
  RETURN_IF_ERROR(log->LoadSegments(report != nullptr ? report : &local_report));
  return log;
}

int64_t Log::truncation_count() const {
  ReaderMutexLock lock(&mu_);
  return truncation_count_;
}

absl::Status Log::LoadSegments(LogOpenReport* report) {
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(LoadTopicId());
  const std::string marker = absl::StrCat(dir_, "/", kCleanShutdownFile);
  report->clean_shutdown = FileExists(marker);

  ASSIGN_OR_RETURN(DirListing listing, ListDir(dir_));
  for (const std::string& name : listing.leftovers) {
    RETURN_IF_ERROR(RemoveFile(absl::StrCat(dir_, "/", name)));
  }
  // A .swap is a cleaned group that was complete (synced) before the crash: it replaces every
  // segment of its range, whichever of them the swap had removed already.
  std::sort(listing.swaps.begin(), listing.swaps.end(),
            [](const auto& a, const auto& b) { return a.base < b.base; });
  for (const DirListing::Swap& swap : listing.swaps) {
    auto& bases = listing.segment_bases;
    const auto first = std::lower_bound(bases.begin(), bases.end(), swap.base);
    const auto last = std::lower_bound(first, bases.end(), swap.end);
    for (auto it = first; it != last; ++it) {
      RETURN_IF_ERROR(RemoveFile(Segment::OffsetIndexPath(dir_, *it)));
      RETURN_IF_ERROR(RemoveFile(Segment::TimeIndexPath(dir_, *it)));
      if (*it != swap.base) RETURN_IF_ERROR(RemoveFile(Segment::LogPath(dir_, *it)));
    }
    bases.insert(bases.erase(first, last), swap.base);
    RETURN_IF_ERROR(
        RenameFile(absl::StrCat(dir_, "/", swap.name), Segment::LogPath(dir_, swap.base)));
    logging::Get("storage")->info("log {}: installed compacted {} (replaces segments {} to {})",
                                  dir_, swap.name, swap.base, swap.end);
  }

  int64_t start_offset = 0;
  if (auto text = ReadWholeFile(absl::StrCat(dir_, "/", kStartOffsetFile)); text.ok()) {
    if (!absl::SimpleAtoi(*text, &start_offset) || start_offset < 0) {
      return absl::DataLossError(
          absl::StrCat(dir_, "/", kStartOffsetFile, ": bad contents '", *text, "'"));
    }
  }

  const uint32_t interval = static_cast<uint32_t>(config_.index_interval_bytes);
  int64_t first_recovered = -1;  // base of the first segment recovery scanned
  for (size_t i = 0; i < listing.segment_bases.size(); ++i) {
    const int64_t base = listing.segment_bases[i];
    const bool is_last = i + 1 == listing.segment_bases.size();
    // After a crash, the last segment and every closed segment whose index files were never
    // written (it was rolled but its background sync had not finished) may have a torn tail.
    const bool recover =
        !report->clean_shutdown && (is_last || !Segment::IndexFilesExist(dir_, base));
    RecoveryReport segment_report;
    ASSIGN_OR_RETURN(std::unique_ptr<Segment> segment,
                     Segment::Open(dir_, base, interval, recover, &segment_report));
    // What a crash left may still be only in the page cache (kill -9 keeps it): sync it before
    // it counts as below the high watermark, which consumers may read.
    if (recover) RETURN_IF_ERROR(segment->Sync());
    if (recover && first_recovered < 0) first_recovered = base;
    segment->set_created_ms(clock_->NowMs());
    // A segment wholly below the start offset survived a crash during retention: finish the job.
    // (An empty segment starting at the start offset, as compaction can leave, stays.)
    if (!is_last && segment->base_offset() < start_offset &&
        segment->next_offset() <= start_offset) {
      RETURN_IF_ERROR(segment->Remove());
      continue;
    }
    if (!is_last) segment->ReleaseFile();
    segments_.push_back(std::move(segment));
    if (segment_report.bytes_truncated > 0) {
      report->recovery = segment_report;
      // Everything after a cut is past a hole in the log: drop the later segments, as Kafka does.
      for (size_t j = i + 1; j < listing.segment_bases.size(); ++j) {
        const int64_t later = listing.segment_bases[j];
        logging::Get("storage")->warn("log {}: removing segment {} after the truncation point",
                                      dir_, later);
        RETURN_IF_ERROR(RemoveFile(Segment::OffsetIndexPath(dir_, later)));
        RETURN_IF_ERROR(RemoveFile(Segment::TimeIndexPath(dir_, later)));
        RETURN_IF_ERROR(RemoveFile(Segment::LogPath(dir_, later)));
      }
      break;
    }
  }
  if (segments_.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<Segment> segment,
                     Segment::Create(dir_, start_offset, interval));
    segment->set_created_ms(clock_->NowMs());
    segments_.push_back(std::move(segment));
  }
  RETURN_IF_ERROR(active().EnsureWritable());  // recovery may have made a closed segment last
  // The active segment's index files go stale with its first append; without them a crash after
  // it is rolled still sends it through a recovery scan.
  RETURN_IF_ERROR(active().DiscardIndexFiles());
  start_offset_ = std::max(start_offset, segments_.front()->base_offset());
  if (start_offset_ > active().next_offset()) {
    // Recovery cut below the stored start: new appends will reuse those offsets, so the stored
    // start must come down with it or they would be hidden after the next restart.
    start_offset_ = active().next_offset();
    RETURN_IF_ERROR(PersistStartOffset(start_offset_));
  }
  flushed_offset_ = active().next_offset();  // what survived recovery is synced above
  last_flush_ms_ = clock_->NowMs();
  RETURN_IF_ERROR(LoadLeaderEpochs(first_recovered));
  LoadCleanerCheckpoint();
  // From here on the log is live: a crash must lead to a recovery scan.
  RETURN_IF_ERROR(RemoveFile(marker));
  RETURN_IF_ERROR(SyncDirectory(dir_));
  if (report->recovery.bytes_truncated > 0) {
    logging::Get("storage")->warn("log {}: recovery cut {} bytes from offset {}", dir_,
                                  report->recovery.bytes_truncated,
                                  report->recovery.first_offset_lost);
  }
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> Log::Append(std::string batch, DurableCallback on_durable) {
  RETURN_IF_ERROR(record::ValidateBatch(batch));
  if (on_durable) RETURN_IF_ERROR(flusher_->CheckRoom());  // refused before it is stored
  // A compacted log refuses records without a key. The walk over the records (decompressing
  // them) is done before the exclusive lock, under which only a config change since is checked.
  const bool keys_checked = compact_.load(std::memory_order_relaxed);
  if (keys_checked) RETURN_IF_ERROR(RequireKeys(batch));
  AppendResult result;
  {
    MutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(CheckSize(batch.size(), config_));
    if (config_.cleanup_compact && !keys_checked) RETURN_IF_ERROR(RequireKeys(batch));
    const int64_t base = active().next_offset();
    const int64_t now = clock_->NowMs();
    if (config_.message_timestamp_type == record::TimestampType::kLogAppendTime) {
      StampLogAppendTime(&batch, now);
      result.log_append_time = now;
    }
    StampOffsets(&batch, base, leader_epoch_);
    absl::StatusOr<RecordBatchView> stamped = RecordBatchView::Parse(batch);
    // It was validated before stamping, which only rewrites fixed-size header fields.
    RUNNEL_CHECK(stamped.ok(), "log %s: a validated batch no longer parses after stamping: %s",
                 dir_, stamped.status().ToString());
    if (result.log_append_time < 0) RETURN_IF_ERROR(CheckTimestamps(*stamped, config_, now));
    RETURN_IF_ERROR(WriteLocked(*stamped, base));
    result.base_offset = base;
    result.last_offset = stamped->last_offset();
  }
  // Every append is synced soon, waited for or not: consumers read only synced data (the high
  // watermark), so acks=0/1 data must become durable, and visible, within milliseconds too. The
  // flusher merges the requests of all appends that arrive while it syncs (group commit).
  flusher_->RequestFlush(this, result.last_offset + 1, std::move(on_durable));
  return result;
}

absl::Status Log::WriteLocked(const RecordBatchView& view, int64_t base) {
  const int64_t now = clock_->NowMs();
  Segment& seg = active();
  const bool full = seg.size() + view.size() > static_cast<uint64_t>(config_.segment_bytes);
  // segment.ms counts in event time from the first batch (Kafka's rule), so it neither restarts
  // when the log is reopened nor rolls a segment per batch when old data is replayed; without a
  // timestamp, from when the segment was created or opened.
  ASSIGN_OR_RETURN(const int64_t first_timestamp, seg.FirstBatchTimestamp());
  const bool old = first_timestamp >= 0
                       ? view.max_timestamp() - first_timestamp >= config_.segment_ms
                       : now - seg.created_ms() >= config_.segment_ms;
  const bool offsets_overflow =
      view.last_offset() - seg.base_offset() > std::numeric_limits<uint32_t>::max();
  if (!seg.empty() && (full || old || offsets_overflow)) RETURN_IF_ERROR(Io(RollLocked(base)));
  RETURN_IF_ERROR(Io(active().Append(view)));
  // The first batch of a new epoch starts it, once written. The entry is synced by the Flush
  // that makes the batch durable; a crash before that leaves the batch in a segment the open
  // scans, which finds the epoch again.
  const absl::StatusOr<bool> new_epoch = epochs_.Assign(leader_epoch_, base);
  RUNNEL_CHECK(new_epoch.ok(), "log %s: %s", dir_, new_epoch.status().ToString());
  if (*new_epoch) ++epochs_version_;
  return absl::OkStatus();
}

void Log::WhenDurable(int64_t end_offset, DurableCallback done) {
  flusher_->RequestFlush(this, end_offset, std::move(done));
}

absl::Status Log::RollLocked(int64_t next_offset) {
  // The closed segment is synced and its indexes written by the flush thread, not here: a roll
  // must not stall appends for the seconds a 1 GiB fdatasync can take. Until that is done, its
  // missing index files mark it for a recovery scan after a crash.
  flusher_->RequestFlush(this, active().next_offset(), {});
  ASSIGN_OR_RETURN(
      std::unique_ptr<Segment> segment,
      Segment::Create(dir_, next_offset, static_cast<uint32_t>(config_.index_interval_bytes)));
  segment->set_created_ms(clock_->NowMs());
  RETURN_IF_ERROR(SyncDirectory(dir_));
  logging::Get("storage")->debug("log {}: rolled to segment {}", dir_, next_offset);
  segments_.push_back(std::move(segment));
  return absl::OkStatus();
}

absl::StatusOr<std::string> Log::Read(int64_t offset, size_t max_bytes, ReadLimit limit) const {
  std::string out;
  // One segment at a time: the lock is held to plan a segment's read, not while its bytes are
  // read, so a cold read neither stalls appends to this partition nor other readers.
  for (bool first = true; out.size() < max_bytes; first = false) {
    std::optional<SegmentRead> plan;
    int64_t visible_end = 0;
    {
      RETURN_IF_ERROR(CheckUsable());  // what a failed dir holds may never have reached the disk
      ReaderMutexLock lock(&mu_);
      const int64_t end = segments_.back()->next_offset();
      if (first && (offset < start_offset_ || offset > end)) {
        return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is outside the log [",
                                                  start_offset_, ", ", end, "] of ", dir_));
      }
      // The high watermark is always a batch boundary (an end offset of the active segment, or a
      // base; a replica's commit index + 1).
      visible_end = limit == ReadLimit::kHighWatermark ? HighWatermarkLocked() : end;
      if (offset >= visible_end) break;
      // The segment holding `offset`: the last whose base offset is <= offset, or the first
      // non-empty one after it (segments compaction emptied, or an offset it removed).
      auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                                 [](int64_t o, const auto& s) { return o < s->base_offset(); });
      if (it != segments_.begin()) --it;
      while (it != segments_.end() && ((*it)->empty() || (*it)->next_offset() <= offset)) ++it;
      if (it == segments_.end()) break;
      ASSIGN_OR_RETURN(plan, (*it)->PlanRead(offset));
    }
    const size_t before = out.size();
    ASSIGN_OR_RETURN(const int64_t next, plan->Read(offset, max_bytes - before, &out, visible_end));
    // A read always yields its first batch; past the first batch of the whole read that could
    // overshoot max_bytes, so such a batch is left for the next read.
    if (before > 0 && out.size() > max_bytes) {
      out.resize(before);
      break;
    }
    RUNNEL_DCHECK(next >= offset, "%s: a read at %d moved back to %d", dir_, offset, next);
    if (next == offset) {
      // No batch at or after `offset` in this segment (compaction removed its tail): go on with
      // the next one. (A first batch at or past the visible end stops the loop at its top.)
      offset = plan->next_offset;
      continue;
    }
    // Stopped inside the segment (max_bytes, or the visible end): the next read starts there.
    if (next < plan->next_offset) break;
    offset = next;
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> Log::OffsetForTimestamp(int64_t timestamp) const {
  RETURN_IF_ERROR(CheckUsable());
  ReaderMutexLock lock(&mu_);
  for (const auto& segment : segments_) {
    if (segment->max_timestamp() < timestamp) continue;
    ASSIGN_OR_RETURN(std::optional<int64_t> offset, segment->FindOffsetForTimestamp(timestamp));
    if (offset.has_value()) return std::max(*offset, start_offset_);
  }
  return std::nullopt;
}

int64_t Log::start_offset() const {
  ReaderMutexLock lock(&mu_);
  return start_offset_;
}

int64_t Log::end_offset() const {
  ReaderMutexLock lock(&mu_);
  return segments_.back()->next_offset();
}

int64_t Log::flushed_offset() const {
  ReaderMutexLock lock(&mu_);
  return flushed_offset_;
}

int64_t Log::high_watermark() const {
  ReaderMutexLock lock(&mu_);
  return HighWatermarkLocked();
}

int64_t Log::HighWatermarkLocked() const {
  if (replicated_high_watermark_ < 0) return flushed_offset_;
  return std::min(replicated_high_watermark_, segments_.back()->next_offset());
}

uint64_t Log::size_bytes() const {
  ReaderMutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& s : segments_) total += s->size();
  return total;
}

size_t Log::segment_count() const {
  ReaderMutexLock lock(&mu_);
  return segments_.size();
}

int64_t Log::active_segment_base_offset() const {
  ReaderMutexLock lock(&mu_);
  return segments_.back()->base_offset();
}

LogConfig Log::config() const {
  ReaderMutexLock lock(&mu_);
  return config_;
}

void Log::SetConfig(const LogConfig& config) {
  MutexLock lock(&mu_);
  config_ = config;
  compact_.store(config.cleanup_compact, std::memory_order_relaxed);
}

void Log::SetHighWatermarkListener(std::function<void()> listener) {
  MutexLock lock(&mu_);
  high_watermark_listener_ = std::move(listener);
}

absl::Status Log::Flush(int64_t up_to) {
  MutexLock flush_lock(&flush_mu_);
  // After a failed sync a second one may report success for pages that were dropped (fsyncgate):
  // a failed dir is never synced again.
  RETURN_IF_ERROR(CheckUsable());
  // Segments holding offsets in [flushed_offset_, up_to), and closed segments still lacking
  // indexes. The active segment is left alone when `up_to` ends before it (a roll's request):
  // an fdatasync of the file being appended to would stall the appender.
  std::vector<std::shared_ptr<Segment>> to_sync;
  std::shared_ptr<Segment> active;
  int64_t end = 0;
  std::optional<LeaderEpochCache> epochs;  // to persist: changed since the last Flush
  uint64_t epochs_version = 0;
  {
    ReaderMutexLock lock(&mu_);
    active = segments_.back();
    if (epochs_version_ != epochs_persisted_version_) {
      epochs = epochs_;
      epochs_version = epochs_version_;
    }
    for (const auto& segment : segments_) {
      const bool in_range =
          segment->next_offset() > flushed_offset_ && segment->base_offset() < up_to;
      const bool closed_unindexed = segment != active && !segment->indexes_persisted();
      if (in_range || closed_unindexed) to_sync.push_back(segment);
    }
    end = active->base_offset() < up_to ? active->next_offset() : active->base_offset();
  }
  for (const auto& segment : to_sync) RETURN_IF_ERROR(Io(segment->Sync()));
  // The epochs of every batch below `end`, before anything counts as durable or indexed (an
  // indexed segment is not scanned after a crash, so the checkpoint must already cover it).
  if (epochs.has_value()) RETURN_IF_ERROR(Io(epochs->Persist(dir_)));
  std::vector<std::shared_ptr<Segment>> indexed;
  for (const auto& segment : to_sync) {
    // A closed segment never changes again: now that its data is durable, write its indexes.
    // (flush_mu_ keeps truncation, retention and compaction from swapping it out meanwhile.)
    if (segment != active && !segment->indexes_persisted()) {
      RETURN_IF_ERROR(Io(segment->WriteIndexes()));
      indexed.push_back(segment);
    }
  }
  std::function<void()> listener;
  {
    MutexLock lock(&mu_);
    for (const auto& segment : indexed) {
      segment->set_indexes_persisted();
      segment->ReleaseFile();
    }
    if (epochs.has_value()) {
      epochs_persisted_version_ = std::max(epochs_persisted_version_, epochs_version);
    }
    if (end > flushed_offset_) {
      flushed_offset_ = end;
      if (replicated_high_watermark_ < 0) listener = high_watermark_listener_;
    }
    if (end == active->next_offset()) last_flush_ms_ = clock_->NowMs();
  }
  if (listener) listener();
  return absl::OkStatus();
}

absl::Status Log::MaybeFlushByTime() {
  {
    ReaderMutexLock lock(&mu_);
    if (flushed_offset_ >= segments_.back()->next_offset() ||
        clock_->NowMs() - last_flush_ms_ < config_.flush_ms) {
      return absl::OkStatus();
    }
  }
  return Flush();
}

absl::Status Log::TruncateTo(int64_t offset) {
  MutexLock compaction_lock(&compaction_mu_);  // no compaction pass may see a segment reopen
  MutexLock flush_lock(&flush_mu_);
  MutexLock lock(&mu_);
  return TruncateLocked(offset);
}

absl::Status Log::TruncateLocked(int64_t offset) {
  if (offset < start_offset_) {
    return absl::OutOfRangeError(absl::StrCat("TruncateTo ", offset, " is below the log start ",
                                              start_offset_, " of ", dir_));
  }
  RETURN_IF_ERROR(CheckUsable());
  const int64_t end_before = active().next_offset();
  while (segments_.size() > 1 && segments_.back()->base_offset() >= offset) {
    RETURN_IF_ERROR(Io(segments_.back()->Remove()));
    segments_.pop_back();
  }
  RETURN_IF_ERROR(Io(active().EnsureWritable()));
  // It is appendable again, even if nothing is cut.
  RETURN_IF_ERROR(Io(active().DiscardIndexFiles()));
  RETURN_IF_ERROR(Io(active().TruncateTo(offset)));
  RETURN_IF_ERROR(Io(active().Sync()));
  RETURN_IF_ERROR(Io(SyncDirectory(dir_)));  // the removed segments must stay removed
  const int64_t end = active().next_offset();
  flushed_offset_ = std::min(flushed_offset_, end);
  if (end < end_before) ++truncation_count_;
  if (epochs_.TruncateFromEnd(end)) ++epochs_version_;
  if (first_dirty_ > end) {  // records appended from here on are dirty
    first_dirty_ = end;
    // Durably: an old, higher checkpoint back after a power loss would count the records appended
    // after the cut as clean. A failure to write it must not fail the cut that happened: then the
    // file goes (no checkpoint: the whole log is dirty, which is safe).
    absl::Status written = PersistCleanerCheckpoint(/*durable=*/true);
    if (!written.ok()) {
      logging::Get("storage")->warn(
          "log {}: cleaner checkpoint not rewritten after a truncation "
          "({}); removing it",
          dir_, written.ToString());
      RETURN_IF_ERROR(Io(RemoveFile(absl::StrCat(dir_, "/", kCleanerCheckpointFile))));
      RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
    }
  }
  return absl::OkStatus();
}

absl::Status Log::PersistStartOffset(int64_t offset) {
  RETURN_IF_ERROR(CheckUsable());
  return Io(WriteFileAtomically(absl::StrCat(dir_, "/", kStartOffsetFile), absl::StrCat(offset)));
}

bool Log::NeedsFlush(int64_t end_offset) const {
  ReaderMutexLock lock(&mu_);
  if (flushed_offset_ < end_offset) return true;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    if (!segments_[i]->indexes_persisted()) return true;
  }
  return false;
}

absl::Status Log::DeleteBefore(int64_t offset) {
  MutexLock flush_lock(&flush_mu_);  // start-offset writes one at a time, in order
  {
    ReaderMutexLock lock(&mu_);
    const int64_t end = segments_.back()->next_offset();
    if (offset > end) {
      return absl::OutOfRangeError(
          absl::StrCat("DeleteBefore ", offset, " is past the log end ", end, " of ", dir_));
    }
    if (offset <= start_offset_) return absl::OkStatus();
  }
  // Persist first: a crash after this leaves segments that the next open deletes. (Outside mu_:
  // its two syncs must not stall appends and reads; flush_mu_ keeps the start where it was.)
  RETURN_IF_ERROR(PersistStartOffset(offset));
  {
    MutexLock lock(&mu_);
    RUNNEL_CHECK(offset > start_offset_,
                 "log %s: the start offset is %d already, not below the %d being set, though "
                 "flush_mu_ is held",
                 dir_, start_offset_, offset);
    start_offset_ = offset;
    if (epochs_.TruncateFromStart(offset)) ++epochs_version_;
  }
  return DeleteOldestSegmentsLocked(
      [offset](const Segment& s) { return s.next_offset() <= offset; });
}

absl::Status Log::DeleteOldestSegments(const std::function<bool(const Segment&)>& should_delete) {
  MutexLock flush_lock(&flush_mu_);
  return DeleteOldestSegmentsLocked(should_delete);
}

absl::Status Log::DeleteOldestSegmentsLocked(
    const std::function<bool(const Segment&)>& should_delete) {
  // flush_mu_ keeps truncation, compaction and other deletions out: the oldest segments and the
  // start offset stay as read here; appends only add at the end.
  size_t n = 0;
  int64_t new_start = 0;
  bool advance = false;
  {
    ReaderMutexLock lock(&mu_);
    // Never past the high watermark: a segment is deleted only once consumers could read all of
    // it (Kafka's rule too).
    while (n + 1 < segments_.size() && segments_[n]->next_offset() <= HighWatermarkLocked() &&
           should_delete(*segments_[n])) {
      ++n;
    }
    if (n == 0) return absl::OkStatus();
    new_start = segments_[n]->base_offset();
    advance = new_start > start_offset_;
  }
  if (advance) {
    // Outside mu_, as in DeleteBefore.
    absl::Status persisted = PersistStartOffset(new_start);
    if (absl::IsResourceExhausted(persisted)) {
      // A full disk must not stop retention, the one thing that frees it. The new start is a
      // segment boundary: once the doomed segments are removed, the next open derives it from
      // the first segment left. (A crash or power loss before their removal is durable can
      // bring some back, with the older start: retention deletes them again.)
      logging::Get("storage")->warn("log {}: {}; deleting the segments all the same", dir_,
                                    persisted.ToString());
    } else {
      RETURN_IF_ERROR(persisted);
    }
  }
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    MutexLock lock(&mu_);
    RUNNEL_CHECK(n < segments_.size() && segments_[n]->base_offset() == new_start,
                 "log %s: the oldest segments changed under flush_mu_", dir_);
    if (new_start > start_offset_) {
      start_offset_ = new_start;
      if (epochs_.TruncateFromStart(new_start)) ++epochs_version_;
    }
    doomed.assign(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  for (const auto& segment : doomed) {
    logging::Get("storage")->info("log {}: deleting segment {} ({} bytes, offsets {}..{})", dir_,
                                  segment->base_offset(), segment->size(), segment->base_offset(),
                                  segment->next_offset() - 1);
    RETURN_IF_ERROR(Io(segment->Remove()));
  }
  return absl::OkStatus();
}

absl::Status Log::ApplyRetention() {
  const LogConfig config = this->config();
  if (!config.cleanup_delete) return absl::OkStatus();
  const int64_t now = clock_->NowMs();
  if (config.retention_ms >= 0) {
    const auto expired = [&](const Segment& s) {
      // An empty segment (compaction can leave one) holds nothing to keep.
      return s.empty() ||
             (s.max_timestamp() != kNoTimestamp && now - s.max_timestamp() > config.retention_ms);
    };
    {
      // Kafka's rule: when every segment, the active one included, is past retention, roll a new
      // empty one so the old data can go. Otherwise a partition no longer written to would keep
      // its last segment forever, however old.
      // Only what consumers could read: records above the high watermark are not synced yet,
      // and deleting them would take acknowledged records no one has seen.
      MutexLock lock(&mu_);
      RETURN_IF_ERROR(CheckUsable());
      if (!active().empty() && HighWatermarkLocked() == active().next_offset() &&
          std::all_of(segments_.begin(), segments_.end(),
                      [&](const std::shared_ptr<Segment>& s) { return expired(*s); })) {
        logging::Get("storage")->info("log {}: rolling the active segment, past retention.ms",
                                      dir_);
        absl::Status rolled = Io(RollLocked(active().next_offset()));
        if (!rolled.ok()) {
          // The closed segments can still go (a full disk may refuse the new file).
          logging::Get("storage")->warn("log {}: {}", dir_, rolled.ToString());
        }
      }
    }
    RETURN_IF_ERROR(DeleteOldestSegments(expired));
  }
  if (config.retention_bytes >= 0) {
    int64_t excess = static_cast<int64_t>(size_bytes()) - config.retention_bytes;
    RETURN_IF_ERROR(DeleteOldestSegments([&excess](const Segment& s) {
      if (excess < static_cast<int64_t>(s.size())) return false;
      excess -= static_cast<int64_t>(s.size());
      return true;
    }));
  }
  return absl::OkStatus();
}

absl::Status Log::Close() {
  flusher_->Drain(this);
  // A failed dir gets no clean-shutdown marker: the next open scans what is there.
  RETURN_IF_ERROR(Flush());  // syncs and indexes every closed segment too
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(Io(active().Sync()));
  RETURN_IF_ERROR(Io(active().WriteIndexes()));
  // An append between that Flush and this lock may have started an epoch: a clean open scans
  // nothing, so the checkpoint must have it before the marker says the files are whole.
  if (epochs_version_ != epochs_persisted_version_) {
    RETURN_IF_ERROR(Io(epochs_.Persist(dir_)));
    epochs_persisted_version_ = epochs_version_;
  }
  flushed_offset_ = active().next_offset();
  RETURN_IF_ERROR(Io(WriteFileAtomically(absl::StrCat(dir_, "/", kCleanShutdownFile), "")));
  return absl::OkStatus();
}

}  // namespace runnel::storage
