#include "tests/client/fake_broker.h"

#include <utility>

#include "common/check.h"

namespace runnel::client::testing {
namespace {

const grpc::Status kNoAnswer(grpc::StatusCode::UNIMPLEMENTED, "the test set no answer");

}  // namespace

class FakeBroker::BrokerService final : public v1::Broker::Service {
 public:
  explicit BrokerService(FakeBroker* fake) : fake_(fake) {}

  grpc::Status Fetch(grpc::ServerContext*, const v1::FetchRequest* request,
                     v1::FetchResponse* response) override {
    FetchFn fn;
    int call = 0;
    {
      MutexLock lock(&fake_->mu_);
      call = static_cast<int>(fake_->fetches_.size());
      fake_->fetches_.push_back(*request);
      fn = fake_->fetch_fn_;
    }
    return fn ? fn(call, *request, response) : kNoAnswer;
  }

 private:
  FakeBroker* const fake_;
};

class FakeBroker::GroupsService final : public v1::Groups::Service {
 public:
  explicit GroupsService(FakeBroker* fake) : fake_(fake) {}

  grpc::Status CommitOffsets(grpc::ServerContext*, const v1::CommitOffsetsRequest* request,
                             v1::CommitOffsetsResponse* response) override {
    CommitFn fn;
    int call = 0;
    {
      MutexLock lock(&fake_->mu_);
      call = static_cast<int>(fake_->commits_.size());
      fake_->commits_.push_back(*request);
      fn = fake_->commit_fn_;
    }
    return fn ? fn(call, *request, response) : kNoAnswer;
  }

  grpc::Status FetchOffsets(grpc::ServerContext*, const v1::FetchOffsetsRequest* request,
                            v1::FetchOffsetsResponse* response) override {
    FetchOffsetsFn fn;
    int call = 0;
    {
      MutexLock lock(&fake_->mu_);
      call = fake_->fetch_offsets_calls_++;
      fn = fake_->fetch_offsets_fn_;
    }
    return fn ? fn(call, *request, response) : kNoAnswer;
  }

 private:
  FakeBroker* const fake_;
};

FakeBroker::FakeBroker()
    : broker_service_(std::make_unique<BrokerService>(this)),
      groups_service_(std::make_unique<GroupsService>(this)) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(broker_service_.get());
  builder.RegisterService(groups_service_.get());
  server_ = builder.BuildAndStart();
  RUNNEL_CHECK(server_ != nullptr && port > 0, "FakeBroker: the server did not start (port %d)",
               port);
  address_ = "127.0.0.1:" + std::to_string(port);
  channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
}

FakeBroker::~FakeBroker() { server_->Shutdown(); }

std::unique_ptr<v1::Broker::Stub> FakeBroker::BrokerStub() const {
  return v1::Broker::NewStub(channel_);
}

std::unique_ptr<v1::Groups::Stub> FakeBroker::GroupsStub() const {
  return v1::Groups::NewStub(channel_);
}

void FakeBroker::OnFetch(FetchFn fn) {
  MutexLock lock(&mu_);
  fetch_fn_ = std::move(fn);
}

void FakeBroker::OnCommit(CommitFn fn) {
  MutexLock lock(&mu_);
  commit_fn_ = std::move(fn);
}

void FakeBroker::OnFetchOffsets(FetchOffsetsFn fn) {
  MutexLock lock(&mu_);
  fetch_offsets_fn_ = std::move(fn);
}

std::vector<v1::FetchRequest> FakeBroker::fetches() const {
  MutexLock lock(&mu_);
  return fetches_;
}

std::vector<v1::CommitOffsetsRequest> FakeBroker::commits() const {
  MutexLock lock(&mu_);
  return commits_;
}

}  // namespace runnel::client::testing
