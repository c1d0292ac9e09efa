#include "client/internal/broker_channels.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace runnel::client::internal {

absl::StatusOr<std::vector<std::string>> ParseBootstrapServers(std::string_view servers) {
  const std::string all(servers);
  std::vector<std::string> out;
  for (const std::string& raw : std::vector<std::string>(absl::StrSplit(all, ','))) {
    const size_t begin = raw.find_first_not_of(" \t");
    if (begin == std::string::npos) continue;
    const std::string entry = raw.substr(begin, raw.find_last_not_of(" \t") - begin + 1);
    const size_t colon = entry.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bootstrap.servers: '", entry, "' is not HOST:PORT (in '", all, "')"));
    }
    out.push_back(entry);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap.servers: no HOST:PORT in '", all, "'"));
  }
  return out;
}

BrokerChannels::BrokerChannels(std::string client_id, int max_receive_bytes)
    : client_id_(std::move(client_id)), max_receive_bytes_(max_receive_bytes) {}

std::shared_ptr<grpc::Channel> BrokerChannels::Get(const std::string& address) {
  MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) {
    grpc::ChannelArguments args;
    if (!client_id_.empty()) args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, client_id_);
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(max_receive_bytes_);
    // Kafka's reconnect.backoff.ms / reconnect.backoff.max.ms. Not
    // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the connect timeout, and 50 ms cut
    // handshakes to a slow broker (a sanitizer build, a loaded machine) with "tcp handshaker
    // shutdown".
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  return channel;
}

}  // namespace runnel::client::internal
