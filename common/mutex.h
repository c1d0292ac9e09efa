// Mutex, MutexLock, ReaderMutexLock and CondVar: the locking primitives of Runnel, with
// absl::Mutex's names and Abseil's thread-safety annotations, built on std::shared_mutex and
// std::condition_variable_any.
//
// Why not absl::Mutex directly: Debian's Abseil is a prebuilt shared library that is not compiled
// with ThreadSanitizer, so TSan cannot see its synchronisation and reports races on everything it
// protects. The standard library's primitives go through pthreads, which TSan intercepts, so our
// TSan builds check real races only. Waiting uses an explicit CondVar instead of absl's Await.
#pragma once

#include <chrono>
#include <condition_variable>
#include <shared_mutex>
#include <utility>

#include "absl/base/thread_annotations.h"

namespace runnel {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  friend class CondVar;
  std::shared_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Runs `f` with `mu`, which the caller holds, released, and holds it again before returning (also
// if `f` throws): for work that must not run under the lock (callbacks, joins, RPCs) in the middle
// of a locked function. State read before the call may have changed after it. Clang analyses `f`
// as code holding no lock, so `f` cannot touch what `mu` guards without a warning.
template <typename F>
decltype(auto) RunUnlocked(Mutex* mu, F&& f)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  mu->Unlock();
  struct Relock {
    Mutex* mu;
    ~Relock() { mu->Lock(); }
  } relock{mu};
  return std::forward<F>(f)();
}

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) { mu_->ReaderLock(); }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for Mutex. Wait* must be called with `mu` held exclusively; they release it
// while blocked and hold it again on return. Spurious wake-ups happen: wait in a loop on the
// condition you need.
class CondVar {
 public:
  void Wait(Mutex* mu) { cv_.wait(mu->mu_); }
  // Returns true if the wait timed out.
  bool WaitWithTimeout(Mutex* mu, std::chrono::milliseconds timeout) {
    return cv_.wait_for(mu->mu_, timeout) == std::cv_status::timeout;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace runnel
