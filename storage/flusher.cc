#include "storage/flusher.h"

#include "absl/strings/str_cat.h"
#include "storage/log.h"

namespace runnel::storage {

Flusher::Flusher() : thread_([this] { Run(); }) {}

Flusher::~Flusher() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.Signal();
  }
  thread_.join();
}

void Flusher::RequestFlush(Log* log, int64_t end_offset, DurableCallback done) {
  MutexLock lock(&mu_);
  if (!done) {
    const auto [it, inserted] = queued_without_callback_.try_emplace(log, pending_.size());
    if (!inserted) {
      int64_t& queued_end = pending_[it->second].end_offset;
      queued_end = std::max(queued_end, end_offset);
      return;
    }
  }
  pending_.push_back({log, end_offset, std::move(done)});
  work_cv_.Signal();
}

void Flusher::Drain(Log* log) {
  MutexLock lock(&mu_);
  auto idle = [this, log]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (in_flight_.contains(log)) return false;
    for (const Request& r : pending_) {
      if (r.log == log) return false;
    }
    return true;
  };
  while (!idle()) idle_cv_.Wait(&mu_);
}

bool Flusher::HasWorkOrStopping() const { return stopping_ || !pending_.empty(); }

int64_t Flusher::sync_rounds() const {
  MutexLock lock(&mu_);
  return sync_rounds_;
}

absl::Status Flusher::Covered(const Request& r, absl::Status synced) {
  if (!synced.ok()) return synced;
  if (absl::Status failed = failure_.Check(); !failed.ok()) return failed;
  // A truncation between the append and this sync can take the requested offsets away: they
  // were never made durable, so the request must not be answered OK.
  const int64_t flushed = r.log->flushed_offset();
  if (flushed < r.end_offset) {
    return absl::AbortedError(absl::StrCat(r.log->dir(), ": offsets ", flushed, "..",
                                           r.end_offset - 1,
                                           " were truncated before they were synced"));
  }
  return absl::OkStatus();
}

void Flusher::Run() {
  while (true) {
    std::vector<Request> round;
    {
      MutexLock lock(&mu_);
      while (!HasWorkOrStopping()) work_cv_.Wait(&mu_);
      if (pending_.empty()) return;  // stopping with nothing left
      round.swap(pending_);
      queued_without_callback_.clear();
      for (const Request& r : round) ++in_flight_[r.log];
      ++sync_rounds_;
    }
    // One sync per log, covering the highest offset asked for in this round.
    absl::flat_hash_map<Log*, int64_t> targets;
    for (const Request& r : round) {
      int64_t& t = targets[r.log];
      t = std::max(t, r.end_offset);
    }
    absl::flat_hash_map<Log*, absl::Status> results;
    for (const auto& [log, end_offset] : targets) {
      absl::Status s = failure_.Check();  // a failed dir is never synced again
      if (s.ok() && log->NeedsFlush(end_offset)) s = log->Flush(end_offset);
      results[log] = std::move(s);
    }
    for (Request& r : round) {
      if (r.done) r.done(Covered(r, results[r.log]));
    }
    MutexLock lock(&mu_);
    for (const Request& r : round) {
      if (--in_flight_[r.log] == 0) in_flight_.erase(r.log);
    }
    idle_cv_.SignalAll();
  }
}

}  // namespace runnel::storage
