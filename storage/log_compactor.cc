// Log::Clean: key-based compaction of a log's closed segments (cleanup.policy=compact), Kafka's
// log cleaner. docs/FORMAT.md section 14 is the byte-level contract.
//
// A round has two steps. Mapping reads the dirty part (from the first dirty offset, the cleaner
// checkpoint, to the active segment) into the dedupe map (offset_map.h: key hash -> latest
// offset, fixed size) batch by batch, and stops before a batch that would not fit: the mapped
// end. Rewriting then streams every closed segment below the mapped end, in groups of
// consecutive segments merged up to segment.bytes, through the retain rule into
// `<base>.log.cleaned`; a batch with everything kept is copied byte for byte, one with nothing
// kept vanishes, any other is re-encoded with its original offsets, producer fields and codec.
// The finished file is synced and renamed to `<base>.log.<end>.swap` (the group's offset range,
// so recovery knows which segments it replaces), and swapped in under the log's locks with
// renames only. The checkpoint then moves to the mapped end. Memory: the map, the scanner's
// read-ahead, the writer's buffer and one batch being re-encoded — never a whole segment.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "storage/log.h"

namespace runnel::storage {

using record::Record;
using record::RecordBatchView;
using record::RecordIterator;

// What every group of one round is cleaned against.
struct Log::CleanRound {
  const OffsetMap* map;
  int64_t mapped_end;
  int64_t now;
  int64_t delete_retention_ms;
  uint32_t index_interval_bytes;
  const std::atomic<bool>* stop;
  int64_t tombstone_deadline_ms = -1;  // earliest horizon of the tombstones kept so far
  // The base of the first group whose swap was given up (retention took part of it): from there
  // on the log stays dirty, since those segments were not cleaned against this round's map.
  int64_t abandoned_from = std::numeric_limits<int64_t>::max();
};

namespace {

constexpr size_t kWriteBufferBytes = 1 << 20;
// How many keys ahead of the one being looked up the map's slots are prefetched.
constexpr size_t kPrefetchAhead = 12;

// A batch's records, and the hashes of their keys (unset for unkeyed records). The records' views
// point into the iterator's decompressed copy of a compressed batch.
struct DecodedBatch {
  std::optional<RecordIterator> iterator;
  std::vector<Record> records;
  std::vector<OffsetMap::KeyHash> hashes;
};

// Decodes `batch` into `*out` (valid until its next use) and calls `fn(i)` for each record in
// order, with the map's slot of a key a few records ahead prefetched.
template <typename Fn>
absl::Status ForEachRecord(const RecordBatchView& batch, const OffsetMap& map, DecodedBatch* out,
                           Fn fn) {
  out->records.clear();
  out->iterator.reset();
  ASSIGN_OR_RETURN(out->iterator, RecordIterator::Create(batch));
  Record r;
  while (out->iterator->Next(&r)) out->records.push_back(r);
  RETURN_IF_ERROR(out->iterator->status());
  const size_t n = out->records.size();
  out->hashes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (out->records[i].key.has_value()) out->hashes[i] = OffsetMap::Hash(*out->records[i].key);
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t ahead = i == 0 ? 0 : i + kPrefetchAhead - 1;
    for (size_t j = ahead; j < std::min(n, i + kPrefetchAhead); ++j) {
      if (out->records[j].key.has_value()) map.Prefetch(out->hashes[j]);
    }
    RETURN_IF_ERROR(fn(i));
  }
  return absl::OkStatus();
}

absl::Status Stopped(const std::atomic<bool>* stop, const std::atomic<bool>& deleting,
                     const std::string& dir) {
  if (deleting.load(std::memory_order_acquire)) {
    return absl::CancelledError(absl::StrCat("log ", dir, " is being deleted"));
  }
  if (stop != nullptr && stop->load(std::memory_order_acquire)) {
    return absl::CancelledError(absl::StrCat("cleaning of ", dir, " stopped"));
  }
  return absl::OkStatus();
}

// `<base>.log.<end>.swap`: a cleaned group replacing the segments with base offsets in
// [base, end).
std::string SwapPath(const std::string& dir, int64_t base, int64_t end) {
  return absl::StrCat(Segment::LogPath(dir, base), ".", Segment::FileStem(end), ".swap");
}

// Appends whole batches to `<base>.log.cleaned` through a buffer.
class CleanedWriter {
 public:
  explicit CleanedWriter(std::string path) : path_(std::move(path)) {}

  absl::Status Open() {
    ASSIGN_OR_RETURN(file_, File::Open(path_, File::Mode::kCreateReadWrite));
    return file_.Truncate(0);
  }
  bool is_open() const { return file_.is_open(); }
  absl::Status Append(std::string_view batch) {
    buffer_.append(batch);
    return buffer_.size() >= kWriteBufferBytes ? Drain() : absl::OkStatus();
  }
  // Writes what is buffered and syncs the file.
  absl::Status Finish() {
    RETURN_IF_ERROR(Drain());
    return file_.DataSync();
  }
  uint64_t size() const { return written_ + buffer_.size(); }
  const std::string& path() const { return path_; }

 private:
  absl::Status Drain() {
    if (buffer_.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(file_.WriteAt(written_, buffer_));
    written_ += buffer_.size();
    buffer_.clear();
    return absl::OkStatus();
  }

  const std::string path_;
  File file_;
  std::string buffer_;
  uint64_t written_ = 0;
};

// What the retain rule makes of one batch.
struct Filtered {
  enum class Kind { kCopy, kDrop, kRewrite } kind = Kind::kCopy;
  std::string rewritten;  // kRewrite: the re-encoded batch
  int32_t records_kept = 0;
  std::optional<int64_t> delete_horizon_ms;  // of the batch as written, if it keeps tombstones
};

// The retain rule (Kafka's shouldRetainRecord). A keyed record goes when the map holds a later
// offset for its key, or when it is a tombstone whose batch's delete horizon has passed. A
// tombstone is only dropped below the mapped end: past it, an older record of its key may not
// have been mapped yet and would come back. Batches past the mapped end are copied as they are.
absl::StatusOr<Filtered> FilterBatch(const RecordBatchView& batch, const OffsetMap& map,
                                     int64_t mapped_end, int64_t now, int64_t delete_retention_ms) {
  Filtered out;
  out.records_kept = batch.record_count();
  out.delete_horizon_ms = batch.delete_horizon_ms();
  if (batch.is_control() || batch.last_offset() >= mapped_end) return out;
  const std::optional<int64_t> horizon = batch.delete_horizon_ms();
  DecodedBatch decoded;
  std::vector<Record> kept;
  bool keeps_tombstones = false;
  RETURN_IF_ERROR(ForEachRecord(batch, map, &decoded, [&](size_t i) {
    const Record& r = decoded.records[i];
    if (r.key.has_value()) {
      const bool superseded = map.Get(decoded.hashes[i]) > r.offset;
      const bool expired_tombstone = !r.value.has_value() && horizon.has_value() && now >= *horizon;
      if (superseded || expired_tombstone) return absl::OkStatus();
      keeps_tombstones |= !r.value.has_value();
    }
    kept.push_back(r);
    return absl::OkStatus();
  }));
  out.records_kept = static_cast<int32_t>(kept.size());
  out.delete_horizon_ms = std::nullopt;
  if (kept.empty()) {
    out.kind = Filtered::Kind::kDrop;
    return out;
  }
  // A batch keeping tombstones carries the time they may go from: set when first cleaned.
  if (keeps_tombstones) {
    // Saturating: delete.retention.ms may be "forever" (INT64_MAX).
    const int64_t first_horizon = now > std::numeric_limits<int64_t>::max() - delete_retention_ms
                                      ? std::numeric_limits<int64_t>::max()
                                      : now + delete_retention_ms;
    out.delete_horizon_ms = horizon.value_or(first_horizon);
  }
  if (kept.size() == static_cast<size_t>(batch.record_count()) &&
      out.delete_horizon_ms == horizon) {
    return out;  // kCopy: byte for byte
  }
  record::BatchBuilderOptions options;
  options.compression = batch.compression();
  options.timestamp_type = batch.timestamp_type();
  options.base_offset = batch.base_offset();
  options.partition_leader_epoch = batch.partition_leader_epoch();
  options.producer_id = batch.producer_id();
  options.producer_epoch = batch.producer_epoch();
  options.base_sequence = batch.base_sequence();
  options.is_transactional = batch.is_transactional();
  options.last_offset_delta = batch.last_offset_delta();
  options.delete_horizon_ms = out.delete_horizon_ms;
  record::RecordBatchBuilder builder(options);
  for (const Record& k : kept) {
    builder.AppendWithOffsetDelta(k.offset_delta, k.timestamp, k.key, k.value, k.headers);
  }
  ASSIGN_OR_RETURN(out.rewritten, builder.Build());
  out.kind = Filtered::Kind::kRewrite;
  return out;
}

}  // namespace

CleaningState Log::cleaning_state() const {
  ReaderMutexLock lock(&mu_);
  CleaningState state;
  state.first_uncleanable_offset = segments_.back()->base_offset();
  state.first_dirty_offset =
      std::clamp(first_dirty_, start_offset_, state.first_uncleanable_offset);
  state.tombstone_deadline_ms = tombstone_deadline_ms_;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    const Segment& s = *segments_[i];
    (s.next_offset() <= state.first_dirty_offset ? state.clean_bytes : state.dirty_bytes) +=
        s.size();
  }
  return state;
}

absl::Status Log::Compact(size_t dedupe_buffer_bytes) {
  OffsetMap map(dedupe_buffer_bytes);
  // Each round maps at least one batch or fails, so the dirty part shrinks every time; the
  // bound only guards against a bug looping for ever.
  for (int round = 0; round < 1'000'000; ++round) {
    ASSIGN_OR_RETURN(const CleanStats stats, Clean(&map));
    if (!stats.ran || stats.dirty_left == 0) return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("log ", dir_, ": compaction made no progress"));
}

absl::StatusOr<CleanStats> Log::Clean(OffsetMap* map, const std::atomic<bool>* stop) {
  MutexLock compaction_lock(&compaction_mu_);
  CleanStats stats;
  const LogConfig config = this->config();
  if (!config.cleanup_compact) return stats;
  // Only durable, indexed closed segments are cleaned: finish any pending roll flush first.
  RETURN_IF_ERROR(Flush(active_segment_base_offset()));  // not the segment being appended to
  std::vector<std::shared_ptr<Segment>> closed;
  int64_t first_dirty = 0;
  int64_t uncleanable = 0;
  {
    ReaderMutexLock lock(&mu_);
    RETURN_IF_ERROR(CheckUsable());
    // (A segment rolled since the Flush above waits for the next round.)
    size_t n = 0;
    while (n + 1 < segments_.size() && segments_[n]->indexes_persisted()) ++n;
    closed.assign(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(n));
    uncleanable = segments_[n]->base_offset();
    first_dirty = std::clamp(first_dirty_, start_offset_, uncleanable);
  }
  if (closed.empty()) {
    // No closed segment left (retention, a truncation): no tombstone waits for a round either.
    MutexLock lock(&mu_);
    if (tombstone_deadline_ms_ < 0) return stats;
    tombstone_deadline_ms_ = -1;
    RETURN_IF_ERROR(PersistCleanerCheckpoint());
    return stats;
  }
  stats.ran = true;

  // Mapping: the dirty part's keys, in offset order, as far as the map holds them.
  map->Reset(uncleanable - first_dirty);
  int64_t mapped_end = first_dirty;
  bool full = false;
  DecodedBatch decoded;
  for (const auto& segment : closed) {
    if (full || segment->next_offset() <= first_dirty) continue;
    RETURN_IF_ERROR(segment->ScanBatches(
        first_dirty, [&](uint64_t, const RecordBatchView& batch) -> absl::StatusOr<bool> {
          RETURN_IF_ERROR(Stopped(stop, deleting_, dir_));
          if (!batch.is_control()) {
            // Its records at or past the first dirty offset (the log start may lie inside it).
            const int64_t mapped = std::min<int64_t>(
                batch.record_count(),
                batch.last_offset() - std::max(first_dirty, batch.base_offset()) + 1);
            if (map->size() + static_cast<size_t>(mapped) > map->max_keys()) {
              if (map->size() == 0) {
                return absl::ResourceExhaustedError(absl::StrCat(
                    "log ", dir_, ": the batch at offset ", batch.base_offset(), " has ", mapped,
                    " records to map, more than the dedupe buffer holds (", map->capacity(),
                    " keys): raise --log-cleaner-dedupe-buffer-bytes"));
              }
              full = true;
              return false;
            }
            RETURN_IF_ERROR(ForEachRecord(batch, *map, &decoded, [&](size_t i) {
              const Record& r = decoded.records[i];
              if (r.key.has_value() && r.offset >= first_dirty)
                map->Put(decoded.hashes[i], r.offset);
              return absl::OkStatus();
            }));
          }
          mapped_end = batch.last_offset() + 1;
          return true;
        }));
  }
  if (!full) mapped_end = uncleanable;  // offsets past the last batch are gaps: nothing to map
  RUNNEL_CHECK(mapped_end >= first_dirty && mapped_end <= uncleanable,
               "log %s: mapped end %d outside [%d, %d]", dir_, mapped_end, first_dirty,
               uncleanable);
  stats.mapped_end = mapped_end;
  stats.dirty_left = uncleanable - mapped_end;
  stats.keys_mapped = map->size();
  stats.map_bytes = map->memory_bytes();

  // Rewriting: the closed segments below the mapped end, merged into groups of at most
  // segment.bytes whose offsets stay within the index's 32-bit relative offsets.
  CleanRound round{map,
                   mapped_end,
                   clock_->NowMs(),
                   config.delete_retention_ms,
                   static_cast<uint32_t>(config.index_interval_bytes),
                   stop};
  std::vector<std::shared_ptr<Segment>> group;
  uint64_t group_bytes = 0;
  for (const auto& segment : closed) {
    if (segment->base_offset() >= mapped_end) break;
    const bool fits = group.empty() || (group_bytes + segment->size() <=
                                            static_cast<uint64_t>(config.segment_bytes) &&
                                        segment->next_offset() - group.front()->base_offset() <=
                                            std::numeric_limits<int32_t>::max());
    if (!fits) {
      RETURN_IF_ERROR(CleanGroup(&round, group, &stats));
      group.clear();
      group_bytes = 0;
    }
    group.push_back(segment);
    group_bytes += segment->size();
  }
  if (!group.empty()) RETURN_IF_ERROR(CleanGroup(&round, group, &stats));

  MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckUsable());
  first_dirty_ = std::min(mapped_end, round.abandoned_from);
  tombstone_deadline_ms_ = round.tombstone_deadline_ms;
  RETURN_IF_ERROR(PersistCleanerCheckpoint());
  return stats;
}

absl::Status Log::CleanGroup(CleanRound* round, const std::vector<std::shared_ptr<Segment>>& group,
                             CleanStats* stats) {
  const int64_t base = group.front()->base_offset();
  const int64_t end = group.back()->next_offset();
  CleanedWriter writer(Segment::LogPath(dir_, base) + ".cleaned");
  // A lone segment in which nothing changes is left alone: the file is only started at the
  // first change, with the unchanged batches before it copied over.
  bool changed = group.size() > 1;
  if (changed) RETURN_IF_ERROR(Io(writer.Open()));
  int64_t records_read = 0, records_written = 0;
  uint64_t bytes_read = 0;
  int64_t deadline = -1;
  for (const auto& segment : group) {
    RETURN_IF_ERROR(segment->ScanBatches(
        segment->base_offset(),
        [&](uint64_t position, const RecordBatchView& batch) -> absl::StatusOr<bool> {
          RETURN_IF_ERROR(Stopped(round->stop, deleting_, dir_));
          bytes_read += batch.size();
          records_read += batch.record_count();
          ASSIGN_OR_RETURN(Filtered f, FilterBatch(batch, *round->map, round->mapped_end,
                                                   round->now, round->delete_retention_ms));
          records_written += f.records_kept;
          if (f.delete_horizon_ms.has_value()) {
            deadline =
                deadline < 0 ? *f.delete_horizon_ms : std::min(deadline, *f.delete_horizon_ms);
          }
          if (!changed && f.kind != Filtered::Kind::kCopy) {
            changed = true;
            RETURN_IF_ERROR(Io(writer.Open()));
            // The batches before this one are unchanged: copy them first.
            RETURN_IF_ERROR(segment->ScanBatches(
                segment->base_offset(),
                [&](uint64_t p, const RecordBatchView& earlier) -> absl::StatusOr<bool> {
                  if (p >= position) return false;
                  RETURN_IF_ERROR(Io(writer.Append(earlier.bytes())));
                  return true;
                }));
          }
          if (!changed) return true;
          if (f.kind == Filtered::Kind::kCopy) RETURN_IF_ERROR(Io(writer.Append(batch.bytes())));
          if (f.kind == Filtered::Kind::kRewrite) RETURN_IF_ERROR(Io(writer.Append(f.rewritten)));
          return true;
        }));
  }
  stats->bytes_read += bytes_read;
  stats->records_read += records_read;
  // The earliest horizon of what this group keeps, once it is the log's (copied or swapped in).
  auto note_deadline = [&] {
    if (deadline < 0) return;
    round->tombstone_deadline_ms = round->tombstone_deadline_ms < 0
                                       ? deadline
                                       : std::min(round->tombstone_deadline_ms, deadline);
  };
  if (!changed) {
    note_deadline();
    stats->records_written += records_read;
    return absl::OkStatus();
  }

  RETURN_IF_ERROR(Io(writer.Finish()));
  const std::string swap = SwapPath(dir_, base, end);
  RETURN_IF_ERROR(Io(RenameFile(writer.path(), swap)));
  RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
  ASSIGN_OR_RETURN(std::unique_ptr<Segment> cleaned,
                   Segment::OpenCleaned(dir_, base, round->index_interval_bytes, swap));

  MutexLock flush_lock(&flush_mu_);
  MutexLock lock(&mu_);
  auto first = std::find(segments_.begin(), segments_.end(), group.front());
  const bool intact = !deleted_.load(std::memory_order_acquire) &&
                      segments_.end() - first > static_cast<ptrdiff_t>(group.size()) &&
                      std::equal(group.begin(), group.end(), first);
  if (!intact) {  // retention removed some of it meanwhile: the next round starts over
    cleaned.reset();
    round->abandoned_from = std::min(round->abandoned_from, base);
    return deleted_.load(std::memory_order_acquire) ? absl::OkStatus() : Io(RemoveFile(swap));
  }
  // From the .swap rename on, recovery installs the new file if we crash before finishing.
  for (const auto& segment : group) {
    RETURN_IF_ERROR(Io(RemoveFile(Segment::OffsetIndexPath(dir_, segment->base_offset()))));
    RETURN_IF_ERROR(Io(RemoveFile(Segment::TimeIndexPath(dir_, segment->base_offset()))));
    if (segment != group.front()) {
      RETURN_IF_ERROR(Io(RemoveFile(Segment::LogPath(dir_, segment->base_offset()))));
    }
  }
  // The removals must be durable before the rename: a rename that reached the disk without them
  // would leave the old segments overlapping the new one, with no .swap left to say so.
  RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
  RETURN_IF_ERROR(Io(RenameFile(swap, Segment::LogPath(dir_, base))));
  RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
  cleaned->ReleaseFile();
  cleaned->set_created_ms(group.front()->created_ms());
  logging::Get("storage")->info(
      "log {}: cleaned {} segment(s) from offset {}: {} -> {} records, {} -> {} bytes", dir_,
      group.size(), base, records_read, records_written, bytes_read, cleaned->size());
  note_deadline();
  stats->records_written += records_written;
  stats->bytes_written += cleaned->size();
  stats->segments_before += static_cast<int>(group.size());
  stats->segments_after += 1;
  *first = std::move(cleaned);
  segments_.erase(first + 1, first + static_cast<ptrdiff_t>(group.size()));
  return absl::OkStatus();
}

}  // namespace runnel::storage
