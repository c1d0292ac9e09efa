// CoordinatorStubs: where a consumer's group calls (groups.proto: heartbeats, commits, committed
// offsets) go (client-internal, not installed): the group's coordinator, as Kafka clients find
// it. The first call asks a broker (the MetadataCache's first candidate) FindCoordinator and keeps
// the address it names; an answer NOT_COORDINATOR moves the calls to the coordinator it names (or
// finds it again), COORDINATOR_NOT_AVAILABLE finds it again, and a coordinator that does not answer
// (UNAVAILABLE, DEADLINE_EXCEEDED) is marked unreachable in the metadata and found again, so a
// group follows its coordinator through a failover. A broker that cannot answer FindCoordinator
// stands in itself (it says NOT_COORDINATOR when it is not the one).
//
// Ownership: the metadata and channels are the consumer's and outlive it; the stubs live as long
// as this. Thread-safety: every method may be called from any thread (the consumer's thread and
// the heartbeat thread share it).
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "client/internal/broker_channels.h"
#include "client/internal/metadata_cache.h"
#include "common/mutex.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client::internal {

class CoordinatorStubs {
 public:
  // `find_timeout_ms` bounds each FindCoordinator call.
  CoordinatorStubs(MetadataCache* metadata, BrokerChannels* channels, std::string group_id,
                   int32_t find_timeout_ms)
      : metadata_(metadata),
        channels_(channels),
        group_id_(std::move(group_id)),
        find_timeout_ms_(find_timeout_ms) {}

  struct Target {
    v1::Groups::Stub* stub = nullptr;  // valid as long as the CoordinatorStubs
    std::string address;
  };
  // The broker to send the next group call to (a FindCoordinator call first when none is known).
  Target Current();
  // A call to `address` ended with `status`: when the broker was unreachable, the next call goes
  // elsewhere.
  void Report(const std::string& address, const grpc::Status& status);
  // A call to `address` was answered with `error`: true when it says the coordinator is elsewhere
  // or not ready (IsCoordinatorError; the call should be retried after a backoff), and the next
  // call goes where it says.
  bool ReportError(const std::string& address, const v1::Error& error);

 private:
  // Asks `broker` for the group's coordinator; its address, or `broker` when it cannot say.
  std::string Find(const std::string& broker);
  v1::Groups::Stub* StubLocked(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  MetadataCache* const metadata_;
  BrokerChannels* const channels_;
  const std::string group_id_;
  const int32_t find_timeout_ms_;
  Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);  // empty: find it
  std::map<std::string, std::unique_ptr<v1::Groups::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::client::internal
