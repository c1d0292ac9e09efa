#include "broker/server/admin_service.h"

#include "absl/strings/str_cat.h"
#include "broker/server/error_codes.h"
#include "broker/server/partition_rows.h"

namespace runnel::broker {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// The checks of a new topic, each failure with its Kafka error code.
void CheckNewTopic(const TopicInfo& topic, const PartitionManager& partitions, v1::Error* error) {
  if (absl::Status s = storage::ValidateTopicName(topic.name); !s.ok()) {
    SetError(s, error);
    error->set_code(v1::INVALID_TOPIC);
  } else if (absl::Status r = RefuseInternalTopic(topic.name, "create topic"); !r.ok()) {
    SetError(r, error);
  } else if (topic.partitions < 1) {
    SetError(absl::InvalidArgumentError(
                 absl::StrCat("partitions: ", topic.partitions, " must be at least 1")),
             error);
    error->set_code(v1::INVALID_PARTITIONS);
  } else if (absl::Status limit = partitions.CheckPartitionLimits(topic.partitions); !limit.ok()) {
    SetError(limit, error);
    error->set_code(v1::INVALID_PARTITIONS);
  } else if (topic.replication_factor != 1) {
    SetError(absl::InvalidArgumentError(absl::StrCat(
                 "replication factor: ", topic.replication_factor,
                 " needs that many brokers; this is a single node (replication arrives with the "
                 "cluster issue)")),
             error);
    error->set_code(v1::INVALID_REPLICATION_FACTOR);
  } else if (absl::Status c = TopicTable::Validate(topic); !c.ok()) {
    SetError(c, error);
    error->set_code(v1::INVALID_CONFIG);
  }
}

// Every effective config of a topic by its Kafka name, marking the topic's own overrides.
void FillConfigs(const TopicInfo& topic, storage::LogManager& logs, v1::TopicDescription* out) {
  const storage::LogConfigOverrides all =
      storage::LogConfigOverrides::From(logs.ConfigFor(topic.name));
  for (const auto& [name, value] : all.ToProperties()) {
    v1::ConfigEntry* entry = out->add_configs();
    entry->set_name(name);
    entry->set_value(value);
    entry->set_is_default(!topic.configs.contains(name));
  }
}

// DescribeCluster in a cluster: every registered broker, the controller leader, the partitions
// each leads as this broker knows them.
void DescribeClusterOf(const ClusterNode& cluster, v1::DescribeClusterResponse* response) {
  const std::shared_ptr<const MetadataImage> image = cluster.image();
  response->set_cluster_id(image->cluster_id().empty() ? cluster.cluster_id()
                                                       : image->cluster_id());
  response->set_controller_id(cluster.controller_leader());
  std::map<raft::NodeId, int32_t> led;
  for (const auto& [name, topic] : image->topics()) {
    for (int32_t p = 0; p < static_cast<int32_t>(topic.replicas.size()); ++p) {
      const absl::StatusOr<PartitionRoute> route = cluster.Lookup(name, p);
      if (route.ok() && route->leader_id != raft::kNoNode) ++led[route->leader_id];
    }
  }
  for (const auto& [id, broker] : image->brokers()) {
    v1::ClusterBroker* out = response->add_brokers();
    out->set_node_id(id);
    out->set_grpc_addr(broker.grpc_address);
    out->set_rack(broker.rack);
    out->set_alive(!broker.fenced);
    out->set_controller(cluster.controllers().contains(id));
    out->set_partitions_led(led[id]);
  }
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::CreateTopics(grpc::CallbackServerContext* context,
                                                     const v1::CreateTopicsRequest* request,
                                                     v1::CreateTopicsResponse* response) {
  if (cluster_ != nullptr) {
    return RunBlocking(blocking_, context,
                       [this, request, response] { *response = cluster_->CreateTopics(*request); });
  }
  for (const v1::NewTopic& t : request->topics()) {
    v1::TopicResult* result = response->add_topics();
    result->set_name(t.name());
    // 0 (unset) means the broker's num.partitions; a negative count is refused.
    TopicInfo topic{t.name(),
                    t.partitions() != 0 ? t.partitions() : partitions_->options().num_partitions,
                    t.replication_factor() > 0 ? t.replication_factor() : 1,
                    {t.configs().begin(), t.configs().end()},
                    false,
                    ""};
    CheckNewTopic(topic, *partitions_, result->mutable_error());
    if (result->error().code() != v1::NONE || request->validate_only()) continue;
    SetError(partitions_->CreateTopic(topic), result->mutable_error());
  }
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::DeleteTopics(grpc::CallbackServerContext* context,
                                                     const v1::DeleteTopicsRequest* request,
                                                     v1::DeleteTopicsResponse* response) {
  if (cluster_ != nullptr) {
    return RunBlocking(blocking_, context,
                       [this, request, response] { *response = cluster_->DeleteTopics(*request); });
  }
  for (const std::string& name : request->names()) {
    v1::TopicResult* result = response->add_topics();
    result->set_name(name);
    absl::Status refused = RefuseInternalTopic(name, "delete topic");
    SetError(refused.ok() ? partitions_->DeleteTopic(name) : refused, result->mutable_error());
  }
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::ListTopics(grpc::CallbackServerContext* context,
                                                   const v1::ListTopicsRequest* request,
                                                   v1::ListTopicsResponse* response) {
  for (const TopicInfo& t : partitions_->topics().List()) {
    if (t.internal && !request->include_internal()) continue;
    v1::TopicListing* listing = response->add_topics();
    listing->set_name(t.name);
    listing->set_partitions(t.partitions);
    listing->set_replication_factor(t.replication_factor);
    listing->set_internal(t.internal);
  }
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::DescribeTopics(grpc::CallbackServerContext* context,
                                                       const v1::DescribeTopicsRequest* request,
                                                       v1::DescribeTopicsResponse* response) {
  for (const std::string& name : request->names()) {
    v1::TopicDescription* out = response->add_topics();
    const std::optional<TopicInfo> topic =
        FillPartitionRows(*partitions_, cluster_, identity_->node_id(), name, out);
    if (topic.has_value()) FillConfigs(*topic, partitions_->logs(), out);
  }
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::AlterConfigs(grpc::CallbackServerContext* context,
                                                     const v1::AlterConfigsRequest* request,
                                                     v1::AlterConfigsResponse* response) {
  if (cluster_ != nullptr) {
    return RunBlocking(blocking_, context,
                       [this, request, response] { *response = cluster_->AlterConfigs(*request); });
  }
  const std::optional<TopicInfo> topic = partitions_->topics().Get(request->topic());
  if (!topic.has_value()) {
    SetError(absl::NotFoundError(absl::StrCat("topic '", request->topic(), "' does not exist")),
             response->mutable_error());
    return Done(context);
  }
  std::map<std::string, std::string> configs = topic->configs;
  for (const auto& [name, value] : request->set()) configs[name] = value;
  for (const std::string& name : request->delete_()) configs.erase(name);
  if (absl::Status refused = RefuseProtectedConfigChange(*topic, configs); !refused.ok()) {
    SetError(refused, response->mutable_error());
    return Done(context);
  }
  const absl::Status s = partitions_->AlterTopicConfigs(request->topic(), configs);
  SetError(s, response->mutable_error());
  if (absl::IsInvalidArgument(s)) response->mutable_error()->set_code(v1::INVALID_CONFIG);
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::DescribeCluster(grpc::CallbackServerContext* context,
                                                        const v1::DescribeClusterRequest*,
                                                        v1::DescribeClusterResponse* response) {
  if (cluster_ != nullptr) {
    DescribeClusterOf(*cluster_, response);
    return Done(context);
  }
  response->set_cluster_id("runnel-single-node");
  response->set_controller_id(identity_->node_id());
  v1::ClusterBroker* self = response->add_brokers();
  self->set_node_id(identity_->node_id());
  self->set_grpc_addr(identity_->grpc_addr());
  int32_t led = 0;
  for (const TopicInfo& t : partitions_->topics().List()) led += t.partitions;
  self->set_partitions_led(led);
  self->set_alive(true);
  self->set_controller(true);
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::UnregisterBroker(grpc::CallbackServerContext* context,
                                                         const v1::UnregisterBrokerRequest* request,
                                                         v1::UnregisterBrokerResponse* response) {
  if (cluster_ != nullptr) {
    return RunBlocking(blocking_, context, [this, request, response] {
      *response = cluster_->UnregisterBroker(*request);
    });
  } else {
    response->mutable_error()->set_code(v1::INVALID_REQUEST);
    response->mutable_error()->set_message(
        "unregistering a broker needs a cluster (runneld with --peers); this is a single node");
  }
  return Done(context);
}

grpc::ServerUnaryReactor* AdminService::AlterPartitionReassignments(
    grpc::CallbackServerContext* context, const v1::AlterPartitionReassignmentsRequest* request,
    v1::AlterPartitionReassignmentsResponse* response) {
  if (cluster_ != nullptr) {
    return RunBlocking(blocking_, context, [this, request, response] {
      *response = cluster_->AlterPartitionReassignments(*request);
    });
  } else {
    response->mutable_error()->set_code(v1::INVALID_REQUEST);
    response->mutable_error()->set_message(
        "partition reassignment needs a cluster (runneld with --peers); this is a single node");
  }
  return Done(context);
}

}  // namespace runnel::broker
