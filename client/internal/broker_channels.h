// BrokerChannels: one gRPC channel per broker address, shared by everything of one client that
// talks to that broker (client-internal, not installed). The Producer, Consumer and Admin each own
// one; their MetadataCache (metadata_cache.h) says which address leads which partition.
//
// Channels reconnect on their own after a broker went away, with gRPC's exponential backoff capped
// at reconnect.backoff.max.ms (Kafka's default, 1000 ms) rather than gRPC's 120 s, so a restarted
// or newly elected broker is found again within a second.
//
// Also here: ParseBootstrapServers, the "HOST:PORT,HOST:PORT" list of bootstrap.servers.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace runnel::client::internal {

// The entries of bootstrap.servers, in order, blanks around them dropped. InvalidArgument naming
// the entry when one is not HOST:PORT with a port in 1..65535, or when there is none.
absl::StatusOr<std::vector<std::string>> ParseBootstrapServers(std::string_view servers);

class BrokerChannels {
 public:
  // `client_id` (may be empty) becomes the user agent. `max_receive_bytes` -1: unlimited (fetch
  // answers can exceed gRPC's 4 MiB default); requests are unlimited on the client's side (they
  // are bounded by max.request.size).
  explicit BrokerChannels(std::string client_id = "", int max_receive_bytes = -1);

  // The channel to `address` (HOST:PORT), created on first use and kept for the client's life.
  std::shared_ptr<grpc::Channel> Get(const std::string& address);

 private:
  const std::string client_id_;
  const int max_receive_bytes_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::client::internal
