// LogCleaner: compaction's own thread (Kafka's log cleaner). Each round it picks the compacted
// log with the largest dirty ratio (dirty bytes over the bytes of its closed segments) at or
// above its min.cleanable.dirty.ratio, or one whose kept tombstones have reached their delete
// horizon, and runs one Log::Clean round on it with the one dedupe map. It sleeps
// `backoff_ms` whenever no log qualifies. Retention, flush.ms and deleted-directory removal stay
// on the LogManager's maintenance thread, so a long compaction delays none of them.
//
// Threading: Start/Stop/CleanFilthiest may be called from any thread; rounds never overlap.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "storage/log.h"
#include "storage/offset_map.h"

namespace runnel::storage {

struct LogCleanerOptions {
  // log.cleaner.dedupe.buffer.size: the most memory the dedupe map takes (24 bytes per key).
  size_t dedupe_buffer_bytes = Log::kDefaultDedupeBufferBytes;
  int64_t backoff_ms = 15'000;  // log.cleaner.backoff.ms: the sleep when nothing needs cleaning
};

// Totals since start (for /metrics).
struct LogCleanerStats {
  int64_t rounds = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  int64_t records_removed = 0;
  size_t peak_map_bytes = 0;
  int64_t busy_ms = 0;  // time spent in rounds
};

class LogCleaner {
 public:
  using LogSource = std::function<std::vector<std::shared_ptr<Log>>()>;
  // `clock` is borrowed and must outlive the cleaner.
  LogCleaner(LogCleanerOptions options, LogSource logs, const Clock* clock);
  ~LogCleaner();  // Stop()

  void Start();  // idempotent; does nothing after Stop
  // Makes a round in progress give up at its next batch and joins the thread.
  void Stop();

  // One round on the filthiest log that qualifies; false if none did (or the round found nothing
  // closed to clean). A log whose round failed is passed over for kFailureBackoffRounds backoffs,
  // so one bad log does not keep the others waiting.
  absl::StatusOr<bool> CleanFilthiest();
  static constexpr int64_t kFailureBackoffRounds = 10;

  LogCleanerStats stats() const;

 private:
  void Loop();

  const LogCleanerOptions options_;
  const LogSource logs_;
  const Clock* const clock_;
  std::atomic<bool> stopping_{false};
  Mutex round_mu_;  // one round at a time
  OffsetMap map_ ABSL_GUARDED_BY(round_mu_);
  // Logs (by directory) whose last round failed, and until when they are passed over.
  std::map<std::string, int64_t> failed_until_ ABSL_GUARDED_BY(round_mu_);
  mutable Mutex mu_;
  CondVar cv_;
  LogCleanerStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::storage
