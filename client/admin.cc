#include "client/admin.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace runnel::client {
namespace {

absl::Status RpcError(const grpc::Status& s, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", s.error_message(), " (gRPC code ",
                                             static_cast<int>(s.error_code()), ")"));
}

}  // namespace

absl::Status ToStatus(const v1::Error& error, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", error.message());
  switch (error.code()) {
    case v1::NONE:
      return absl::OkStatus();
    case v1::TOPIC_ALREADY_EXISTS:
      return absl::AlreadyExistsError(message);
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
      return absl::NotFoundError(message);
    case v1::OFFSET_OUT_OF_RANGE:
      return absl::OutOfRangeError(message);
    case v1::INVALID_TOPIC:
    case v1::INVALID_PARTITIONS:
    case v1::INVALID_REPLICATION_FACTOR:
    case v1::INVALID_CONFIG:
    case v1::INVALID_REQUEST:
    case v1::INVALID_RECORD:
    case v1::CORRUPT_MESSAGE:
    case v1::RECORD_TOO_LARGE:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(
          absl::StrCat(message, " (", v1::ErrorCode_Name(error.code()), ")"));
  }
}

absl::Status AdminOptions::Validate() const {
  if (bootstrap_servers.empty()) return absl::InvalidArgumentError("bootstrap.servers: empty");
  if (request_timeout_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("request.timeout.ms: ", request_timeout_ms, " must be positive"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AdminOptions> AdminOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  AdminOptions o;
  for (const auto& [key, value] : properties) {
    if (key == "bootstrap.servers") {
      o.bootstrap_servers = value;
    } else if (key == "request.timeout.ms") {
      if (!absl::SimpleAtoi(value, &o.request_timeout_ms)) {
        return absl::InvalidArgumentError(
            absl::StrCat("request.timeout.ms: '", value, "' is not an integer"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(key, ": unknown admin setting"));
    }
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(const AdminOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Admin>(new Admin(options));
}

Admin::Admin(const AdminOptions& options) : options_(options) {
  const std::vector<std::string> servers = absl::StrSplit(options.bootstrap_servers, ',');
  stub_ =
      v1::Admin::NewStub(grpc::CreateChannel(servers.front(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> Admin::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(options_.request_timeout_ms));
  return context;
}

absl::Status Admin::CreateTopic(const TopicSpec& topic) {
  v1::CreateTopicsRequest request;
  v1::NewTopic* t = request.add_topics();
  t->set_name(topic.name);
  t->set_partitions(topic.partitions);
  t->set_replication_factor(topic.replication_factor);
  t->mutable_configs()->insert(topic.configs.begin(), topic.configs.end());
  v1::CreateTopicsResponse response;
  const grpc::Status s = stub_->CreateTopics(Context().get(), request, &response);
  if (!s.ok()) return RpcError(s, "create topic " + topic.name);
  return ToStatus(response.topics(0).error(), "create topic " + topic.name);
}

absl::Status Admin::DeleteTopic(const std::string& name) {
  v1::DeleteTopicsRequest request;
  request.add_names(name);
  v1::DeleteTopicsResponse response;
  const grpc::Status s = stub_->DeleteTopics(Context().get(), request, &response);
  if (!s.ok()) return RpcError(s, "delete topic " + name);
  return ToStatus(response.topics(0).error(), "delete topic " + name);
}

absl::StatusOr<std::vector<v1::TopicListing>> Admin::ListTopics(bool include_internal) {
  v1::ListTopicsRequest request;
  request.set_include_internal(include_internal);
  v1::ListTopicsResponse response;
  const grpc::Status s = stub_->ListTopics(Context().get(), request, &response);
  if (!s.ok()) return RpcError(s, "list topics");
  return std::vector<v1::TopicListing>(response.topics().begin(), response.topics().end());
}

absl::StatusOr<TopicDescription> Admin::DescribeTopic(const std::string& name) {
  v1::DescribeTopicsRequest request;
  request.add_names(name);
  v1::DescribeTopicsResponse response;
  const grpc::Status s = stub_->DescribeTopics(Context().get(), request, &response);
  if (!s.ok()) return RpcError(s, "describe topic " + name);
  const v1::TopicDescription& t = response.topics(0);
  RETURN_IF_ERROR(ToStatus(t.error(), "describe topic " + name));
  TopicDescription out;
  out.name = t.name();
  for (const auto& p : t.partitions()) {
    out.partitions.push_back({p.partition(),
                              p.leader(),
                              {p.replicas().begin(), p.replicas().end()},
                              p.log_start_offset(),
                              p.high_watermark(),
                              p.size_bytes()});
  }
  for (const auto& c : t.configs()) out.configs[c.name()] = {c.value(), c.is_default()};
  return out;
}

absl::Status Admin::AlterTopicConfigs(const std::string& name,
                                      const std::map<std::string, std::string>& set,
                                      const std::vector<std::string>& remove) {
  v1::AlterConfigsRequest request;
  request.set_topic(name);
  request.mutable_set()->insert(set.begin(), set.end());
  for (const auto& key : remove) request.add_delete_(key);
  v1::AlterConfigsResponse response;
  const grpc::Status s = stub_->AlterConfigs(Context().get(), request, &response);
  if (!s.ok()) return RpcError(s, "alter configs of " + name);
  return ToStatus(response.error(), "alter configs of " + name);
}

absl::StatusOr<ClusterDescription> Admin::DescribeCluster() {
  v1::DescribeClusterResponse response;
  const grpc::Status s = stub_->DescribeCluster(Context().get(), {}, &response);
  if (!s.ok()) return RpcError(s, "describe cluster");
  ClusterDescription out{response.cluster_id(), response.controller_id(), {}};
  for (const auto& b : response.brokers()) {
    out.brokers.push_back({b.node_id(), b.grpc_addr(), b.partitions_led()});
  }
  return out;
}

}  // namespace runnel::client
