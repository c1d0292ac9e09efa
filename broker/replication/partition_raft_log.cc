#include "broker/replication/partition_raft_log.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/record/control_record.h"
#include "common/status_macros.h"
#include "raft/membership.h"
#include "storage/file.h"

namespace runnel::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::Term;
using record::ControlType;
using record::RecordBatchView;

constexpr char kStateHeader[] = "runnel-raft-state 1";
constexpr char kStartHeader[] = "runnel-raft-log-start 1";
constexpr char kConfigsHeader[] = "runnel-raft-configs 1";
constexpr char kHighWatermarkHeader[] = "runnel-raft-high-watermark 1";
constexpr char kCatchingUpHeader[] = "runnel-raft-catching-up 1";
// Control batches carry no time (Kafka's NO_TIMESTAMP): every replica writes the same bytes, and
// retention by time never counts them.
constexpr int64_t kControlTimestamp = -1;

int32_t EpochOf(Term term) {
  RUNNEL_CHECK(term >= 0 && term <= std::numeric_limits<int32_t>::max(),
               "raft term %d does not fit a partitionLeaderEpoch", term);
  return static_cast<int32_t>(term);
}

// The lines of an owner file after its header line; NotFound when there is no file.
absl::StatusOr<std::vector<std::string>> ReadOwnerFile(const storage::Log& log,
                                                       const std::string& name,
                                                       const char* header) {
  const std::string path = absl::StrCat(log.dir(), "/", name);
  if (!storage::FileExists(path)) return absl::NotFoundError(path);
  ASSIGN_OR_RETURN(const std::string text, storage::ReadWholeFile(path));
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines.front() != header) {
    return absl::DataLossError(absl::StrCat(path, ": does not start with \"", header, "\""));
  }
  lines.erase(lines.begin());
  return lines;
}

// "<name> <int64>" from `line`.
absl::StatusOr<int64_t> Field(const std::string& path, const std::string& line, const char* name) {
  int64_t value = 0;
  const std::string prefix = absl::StrCat(name, " ");
  if (line.rfind(prefix, 0) != 0 || !absl::SimpleAtoi(line.substr(prefix.size()), &value)) {
    return absl::DataLossError(
        absl::StrCat(path, ": expected \"", name, " <number>\", found \"", line, "\""));
  }
  return value;
}

}  // namespace

PartitionRaftLog::PartitionRaftLog(std::shared_ptr<storage::Log> log) : log_(std::move(log)) {}

absl::StatusOr<std::unique_ptr<PartitionRaftLog>> PartitionRaftLog::Open(
    std::shared_ptr<storage::Log> log, bool may_have_lost_state) {
  std::unique_ptr<PartitionRaftLog> raft_log(new PartitionRaftLog(std::move(log)));
  RETURN_IF_ERROR(raft_log->Load(may_have_lost_state));
  return raft_log;
}

absl::Status PartitionRaftLog::Load(bool may_have_lost_state) {
  RETURN_IF_ERROR(LoadState());
  // The file, once written, holds until removed (a crash before the state file was written
  // leaves it alone).
  const bool marked = storage::FileExists(absl::StrCat(log_->dir(), "/", kCatchingUpFile));
  catching_up_ = marked || (!has_state_ && may_have_lost_state);
  if (catching_up_ && !marked) {
    // Before any hard state exists, so no crash leaves a state file without this one.
    RETURN_IF_ERROR(
        log_->WriteOwnerFile(kCatchingUpFile, absl::StrCat(kCatchingUpHeader, "\n"), true));
  }
  RETURN_IF_ERROR(LoadStart());
  if (start_index_ + 1 > log_->start_offset()) {
    // A ResetTo wrote the new start and crashed before the log followed (or part way): finish it.
    logging::Get("replication")
        ->warn("log {}: completing a reset to offset {} interrupted by a crash", log_->dir(),
               start_index_ + 1);
    RETURN_IF_ERROR(log_->ResetTo(start_index_ + 1));
  }
  epochs_ = log_->epoch_entries();
  end_ = log_->end_offset();
  RETURN_IF_ERROR(LoadConfigs());
  return LoadHighWatermark();
}

absl::Status PartitionRaftLog::LoadHighWatermark() {
  // At least what the log was already told (the same Log replicated again in this process).
  high_watermark_ = std::max(log_->start_offset(), log_->replicated_high_watermark());
  absl::StatusOr<std::vector<std::string>> lines =
      ReadOwnerFile(*log_, kHighWatermarkFile, kHighWatermarkHeader);
  if (lines.ok()) {
    const std::string path = absl::StrCat(log_->dir(), "/", kHighWatermarkFile);
    if (lines->size() != 1) return absl::DataLossError(absl::StrCat(path, ": expected 1 line"));
    ASSIGN_OR_RETURN(const int64_t checkpointed, Field(path, lines->front(), "offset"));
    // A power loss may have taken the log's tail: never past its end.
    high_watermark_ = std::clamp(checkpointed, high_watermark_, end_);
    checkpointed_high_watermark_ = checkpointed;
  } else if (!absl::IsNotFound(lines.status())) {
    return lines.status();
  }
  log_->SetReplicatedHighWatermark(high_watermark_);
  return absl::OkStatus();
}

void PartitionRaftLog::SetCommitted(Index commit) {
  if (commit + 1 <= high_watermark_) return;
  RUNNEL_CHECK(commit < end_, "log %s: commit index %d past the log end %d", log_->dir(), commit,
               end_);
  high_watermark_ = commit + 1;
  log_->SetReplicatedHighWatermark(high_watermark_);
}

absl::Status PartitionRaftLog::CheckpointHighWatermark() {
  if (high_watermark_ == checkpointed_high_watermark_) return absl::OkStatus();
  RETURN_IF_ERROR(log_->WriteOwnerFile(
      kHighWatermarkFile, absl::StrCat(kHighWatermarkHeader, "\noffset ", high_watermark_, "\n"),
      /*durable=*/false));
  checkpointed_high_watermark_ = high_watermark_;
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::FinishCatchingUp() {
  if (!catching_up_) return absl::OkStatus();
  RETURN_IF_ERROR(log_->RemoveOwnerFile(kCatchingUpFile, /*durable=*/true));
  catching_up_ = false;
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::LoadState() {
  absl::StatusOr<std::vector<std::string>> lines = ReadOwnerFile(*log_, kStateFile, kStateHeader);
  if (absl::IsNotFound(lines.status())) return absl::OkStatus();
  RETURN_IF_ERROR(lines.status());
  has_state_ = true;
  const std::string path = absl::StrCat(log_->dir(), "/", kStateFile);
  if (lines->size() != 2) return absl::DataLossError(absl::StrCat(path, ": expected 2 lines"));
  ASSIGN_OR_RETURN(hard_state_.term, Field(path, (*lines)[0], "term"));
  ASSIGN_OR_RETURN(const int64_t vote, Field(path, (*lines)[1], "vote"));
  if (hard_state_.term < 0 || vote < raft::kNoNode || vote > std::numeric_limits<int32_t>::max()) {
    return absl::DataLossError(
        absl::StrCat(path, ": term ", hard_state_.term, " or vote ", vote, " out of range"));
  }
  hard_state_.vote = static_cast<raft::NodeId>(vote);
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::LoadStart() {
  absl::StatusOr<std::vector<std::string>> lines = ReadOwnerFile(*log_, kStartFile, kStartHeader);
  if (absl::IsNotFound(lines.status())) return absl::OkStatus();
  RETURN_IF_ERROR(lines.status());
  const std::string path = absl::StrCat(log_->dir(), "/", kStartFile);
  if (lines->size() < 2 || lines->size() > 3) {
    return absl::DataLossError(absl::StrCat(path, ": expected 2 or 3 lines"));
  }
  ASSIGN_OR_RETURN(start_index_, Field(path, (*lines)[0], "index"));
  ASSIGN_OR_RETURN(start_term_, Field(path, (*lines)[1], "term"));
  if (lines->size() == 3) {
    const std::string& line = (*lines)[2];
    if (line.rfind("config ", 0) != 0) {
      return absl::DataLossError(absl::StrCat(path, ": expected \"config <membership>\""));
    }
    start_config_ = line.substr(7);
    RETURN_IF_ERROR(raft::Membership::Decode(start_config_).status());
  }
  if (start_index_ < raft::kNoIndex || start_term_ < 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": index ", start_index_, " or term ", start_term_, " out of range"));
  }
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::LoadConfigs() {
  absl::StatusOr<std::vector<std::string>> lines =
      ReadOwnerFile(*log_, kConfigsFile, kConfigsHeader);
  if (absl::IsNotFound(lines.status())) return absl::OkStatus();
  RETURN_IF_ERROR(lines.status());
  const std::string path = absl::StrCat(log_->dir(), "/", kConfigsFile);
  for (const std::string& line : *lines) {
    const size_t space = line.find(' ');
    Index index = 0;
    if (space == std::string::npos || !absl::SimpleAtoi(line.substr(0, space), &index)) {
      return absl::DataLossError(
          absl::StrCat(path, ": expected \"<index> <membership>\", found \"", line, "\""));
    }
    const std::string config = line.substr(space + 1);
    // The file is written before the batch: a crash between them, or a truncation whose rewrite
    // of the file was lost, leaves entries the log does not hold. Keep those the log confirms.
    if (index < StartIndex() || index > LastIndex()) continue;
    const std::vector<Entry> entries = Read(EntryStart(index), 1);
    if (entries.front().first == index && entries.front().type == EntryType::kConfig &&
        entries.front().data == config) {
      configs_[index] = config;
    }
  }
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::SaveHardState(const raft::HardState& state) {
  RETURN_IF_ERROR(log_->WriteOwnerFile(
      kStateFile, absl::StrCat(kStateHeader, "\nterm ", state.term, "\nvote ", state.vote, "\n"),
      /*durable=*/true));
  hard_state_ = state;
  return absl::OkStatus();
}

absl::Status PartitionRaftLog::SaveStart() const {
  std::string text =
      absl::StrCat(kStartHeader, "\nindex ", start_index_, "\nterm ", start_term_, "\n");
  if (!start_config_.empty()) absl::StrAppend(&text, "config ", start_config_, "\n");
  return log_->WriteOwnerFile(kStartFile, text, /*durable=*/true);
}

absl::Status PartitionRaftLog::SaveConfigs() const {
  std::string text = absl::StrCat(kConfigsHeader, "\n");
  for (const auto& [index, config] : configs_) absl::StrAppend(&text, index, " ", config, "\n");
  return log_->WriteOwnerFile(kConfigsFile, text, /*durable=*/true);
}

void PartitionRaftLog::Stop(const char* what, const absl::Status& status) const {
  const auto logger = logging::Get("replication");
  logger->critical("log {}: {} failed ({}); this replica stops, the others carry on", log_->dir(),
                   what, status.ToString());
  logger->flush();
  std::abort();
}

Index PartitionRaftLog::StartIndex() const { return log_->start_offset(); }

Term PartitionRaftLog::StartTerm() const {
  const Index before = StartIndex() - 1;
  if (before == start_index_) return start_term_;
  // The log start moved past the installed one (retention): the epoch covering the offset before
  // it, if the cache still has it.
  const size_t i = EpochCovering(before);
  if (i < epochs_.size()) return epochs_[i].epoch;
  return epochs_.empty() ? start_term_ : epochs_.front().epoch;
}

size_t PartitionRaftLog::EpochCovering(Index index) const {
  auto it =
      std::upper_bound(epochs_.begin(), epochs_.end(), index,
                       [](Index i, const storage::EpochEntry& e) { return i < e.start_offset; });
  if (it == epochs_.begin()) return epochs_.size();
  return static_cast<size_t>(std::prev(it) - epochs_.begin());
}

std::optional<Term> PartitionRaftLog::TermAt(Index index) const {
  const Index start = StartIndex();
  if (index == start - 1) return StartTerm();
  if (index < start || index > LastIndex()) return std::nullopt;
  const size_t i = EpochCovering(index);
  // Every batch's epoch is in the cache from its base offset on (Log::WriteLocked).
  RUNNEL_CHECK(i < epochs_.size(), "log %s: no leader epoch covers offset %d", log_->dir(), index);
  return epochs_[i].epoch;
}

Index PartitionRaftLog::TermStart(Index index) const {
  const Index start = StartIndex();
  if (index == start - 1) return index;
  const size_t i = EpochCovering(index);
  RUNNEL_CHECK(i < epochs_.size(), "log %s: no leader epoch covers offset %d", log_->dir(), index);
  return std::max(epochs_[i].start_offset, start);
}

std::optional<Index> PartitionRaftLog::LastIndexAtOrBelowTerm(Term term) const {
  // The last epoch entry whose epoch is <= term; its run ends where the next begins.
  auto it = std::upper_bound(epochs_.begin(), epochs_.end(), term,
                             [](Term t, const storage::EpochEntry& e) { return t < e.epoch; });
  if (it != epochs_.begin()) {
    const Index last = it == epochs_.end() ? LastIndex() : it->start_offset - 1;
    if (last >= StartIndex()) return last;
  }
  if (StartTerm() <= term) return StartIndex() - 1;
  return std::nullopt;
}

Index PartitionRaftLog::EntryStart(Index index) const {
  const absl::StatusOr<std::string> bytes = log_->Read(index, 1);
  if (!bytes.ok()) Stop("reading", bytes.status());
  const absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(*bytes);
  RUNNEL_CHECK(batch.ok() && batch->base_offset() <= index && batch->last_offset() >= index,
               "log %s: no batch holds offset %d", log_->dir(), index);
  return batch->base_offset();
}

Entry PartitionRaftLog::ToEntry(const RecordBatchView& batch, std::string* whole) const {
  Entry entry;
  entry.first = batch.base_offset();
  entry.last = batch.last_offset();
  entry.term = batch.partition_leader_epoch();
  if (!batch.is_control()) {
    // `batch` views `*whole`: nothing may read it after the move.
    entry.data = whole != nullptr ? std::move(*whole) : std::string(batch.bytes());
    return entry;
  }
  absl::StatusOr<record::ControlRecord> control = record::ParseControlBatch(batch);
  if (!control.ok()) Stop("decoding a control batch", control.status());
  switch (control->type) {
    case ControlType::kLeaderChange:
      entry.type = EntryType::kLeaderChange;
      break;
    case ControlType::kVoters:
      entry.type = EntryType::kConfig;
      break;
    default:
      // Transaction markers are data to Raft: replicated as they are.
      entry.data = std::string(batch.bytes());
      return entry;
  }
  entry.data = std::move(control->value);
  return entry;
}

std::vector<Entry> PartitionRaftLog::Read(Index from, int64_t max_bytes) const {
  RUNNEL_CHECK(from >= StartIndex() && from <= LastIndex(), "log %s: read from %d outside [%d, %d]",
               log_->dir(), from, StartIndex(), LastIndex());
  absl::StatusOr<std::string> bytes =
      log_->Read(from, static_cast<size_t>(std::max<int64_t>(max_bytes, 1)));
  if (!bytes.ok()) Stop("reading", bytes.status());
  std::vector<Entry> entries;
  std::string_view rest = *bytes;
  Index expected = from;
  while (!rest.empty()) {
    const absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(rest);
    RUNNEL_CHECK(batch.ok(), "log %s: a stored batch at %d does not parse: %s", log_->dir(),
                 expected, batch.status().ToString());
    // Raft's entries are contiguous; a gap is a batch compaction removed, which a replicated
    // log never does (docs/ARCHITECTURE.md section 3).
    RUNNEL_CHECK(batch->base_offset() == expected,
                 "log %s: the batch after offset %d starts at %d (a gap)", log_->dir(),
                 expected - 1, batch->base_offset());
    expected = batch->last_offset() + 1;
    const size_t size = batch->size();
    // A read of one batch (what a leader sends a follower that keeps up) hands its buffer over.
    const bool whole = size == bytes->size();
    entries.push_back(ToEntry(*batch, whole ? &*bytes : nullptr));
    if (whole) break;
    rest.remove_prefix(size);
  }
  RUNNEL_CHECK(!entries.empty(), "log %s: nothing read at %d", log_->dir(), from);
  return entries;
}

void PartitionRaftLog::Append(std::vector<Entry> entries) {
  for (Entry& entry : entries) {
    RUNNEL_CHECK(entry.first == end_ && entry.last >= entry.first,
                 "log %s: append of [%d, %d] at the log end %d", log_->dir(), entry.first,
                 entry.last, end_);
    const int32_t epoch = EpochOf(entry.term);
    std::string batch;
    switch (entry.type) {
      case EntryType::kData:
        batch = std::move(entry.data);
        break;
      case EntryType::kLeaderChange:
        batch =
            record::BuildControlBatch(ControlType::kLeaderChange, entry.data, kControlTimestamp);
        break;
      case EntryType::kConfig:
        configs_[entry.first] = entry.data;
        if (absl::Status saved = SaveConfigs(); !saved.ok()) Stop("writing raft-configs", saved);
        batch = record::BuildControlBatch(ControlType::kVoters, entry.data, kControlTimestamp);
        break;
    }
    const absl::StatusOr<storage::AppendResult> result =
        log_->AppendReplicated(&batch, entry.first, epoch);
    if (!result.ok()) Stop("appending", result.status());
    RUNNEL_CHECK(result->last_offset == entry.last,
                 "log %s: entry [%d, %d] stored as a batch ending at %d", log_->dir(), entry.first,
                 entry.last, result->last_offset);
    if (epochs_.empty() || epochs_.back().epoch < epoch) {
      epochs_.push_back(storage::EpochEntry{epoch, entry.first});
    }
    end_ = entry.last + 1;
    if (entry.type == EntryType::kData && observer_.appended) {
      absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch);
      if (view.ok()) observer_.appended(*view, entry.first);
    }
  }
}

void PartitionRaftLog::TruncateAfter(Index index) {
  RUNNEL_CHECK(index >= StartIndex() - 1, "log %s: truncate after %d below the start %d",
               log_->dir(), index, StartIndex());
  if (index >= LastIndex()) return;
  if (absl::Status cut = log_->TruncateTo(index + 1); !cut.ok()) Stop("truncating", cut);
  end_ = log_->end_offset();
  RUNNEL_CHECK(end_ == index + 1, "log %s: truncate after %d inside a batch (the log ends at %d)",
               log_->dir(), index, end_);
  while (!epochs_.empty() && epochs_.back().start_offset > index) epochs_.pop_back();
  if (observer_.truncated) observer_.truncated();
  if (configs_.upper_bound(index) != configs_.end()) {
    configs_.erase(configs_.upper_bound(index), configs_.end());
    // A stale file (a crash before this) may list configs past the end: Open checks each.
    if (absl::Status saved = SaveConfigs(); !saved.ok()) Stop("writing raft-configs", saved);
  }
}

void PartitionRaftLog::ResetTo(Index index, Term term, const std::string& snapshot,
                               const std::string& config) {
  RUNNEL_CHECK(snapshot.empty(), "log %s: a partition log has no snapshot (%d bytes given)",
               log_->dir(), snapshot.size());
  start_index_ = index;
  start_term_ = term;
  start_config_ = config;
  // Written first: a crash part way through the reset is completed at the next Open.
  if (absl::Status saved = SaveStart(); !saved.ok()) Stop("writing raft-log-start", saved);
  if (absl::Status reset = log_->ResetTo(index + 1); !reset.ok()) Stop("resetting", reset);
  configs_.clear();
  if (absl::Status saved = SaveConfigs(); !saved.ok()) Stop("writing raft-configs", saved);
  epochs_.clear();
  end_ = index + 1;
  if (observer_.truncated) observer_.truncated();
}

std::optional<raft::LogStorage::ConfigRecord> PartitionRaftLog::LastConfig() const {
  if (!configs_.empty()) return ConfigRecord{configs_.rbegin()->first, configs_.rbegin()->second};
  if (!start_config_.empty()) return ConfigRecord{StartIndex() - 1, start_config_};
  return std::nullopt;
}

}  // namespace runnel::broker
