// FetchScheduler: the broker's Fetch path (the Fetch RPC of proto/runnel/v1/broker.proto).
//
// - Reads run on a small pool of fetch threads, never on a gRPC thread, and read
//   a segment's bytes outside the partition's lock (storage::Log::Read plans under it): a cold or
//   slow read holds up its own fetch, not other partitions' consumers nor this one's producers.
// - A long poll (max_wait_ms > 0 and fewer than min_bytes available) is parked under each of its
//   partitions and woken only when one of those partitions' high watermark grows, or at its
//   deadline; an append to another partition costs it nothing.
// - At most `max_parked` long polls wait at once (each holds a gRPC call and its buffers): one
//   past the limit is refused with RESOURCE_EXHAUSTED naming it, and the client fetches again
//   after its retry back-off.
// - One broker-wide budget bounds the record bytes of responses being built or sent
//   (`memory_bytes`): a read takes what is left of it and gives it back when its response has gone
//   out (the reactor's OnDone), so many slow consumers cannot make the broker hold unbounded
//   memory. A fetch that finds it spent waits until memory comes back (or its deadline: then it is
//   answered empty, and the client fetches again). A read always returns its first batch whole,
//   so the budget can be exceeded by at most one batch per fetch thread.
//
// Threading: Fetch is called on gRPC threads; every completion runs on a fetch thread, one at a
// time per call, and so do the long polls' deadline timers; high-watermark news arrives on the
// flush thread and only schedules work.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "asio.hpp"
#include "broker/cluster/cluster_node.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/broker_metrics.h"
#include "common/mutex.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::broker {

struct FetchOptions {
  static constexpr int32_t kMaxThreads = 64;
  // `threads`, or for 0 one per core and at least 2 (reads are mostly copies from the page cache:
  // more threads than cores only add switching; a second one keeps a slow read from holding all).
  static int32_t ThreadsFor(int32_t threads);
  int32_t threads = 0;           // --fetch-threads: reads done at once; 0: ThreadsFor(0)
  int64_t max_bytes = 55 << 20;  // --fetch-max-bytes (Kafka's fetch.max.bytes)
  int64_t memory_bytes = int64_t{256} << 20;  // --fetch-memory-bytes: all responses in flight
  static constexpr int64_t kMaxParkedLimit = 1'000'000;
  int64_t max_parked = 10'000;  // --fetch-max-parked: long polls waiting for data at once
  // A partition's share when the request names none (Kafka's max.partition.fetch.bytes).
  int64_t default_partition_max_bytes = 1 << 20;
};

class FetchScheduler {
 public:
  // Borrows `partitions` and `metrics`; they must outlive the scheduler.
  // `cluster` is null on a single node; in a cluster only the partitions this broker leads are
  // served (others are answered NOT_LEADER).
  FetchScheduler(PartitionManager* partitions, ClusterNode* cluster, BrokerMetrics* metrics,
                 FetchOptions options);
  // Joins the fetch threads. Every call must have finished (Stop, then the gRPC server's
  // shutdown, which waits for them).
  ~FetchScheduler();
  FetchScheduler(const FetchScheduler&) = delete;
  FetchScheduler& operator=(const FetchScheduler&) = delete;

  // Starts a Fetch call; the returned reactor finishes it.
  grpc::ServerUnaryReactor* Fetch(const v1::FetchRequest* request, v1::FetchResponse* response);

  // Answers every parked long poll now with what it has, and every later fetch at once (called
  // before the gRPC server shuts down, which waits for every call). Does not wait.
  void Stop();

  // After the gRPC server has shut down (every call is done): waits until the fetch threads have
  // returned from the calls they finished (a Finish may still be returning when gRPC reports the
  // call done), so the server can be destroyed. Main thread only.
  void JoinThreads();

 private:
  class Call;
  class Reactor;

  // Registers `call` under each of its partitions until it finishes (Unpark).
  enum class ParkResult { kParked, kStopping, kFull };
  ParkResult Park(const std::shared_ptr<Call>& call);
  void Unpark(Call* call);
  void WakePartition(const storage::TopicPartition& tp);

  // The memory budget (see the header comment). Reserve returns up to `want` bytes, 0 when the
  // budget is spent; Adjust settles a reservation on what the read really returned; Release
  // gives bytes back and wakes the fetches waiting for memory.
  int64_t Reserve(int64_t want);
  void Adjust(int64_t reserved, int64_t used);
  void Release(int64_t bytes);
  // Parks `call` until memory is released (at once if some is free again already); a call that
  // waits again before then is parked once. ForgetMemoryWait drops a finished call's entry.
  void WaitForMemory(const std::shared_ptr<Call>& call);
  void ForgetMemoryWait(Call* call);

  PartitionManager* const partitions_;
  ClusterNode* const cluster_;
  BrokerMetrics* const metrics_;
  const FetchOptions options_;

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<storage::TopicPartition, absl::flat_hash_map<Call*, std::weak_ptr<Call>>>
      parked_ ABSL_GUARDED_BY(mu_);
  int64_t parked_calls_ ABSL_GUARDED_BY(mu_) = 0;  // at most options_.max_parked

  Mutex memory_mu_;
  int64_t memory_in_use_ ABSL_GUARDED_BY(memory_mu_) = 0;
  absl::flat_hash_map<Call*, std::weak_ptr<Call>> memory_waiters_ ABSL_GUARDED_BY(memory_mu_);

  int listener_ = -1;    // of the partitions' high watermarks
  bool joined_ = false;  // JoinThreads ran (main thread only)
  asio::thread_pool pool_;
};

}  // namespace runnel::broker
