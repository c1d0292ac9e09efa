#include "storage/leader_epoch_cache.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::storage {

// The checkpoint, Kafka's text format: a version line ("0"), an entry count line, then one
// "<epoch> <start offset>" line per entry, each line ending in '\n'.
absl::StatusOr<LeaderEpochCache> LeaderEpochCache::Load(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kFileName);
  if (!FileExists(path)) return absl::NotFoundError(absl::StrCat(path, ": none"));
  ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path));
  const auto bad = [&path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (text.empty() || text.back() != '\n') return bad("does not end with a newline");
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the last newline
  int64_t count = 0;
  if (lines.size() < 2 || lines[0] != "0" || !absl::SimpleAtoi(lines[1], &count) ||
      count != static_cast<int64_t>(lines.size()) - 2) {
    return bad("expected version 0, an entry count and that many entries");
  }
  LeaderEpochCache cache;
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], ' ');
    EpochEntry e;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &e.epoch) ||
        !absl::SimpleAtoi(fields[1], &e.start_offset) || e.epoch < 0 || e.start_offset < 0) {
      return bad(absl::StrCat("bad entry '", lines[i], "'"));
    }
    if (!cache.entries_.empty() && (e.epoch <= cache.entries_.back().epoch ||
                                    e.start_offset <= cache.entries_.back().start_offset)) {
      return bad(absl::StrCat("entry '", lines[i], "' does not follow epoch ",
                              cache.entries_.back().epoch, " at ",
                              cache.entries_.back().start_offset));
    }
    cache.entries_.push_back(e);
  }
  return cache;
}

absl::StatusOr<bool> LeaderEpochCache::Assign(int32_t epoch, int64_t start_offset) {
  if (epoch < 0) return false;  // batches written without an epoch (before epochs were stamped)
  if (!entries_.empty()) {
    const EpochEntry& last = entries_.back();
    if (epoch == last.epoch) return false;
    if (epoch < last.epoch) {
      return absl::FailedPreconditionError(
          absl::StrCat("leader epoch ", epoch, " at offset ", start_offset, " is older than epoch ",
                       last.epoch, " from offset ", last.start_offset));
    }
  }
  // Kafka's rule: a new epoch starting at or below where later entries start replaces them (the
  // log was cut back to there, or retention moved an entry's start up to the log end).
  while (!entries_.empty() && entries_.back().start_offset >= start_offset) entries_.pop_back();
  entries_.push_back({epoch, start_offset});
  return true;
}

bool LeaderEpochCache::TruncateFromEnd(int64_t end_offset) {
  const size_t before = entries_.size();
  while (!entries_.empty() && entries_.back().start_offset >= end_offset) entries_.pop_back();
  return entries_.size() != before;
}

bool LeaderEpochCache::TruncateFromStart(int64_t start_offset) {
  // The last entry starting at or below the new start holds it; those before it go.
  size_t keep_from = 0;
  while (keep_from + 1 < entries_.size() && entries_[keep_from + 1].start_offset <= start_offset) {
    ++keep_from;
  }
  bool changed = keep_from > 0;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(keep_from));
  if (!entries_.empty() && entries_.front().start_offset < start_offset) {
    entries_.front().start_offset = start_offset;
    changed = true;
  }
  return changed;
}

std::pair<int32_t, int64_t> LeaderEpochCache::EndOffsetFor(int32_t epoch, int64_t log_end) const {
  if (entries_.empty() || epoch == kNoEpoch || epoch > entries_.back().epoch) {
    return {kNoEpoch, -1};
  }
  if (epoch == entries_.back().epoch) return {epoch, log_end};
  // The first entry newer than `epoch`: its start ends the epoch asked for.
  const auto higher =
      std::upper_bound(entries_.begin(), entries_.end(), epoch,
                       [](int32_t e, const EpochEntry& entry) { return e < entry.epoch; });
  if (higher == entries_.begin()) return {epoch, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

absl::Status LeaderEpochCache::Persist(const std::string& dir) const {
  std::string text = absl::StrCat("0\n", entries_.size(), "\n");
  for (const EpochEntry& e : entries_) absl::StrAppend(&text, e.epoch, " ", e.start_offset, "\n");
  return WriteFileAtomically(absl::StrCat(dir, "/", kFileName), text);
}

}  // namespace runnel::storage
