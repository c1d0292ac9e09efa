// BlockingCalls: runs the gRPC handlers that wait on another broker — an admin call waiting for
// the controller to commit a topic create (up to its propose timeout), FindCoordinator creating
// __consumer_offsets, InitProducerId fetching a block of ids — on threads of their own. The gRPC
// server's callback threads are few and shared by every produce, fetch and metadata request: a
// burst of such calls while the controller is away would otherwise hold them all and stall the
// broker (tests/e2e/cluster_admin_test.cc).
//
// Thread-safety: Run may be called from any thread. Stop (or the destructor) runs what is
// queued, then joins; call it after the gRPC server's Shutdown and before the server is destroyed.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "grpcpp/grpcpp.h"

namespace runnel::broker {

class BlockingCalls {
 public:
  // `threads` run the calls; past `max_queued` waiting calls, Run refuses more.
  explicit BlockingCalls(int threads, size_t max_queued = 1024);
  ~BlockingCalls();  // Stop()
  // Runs what is queued and joins the threads; later Runs are refused. Call it after the gRPC
  // server's Shutdown returned and before the server is destroyed: a thread may still be inside
  // a reactor's Finish, which touches the server, when Shutdown returns.
  void Stop();
  BlockingCalls(const BlockingCalls&) = delete;
  BlockingCalls& operator=(const BlockingCalls&) = delete;

  // The call's reactor: finished OK once `work` (which fills the response) has run on one of the
  // threads (CANCELLED without running it if the client gave up meanwhile), or at once with
  // RESOURCE_EXHAUSTED when max_queued calls are already waiting.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, std::function<void()> work);
  // Runs `work`, which answers no call, on one of the threads; false (not run) when stopping or
  // when max_queued calls are already waiting.
  bool Post(std::function<void()> work);

 private:
  void Loop();

  const size_t max_queued_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Runs `work` on `calls` when there are any, else here (a service built without them).
inline grpc::ServerUnaryReactor* RunBlocking(BlockingCalls* calls,
                                             grpc::CallbackServerContext* context,
                                             std::function<void()> work) {
  if (calls != nullptr) return calls->Run(context, std::move(work));
  work();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace runnel::broker
