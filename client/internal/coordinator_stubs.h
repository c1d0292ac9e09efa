// CoordinatorStubs: where a consumer's group calls (groups.proto: heartbeats, commits, committed
// offsets) go (client-internal, not installed). One broker at a time: the first of the
// MetadataCache's candidates (a known broker, else a bootstrap entry). A call that finds it
// unreachable (UNAVAILABLE, DEADLINE_EXCEEDED) marks it in the metadata, and the next call goes to
// the next candidate, so a group keeps working while one bootstrap broker is down. Until the
// coordinator can be looked up (FindCoordinator-style, issue 17 item 4) any broker stands in.
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
  CoordinatorStubs(MetadataCache* metadata, BrokerChannels* channels)
      : metadata_(metadata), channels_(channels) {}

  struct Target {
    v1::Groups::Stub* stub;  // valid as long as the CoordinatorStubs
    std::string address;
  };
  // The broker to send the next group call to.
  Target Current();
  // A call to `address` ended with `status`: when the broker was unreachable, the next call goes
  // elsewhere.
  void Report(const std::string& address, const grpc::Status& status);

 private:
  MetadataCache* const metadata_;
  BrokerChannels* const channels_;
  Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);  // empty: pick one
  std::map<std::string, std::unique_ptr<v1::Groups::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::client::internal
