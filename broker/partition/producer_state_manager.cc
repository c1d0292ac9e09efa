#include "broker/partition/producer_state_manager.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/partition/producer_state_snapshot.h"
#include "common/logging.h"
#include "common/record/record_batch.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::broker {
namespace {

using record::RecordBatchView;

// Scan reads: big enough to cover many batches per read, small enough not to matter in memory.
constexpr size_t kScanChunkBytes = 1 << 20;

// A snapshot file of the partition directory: its name and the end offset its name gives (-1
// for the legacy `producer-state`, whose end is only known once read).
struct SnapshotFile {
  std::string name;
  int64_t end_offset;
};

// The directory's snapshot files, newest first (the legacy file last).
std::vector<SnapshotFile> ListSnapshots(const storage::Log& log) {
  std::vector<SnapshotFile> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(log.dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (std::optional<int64_t> end = ParseSnapshotFileName(name)) {
      files.push_back({name, *end});
    } else if (name == kLegacyProducerStateFile) {
      files.push_back({name, -1});
    }
  }
  std::sort(files.begin(), files.end(), [](const SnapshotFile& a, const SnapshotFile& b) {
    return a.end_offset > b.end_offset;
  });
  return files;
}

// The newest snapshot the partition can use. A bad one is only worth a warning: the next older
// one (or, with none left, the whole log) is read instead; the log is the truth.
std::optional<ProducerStateSnapshot> ReadSnapshot(const storage::Log& log) {
  const int64_t log_end = log.end_offset();
  for (const SnapshotFile& file : ListSnapshots(log)) {
    const std::string path = absl::StrCat(log.dir(), "/", file.name);
    auto warn = [&path](absl::string_view why) {
      logging::Get("broker")->warn("{}: ignored ({}); an older snapshot or the log is read instead",
                                   path, std::string(why));
    };
    absl::StatusOr<std::string> bytes = storage::ReadWholeFile(path);
    if (!bytes.ok()) {
      warn(bytes.status().message());
      continue;
    }
    absl::StatusOr<ProducerStateSnapshot> snapshot = DecodeProducerStateSnapshot(*bytes);
    if (!snapshot.ok()) {
      warn(snapshot.status().message());
      continue;
    }
    if (file.end_offset >= 0 && snapshot->end_offset != file.end_offset) {
      warn(absl::StrCat("it covers offsets up to ", snapshot->end_offset, ", not as named"));
      continue;
    }
    if (snapshot->end_offset > log_end) {
      // The log lost data the snapshot describes (it was cut): its batches may not exist.
      warn(absl::StrCat("it covers offsets up to ", snapshot->end_offset, " but the log ends at ",
                        log_end));
      continue;
    }
    return *std::move(snapshot);
  }
  return std::nullopt;
}

// Records every idempotent batch in [from, log end) that `table` does not cover yet. Only headers
// matter, but Log::Read hands out whole batches.
absl::Status ScanLog(const storage::Log& log, int64_t from, ProducerStateTable* table) {
  const int64_t end = log.end_offset();
  int64_t offset = from;
  while (offset < end) {
    absl::StatusOr<std::string> chunk = log.Read(offset, kScanChunkBytes);
    if (absl::IsOutOfRange(chunk.status()) && offset < log.start_offset()) {
      offset = log.start_offset();  // retention moved the start meanwhile: nothing to see below it
      continue;
    }
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) break;
    std::string_view rest = *chunk;
    int64_t next = offset;
    while (!rest.empty()) {
      ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(rest));
      rest.remove_prefix(view.size());
      next = view.last_offset() + 1;
      if (view.last_offset() < from || view.producer_id() < 0 || view.is_control()) continue;
      absl::StatusOr<BatchSequence> sequence = BatchSequence::FromBatch(view);
      if (sequence.ok()) {
        // When it was appended is not in the log (its timestamps are the producer's): unknown,
        // so the producer gets a whole expiration period from the load.
        table->RecordFromLog(*sequence, view.base_offset(), view.last_offset(), -1);
      }
    }
    if (next <= offset) {  // every read must move forward, or this loop would not end
      return absl::DataLossError(
          absl::StrCat("log ", log.dir(), ": producer state scan stuck at offset ", offset));
    }
    offset = next;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ProducerStateTable> LoadProducerState(const storage::Log& log) {
  ProducerStateTable table;
  // Without a snapshot the whole log is scanned: a producer's batches may lie in any segment.
  int64_t from = log.start_offset();
  if (std::optional<ProducerStateSnapshot> snapshot = ReadSnapshot(log)) {
    table = std::move(snapshot->table);
    from = snapshot->end_offset;
  }
  from = std::max(from, log.start_offset());
  RETURN_IF_ERROR(ScanLog(log, from, &table));
  logging::Get("broker")->debug("log {}: producer state of {} producers loaded (scanned from {})",
                                log.dir(), table.producers().size(), from);
  return table;
}

ProducerStateManager::ProducerStateManager(ProducerStateOptions options)
    : options_(std::move(options)) {}

ProducerStateManager::~ProducerStateManager() { Stop(); }

void ProducerStateManager::Start(storage::LogManager* logs) {
  MutexLock lock(&thread_mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this, logs] { Run(logs); });
}

void ProducerStateManager::Stop() {
  std::thread thread;
  {
    MutexLock lock(&thread_mu_);
    stopping_ = true;
    thread_cv_.SignalAll();
    thread.swap(thread_);
  }
  if (thread.joinable()) thread.join();
}

void ProducerStateManager::Run(storage::LogManager* logs) {
  auto stopping = [this] {
    MutexLock lock(&thread_mu_);
    return stopping_;
  };
  int loaded = 0;
  for (const storage::TopicPartition& tp : logs->List()) {
    if (stopping()) return;
    const std::shared_ptr<storage::Log> log = logs->Get(tp);
    if (log == nullptr || ListSnapshots(*log).empty()) continue;
    const std::shared_ptr<Partition> partition = GetPartition(tp);
    MutexLock lock(&partition->mu);
    const absl::Status status = EnsureLoadedLocked(tp, partition.get(), log);
    if (!status.ok()) {
      logging::Get("broker")->warn("{}; it is loaded again at its next idempotent batch",
                                   std::string(status.message()));
    }
    loaded += status.ok();
  }
  logging::Get("broker")->info("producer state of {} partitions loaded", loaded);
  while (true) {
    {
      MutexLock lock(&thread_mu_);
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(options_.expiration_check_interval_ms);
      while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        thread_cv_.WaitWithTimeout(&thread_mu_,
                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - std::chrono::steady_clock::now()) +
                                       std::chrono::milliseconds(1));
      }
      if (stopping_) return;
    }
    if (const int expired = ExpireProducers(); expired > 0) {
      logging::Get("broker")->info("{} producers idle for producer.id.expiration.ms {} forgotten",
                                   expired, options_.producer_id_expiration_ms);
    }
  }
}

int ProducerStateManager::ExpireProducers() {
  std::vector<std::shared_ptr<Partition>> partitions;
  {
    MutexLock lock(&mu_);
    for (const auto& [tp, partition] : partitions_) partitions.push_back(partition);
  }
  const int64_t now = options_.clock->NowMs();
  int expired = 0;
  for (const std::shared_ptr<Partition>& partition : partitions) {
    MutexLock lock(&partition->mu);
    if (!partition->loaded) continue;
    expired += partition->table.ExpireBefore(now - options_.producer_id_expiration_ms, now);
  }
  return expired;
}

bool ProducerStateManager::IsLoaded(const storage::TopicPartition& tp) {
  const std::shared_ptr<Partition> partition = FindPartition(tp);
  if (partition == nullptr) return false;
  MutexLock lock(&partition->mu);
  return partition->loaded;
}

absl::Status ProducerStateManager::EnsureLoadedLocked(const storage::TopicPartition& tp,
                                                      Partition* partition,
                                                      const std::shared_ptr<storage::Log>& log) {
  // A log deleted and made again (a topic recreated) is another log: weak_ptr never matches a
  // new log at the old one's address.
  if (partition->loaded && partition->log.lock() == log &&
      partition->truncations == log->truncation_count()) {
    return absl::OkStatus();
  }
  absl::StatusOr<ProducerStateTable> table = LoadProducerState(*log);
  if (!table.ok()) {
    // Internal, not the read's own code: a DataLoss would reach the producer as a corrupt batch.
    return absl::InternalError(absl::StrCat(
        "partition ", tp.DirName(), ": cannot load producer state: ", table.status().message()));
  }
  const int64_t now = options_.clock->NowMs();
  table->ExpireBefore(now - options_.producer_id_expiration_ms, now);
  partition->table = *std::move(table);
  partition->ForgetSnapshots();
  partition->log = log;
  partition->loaded = true;
  partition->truncations = log->truncation_count();
  partition->snapshot_segment = log->active_segment_base_offset();
  return absl::OkStatus();
}

std::shared_ptr<ProducerStateManager::Partition> ProducerStateManager::FindPartition(
    const storage::TopicPartition& tp) {
  MutexLock lock(&mu_);
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : it->second;
}

absl::Status ProducerStateManager::WriteSnapshotFile(Partition* partition, storage::Log& log,
                                                     int64_t end, const std::string& bytes,
                                                     bool durable, int64_t generation) {
  MutexLock lock(&partition->file_mu);
  if (partition->dropped || generation != partition->generation || end < partition->written_end) {
    return absl::OkStatus();
  }
  // Through the log: never into the directory of a log deleted meanwhile (or of a new one that
  // took its name).
  RETURN_IF_ERROR(log.WriteOwnerFile(SnapshotFileName(end), bytes, durable));
  partition->written_end = end;
  // The last kSnapshotsKept stay (a truncation below the newest falls back to an older one).
  const std::vector<SnapshotFile> files = ListSnapshots(log);
  for (size_t i = 0; i < files.size(); ++i) {
    if (i >= kSnapshotsKept || files[i].end_offset < 0) {
      RETURN_IF_ERROR(log.RemoveOwnerFile(files[i].name, /*durable=*/false));
    }
  }
  return absl::OkStatus();
}

void ProducerStateManager::MaybeSnapshotLocked(const std::shared_ptr<Partition>& partition,
                                               storage::Log* log) {
  const int64_t segment = log->active_segment_base_offset();
  if (!partition->loaded || segment == partition->snapshot_segment) return;
  partition->snapshot_segment = segment;
  const int64_t end = log->end_offset();
  std::string bytes = EncodeProducerStateSnapshot(partition->table, end);
  const int64_t generation = partition->SnapshotGeneration();
  // The log outlives its queued durability callbacks (~Log drains them), so the callback holds
  // a plain pointer (a handle dropped there could be the last one, on the flush thread).
  log->WhenDurable(
      end, [partition, log, end, generation, bytes = std::move(bytes)](absl::Status s) {
        if (s.ok()) {
          s = WriteSnapshotFile(partition.get(), *log, end, bytes, /*durable=*/false, generation);
        }
        if (!s.ok()) {
          logging::Get("broker")->warn("log {}: producer state snapshot at a roll not written: {}",
                                       log->dir(), s.ToString());
        }
      });
}

std::shared_ptr<ProducerStateManager::Partition> ProducerStateManager::GetPartition(
    const storage::TopicPartition& tp) {
  MutexLock lock(&mu_);
  std::shared_ptr<Partition>& partition = partitions_[tp];
  if (partition == nullptr) partition = std::make_shared<Partition>();
  return partition;
}

absl::StatusOr<BatchAppend> ProducerStateManager::Append(const storage::TopicPartition& tp,
                                                         const std::shared_ptr<storage::Log>& log,
                                                         std::string batch) {
  ASSIGN_OR_RETURN(const RecordBatchView view, RecordBatchView::Parse(batch));
  ASSIGN_OR_RETURN(const BatchSequence sequence, BatchSequence::FromBatch(view));
  if (sequence.producer_id < 0) {
    ASSIGN_OR_RETURN(const storage::AppendResult result, log->Append(std::move(batch)));
    // A roll by a plain batch must snapshot the idempotent producers of the older segments too.
    if (const std::shared_ptr<Partition> partition = FindPartition(tp)) {
      MutexLock lock(&partition->mu);
      if (partition->log.lock() == log) MaybeSnapshotLocked(partition, log.get());
    }
    return BatchAppend{result, false};
  }
  return AppendIdempotent(tp, log, std::move(batch), sequence);
}

absl::StatusOr<BatchAppend> ProducerStateManager::AppendIdempotent(
    const storage::TopicPartition& tp, const std::shared_ptr<storage::Log>& log, std::string batch,
    const BatchSequence& sequence) {
  const std::shared_ptr<Partition> partition = GetPartition(tp);
  MutexLock lock(&partition->mu);
  RETURN_IF_ERROR(EnsureLoadedLocked(tp, partition.get(), log));
  ASSIGN_OR_RETURN(const std::optional<ProducerBatch> original, partition->table.Check(sequence));
  if (original.has_value()) {
    logging::Get("broker")->debug(
        "partition {}: producer {} epoch {} sequences {}..{} duplicate the batch at offsets "
        "{}..{}; not appended",
        tp.DirName(), sequence.producer_id, sequence.epoch, sequence.base_sequence,
        sequence.last_sequence, original->base_offset, original->last_offset);
    return BatchAppend{{original->base_offset, original->last_offset, -1}, true};
  }
  ASSIGN_OR_RETURN(const storage::AppendResult result, log->Append(std::move(batch)));
  partition->table.Record(sequence, result.base_offset, result.last_offset,
                          options_.clock->NowMs());
  MaybeSnapshotLocked(partition, log.get());
  return BatchAppend{result, false};
}

absl::Status ProducerStateManager::TruncateLog(const storage::TopicPartition& tp,
                                               const std::shared_ptr<storage::Log>& log,
                                               int64_t offset) {
  const std::shared_ptr<Partition> partition = GetPartition(tp);
  MutexLock lock(&partition->mu);  // no append to the partition meanwhile
  partition->ForgetSnapshots();    // before the cut: a snapshot written now would describe it
  // Even when it fails the log may have been cut: the snapshots past its end go either way.
  const absl::Status truncated = log->TruncateTo(offset);
  partition->loaded = false;  // rebuilt from the log at the next append
  RETURN_IF_ERROR(DropSnapshotsPastEndLocked(partition.get(), log.get()));
  return truncated;
}

absl::Status ProducerStateManager::DropSnapshotsPastEndLocked(Partition* partition,
                                                              storage::Log* log) {
  partition->ForgetSnapshots();
  // A snapshot past the new end describes batches that are gone: were the log to grow past its
  // end again, it would be taken for the truth about other batches. Older ones stay, so the next
  // load starts from the newest of them.
  MutexLock file_lock(&partition->file_mu);
  std::vector<std::string> doomed;
  for (const SnapshotFile& file : ListSnapshots(*log)) {
    bool past_end = file.end_offset > log->end_offset();
    if (file.end_offset < 0) {  // the legacy file: its end is inside
      absl::StatusOr<std::string> bytes =
          storage::ReadWholeFile(absl::StrCat(log->dir(), "/", file.name));
      absl::StatusOr<ProducerStateSnapshot> snapshot =
          bytes.ok() ? DecodeProducerStateSnapshot(*bytes) : bytes.status();
      past_end = !snapshot.ok() || snapshot->end_offset > log->end_offset();
    }
    if (past_end) doomed.push_back(file.name);
  }
  for (size_t i = 0; i < doomed.size(); ++i) {  // the last removal syncs the directory
    RETURN_IF_ERROR(log->RemoveOwnerFile(doomed[i], /*durable=*/i + 1 == doomed.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ProducerBatch>> ProducerStateManager::CheckReplicated(
    const storage::TopicPartition& tp, const std::shared_ptr<storage::Log>& log,
    const BatchSequence& batch) {
  const std::shared_ptr<Partition> partition = GetPartition(tp);
  MutexLock lock(&partition->mu);
  RETURN_IF_ERROR(EnsureLoadedLocked(tp, partition.get(), log));
  return partition->table.Check(batch);
}

void ProducerStateManager::RecordReplicated(const storage::TopicPartition& tp,
                                            const std::shared_ptr<storage::Log>& log,
                                            const RecordBatchView& batch, int64_t base_offset) {
  if (batch.producer_id() < 0 || batch.is_control()) return;
  absl::StatusOr<BatchSequence> sequence = BatchSequence::FromBatch(batch);
  if (!sequence.ok()) return;  // the leader checked it; a load would skip it too
  const std::shared_ptr<Partition> partition = FindPartition(tp);
  if (partition == nullptr) return;
  MutexLock lock(&partition->mu);
  if (!partition->loaded || partition->log.lock() != log ||
      partition->truncations != log->truncation_count()) {
    return;  // the next load reads it from the log
  }
  partition->table.Record(*sequence, base_offset, base_offset + batch.last_offset_delta(),
                          options_.clock->NowMs());
  MaybeSnapshotLocked(partition, log.get());
}

absl::Status ProducerStateManager::ReplicaTruncated(const storage::TopicPartition& tp,
                                                    const std::shared_ptr<storage::Log>& log) {
  // GetPartition, not FindPartition: the snapshots past the end go even when no state was ever
  // loaded here (a restart, a replica added again), or a later load would trust them.
  const std::shared_ptr<Partition> partition = GetPartition(tp);
  MutexLock lock(&partition->mu);
  partition->loaded = false;
  return DropSnapshotsPastEndLocked(partition.get(), log.get());
}

void ProducerStateManager::Drop(const storage::TopicPartition& tp) {
  std::shared_ptr<Partition> partition;
  {
    MutexLock lock(&mu_);
    auto it = partitions_.find(tp);
    if (it == partitions_.end()) return;
    partition = std::move(it->second);
    partitions_.erase(it);
  }
  MutexLock lock(&partition->file_mu);  // waits for a write in progress
  partition->dropped = true;
}

absl::Status ProducerStateManager::WriteSnapshots() {
  std::vector<std::shared_ptr<Partition>> partitions;
  {
    MutexLock lock(&mu_);
    for (const auto& [tp, partition] : partitions_) partitions.push_back(partition);
  }
  absl::Status first_error;
  for (const std::shared_ptr<Partition>& partition : partitions) {
    MutexLock lock(&partition->mu);
    const std::shared_ptr<storage::Log> log = partition->log.lock();
    if (!partition->loaded || log == nullptr) continue;
    const int64_t end = log->end_offset();
    absl::Status written = log->Flush(end);
    if (written.ok()) {
      written = WriteSnapshotFile(partition.get(), *log, end,
                                  EncodeProducerStateSnapshot(partition->table, end),
                                  /*durable=*/true, partition->SnapshotGeneration());
    }
    if (!written.ok()) {
      logging::Get("broker")->error("log {}: producer state snapshot not written: {}", log->dir(),
                                    written.ToString());
      first_error.Update(written);
    }
  }
  return first_error;
}

}  // namespace runnel::broker
