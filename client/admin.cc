#include "client/admin.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/internal/broker_channels.h"
#include "client/internal/grpc_status.h"
#include "common/config_def.h"
#include "common/mutex.h"
#include "common/status_macros.h"
#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client {

const config::ConfigDef<AdminOptions>& AdminConfigDef() {
  using O = AdminOptions;
  static const auto* def = [] {
    auto* d = new config::ConfigDef<O>("unknown admin setting");
    d->String(
        "bootstrap.servers", &O::bootstrap_servers, config::NotEmpty(),
        "Brokers as HOST:PORT,...; each call goes to the one that answered last, else to each in "
        "turn until one answers.");
    d->Int("request.timeout.ms", &O::request_timeout_ms, config::AtLeast(1), config::Unit::kMs,
           "The deadline of each admin call.");
    return d;
  }();
  return *def;
}

absl::Status AdminOptions::Validate() const {
  RETURN_IF_ERROR(AdminConfigDef().Validate(*this));
  return internal::ParseBootstrapServers(bootstrap_servers).status();
}

absl::StatusOr<AdminOptions> AdminOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  AdminOptions o;
  RETURN_IF_ERROR(AdminConfigDef().Parse(properties, &o));
  RETURN_IF_ERROR(o.Validate());
  return o;
}

// The gRPC side of an Admin, kept out of admin.h so that its users see no gRPC or protobuf.
struct Admin::Impl {
  // The stubs of one broker.
  struct Stubs {
    std::string address;
    std::unique_ptr<v1::Admin::Stub> admin;
    std::unique_ptr<v1::Groups::Stub> groups;
  };

  Impl(const AdminOptions& o, const std::vector<std::string>& bootstrap) : options(o) {
    for (const std::string& address : bootstrap) {
      auto channel = channels.Get(address);
      brokers.push_back({address, v1::Admin::NewStub(channel), v1::Groups::NewStub(channel)});
    }
  }

  // A fresh context with the request.timeout.ms deadline, one per call.
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(options.request_timeout_ms));
    return context;
  }

  // Runs `call` (one RPC with a fresh context) on the broker that answered last; while it fails
  // with UNAVAILABLE (not listening, starting, restarting), on each other bootstrap entry in turn
  // (any broker answers admin calls: it forwards them to the controller), and when none answers,
  // all of them again after 100, 200 and 400 ms. `target` is set to the broker that gave the
  // returned status. An unreachable cluster is still reported within a second.
  template <typename Call>
  grpc::Status Run(Call call, std::string* target) {
    grpc::Status s;
    for (int round = 0; round < 4; ++round) {
      if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 << (round - 1)));
      size_t first;
      {
        MutexLock lock(&mu);
        first = current;
      }
      for (size_t i = 0; i < brokers.size(); ++i) {
        const Stubs& broker = brokers[(first + i) % brokers.size()];
        *target = broker.address;
        s = call(broker);
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) continue;
        MutexLock lock(&mu);
        current = (first + i) % brokers.size();
        return s;
      }
    }
    return s;
  }

  // Runs `call` (one Groups RPC with a fresh context, on the given stub) on `group`'s coordinator,
  // found with FindCoordinator on any broker; while the answer (`error_of` the response) says the
  // coordinator moved or is loading, finds it again and retries, up to 5 times, 100 ms apart.
  template <typename Call, typename ErrorOf>
  grpc::Status RunOnCoordinator(const std::string& group, Call call, ErrorOf error_of,
                                std::string* target) {
    grpc::Status s;
    bool called = false;  // `call` ran at least once (else `s` is FindCoordinator's)
    std::string why;      // the last coordinator error
    std::string hint;     // where the last NOT_COORDINATOR said the coordinator is
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::string address = hint;
      if (address.empty()) {
        v1::FindCoordinatorRequest request;
        request.set_group_id(group);
        v1::FindCoordinatorResponse found;
        s = Run(
            [&](const Stubs& st) {
              return st.groups->FindCoordinator(Context().get(), request, &found);
            },
            target);
        if (!s.ok()) return s;
        if (found.error().code() != v1::NONE) {
          why = found.error().message();
          if (IsCoordinatorError(found.error().code())) continue;
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, found.error().message());
        }
        address = found.address();
      }
      *target = address;
      auto stub = v1::Groups::NewStub(channels.Get(address));
      s = call(*stub);
      called = true;
      hint.clear();
      if (!s.ok()) {
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) continue;
        return s;
      }
      const v1::Error& error = error_of();
      if (!IsCoordinatorError(error.code())) return s;
      why = error.message();
      if (error.code() == v1::NOT_COORDINATOR) hint = error.leader_addr();
      if (error.code() == v1::COORDINATOR_LOAD_IN_PROGRESS) hint = address;
    }
    // The answers still name a coordinator error (the caller reports it), or none was found.
    if (called || !s.ok()) return s;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "no coordinator found for group " + group + ": " + why);
  }

  const AdminOptions options;
  internal::BrokerChannels channels;
  std::vector<Stubs> brokers;  // one per bootstrap entry, in order; not empty
  Mutex mu;
  size_t current ABSL_GUARDED_BY(mu) = 0;  // the broker that answered last
};

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(const AdminOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::vector<std::string> bootstrap,
                   internal::ParseBootstrapServers(options.bootstrap_servers));
  return std::unique_ptr<Admin>(new Admin(std::make_unique<Impl>(options, bootstrap)));
}

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Admin::~Admin() = default;

absl::Status Admin::CreateTopic(const TopicSpec& topic) {
  v1::CreateTopicsRequest request;
  v1::NewTopic* t = request.add_topics();
  t->set_name(topic.name);
  t->set_partitions(topic.partitions);
  t->set_replication_factor(topic.replication_factor);
  t->mutable_configs()->insert(topic.configs.begin(), topic.configs.end());
  v1::CreateTopicsResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->CreateTopics(impl_->Context().get(), request, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "create topic " + topic.name);
  return ToStatus(response.topics(0).error(), "create topic " + topic.name);
}

absl::Status Admin::DeleteTopic(const std::string& name) {
  v1::DeleteTopicsRequest request;
  request.add_names(name);
  v1::DeleteTopicsResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->DeleteTopics(impl_->Context().get(), request, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "delete topic " + name);
  return ToStatus(response.topics(0).error(), "delete topic " + name);
}

absl::StatusOr<std::vector<TopicListing>> Admin::ListTopics(bool include_internal) {
  v1::ListTopicsRequest request;
  request.set_include_internal(include_internal);
  v1::ListTopicsResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->ListTopics(impl_->Context().get(), request, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "list topics");
  std::vector<TopicListing> out;
  for (const v1::TopicListing& t : response.topics()) {
    TopicListing listing;
    listing.name = t.name();
    listing.partitions = t.partitions();
    listing.replication_factor = t.replication_factor();
    listing.internal = t.internal();
    out.push_back(std::move(listing));
  }
  return out;
}

absl::StatusOr<TopicDescription> Admin::DescribeTopic(const std::string& name) {
  v1::DescribeTopicsRequest request;
  request.add_names(name);
  v1::DescribeTopicsResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->DescribeTopics(impl_->Context().get(), request, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "describe topic " + name);
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
                              p.size_bytes(),
                              {p.isr().begin(), p.isr().end()},
                              p.log_end_offset(),
                              p.leader_epoch(),
                              {p.adding_replicas().begin(), p.adding_replicas().end()},
                              {p.removing_replicas().begin(), p.removing_replicas().end()}});
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
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->AlterConfigs(impl_->Context().get(), request, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "alter configs of " + name);
  return ToStatus(response.error(), "alter configs of " + name);
}

absl::Status Admin::ReassignPartitions(const std::string& topic,
                                       const std::map<int32_t, std::vector<int32_t>>& replicas) {
  v1::AlterPartitionReassignmentsRequest request;
  for (const auto& [partition, ids] : replicas) {
    v1::PartitionReassignment* move = request.add_reassignments();
    move->set_topic(topic);
    move->set_partition(partition);
    move->mutable_replicas()->Add(ids.begin(), ids.end());
  }
  v1::AlterPartitionReassignmentsResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->AlterPartitionReassignments(impl_->Context().get(), request, &response);
      },
      &target);
  const std::string what = "reassign partitions of " + topic;
  if (!s.ok()) return RpcError(s, target, what);
  RETURN_IF_ERROR(ToStatus(response.error(), what));
  for (const v1::ReassignmentResult& result : response.results()) {
    RETURN_IF_ERROR(ToStatus(result.error(), absl::StrCat("reassign partition ", result.topic(),
                                                          "-", result.partition())));
  }
  return absl::OkStatus();
}

absl::Status Admin::UnregisterBroker(int32_t node_id) {
  v1::UnregisterBrokerRequest request;
  request.set_node_id(node_id);
  v1::UnregisterBrokerResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->UnregisterBroker(impl_->Context().get(), request, &response);
      },
      &target);
  const std::string what = absl::StrCat("unregister node ", node_id);
  if (!s.ok()) return RpcError(s, target, what);
  return ToStatus(response.error(), what);
}

absl::StatusOr<ClusterDescription> Admin::DescribeCluster() {
  v1::DescribeClusterResponse response;
  std::string target;
  const grpc::Status s = impl_->Run(
      [&](const Impl::Stubs& st) {
        return st.admin->DescribeCluster(impl_->Context().get(), {}, &response);
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "describe cluster");
  ClusterDescription out{response.cluster_id(), response.controller_id(), {}};
  for (const auto& b : response.brokers()) {
    out.brokers.push_back(
        {b.node_id(), b.grpc_addr(), b.partitions_led(), b.rack(), b.alive(), b.controller()});
  }
  return out;
}

absl::StatusOr<std::vector<GroupListing>> Admin::ListGroups() {
  // Each broker lists the groups it coordinates: a cluster's are asked one by one (the live
  // ones), a single node through the bootstrap list.
  ASSIGN_OR_RETURN(const ClusterDescription cluster, DescribeCluster());
  std::vector<v1::ListGroupsResponse> answers;
  if (cluster.brokers.size() <= 1) {
    std::string target;
    const grpc::Status s = impl_->Run(
        [&](const Impl::Stubs& st) {
          answers.emplace_back();
          return st.groups->ListGroups(impl_->Context().get(), {}, &answers.back());
        },
        &target);
    if (!s.ok()) return RpcError(s, target, "list groups");
    answers = {answers.back()};
  } else {
    for (const BrokerDescription& broker : cluster.brokers) {
      if (!broker.alive || broker.address.empty()) continue;
      answers.emplace_back();
      auto stub = v1::Groups::NewStub(impl_->channels.Get(broker.address));
      const grpc::Status s = stub->ListGroups(impl_->Context().get(), {}, &answers.back());
      if (!s.ok()) {
        return RpcError(s, broker.address,
                        absl::StrCat("list groups (broker ", broker.node_id, ")"));
      }
    }
  }
  // A group moving between coordinators may show on two: the one with members wins.
  std::map<std::string, GroupListing> groups;
  for (const v1::ListGroupsResponse& answer : answers) {
    for (const auto& g : answer.groups()) {
      auto [it, inserted] =
          groups.try_emplace(g.group_id(), GroupListing{g.group_id(), g.state(), g.members()});
      if (!inserted && g.members() > it->second.members) {
        it->second = {g.group_id(), g.state(), g.members()};
      }
    }
  }
  std::vector<GroupListing> out;
  for (auto& [id, listing] : groups) out.push_back(std::move(listing));
  return out;
}

absl::StatusOr<std::vector<GroupPartition>> Admin::DescribeGroup(const std::string& group) {
  v1::DescribeGroupsRequest describe;
  describe.add_group_ids(group);
  v1::DescribeGroupsResponse members;
  std::string target;
  grpc::Status s = impl_->RunOnCoordinator(
      group,
      [&](v1::Groups::Stub& stub) {
        members.Clear();
        return stub.DescribeGroups(impl_->Context().get(), describe, &members);
      },
      [&]() -> const v1::Error& {
        return members.groups_size() == 1 ? members.groups(0).error()
                                          : v1::Error::default_instance();
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "describe group " + group);
  if (members.groups_size() != 1) return absl::InternalError("describe group: no answer");
  RETURN_IF_ERROR(ToStatus(members.groups(0).error(), "describe group " + group));
  v1::FetchOffsetsRequest request;
  request.set_group_id(group);
  v1::FetchOffsetsResponse response;
  s = impl_->RunOnCoordinator(
      group,
      [&](v1::Groups::Stub& stub) {
        response.Clear();
        return stub.FetchOffsets(impl_->Context().get(), request, &response);
      },
      [&]() -> const v1::Error& { return response.error(); }, &target);
  if (!s.ok()) return RpcError(s, target, "describe group " + group);
  RETURN_IF_ERROR(ToStatus(response.error(), "describe group " + group));
  // One row per partition the group committed or a member owns.
  std::map<std::pair<std::string, int32_t>, GroupPartition> rows;
  for (const auto& p : response.partitions()) {
    GroupPartition& row = rows[{p.topic(), p.partition()}];
    row.committed = p.offset();
  }
  for (const v1::GroupMember& m : members.groups(0).members()) {
    for (const v1::TopicPartitions& t : m.assignment()) {
      for (int32_t partition : t.partitions()) {
        GroupPartition& row = rows[{t.topic(), partition}];
        row.member_id = m.member_id();
        row.client_host = m.client_host();
      }
    }
  }
  std::vector<GroupPartition> out;
  std::map<std::string, std::optional<TopicDescription>> topics;  // described once each
  for (auto& [key, row] : rows) {
    row.topic = key.first;
    row.partition = key.second;
    auto [it, inserted] = topics.try_emplace(row.topic);
    if (inserted) {
      auto described = DescribeTopic(row.topic);
      if (described.ok()) it->second = *std::move(described);
    }
    if (it->second.has_value()) {
      for (const PartitionInfo& info : it->second->partitions) {
        if (info.partition != row.partition) continue;
        row.end_offset = info.high_watermark;
        if (row.committed >= 0) row.lag = std::max<int64_t>(0, info.high_watermark - row.committed);
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
  std::string target;
  const grpc::Status s = impl_->RunOnCoordinator(
      group,
      [&](v1::Groups::Stub& stub) {
        response.Clear();
        return stub.DeleteGroups(impl_->Context().get(), request, &response);
      },
      [&]() -> const v1::Error& {
        return response.results_size() == 1 ? response.results(0).error()
                                            : v1::Error::default_instance();
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "delete group " + group);
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
  std::string target;
  const grpc::Status s = impl_->RunOnCoordinator(
      group,
      [&](v1::Groups::Stub& stub) {
        response.Clear();
        return stub.CommitOffsets(impl_->Context().get(), request, &response);
      },
      [&]() -> const v1::Error& {
        if (IsCoordinatorError(response.error().code())) return response.error();
        for (const auto& r : response.partitions()) {
          if (IsCoordinatorError(r.error().code())) return r.error();
        }
        return response.error();
      },
      &target);
  if (!s.ok()) return RpcError(s, target, "reset offsets of group " + group);
  RETURN_IF_ERROR(ToStatus(response.error(), "reset offsets of group " + group));
  for (const auto& r : response.partitions()) {
    RETURN_IF_ERROR(
        ToStatus(r.error(), absl::StrCat("reset offset of ", r.topic(), "-", r.partition())));
  }
  return out;
}

}  // namespace runnel::client
