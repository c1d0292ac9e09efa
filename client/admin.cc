#include "client/admin.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace runnel::client {
namespace {

// Runs `call` (one RPC with a fresh context) again after 100, 200 and 400 ms while it fails with
// UNAVAILABLE: a broker that is starting, restarting or briefly overloaded. An unreachable broker
// is still reported within a second.
template <typename Call>
grpc::Status WithRetries(Call call) {
  grpc::Status s = call();
  for (int attempt = 0; attempt < 3 && s.error_code() == grpc::StatusCode::UNAVAILABLE; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    s = call();
  }
  return s;
}

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
    case v1::GROUP_ID_NOT_FOUND:
      return absl::NotFoundError(message);
    case v1::NON_EMPTY_GROUP:
      return absl::FailedPreconditionError(message);
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
  auto channel = grpc::CreateChannel(servers.front(), grpc::InsecureChannelCredentials());
  stub_ = v1::Admin::NewStub(channel);
  groups_ = v1::Groups::NewStub(channel);
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
  const grpc::Status s =
      WithRetries([&] { return stub_->CreateTopics(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "create topic " + topic.name);
  return ToStatus(response.topics(0).error(), "create topic " + topic.name);
}

absl::Status Admin::DeleteTopic(const std::string& name) {
  v1::DeleteTopicsRequest request;
  request.add_names(name);
  v1::DeleteTopicsResponse response;
  const grpc::Status s =
      WithRetries([&] { return stub_->DeleteTopics(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "delete topic " + name);
  return ToStatus(response.topics(0).error(), "delete topic " + name);
}

absl::StatusOr<std::vector<v1::TopicListing>> Admin::ListTopics(bool include_internal) {
  v1::ListTopicsRequest request;
  request.set_include_internal(include_internal);
  v1::ListTopicsResponse response;
  const grpc::Status s =
      WithRetries([&] { return stub_->ListTopics(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "list topics");
  return std::vector<v1::TopicListing>(response.topics().begin(), response.topics().end());
}

absl::StatusOr<TopicDescription> Admin::DescribeTopic(const std::string& name) {
  v1::DescribeTopicsRequest request;
  request.add_names(name);
  v1::DescribeTopicsResponse response;
  const grpc::Status s =
      WithRetries([&] { return stub_->DescribeTopics(Context().get(), request, &response); });
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
  const grpc::Status s =
      WithRetries([&] { return stub_->AlterConfigs(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "alter configs of " + name);
  return ToStatus(response.error(), "alter configs of " + name);
}

absl::StatusOr<ClusterDescription> Admin::DescribeCluster() {
  v1::DescribeClusterResponse response;
  const grpc::Status s =
      WithRetries([&] { return stub_->DescribeCluster(Context().get(), {}, &response); });
  if (!s.ok()) return RpcError(s, "describe cluster");
  ClusterDescription out{response.cluster_id(), response.controller_id(), {}};
  for (const auto& b : response.brokers()) {
    out.brokers.push_back({b.node_id(), b.grpc_addr(), b.partitions_led()});
  }
  return out;
}

absl::StatusOr<std::vector<GroupListing>> Admin::ListGroups() {
  v1::ListGroupsResponse response;
  const grpc::Status s =
      WithRetries([&] { return groups_->ListGroups(Context().get(), {}, &response); });
  if (!s.ok()) return RpcError(s, "list groups");
  std::vector<GroupListing> out;
  for (const auto& g : response.groups()) out.push_back({g.group_id(), g.state(), g.members()});
  return out;
}

absl::StatusOr<std::vector<GroupPartition>> Admin::DescribeGroup(const std::string& group) {
  v1::FetchOffsetsRequest request;
  request.set_group_id(group);
  v1::FetchOffsetsResponse response;
  const grpc::Status s =
      WithRetries([&] { return groups_->FetchOffsets(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "describe group " + group);
  RETURN_IF_ERROR(ToStatus(response.error(), "describe group " + group));
  if (response.partitions().empty()) {
    return absl::NotFoundError(absl::StrCat("group '", group, "' has no committed offsets"));
  }
  std::vector<GroupPartition> out;
  std::map<std::string, std::optional<TopicDescription>> topics;  // described once each
  for (const auto& p : response.partitions()) {
    GroupPartition row;
    row.topic = p.topic();
    row.partition = p.partition();
    row.committed = p.offset();
    auto [it, inserted] = topics.try_emplace(p.topic());
    if (inserted) {
      auto described = DescribeTopic(p.topic());
      if (described.ok()) it->second = *std::move(described);
    }
    if (it->second.has_value()) {
      for (const PartitionInfo& info : it->second->partitions) {
        if (info.partition != p.partition()) continue;
        row.end_offset = info.high_watermark;
        row.lag = std::max<int64_t>(0, info.high_watermark - row.committed);
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

absl::Status Admin::DeleteGroup(const std::string& group) {
  v1::DeleteGroupsRequest request;
  request.add_group_ids(group);
  v1::DeleteGroupsResponse response;
  const grpc::Status s =
      WithRetries([&] { return groups_->DeleteGroups(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "delete group " + group);
  if (response.results_size() != 1) return absl::InternalError("delete group: no result");
  return ToStatus(response.results(0).error(), "delete group " + group);
}

absl::StatusOr<std::vector<GroupPartition>> Admin::ResetGroupOffsets(const std::string& group,
                                                                     const std::string& topic,
                                                                     const OffsetResetSpec& spec) {
  ASSIGN_OR_RETURN(std::vector<GroupListing> groups, ListGroups());
  for (const GroupListing& g : groups) {
    if (g.group_id == group && g.members > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("group '", group, "' has ", g.members,
                       " active members; stop its consumers before resetting offsets"));
    }
  }
  ASSIGN_OR_RETURN(TopicDescription described, DescribeTopic(topic));
  v1::CommitOffsetsRequest request;
  request.set_group_id(group);
  request.set_member_epoch(-1);
  std::vector<GroupPartition> out;
  for (const PartitionInfo& p : described.partitions) {
    if (spec.partition.has_value() && *spec.partition != p.partition) continue;
    int64_t offset = spec.kind == OffsetResetSpec::Kind::kEarliest ? p.log_start_offset
                     : spec.kind == OffsetResetSpec::Kind::kLatest ? p.high_watermark
                                                                   : spec.offset;
    if (offset < p.log_start_offset || offset > p.high_watermark) {
      return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is out of range for ", topic,
                                                "-", p.partition, " (log ", p.log_start_offset,
                                                "..", p.high_watermark, ")"));
    }
    v1::PartitionOffsetCommit* o = request.add_offsets();
    o->set_topic(topic);
    o->set_partition(p.partition);
    o->set_offset(offset);
    GroupPartition row;
    row.topic = topic;
    row.partition = p.partition;
    row.committed = offset;
    row.end_offset = p.high_watermark;
    row.lag = p.high_watermark - offset;
    out.push_back(std::move(row));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition ", spec.partition.value_or(-1), " is not in topic ", topic));
  }
  v1::CommitOffsetsResponse response;
  const grpc::Status s =
      WithRetries([&] { return groups_->CommitOffsets(Context().get(), request, &response); });
  if (!s.ok()) return RpcError(s, "reset offsets of group " + group);
  RETURN_IF_ERROR(ToStatus(response.error(), "reset offsets of group " + group));
  for (const auto& r : response.partitions()) {
    RETURN_IF_ERROR(
        ToStatus(r.error(), absl::StrCat("reset offset of ", r.topic(), "-", r.partition())));
  }
  return out;
}

}  // namespace runnel::client
