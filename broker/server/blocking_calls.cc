#include "broker/server/blocking_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace runnel::broker {

BlockingCalls::BlockingCalls(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

BlockingCalls::~BlockingCalls() { Stop(); }

void BlockingCalls::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

grpc::ServerUnaryReactor* BlockingCalls::Run(grpc::CallbackServerContext* context,
                                             std::function<void()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  {
    MutexLock lock(&mu_);
    if (!stopping_ && queue_.size() < max_queued_) {
      queue_.push_back([context, reactor, work = std::move(work)] {
        // A call its client gave up on while it waited (past its deadline) is not run.
        if (context->IsCancelled()) {
          reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while queued"));
          return;
        }
        work();
        reactor->Finish(grpc::Status::OK);
      });
      cv_.Signal();
      return reactor;
    }
  }
  reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               absl::StrCat("this broker has ", max_queued_,
                                            " calls waiting on other brokers already; retry")));
  return reactor;
}

bool BlockingCalls::Post(std::function<void()> work) {
  MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(work));
  cv_.Signal();
  return true;
}

void BlockingCalls::Loop() {
  for (;;) {
    std::function<void()> next;
    {
      MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping, and everything queued has run
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next();
  }
}

}  // namespace runnel::broker
