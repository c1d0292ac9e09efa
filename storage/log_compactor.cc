// Log::Compact: key-based compaction of a log's closed segments (cleanup.policy=compact).
//
// Pass 1 reads every closed segment and records, per key, the offset of its latest record. Pass 2
// rewrites each closed segment keeping only records that are the latest for their key (and are not
// expired tombstones), batch by batch: a batch with everything kept is copied byte for byte, a
// batch with nothing kept disappears, any other batch is re-encoded with its original base offset,
// offset deltas, lastOffsetDelta, producer fields and codec. The new file goes through
// `<base>.log.cleaned` (deleted on open if a crash leaves it) and `<base>.log.swap` (installed on
// open), so a crash at any point loses nothing. Appends and reads continue throughout; the log
// lock is only held to swap a finished segment in.
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "storage/log.h"

namespace runnel::storage {
namespace {

using record::Record;
using record::RecordBatchView;
using record::RecordIterator;

// Latest offset per key over the closed segments.
using OffsetMap = absl::flat_hash_map<std::string, int64_t>;

absl::Status BuildOffsetMap(const std::vector<std::shared_ptr<Segment>>& segments, OffsetMap* map) {
  for (const auto& segment : segments) {
    RETURN_IF_ERROR(segment->ForEachBatch([map](const RecordBatchView& batch) -> absl::Status {
      if (batch.is_control()) return absl::OkStatus();
      ASSIGN_OR_RETURN(RecordIterator it, RecordIterator::Create(batch));
      Record r;
      while (it.Next(&r)) {
        if (r.key.has_value()) (*map)[std::string(*r.key)] = r.offset;
      }
      return it.status();
    }));
  }
  return absl::OkStatus();
}

struct RewriteStats {
  int64_t records_in = 0;
  int64_t records_out = 0;
};

// Appends to `*out` the compacted form of `batch`.
absl::Status CompactBatch(const RecordBatchView& batch, const OffsetMap& latest,
                          int64_t tombstone_horizon, std::string* out, RewriteStats* stats) {
  stats->records_in += batch.record_count();
  if (batch.is_control()) {
    out->append(batch.bytes());
    stats->records_out += batch.record_count();
    return absl::OkStatus();
  }
  auto keep = [&](const Record& r) {
    if (!r.key.has_value()) return true;  // unkeyed records are never compacted away
    auto it = latest.find(std::string(*r.key));
    if (it == latest.end() || it->second != r.offset) return false;
    return r.value.has_value() || r.timestamp >= tombstone_horizon;
  };
  ASSIGN_OR_RETURN(RecordIterator it, RecordIterator::Create(batch));
  std::vector<Record> kept;
  Record r;
  while (it.Next(&r)) {
    if (keep(r)) kept.push_back(r);
  }
  RETURN_IF_ERROR(it.status());
  stats->records_out += static_cast<int64_t>(kept.size());
  if (kept.empty()) return absl::OkStatus();
  if (kept.size() == static_cast<size_t>(batch.record_count())) {
    out->append(batch.bytes());
    return absl::OkStatus();
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
  record::RecordBatchBuilder builder(options);
  for (const Record& k : kept) {
    builder.AppendWithOffsetDelta(k.offset_delta, k.timestamp, k.key, k.value, k.headers);
  }
  ASSIGN_OR_RETURN(std::string rebuilt, builder.Build());
  out->append(rebuilt);
  return absl::OkStatus();
}

}  // namespace

absl::Status Log::Compact() {
  MutexLock compaction_lock(&compaction_mu_);
  const LogConfig config = this->config();
  if (!config.cleanup_compact) return absl::OkStatus();
  // Compaction rewrites only durable, indexed closed segments: finish any pending roll flush.
  RETURN_IF_ERROR(Flush(active_segment_base_offset()));  // not the segment being appended to
  std::vector<std::shared_ptr<Segment>> closed;
  {
    ReaderMutexLock lock(&mu_);
    // (A segment rolled since the Flush above waits for the next pass.)
    for (auto it = segments_.begin(); it + 1 != segments_.end() && (*it)->indexes_persisted();
         ++it) {
      closed.push_back(*it);
    }
  }
  if (closed.empty()) return absl::OkStatus();
  OffsetMap latest;
  RETURN_IF_ERROR(BuildOffsetMap(closed, &latest));
  const int64_t tombstone_horizon = clock_() - config.delete_retention_ms;
  auto log = logging::Get("storage");

  for (const auto& segment : closed) {
    std::string bytes;
    RewriteStats stats;
    RETURN_IF_ERROR(segment->ForEachBatch([&](const RecordBatchView& batch) {
      return CompactBatch(batch, latest, tombstone_horizon, &bytes, &stats);
    }));
    if (stats.records_out == stats.records_in) continue;  // nothing to drop here

    const int64_t base = segment->base_offset();
    const std::string log_path = Segment::LogPath(dir_, base);
    const std::string cleaned = log_path + ".cleaned";
    const std::string swap = log_path + ".swap";
    {
      ASSIGN_OR_RETURN(File file, File::Open(cleaned, File::Mode::kCreateReadWrite));
      RETURN_IF_ERROR(Io(file.Truncate(0)));
      RETURN_IF_ERROR(Io(file.WriteAt(0, bytes)));
      RETURN_IF_ERROR(Io(file.DataSync()));
    }
    RETURN_IF_ERROR(Io(RenameFile(cleaned, swap)));
    RETURN_IF_ERROR(Io(SyncDirectory(dir_)));

    MutexLock flush_lock(&flush_mu_);
    MutexLock lock(&mu_);
    auto pos = std::find(segments_.begin(), segments_.end() - 1, segment);
    if (pos == segments_.end() - 1) {  // retention took it, or truncation made it active, meanwhile
      RETURN_IF_ERROR(Io(RemoveFile(swap)));
      continue;
    }
    // From the .swap rename on, recovery installs the new file if we crash before finishing.
    RETURN_IF_ERROR(Io(RemoveFile(Segment::OffsetIndexPath(dir_, base))));
    RETURN_IF_ERROR(Io(RemoveFile(Segment::TimeIndexPath(dir_, base))));
    RETURN_IF_ERROR(Io(RenameFile(swap, log_path)));
    RETURN_IF_ERROR(Io(SyncDirectory(dir_)));
    ASSIGN_OR_RETURN(std::unique_ptr<Segment> compacted,
                     Segment::Open(dir_, base, static_cast<uint32_t>(config.index_interval_bytes),
                                   /*recover=*/false, nullptr));
    compacted->ReleaseFile();
    compacted->set_created_ms(segment->created_ms());
    log->info("log {}: compacted segment {}: {} -> {} records, {} -> {} bytes", dir_, base,
              stats.records_in, stats.records_out, segment->size(), compacted->size());
    *pos = std::move(compacted);
  }
  return absl::OkStatus();
}

}  // namespace runnel::storage
