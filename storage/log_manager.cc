#include "storage/log_manager.h"

#include <dirent.h>
#include <sys/stat.h>

#include <filesystem>
#include <limits>

#include <chrono>
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::storage {

std::string TopicPartition::DirName() const { return absl::StrCat(topic, "-", partition); }

std::optional<TopicPartition> TopicPartition::FromDirName(std::string_view name) {
  const size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  // Canonical decimal only: "t-07" or "t-+7" must not alias "t-7".
  const std::string_view digits = name.substr(dash + 1);
  if (digits.empty() || digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  int64_t partition = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    partition = partition * 10 + (c - '0');
  }
  if (partition > std::numeric_limits<int32_t>::max()) return std::nullopt;
  TopicPartition tp{std::string(name.substr(0, dash)), static_cast<int32_t>(partition)};
  if (!ValidateTopicName(tp.topic).ok()) return std::nullopt;
  return tp;
}

absl::Status ValidateTopicName(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") {
    return absl::InvalidArgumentError(absl::StrCat("topic name '", std::string(topic),
                                                   "' must be 1-249 characters, not . or .."));
  }
  for (char c : topic) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("topic name '", std::string(topic), "' has '", std::string(1, c),
                       "'; only letters, digits, '.', '_' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status LogManagerOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir: empty");
  if (open_threads < 1) return absl::InvalidArgumentError("open_threads: must be at least 1");
  if (flush_threads < 1 || flush_threads > Flusher::kMaxThreads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flush_threads: must be 1..", Flusher::kMaxThreads, " (got ", flush_threads, ")"));
  }
  if (flush_max_waiting < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("flush_max_waiting: must be at least 1 (got ", flush_max_waiting, ")"));
  }
  RETURN_IF_ERROR(defaults.Validate());
  for (const auto& [topic, overrides] : topic_overrides) {
    absl::Status s = overrides.ApplyTo(defaults).Validate();
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat("topic ", topic, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LogManager>> LogManager::Open(LogManagerOptions options) {
  RETURN_IF_ERROR(options.Validate());
  std::error_code ec;
  const bool created = std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(options.data_dir, ": cannot create: ", ec.message()));
  }
  // A new data dir must stay after a power loss (its partitions' entries are synced in it).
  if (created) RETURN_IF_ERROR(SyncDirectory(ParentDirectory(options.data_dir)));
  std::unique_ptr<LogManager> manager(new LogManager(std::move(options)));
  {
    MutexLock lock(&manager->mu_);
    manager->overrides_ = manager->options_.topic_overrides;
  }
  RETURN_IF_ERROR(manager->OpenAll());
  manager->disk_space_.CreateReserve();
  return manager;
}

void LogManager::StartMaintenance() {
  MutexLock lock(&stop_mu_);
  if (options_.maintenance_interval_ms <= 0 || stopping_ || maintenance_.joinable()) return;
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  cleaner_.Start();
}

void LogManager::StopMaintenance() {
  cleaner_.Stop();
  std::thread maintenance;
  {
    MutexLock lock(&stop_mu_);
    stopping_ = true;
    stop_cv_.SignalAll();
    maintenance.swap(maintenance_);
  }
  if (maintenance.joinable()) maintenance.join();
}

LogManager::~LogManager() {
  StopMaintenance();
  MutexLock lock(&mu_);
  logs_.clear();  // before flusher_ goes: each Log drains its requests
}

absl::Status LogManager::OpenAll() {
  std::vector<TopicPartition> found;
  for (const auto& entry : std::filesystem::directory_iterator(options_.data_dir)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, kDeletedSuffix)) {
      MutexLock lock(&mu_);
      pending_removals_.push_back(entry.path().string());
    } else if (auto tp = TopicPartition::FromDirName(name)) {
      found.push_back(*tp);
    }
  }
  std::atomic<size_t> next{0};
  Mutex result_mu;
  absl::Status first_error;
  auto worker = [&] {
    for (size_t i; (i = next++) < found.size();) {
      const TopicPartition& tp = found[i];
      auto log = Log::Open(absl::StrCat(options_.data_dir, "/", tp.DirName()), ConfigFor(tp.topic),
                           &flusher_, options_.clock);
      MutexLock lock(&result_mu);
      if (!log.ok()) {
        if (first_error.ok()) first_error = log.status();
        continue;
      }
      Watch(tp, log->get());
      MutexLock logs_lock(&mu_);
      logs_[tp] = *std::move(log);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::min<int>(options_.open_threads, static_cast<int>(found.size()));
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  logging::Get("storage")->info("opened {} partition logs in {}", found.size(), options_.data_dir);
  return first_error;
}

LogConfig LogManager::ConfigFor(const std::string& topic) const {
  MutexLock lock(&mu_);
  auto it = overrides_.find(topic);
  return it == overrides_.end() ? options_.defaults : it->second.ApplyTo(options_.defaults);
}

absl::StatusOr<std::shared_ptr<Log>> LogManager::GetOrCreate(const TopicPartition& tp,
                                                             const std::string& topic_id) {
  RETURN_IF_ERROR(ValidateTopicName(tp.topic));
  if (tp.partition < 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition ", tp.partition, " is negative"));
  }
  if (std::shared_ptr<Log> log = Get(tp)) {
    if (!topic_id.empty()) RETURN_IF_ERROR(log->SetTopicId(topic_id));
    return log;
  }
  const LogConfig config = ConfigFor(tp.topic);
  MutexLock lock(&mu_);
  if (auto it = logs_.find(tp); it != logs_.end()) {
    if (!topic_id.empty()) RETURN_IF_ERROR(it->second->SetTopicId(topic_id));
    return it->second;
  }
  const std::string dir = absl::StrCat(options_.data_dir, "/", tp.DirName());
  ASSIGN_OR_RETURN(std::shared_ptr<Log> log, Log::Open(dir, config, &flusher_, options_.clock));
  if (!topic_id.empty()) {
    absl::Status tagged = log->SetTopicId(topic_id);
    if (absl::IsFailedPrecondition(tagged)) {
      // Not open, so no topic has it: a deletion took it out of the topic table but did not get to
      // rename it.
      logging::Get("storage")->warn("{}; deleting it", std::string(tagged.message()));
      log->MarkDeleted();
      log.reset();
      ASSIGN_OR_RETURN(std::string doomed, RenameForRemoval(dir));
      pending_removals_.push_back(std::move(doomed));
      ASSIGN_OR_RETURN(log, Log::Open(dir, config, &flusher_, options_.clock));
      tagged = log->SetTopicId(topic_id);
    }
    RETURN_IF_ERROR(tagged);
  }
  Watch(tp, log.get());
  logs_[tp] = log;
  return log;
}

void LogManager::Watch(const TopicPartition& tp, Log* log) {
  log->SetHighWatermarkListener([this, tp] {
    MutexLock lock(&listeners_mu_);
    for (const auto& [handle, listener] : listeners_) listener(tp);
  });
}

int LogManager::AddHighWatermarkListener(HighWatermarkListener listener) {
  MutexLock lock(&listeners_mu_);
  const int handle = next_listener_++;
  listeners_[handle] = std::move(listener);
  return handle;
}

void LogManager::RemoveHighWatermarkListener(int handle) {
  MutexLock lock(&listeners_mu_);  // waits for a call in progress: they run under the lock
  listeners_.erase(handle);
}

std::shared_ptr<Log> LogManager::Get(const TopicPartition& tp) const {
  MutexLock lock(&mu_);
  auto it = logs_.find(tp);
  return it == logs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Log>> LogManager::Logs() const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Log>> logs;
  logs.reserve(logs_.size());
  for (const auto& [tp, log] : logs_) logs.push_back(log);
  return logs;
}

std::vector<TopicPartition> LogManager::List() const {
  MutexLock lock(&mu_);
  std::vector<TopicPartition> out;
  for (const auto& [tp, log] : logs_) out.push_back(tp);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status LogManager::Delete(const TopicPartition& tp) {
  std::shared_ptr<Log> log;
  {
    MutexLock lock(&mu_);
    auto it = logs_.find(tp);
    if (it == logs_.end()) {
      return absl::NotFoundError(absl::StrCat("partition ", tp.DirName(), " does not exist"));
    }
    log = std::move(it->second);
    logs_.erase(it);
  }
  MutexLock maintenance_lock(&maintenance_mu_);  // not while a pass uses it
  // From here on no operation writes into the directory, whoever still holds the log: it can be
  // renamed. Its files stay open until the last holder lets go.
  log->MarkDeleted();
  const std::string dir = log->dir();
  log.reset();
  ASSIGN_OR_RETURN(std::string doomed, RenameForRemoval(dir));
  logging::Get("storage")->info("deleted partition {}", tp.DirName());
  {
    MutexLock lock(&mu_);
    pending_removals_.push_back(std::move(doomed));
  }
  if (options_.maintenance_interval_ms <= 0) RemoveDeletedDirs();
  return absl::OkStatus();
}

absl::StatusOr<std::string> LogManager::RenameForRemoval(const std::string& dir) {
  // A unique name: a topic created again under this name and deleted before the removal is done
  // must not collide with this one.
  static std::atomic<uint64_t> sequence{0};
  const std::string doomed =
      absl::StrCat(dir, ".", absl::ToUnixMicros(absl::Now()), "-", sequence++, kDeletedSuffix);
  RETURN_IF_ERROR(failure().OnIoError(RenameFile(dir, doomed)));
  RETURN_IF_ERROR(failure().OnIoError(SyncDirectory(options_.data_dir)));
  logging::Get("storage")->info("{} renamed to {}; its files are removed next", dir, doomed);
  return doomed;
}

size_t LogManager::pending_removals() const {
  MutexLock lock(&mu_);
  return pending_removals_.size();
}

void LogManager::RemoveDeletedDirs() {
  std::vector<std::string> dirs;
  {
    MutexLock lock(&mu_);
    dirs.swap(pending_removals_);
  }
  std::vector<std::string> failed;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) {
      logging::Get("storage")->error("{}: cannot remove: {}", dir, ec.message());
      failed.push_back(dir);  // tried again next pass
    }
  }
  MutexLock lock(&mu_);
  pending_removals_.insert(pending_removals_.end(), failed.begin(), failed.end());
}

absl::Status LogManager::SetTopicOverrides(const std::string& topic,
                                           const LogConfigOverrides& overrides) {
  const LogConfig config = overrides.ApplyTo(options_.defaults);
  RETURN_IF_ERROR(config.Validate());
  MutexLock lock(&mu_);
  overrides_[topic] = overrides;
  for (auto& [tp, log] : logs_) {
    if (tp.topic == topic) log->SetConfig(config);
  }
  return absl::OkStatus();
}

absl::Status LogManager::RunMaintenance() {
  MutexLock maintenance_lock(&maintenance_mu_);
  RETURN_IF_ERROR(failure().Check());  // a failed dir is left exactly as it is
  RemoveDeletedDirs();
  absl::Status first_error;
  for (const std::shared_ptr<Log>& log : Logs()) {
    for (absl::Status s : {log->MaybeFlushByTime(), log->ApplyRetention()}) {
      if (!s.ok()) {
        logging::Get("storage")->error("maintenance of {}: {}", log->dir(), s.ToString());
        if (first_error.ok()) first_error = s;
      }
    }
  }
  ++maintenance_passes_;
  return first_error;
}

bool LogManager::maintenance_running() const {
  MutexLock lock(&stop_mu_);
  return maintenance_.joinable();
}

void LogManager::MaintenanceLoop() {
  const auto interval = std::chrono::milliseconds(options_.maintenance_interval_ms);
  while (true) {
    {
      MutexLock lock(&stop_mu_);
      const auto deadline = std::chrono::steady_clock::now() + interval;
      while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        stop_cv_.WaitWithTimeout(&stop_mu_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                deadline - std::chrono::steady_clock::now()) +
                                                std::chrono::milliseconds(1));
      }
      if (stopping_) return;
    }
    RunMaintenance().IgnoreError();  // logged per log; the next pass retries
  }
}

absl::Status LogManager::Close() {
  StopMaintenance();
  MutexLock lock(&mu_);
  absl::Status first_error;
  for (auto& [tp, log] : logs_) {
    absl::Status s = log->Close();
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

}  // namespace runnel::storage
