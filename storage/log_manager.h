// LogManager: every partition log of one data directory (`<data_dir>/<topic>-<partition>/`).
// Opens them all at start (in parallel), creates and deletes them, applies per-topic config
// overrides, and runs background maintenance: flush.ms flushes, retention and compaction.
//
// Threading: all methods are thread-safe. Logs are handed out as shared handles: a deleted
// partition's Log stays valid (every operation on it then fails with NotFound, see
// Log::MarkDeleted) until the last handle goes. Handles must not be kept in durability callbacks:
// the last one dropped on a flush thread would wait for that thread (Flusher::Drain checks).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "storage/disk_space.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "storage/log_cleaner.h"
#include "storage/log_config.h"

namespace runnel::storage {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  std::string DirName() const;  // "<topic>-<partition>"
  // Parses a partition directory name; std::nullopt for anything else.
  static std::optional<TopicPartition> FromDirName(std::string_view name);

  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  friend bool operator<(const TopicPartition& a, const TopicPartition& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  }
  template <typename H>
  friend H AbslHashValue(H h, const TopicPartition& tp) {
    return H::combine(std::move(h), tp.topic, tp.partition);
  }
};

// Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
absl::Status ValidateTopicName(std::string_view topic);

struct LogManagerOptions {
  std::string data_dir = "./data";
  LogConfig defaults;
  std::map<std::string, LogConfigOverrides> topic_overrides;
  int open_threads = 2;                                     // logs opened in parallel at start
  int flush_threads = Flusher::kDefaultThreads;             // logs synced at once (Flusher)
  int64_t flush_max_waiting = Flusher::kDefaultMaxWaiting;  // appends waiting for a sync
  // Free space below which the broker refuses clients' appends (DiskSpace); 0: never.
  uint64_t min_free_bytes = 0;
  // The reserve file a metadata write on a full disk may release (DiskSpace); 0: none.
  uint64_t reserve_bytes = 0;
  int64_t maintenance_interval_ms = 1000;  // <= 0: no background thread (tests drive it)
  // Compaction's own thread (started with maintenance, unless maintenance_interval_ms <= 0).
  LogCleanerOptions cleaner;
  const Clock* clock = &Clock::Real();  // borrowed; must outlive the manager

  absl::Status Validate() const;
};

class LogManager {
 public:
  // Opens every partition directory of the data dir with its topic's config (defaults plus
  // `topic_overrides`); directories a deletion renamed (`...-delete`) are not opened but queued
  // for removal. Maintenance does not run until StartMaintenance().
  static absl::StatusOr<std::unique_ptr<LogManager>> Open(LogManagerOptions options);

  // Starts the maintenance thread (every maintenance_interval_ms; none if that is <= 0). Call it
  // once every topic's overrides are in place: a pass with the defaults could apply delete-policy
  // retention to a compacted topic. Idempotent.
  void StartMaintenance();

  static constexpr char kDeletedSuffix[] = "-delete";
  // Stops maintenance. Logs not Close()d are left as after a crash (recovered on next open).
  ~LogManager();

  // The partition's log, created if it has none. With `topic_id`, the directory is tagged with it
  // (partition.metadata) unless it is already: a log already open that is tagged with another id
  // is refused (FailedPrecondition naming both); a directory found on disk with another id is left
  // over from a deleted topic of the same name, whose deletion did not finish: it is deleted and a
  // fresh log made, so its records never come back under the new topic.
  absl::StatusOr<std::shared_ptr<Log>> GetOrCreate(const TopicPartition& tp,
                                                   const std::string& topic_id = "");
  std::shared_ptr<Log> Get(const TopicPartition& tp) const;  // nullptr if absent
  std::vector<TopicPartition> List() const;
  // Deletes the partition, Kafka's way: the log stops (Log::MarkDeleted: handles still held get
  // NotFound), its directory is renamed to `<topic>-<partition>.<unique>-delete` and the data dir
  // synced (from then on, a crash cannot bring it back: directories with that suffix are never
  // opened), and the files are removed later by the maintenance thread (at once without one).
  // NotFound if the partition has no log.
  absl::Status Delete(const TopicPartition& tp);
  // Renamed directories not removed yet (for tests).
  size_t pending_removals() const;

  // Replaces the topic's overrides and applies them to its open logs.
  absl::Status SetTopicOverrides(const std::string& topic, const LogConfigOverrides& overrides);
  LogConfig ConfigFor(const std::string& topic) const;

  using HighWatermarkListener = std::function<void(const TopicPartition&)>;
  // `listener` is called with a partition each time its high watermark grows (new data that
  // consumers may read), on the syncing thread: it must only hand the news on. Returns a handle
  // for RemoveHighWatermarkListener, which an owner that goes away before the manager must call.
  int AddHighWatermarkListener(HighWatermarkListener listener);
  // Once this returns the listener is not running and is never called again.
  void RemoveHighWatermarkListener(int handle);

  // One pass of flush.ms flushes and retention over every log (compaction is the cleaner's).
  absl::Status RunMaintenance();
  // Passes finished so far, by the thread or by RunMaintenance calls; whether the thread runs.
  int64_t maintenance_passes() const { return maintenance_passes_.load(); }
  bool maintenance_running() const;

  // Closes every log cleanly (clean-shutdown markers) and stops maintenance.
  absl::Status Close();

  Flusher& flusher() { return flusher_; }
  // The data dir's free space: the threshold for clients' appends and the reserve for metadata.
  DiskSpace& disk_space() { return disk_space_; }
  // Compaction: its thread runs from StartMaintenance; tests may call CleanFilthiest themselves.
  LogCleaner& cleaner() { return cleaner_; }
  // The data dir's failed state: once a sync or write fails with an I/O error every log refuses
  // work; set a handler on it to hear about it (data_dir_failure.h).
  DataDirFailure& failure() { return flusher_.failure(); }

 private:
  explicit LogManager(LogManagerOptions options)
      : options_(std::move(options)),
        flusher_(options_.flush_threads, options_.flush_max_waiting),
        disk_space_(options_.data_dir, options_.min_free_bytes, options_.reserve_bytes),
        cleaner_(
            options_.cleaner, [this] { return Logs(); }, options_.clock) {}
  std::vector<std::shared_ptr<Log>> Logs() const;
  absl::Status OpenAll();
  // Routes the log's high-watermark news to the listeners.
  void Watch(const TopicPartition& tp, Log* log);
  // Renames a stopped log's directory for removal (see Delete) and syncs the data dir; the new
  // path, for pending_removals_.
  absl::StatusOr<std::string> RenameForRemoval(const std::string& dir);
  // Removes the directories Delete renamed (or a crash left renamed); logs what it cannot.
  void RemoveDeletedDirs();
  void MaintenanceLoop();
  void StopMaintenance();

  const LogManagerOptions options_;
  Flusher flusher_;
  DiskSpace disk_space_;
  mutable Mutex mu_;
  absl::flat_hash_map<TopicPartition, std::shared_ptr<Log>> logs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LogConfigOverrides> overrides_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pending_removals_ ABSL_GUARDED_BY(mu_);  // "...-delete" paths
  Mutex listeners_mu_;
  std::map<int, HighWatermarkListener> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;
  Mutex maintenance_mu_;  // one maintenance pass at a time
  std::atomic<int64_t> maintenance_passes_{0};
  mutable Mutex stop_mu_;
  CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread maintenance_ ABSL_GUARDED_BY(stop_mu_);
  LogCleaner cleaner_;  // last: its thread uses the logs, and is stopped before they go
};

}  // namespace runnel::storage
