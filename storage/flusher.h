// Flusher: the process-wide group-commit thread. Logs hand it durability requests ("tell me when
// everything up to offset N of this log is on disk"); it takes every request that arrived while
// the previous round ran, syncs each log named in them once (one fdatasync per log per round,
// skipped when an earlier round already covered the offset), then runs the callbacks. So durable
// appends cost a few fdatasyncs per millisecond, not one per append.
//
// The flusher is shared by every log of one data dir, and holds that dir's DataDirFailure: once a
// sync (or a write) fails, every request queued or made later is answered with that error, and no
// sync is attempted again (see data_dir_failure.h).
//
// Thread-safety: all methods may be called from any thread. Callbacks run on the flush thread and
// must not block for long (hand work off) nor call Drain().
#pragma once

#include <cstdint>
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
  Flusher();
  // Finishes every queued request, then stops the thread.
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  // Asks for `log` to be durable up to `offset` (exclusive end offset); `done` (may be empty) is
  // called once it is, or with the sync error. `log` must stay alive until Drain(log) returns.
  // Requests without a callback are merged: while one for `log` is queued, a new one only raises
  // its end offset.
  void RequestFlush(Log* log, int64_t end_offset, DurableCallback done);

  // Blocks until no request for `log` is queued or in flight. Called by Log before it goes away.
  void Drain(Log* log);

  // Rounds of fdatasync done so far (for tests and metrics).
  int64_t sync_rounds() const;

  // The failed state of the data dir whose logs use this flusher.
  DataDirFailure& failure() { return failure_; }

 private:
  struct Request {
    Log* log;
    int64_t end_offset;
    DurableCallback done;
  };

  void Run();
  // What request `r` is answered, given its log's sync result: OK only if the dir is healthy and
  // the log's synced offset covers the request.
  absl::Status Covered(const Request& r, absl::Status synced);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DataDirFailure failure_;
  mutable Mutex mu_;
  CondVar work_cv_;  // signalled when a request arrives or the flusher stops
  CondVar idle_cv_;  // signalled after every round, for Drain
  std::vector<Request> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Log*, int> in_flight_ ABSL_GUARDED_BY(mu_);
  // Where in pending_ each log's queued request without callback is (they are merged).
  absl::flat_hash_map<Log*, size_t> queued_without_callback_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t sync_rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace runnel::storage
