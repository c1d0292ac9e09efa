// Flusher: the group-commit threads of one data dir. Logs hand it durability requests ("tell me
// when everything up to offset N of this log is on disk"). Each log with requests is synced by one
// of a few flush threads at a time, once for every request that arrived while it waited or while
// its previous sync ran (one fdatasync covers them all, and is skipped when an earlier one already
// covered the offset), and that log's waiters are answered as soon as its own sync returns: a busy
// partition never waits for the syncs of the others, and several logs sync at once (the disk
// merges concurrent syncs into its journal commits). So durable appends cost a few fdatasyncs per
// millisecond per log, not one per append, and acks=all latency does not grow with the number of
// busy partitions until the threads are all busy.
//
// The flusher holds its data dir's DataDirFailure: once a sync (or a write) fails, every request
// queued or made later is answered with that error, and no sync is attempted again (see
// data_dir_failure.h).
//
// Thread-safety: all methods may be called from any thread. Callbacks run on a flush thread, those
// of one log in the order of its requests and never two at once; they must not block for long
// (hand work off) nor call Drain().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "storage/data_dir_failure.h"

namespace runnel::storage {

class Log;

using DurableCallback = std::function<void(absl::Status)>;

class Flusher {
 public:
  static constexpr int kDefaultThreads = 4;
  static constexpr int kMaxThreads = 64;
  // Appends waiting for their sync at once, over all logs: past it the disk is not keeping up,
  // and appends that would wait are refused (CheckRoom) instead of queueing without bound.
  static constexpr int64_t kDefaultMaxWaiting = 100'000;

  // `threads`: how many logs may sync at once, 1..kMaxThreads; `max_waiting` >= 1.
  explicit Flusher(int threads = kDefaultThreads, int64_t max_waiting = kDefaultMaxWaiting);
  // Finishes every queued request, then stops the threads.
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  // Asks for `log` to be durable up to `offset` (exclusive end offset); `done` (may be empty) is
  // called once it is, or with the sync error. `log` must stay alive until Drain(log) returns.
  // Requests without a callback only raise the offset the log's next sync covers.
  void RequestFlush(Log* log, int64_t end_offset, DurableCallback done);

  // ResourceExhausted naming the limit while `max_waiting` callbacks wait for their sync; checked
  // by an append that will wait before it appends. (A soft bound: appends checking at the same
  // moment may each pass it, by at most one apiece.)
  absl::Status CheckRoom() const;

  // Blocks until no request for `log` is queued or in flight. Called by Log before it goes away.
  void Drain(Log* log);

  // Callbacks waiting for their sync now, over all logs (at most about max_waiting).
  int64_t waiting() const;

  // Syncs started so far, over all logs: each covers every request its log had queued (for tests
  // and metrics).
  int64_t sync_rounds() const;

  // The failed state of the data dir whose logs use this flusher.
  DataDirFailure& failure() { return failure_; }

 private:
  struct Waiter {
    int64_t end_offset;
    DurableCallback done;
  };
  // The requests of one log that no sync has taken yet. A log is in logs_ while it has requests
  // or a sync in flight; in ready_ while it has requests and no sync in flight.
  struct LogRequests {
    int64_t target = 0;  // the highest end offset asked for
    std::vector<Waiter> waiters;
    bool requested = false;  // requests arrived since the last sync took them
    bool syncing = false;    // a flush thread is syncing this log and answering its waiters
  };

  void Run();
  // Syncs `log` up to `target` and answers `waiters`.
  void SyncAndAnswer(Log* log, int64_t target, std::vector<Waiter> waiters);
  // What a waiter is answered, given its log's sync result: OK only if the dir is healthy and
  // the log's synced offset covers the request.
  absl::Status Covered(const Log& log, int64_t end_offset, const absl::Status& synced);

  DataDirFailure failure_;
  const int64_t max_waiting_;
  mutable Mutex mu_;
  CondVar work_cv_;  // signalled when a log becomes ready or the flusher stops
  CondVar idle_cv_;  // signalled after every sync, for Drain
  absl::flat_hash_map<Log*, LogRequests> logs_ ABSL_GUARDED_BY(mu_);
  std::deque<Log*> ready_ ABSL_GUARDED_BY(mu_);  // oldest first: every dirty log gets its turn
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t sync_rounds_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;  // callbacks not yet answered, over all logs
  std::vector<std::thread> threads_;
};

}  // namespace runnel::storage
