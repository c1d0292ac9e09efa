#include "storage/log_cleaner.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::storage {

LogCleaner::LogCleaner(LogCleanerOptions options, LogSource logs, const Clock* clock)
    : options_(options), logs_(std::move(logs)), clock_(clock), map_(options.dedupe_buffer_bytes) {}

LogCleaner::~LogCleaner() { Stop(); }

void LogCleaner::Start() {
  MutexLock lock(&mu_);
  if (stopping_.load() || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void LogCleaner::Stop() {
  std::thread thread;
  {
    MutexLock lock(&mu_);
    stopping_.store(true, std::memory_order_release);
    cv_.SignalAll();
    thread.swap(thread_);
  }
  if (thread.joinable()) thread.join();
}

absl::StatusOr<bool> LogCleaner::CleanFilthiest() {
  MutexLock round_lock(&round_mu_);
  const int64_t now = clock_->NowMs();
  std::shared_ptr<Log> filthiest;
  double worst = -1;
  for (std::shared_ptr<Log>& log : logs_()) {
    const LogConfig config = log->config();
    if (!config.cleanup_compact) continue;
    if (auto failed = failed_until_.find(log->dir());
        failed != failed_until_.end() && now < failed->second) {
      continue;  // its last round failed: the others go first for a while
    }
    const CleaningState state = log->cleaning_state();
    const bool tombstones_due =
        state.tombstone_deadline_ms >= 0 && now >= state.tombstone_deadline_ms;
    const double ratio = state.dirty_ratio();
    const bool dirty_enough = state.dirty_bytes > 0 && ratio >= config.min_cleanable_dirty_ratio;
    if (!dirty_enough && !tombstones_due) continue;
    // Tombstones due count as fully dirty: they wait for nothing else.
    const double score = tombstones_due ? std::max(ratio, 1.0) : ratio;
    if (score > worst) {
      worst = score;
      filthiest = std::move(log);
    }
  }
  if (filthiest == nullptr) return false;
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<CleanStats> stats = filthiest->Clean(&map_, &stopping_);
  const int64_t took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
  if (!stats.ok()) {
    if (!absl::IsCancelled(stats.status())) {
      failed_until_[filthiest->dir()] = now + kFailureBackoffRounds * options_.backoff_ms;
    }
    return WithContext(stats.status(), absl::StrCat("cleaning ", filthiest->dir()));
  }
  failed_until_.erase(filthiest->dir());
  if (!stats->ran) return false;
  {
    MutexLock lock(&mu_);
    ++stats_.rounds;
    stats_.bytes_read += stats->bytes_read;
    stats_.bytes_written += stats->bytes_written;
    stats_.records_removed += stats->records_read - stats->records_written;
    stats_.peak_map_bytes = std::max(stats_.peak_map_bytes, stats->map_bytes);
    stats_.busy_ms += took_ms;
  }
  logging::Get("storage")->info(
      "cleaned {} (dirty ratio {:.2f}): {} keys mapped up to offset {}, {} -> {} bytes in {} ms "
      "({:.1f} MB/s)",
      filthiest->dir(), worst, stats->keys_mapped, stats->mapped_end, stats->bytes_read,
      stats->bytes_written, took_ms,
      took_ms > 0 ? static_cast<double>(stats->bytes_read) / 1e3 / static_cast<double>(took_ms)
                  : 0.0);
  return true;
}

LogCleanerStats LogCleaner::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

void LogCleaner::Loop() {
  while (!stopping_.load(std::memory_order_acquire)) {
    absl::StatusOr<bool> cleaned = CleanFilthiest();
    if (!cleaned.ok() && !absl::IsCancelled(cleaned.status())) {
      logging::Get("storage")->error("{}", cleaned.status().ToString());
    }
    if (cleaned.ok() && *cleaned) continue;  // more may be waiting
    // Nothing to do, or it failed: wait before looking again.
    MutexLock lock(&mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.backoff_ms);
    while (!stopping_.load() && std::chrono::steady_clock::now() < deadline) {
      cv_.WaitWithTimeout(&mu_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()) +
                                    std::chrono::milliseconds(1));
    }
  }
}

}  // namespace runnel::storage
