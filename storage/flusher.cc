#include "storage/flusher.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "storage/log.h"

namespace runnel::storage {
namespace {

// The flusher whose thread this is, if any.
thread_local const Flusher* flusher_of_this_thread = nullptr;

}  // namespace

Flusher::Flusher(int threads, int64_t max_waiting) : max_waiting_(max_waiting) {
  RUNNEL_CHECK(threads >= 1 && threads <= kMaxThreads, "flush threads %d out of 1..%d", threads,
               kMaxThreads);
  RUNNEL_CHECK(max_waiting >= 1, "flush max waiting %d below 1", max_waiting);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

Flusher::~Flusher() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

void Flusher::RequestFlush(Log* log, int64_t end_offset, DurableCallback done) {
  MutexLock lock(&mu_);
  LogRequests& requests = logs_[log];
  requests.target = std::max(requests.target, end_offset);
  if (done) {
    requests.waiters.push_back({end_offset, std::move(done)});
    ++waiting_;
  }
  if (requests.requested) return;  // already queued, or picked up when its sync returns
  requests.requested = true;
  if (!requests.syncing) {
    ready_.push_back(log);
    work_cv_.Signal();
  }
}

void Flusher::Drain(Log* log) {
  // A callback that dropped the last handle to its log would wait here for its own thread.
  RUNNEL_CHECK(flusher_of_this_thread != this,
               "Flusher::Drain(%s) on a flush thread would wait for itself", log->dir());
  MutexLock lock(&mu_);
  while (logs_.contains(log)) idle_cv_.Wait(&mu_);
}

absl::Status Flusher::CheckRoom() const {
  MutexLock lock(&mu_);
  if (waiting_ < max_waiting_) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat(waiting_, " appends are waiting for their sync already (the flusher's limit is ",
                   max_waiting_, "): the disk is not keeping up; retry later"));
}

int64_t Flusher::waiting() const {
  MutexLock lock(&mu_);
  return waiting_;
}

int64_t Flusher::sync_rounds() const {
  MutexLock lock(&mu_);
  return sync_rounds_;
}

absl::Status Flusher::Covered(const Log& log, int64_t end_offset, const absl::Status& synced) {
  if (!synced.ok()) return synced;
  if (absl::Status failed = failure_.Check(); !failed.ok()) return failed;
  // A truncation between the append and this sync can take the requested offsets away: they
  // were never made durable, so the request must not be answered OK.
  const int64_t flushed = log.flushed_offset();
  if (flushed < end_offset) {
    return absl::AbortedError(absl::StrCat(log.dir(), ": offsets ", flushed, "..", end_offset - 1,
                                           " were truncated before they were synced"));
  }
  return absl::OkStatus();
}

void Flusher::SyncAndAnswer(Log* log, int64_t target, std::vector<Waiter> waiters) {
  absl::Status synced = failure_.Check();  // a failed dir is never synced again
  if (synced.ok() && log->NeedsFlush(target)) synced = log->Flush(target);
  for (Waiter& w : waiters) {
    if (w.done) w.done(Covered(*log, w.end_offset, synced));
  }
}

void Flusher::Run() {
  flusher_of_this_thread = this;
  while (true) {
    Log* log = nullptr;
    int64_t target = 0;
    std::vector<Waiter> waiters;
    {
      MutexLock lock(&mu_);
      while (ready_.empty() && !stopping_) work_cv_.Wait(&mu_);
      if (ready_.empty()) return;  // stopping with nothing left
      log = ready_.front();
      ready_.pop_front();
      LogRequests& requests = logs_.at(log);
      RUNNEL_CHECK(requests.requested && !requests.syncing, "%s was queued for a sync twice",
                   log->dir());
      requests.requested = false;
      requests.syncing = true;
      target = requests.target;
      waiters.swap(requests.waiters);
      ++sync_rounds_;
    }
    const auto answered = static_cast<int64_t>(waiters.size());
    SyncAndAnswer(log, target, std::move(waiters));
    MutexLock lock(&mu_);
    waiting_ -= answered;
    RUNNEL_CHECK(waiting_ >= 0, "flusher: %d callbacks waiting", waiting_);
    LogRequests& requests = logs_.at(log);  // the map may have rehashed meanwhile
    requests.syncing = false;
    if (requests.requested) {
      ready_.push_back(log);  // requests that came during the sync: the next sync covers them
      work_cv_.Signal();
    } else {
      logs_.erase(log);
    }
    idle_cv_.SignalAll();
  }
}

}  // namespace runnel::storage
