// The Broker gRPC service (proto/runnel/v1/broker.proto) on the callback API. Reactors never
// wait: durable acknowledgements arrive from the storage flush thread, long-poll fetches park on
// the FetchWaiters' Asio timers and are resumed when data arrives. (Appends do the buffered write
// on the calling gRPC thread; there is no fsync on it.)
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "asio.hpp"
#include "broker/partition/partition_manager.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::broker {

struct BrokerMetrics {
  std::atomic<int64_t> produce_requests{0};
  std::atomic<int64_t> produce_bytes{0};
  std::atomic<int64_t> produce_errors{0};
  std::atomic<int64_t> fetch_requests{0};
  std::atomic<int64_t> fetch_bytes{0};
  std::atomic<int64_t> fetch_errors{0};
};

struct BrokerIdentity {
  int32_t node_id = 0;
  std::string grpc_addr;
};

class BrokerService final : public v1::Broker::CallbackService {
 public:
  // Borrows `partitions`, `io` and `metrics`; all must outlive the service. `io` runs on a thread
  // of the caller's; it serves long-poll timers.
  BrokerService(PartitionManager* partitions, asio::io_context* io, BrokerMetrics* metrics,
                BrokerIdentity identity);
  ~BrokerService() override;

  // Finishes every parked long-poll fetch now and stops parking new ones (called before the gRPC
  // server shuts down, which waits for every call to finish). Blocks until done; the io_context
  // must be running.
  void StopLongPolls();

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

 private:
  class ProduceReactor;
  class FetchCall;

  PartitionManager* const partitions_;
  asio::io_context* const io_;
  BrokerMetrics* const metrics_;
  const BrokerIdentity identity_;
  // Fetches parked in a long poll, touched only on the io_context thread.
  std::vector<std::shared_ptr<FetchCall>> waiting_;
  bool stopping_ = false;  // io thread only
};

}  // namespace runnel::broker
