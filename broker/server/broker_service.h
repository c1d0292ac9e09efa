// The Broker gRPC service (proto/runnel/v1/broker.proto) on the callback API. Reactors never
// wait: durable acknowledgements arrive from the storage flush thread; fetches are read and
// long polls parked by the FetchScheduler (fetch_scheduler.h). (Appends do the buffered write on
// the calling gRPC thread; there is no fsync on it.)
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "broker/cluster/producer_id_allocator.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/blocking_calls.h"
#include "broker/server/broker_metrics.h"
#include "broker/server/fetch_scheduler.h"
#include "broker/server/serving_log.h"
#include "common/mutex.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::broker {

// Limits of the Broker service (defaults written once, here).
struct BrokerServiceOptions {
  // Produce requests of one stream read but not answered yet (acks=all ones wait for their sync):
  // at the limit the stream is not read further until an answer goes out, so a client that
  // pipelines without bound cannot make the broker hold unbounded work.
  int32_t produce_max_in_flight = 1000;
  // A compressed batch whose records would decompress to more than this is refused (a small
  // batch could otherwise inflate to hundreds of MiB while it is validated).
  int64_t max_uncompressed_batch_bytes = 64 << 20;
  FetchOptions fetch;
  // Where InitProducerId and a Metadata request that may create topics run (both may wait for
  // the controller), and where a produce request's missing topic is created in a cluster; null:
  // on gRPC's threads. Borrowed; outlives the service, and is stopped before the service goes.
  BlockingCalls* blocking = nullptr;
};

// Who this broker is. The gRPC address is only known once the server has bound its port (port 0
// picks a free one), after the services exist, so it is set later; reads are thread-safe.
class BrokerIdentity {
 public:
  explicit BrokerIdentity(int32_t node_id) : node_id_(node_id) {}
  int32_t node_id() const { return node_id_; }
  std::string grpc_addr() const {
    MutexLock lock(&mu_);
    return grpc_addr_;
  }
  void set_grpc_addr(std::string addr) {
    MutexLock lock(&mu_);
    grpc_addr_ = std::move(addr);
  }

 private:
  const int32_t node_id_;
  mutable Mutex mu_;
  std::string grpc_addr_ ABSL_GUARDED_BY(mu_);
};

class BrokerService final : public v1::Broker::CallbackService {
 public:
  // Borrows `partitions`, `cluster` (null on a single node), `producer_ids`, `metrics` and
  // `identity`; all must outlive the service.
  BrokerService(PartitionManager* partitions, ClusterNode* cluster,
                ProducerIdAllocator* producer_ids, BrokerMetrics* metrics,
                const BrokerIdentity* identity, BrokerServiceOptions options = {});
  ~BrokerService() override;

  // Answers every parked long-poll fetch now and stops parking new ones (called before the gRPC
  // server shuts down, which waits for every call to finish).
  void StopLongPolls();
  // After the gRPC server's Shutdown, before it is destroyed (FetchScheduler::JoinThreads).
  void JoinFetchThreads() { fetches_.JoinThreads(); }

  grpc::ServerBidiReactor<v1::ProduceRequest, v1::ProduceResponse>* Produce(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const v1::FetchRequest* request,
                                  v1::FetchResponse* response) override;
  grpc::ServerUnaryReactor* ListOffsets(grpc::CallbackServerContext* context,
                                        const v1::ListOffsetsRequest* request,
                                        v1::ListOffsetsResponse* response) override;
  grpc::ServerUnaryReactor* Metadata(grpc::CallbackServerContext* context,
                                     const v1::MetadataRequest* request,
                                     v1::MetadataResponse* response) override;
  // A new producer id (epoch 0) from the ProducerIdAllocator; see its header for the cost.
  grpc::ServerUnaryReactor* InitProducerId(grpc::CallbackServerContext* context,
                                           const v1::InitProducerIdRequest* request,
                                           v1::InitProducerIdResponse* response) override;

 private:
  // Metadata's answer (creating missing topics when the request allows it and auto-creation is
  // on: that waits for the controller).
  void FillMetadata(const v1::MetadataRequest& request, v1::MetadataResponse* response);
  class ProduceReactor;

  PartitionManager* const partitions_;
  ClusterNode* const cluster_;
  ProducerIdAllocator* const producer_ids_;
  BrokerMetrics* const metrics_;
  const BrokerIdentity* const identity_;
  const BrokerServiceOptions options_;
  // Creates missing topics for produce requests in a cluster (with options_.blocking); null on a
  // single node, which creates them at once.
  std::unique_ptr<BackgroundTopicCreator> topic_creator_;

  // Produce requests' timeout_ms: every kDeadlineTick a thread answers the acks=all requests of
  // every stream whose timeout passed while they waited for a sync (a stalled disk would
  // otherwise hold them, and their streams, for ever).
  static constexpr std::chrono::milliseconds kDeadlineTick{20};
  void AddReactor(ProduceReactor* reactor);
  void RemoveReactor(ProduceReactor* reactor);
  void RunDeadlines();
  Mutex reactors_mu_;
  CondVar deadlines_cv_;
  std::set<ProduceReactor*> reactors_ ABSL_GUARDED_BY(reactors_mu_);
  bool stopping_deadlines_ ABSL_GUARDED_BY(reactors_mu_) = false;
  FetchScheduler fetches_;
  std::thread deadline_thread_;  // last: it starts in the constructor and uses the members above
};

}  // namespace runnel::broker
