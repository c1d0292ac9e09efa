#include "storage/flusher.h"

#include "storage/log.h"

namespace runnel::storage {

Flusher::Flusher() : thread_([this] { Run(); }) {}

Flusher::~Flusher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Flusher::RequestFlush(Log* log, int64_t end_offset, DurableCallback done) {
  absl::MutexLock lock(&mu_);
  pending_.push_back({log, end_offset, std::move(done)});
}

void Flusher::Drain(Log* log) {
  absl::MutexLock lock(&mu_);
  auto idle = [this, log]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (in_flight_.contains(log)) return false;
    for (const Request& r : pending_) {
      if (r.log == log) return false;
    }
    return true;
  };
  mu_.Await(absl::Condition(&idle));
}

bool Flusher::HasWorkOrStopping() const { return stopping_ || !pending_.empty(); }

int64_t Flusher::sync_rounds() const {
  absl::MutexLock lock(&mu_);
  return sync_rounds_;
}

void Flusher::Run() {
  while (true) {
    std::vector<Request> round;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Flusher::HasWorkOrStopping));
      if (pending_.empty()) return;  // stopping with nothing left
      round.swap(pending_);
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
      results[log] = log->flushed_offset() >= end_offset ? absl::OkStatus() : log->Flush();
    }
    for (Request& r : round) {
      if (r.done) r.done(results[r.log]);
    }
    absl::MutexLock lock(&mu_);
    for (const Request& r : round) {
      if (--in_flight_[r.log] == 0) in_flight_.erase(r.log);
    }
  }
}

}  // namespace runnel::storage
