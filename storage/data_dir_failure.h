// DataDirFailure: the failed state of one data directory (Kafka's LogDirFailureChannel).
//
// Why a failed sync is final: when fdatasync reports an I/O error, Linux may already have dropped
// the dirty pages it could not write, or marked them clean, so a second fdatasync returns 0
// although the data never reached the disk (PostgreSQL's "fsyncgate"). A sync error therefore
// cannot be retried; and an I/O error on a write leaves the file's state unknown. So the first such
// error of a data dir is recorded here, once, and from then on every Log of that dir refuses
// appends, reads and flushes with that error, the Flusher fails every pending durability request,
// the clean-shutdown marker is never written (the next start recovers by scanning), and the owner's
// handler is told so it can stop serving the dir (runneld exits: it has one data dir).
//
// A full disk (ENOSPC, EFBIG, EDQUOT on a write: ResourceExhausted from file.h) is not such an
// error: the write is rolled back and the log stays consistent, so those failures are returned as
// they are and appends work again once space returns. A failed sync is fatal whatever its errno
// (file.h never reports one as ResourceExhausted).
//
// Thread-safety: every method may be called from any thread. The handler runs once, on the thread
// that recorded the failure (often the flush thread): it must only hand the news on.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "common/status_cause.h"

namespace runnel::storage {

class DataDirFailure {
 public:
  using Handler = std::function<void(const absl::Status& error)>;

  // Sets the handler; if the dir already failed it runs now, on this thread.
  void SetHandler(Handler handler);

  // Returns OK while the dir is healthy, else the error every operation on it now gets:
  // Unavailable, "data dir offline after an I/O error: <the first error>", marked with the payload
  // IsDataDirFailure() looks for (cause DataDirError::kOffline).
  absl::Status Check() const;
  bool failed() const { return failed_.load(std::memory_order_acquire); }

  // Takes what a mutating file operation (write, truncate, sync, rename, unlink) returned. OK and
  // a full disk (ResourceExhausted) come back unchanged; any other error fails the dir and
  // Check()'s error comes back.
  absl::Status OnIoError(const absl::Status& error);

 private:
  void Fail(const absl::Status& error);

  std::atomic<bool> failed_{false};
  mutable Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  Handler handler_ ABSL_GUARDED_BY(mu_);
};

// The cause a failed data dir's error carries (common/status_cause.h).
enum class DataDirError { kOffline };
constexpr const char* CauseTypeUrl(DataDirError) { return "runnel.storage.DataDirError"; }

// Whether `status` is (or wraps, with its causes kept) the error of a failed data dir.
bool IsDataDirFailure(const absl::Status& status);

}  // namespace runnel::storage
