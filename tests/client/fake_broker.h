// FakeBroker: an in-process gRPC server whose Broker.Fetch and Groups.CommitOffsets /
// FetchOffsets answers the test scripts, for unit tests of the consumer's parts
// (client/internal/) without a runneld. Each RPC is answered by the function the test set for it,
// given the request and how many calls of that RPC came before; an RPC without one answers
// UNIMPLEMENTED. Every request is recorded.
//
// Ownership: the test owns it; it serves from gRPC's threads from construction until destruction.
// Thread-safety: every method may be called from any thread; the answer functions run on gRPC's
// threads and must only read what they captured.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client::testing {

class FakeBroker {
 public:
  using FetchFn =
      std::function<grpc::Status(int call, const v1::FetchRequest&, v1::FetchResponse*)>;
  using CommitFn = std::function<grpc::Status(int call, const v1::CommitOffsetsRequest&,
                                              v1::CommitOffsetsResponse*)>;
  using FetchOffsetsFn = std::function<grpc::Status(int call, const v1::FetchOffsetsRequest&,
                                                    v1::FetchOffsetsResponse*)>;

  FakeBroker();  // listens on 127.0.0.1, on a port the system picks
  ~FakeBroker();

  std::string address() const { return address_; }
  // Stubs on one channel to this server.
  std::unique_ptr<v1::Broker::Stub> BrokerStub() const;
  std::unique_ptr<v1::Groups::Stub> GroupsStub() const;

  void OnFetch(FetchFn fn);
  void OnCommit(CommitFn fn);
  void OnFetchOffsets(FetchOffsetsFn fn);

  std::vector<v1::FetchRequest> fetches() const;
  std::vector<v1::CommitOffsetsRequest> commits() const;

 private:
  class BrokerService;
  class GroupsService;

  mutable Mutex mu_;
  FetchFn fetch_fn_ ABSL_GUARDED_BY(mu_);
  CommitFn commit_fn_ ABSL_GUARDED_BY(mu_);
  FetchOffsetsFn fetch_offsets_fn_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::FetchRequest> fetches_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CommitOffsetsRequest> commits_ ABSL_GUARDED_BY(mu_);
  int fetch_offsets_calls_ ABSL_GUARDED_BY(mu_) = 0;

  std::unique_ptr<BrokerService> broker_service_;
  std::unique_ptr<GroupsService> groups_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace runnel::client::testing
