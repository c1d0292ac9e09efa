// Log: what describes the log beside its segments — the topic id it belongs to
// (partition.metadata), the first offset of each leader epoch (leader-epoch-checkpoint) and how
// far compaction got (cleaner-checkpoint). See
// docs/FORMAT.md sections 7 and 8. The segments, appends, reads and syncs are in log.cc.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "storage/file.h"
#include "storage/log.h"

namespace runnel::storage {

namespace {

// partition.metadata, Kafka's format: "version: 0\ntopic_id: <id>\n". Empty id if absent.
absl::StatusOr<std::string> ReadPartitionMetadata(const std::string& path) {
  if (!FileExists(path)) return std::string();
  ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path));
  std::string version, id;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "version: ")) {
      version = std::string(line);
    } else if (absl::ConsumePrefix(&line, "topic_id: ")) {
      id = std::string(line);
    } else {
      return absl::DataLossError(absl::StrCat(path, ": unexpected line '", line, "'"));
    }
  }
  if (version != "0" || id.empty()) {
    return absl::DataLossError(
        absl::StrCat(path, ": expected version 0 and a topic_id, got '", text, "'"));
  }
  return id;
}

}  // namespace

// cleaner-checkpoint: "0\n<first dirty offset>\n<tombstone deadline ms>\n" (docs/FORMAT.md).
void Log::LoadCleanerCheckpoint() {
  const std::string path = absl::StrCat(dir_, "/", kCleanerCheckpointFile);
  first_dirty_ = 0;
  tombstone_deadline_ms_ = -1;
  if (!FileExists(path)) return;
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  std::vector<std::string> lines;
  if (text.ok()) lines = std::vector<std::string>(absl::StrSplit(*text, '\n', absl::SkipEmpty()));
  int64_t first_dirty = 0, deadline = -1;
  if (lines.size() != 3 || lines[0] != "0" || !absl::SimpleAtoi(lines[1], &first_dirty) ||
      !absl::SimpleAtoi(lines[2], &deadline) || first_dirty < 0 || deadline < -1) {
    // Only a hint: without it the next round treats the whole log as dirty, which is safe.
    logging::Get("storage")->warn("{}: unreadable ({}); cleaning starts from the log start", path,
                                  text.ok() ? "bad contents" : text.status().ToString());
    return;
  }
  // Never past the log end: records appended after a cut there would count as clean.
  first_dirty_ = std::min(first_dirty, segments_.back()->next_offset());
  tombstone_deadline_ms_ = deadline;
}

absl::Status Log::PersistCleanerCheckpoint(bool durable) {
  return Io(WriteFileAtomically(
      absl::StrCat(dir_, "/", kCleanerCheckpointFile),
      absl::StrCat("0\n", first_dirty_, "\n", tombstone_deadline_ms_, "\n"), durable));
}

absl::Status Log::LoadTopicId() {
  ASSIGN_OR_RETURN(topic_id_,
                   ReadPartitionMetadata(absl::StrCat(dir_, "/", kPartitionMetadataFile)));
  return absl::OkStatus();
}

std::string Log::topic_id() const {
  ReaderMutexLock lock(&mu_);
  return topic_id_;
}

absl::Status Log::SetTopicId(const std::string& id) {
  if (id.empty() || id.find_first_of(" \n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("topic id '", id, "' is empty or has spaces"));
  }
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckUsable());
  if (topic_id_ == id) return absl::OkStatus();
  if (!topic_id_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, " belongs to topic id ", topic_id_, ", not ", id,
                     " (a deleted topic of the same name): not adopting its records"));
  }
  RETURN_IF_ERROR(Io(WriteFileAtomically(absl::StrCat(dir_, "/", kPartitionMetadataFile),
                                         absl::StrCat("version: 0\ntopic_id: ", id, "\n"))));
  topic_id_ = id;
  return absl::OkStatus();
}

absl::Status Log::LoadLeaderEpochs(int64_t first_recovered) {
  absl::StatusOr<LeaderEpochCache> loaded = LeaderEpochCache::Load(dir_);
  bool changed = false;
  int64_t scan_from = first_recovered;  // -1: the checkpoint covers every batch
  if (loaded.ok()) {
    epochs_ = *std::move(loaded);
  } else {
    // Derived data: rebuilt from the batch headers (absent in logs from before epochs were
    // stamped, where every batch has none and the rebuilt checkpoint is empty).
    if (!absl::IsNotFound(loaded.status())) {
      logging::Get("storage")->warn("log {}: {}; rebuilding it from the batches", dir_,
                                    loaded.status().ToString());
    }
    epochs_ = LeaderEpochCache();
    scan_from = start_offset_;
    changed = true;
  }
  // The checkpoint is synced by the Flush that makes a batch of a new epoch durable, before that
  // Flush writes index files; so what it may lack after a crash lies in the segments recovery
  // scanned, and it is rebuilt from their headers.
  if (scan_from >= 0) {
    changed |= epochs_.TruncateFromEnd(scan_from);
    int64_t ignored = 0;
    absl::Status first_ignored;
    // The lambda runs here, under mu_, but clang's lock analysis does not follow it inside.
    LeaderEpochCache* epochs = &epochs_;
    for (const auto& segment : segments_) {
      if (segment->next_offset() <= scan_from) continue;
      RETURN_IF_ERROR(segment->ForEachBatchHeader([&](const BatchScanner::Header& h) {
        if (h.base_offset < scan_from) return absl::OkStatus();
        absl::StatusOr<bool> added = epochs->Assign(h.partition_leader_epoch, h.base_offset);
        if (!added.ok() && ignored++ == 0) first_ignored = added.status();
        changed |= added.value_or(false);
        return absl::OkStatus();
      }));
    }
    if (ignored > 0) {
      // Batches stored before epochs were stamped carry whatever their producer wrote.
      logging::Get("storage")->warn(
          "log {}: {} batch(es) with an older leader epoch ignored, the "
          "first: {}",
          dir_, ignored, first_ignored.ToString());
    }
  }
  // A crash can leave an entry for an epoch whose first batch was lost, and retention can have
  // moved the start past entries: fit the entries to the log.
  changed |= epochs_.TruncateFromEnd(active().next_offset());
  changed |= epochs_.TruncateFromStart(start_offset_);
  leader_epoch_ = std::max(0, epochs_.latest_epoch());
  // A new empty log has nothing to write (no file means no entries), so a partition create costs
  // no extra fsync; a log with data gets its file even if empty, or it would be scanned again at
  // every open.
  const bool has_data = active().next_offset() > start_offset_;
  if (changed && (loaded.ok() || has_data || !absl::IsNotFound(loaded.status()))) {
    RETURN_IF_ERROR(epochs_.Persist(dir_));
  }
  return absl::OkStatus();
}

int32_t Log::leader_epoch() const {
  ReaderMutexLock lock(&mu_);
  return leader_epoch_;
}

absl::Status Log::SetLeaderEpoch(int32_t epoch) {
  MutexLock lock(&mu_);
  if (epoch < leader_epoch_) {
    return absl::FailedPreconditionError(absl::StrCat("log ", dir_, ": leader epoch ", epoch,
                                                      " is below the current one ", leader_epoch_));
  }
  leader_epoch_ = epoch;
  return absl::OkStatus();
}

std::pair<int32_t, int64_t> Log::EndOffsetForEpoch(int32_t epoch) const {
  ReaderMutexLock lock(&mu_);
  return epochs_.EndOffsetFor(epoch, segments_.back()->next_offset());
}

std::vector<EpochEntry> Log::epoch_entries() const {
  ReaderMutexLock lock(&mu_);
  return epochs_.entries();
}

}  // namespace runnel::storage
