#include "broker/cluster/controller.h"

#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/cluster/reassignment.h"
#include "common/logging.h"
#include "storage/log_manager.h"

namespace runnel::broker {
namespace {

void SetStatus(const absl::Status& status, v1::ErrorCode code, v1::Error* error) {
  if (status.ok()) return;
  error->set_code(code);
  error->set_message(std::string(status.message()));
}

v1::MetadataRecord BrokerRegistration(const v1::BrokerHeartbeatRequest& request) {
  v1::MetadataRecord record;
  v1::BrokerRecord* broker = record.mutable_broker();
  broker->set_node_id(request.node_id());
  broker->set_incarnation_id(request.incarnation_id());
  broker->set_grpc_address(request.grpc_addr());
  broker->set_inter_broker_address(request.inter_broker_addr());
  broker->set_rack(request.rack());
  broker->set_directory_id(request.directory_id());
  return record;
}

}  // namespace

Controller::Controller(ControllerOptions options, ClusterMetadata* metadata,
                       std::map<raft::NodeId, std::string> inter_broker_addresses)
    : options_(std::move(options)),
      metadata_(metadata),
      inter_broker_addresses_(std::move(inter_broker_addresses)) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Controller::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

bool Controller::Leading(v1::Error* error) const {
  const raft::NodeId leader = metadata_->leader();
  if (leader == options_.node_id) {
    const raft::Term term = metadata_->term();
    {
      MutexLock lock(&mu_);
      if (ready_term_ == term) return true;
    }
    error->set_code(v1::NOT_LEADER);
    error->set_message(absl::StrCat("node ", options_.node_id,
                                    " was just elected controller and is catching up; retry"));
    return false;
  }
  error->set_code(v1::NOT_LEADER);
  if (leader == raft::kNoNode) {
    error->set_message("no controller leader is elected yet; retry");
    return false;
  }
  error->set_message(absl::StrCat("node ", options_.node_id, " is not the controller leader; node ",
                                  leader, " is"));
  error->set_leader_id(leader);
  if (auto it = inter_broker_addresses_.find(leader); it != inter_broker_addresses_.end()) {
    error->set_leader_addr(it->second);
  }
  return false;
}

absl::Status Controller::Commit(std::vector<v1::MetadataRecord> records) {
  return metadata_->ProposeAndWait(std::move(records), options_.propose_timeout_ms).status();
}

grpc::Status Controller::Heartbeat(grpc::ServerContext*, const v1::BrokerHeartbeatRequest* request,
                                   v1::BrokerHeartbeatResponse* response) {
  *response = Heartbeat(*request);
  return grpc::Status::OK;
}

v1::BrokerHeartbeatResponse Controller::Heartbeat(const v1::BrokerHeartbeatRequest& request) {
  v1::BrokerHeartbeatResponse response;
  if (!Leading(response.mutable_error())) return response;
  v1::Error* error = response.mutable_error();
  if (request.cluster_id() != options_.cluster_id) {
    error->set_code(v1::INVALID_REQUEST);
    error->set_message(absl::StrCat("node ", request.node_id(), " belongs to cluster \"",
                                    request.cluster_id(), "\", this is cluster \"",
                                    options_.cluster_id, "\""));
    return response;
  }
  if (!inter_broker_addresses_.contains(request.node_id())) {
    error->set_code(v1::INVALID_REQUEST);
    error->set_message(
        absl::StrCat("node ", request.node_id(), " is not in the controller's --peers"));
    return response;
  }
  const auto now = Clock::now();
  if (request.shutting_down()) {
    ShutDown(request, error);
    return response;
  }
  {
    MutexLock lock(&mu_);
    auto seen = last_heartbeat_.find(request.node_id());
    auto incarnation = incarnations_.find(request.node_id());
    const bool other_alive =
        incarnation != incarnations_.end() && incarnation->second != request.incarnation_id() &&
        seen != last_heartbeat_.end() &&
        now - seen->second < std::chrono::milliseconds(options_.session_timeout_ms);
    if (other_alive) {
      const std::shared_ptr<const MetadataImage> image = metadata_->image();
      const BrokerInfo* registered = image->broker(request.node_id());
      error->set_code(v1::INVALID_REQUEST);
      error->set_message(
          absl::StrCat("node id ", request.node_id(), " is registered by another live broker (",
                       registered != nullptr ? registered->grpc_address : std::string("?"),
                       ", incarnation ", incarnation->second, "); this one is incarnation ",
                       request.incarnation_id(), ": two brokers may not share a --node-id"));
      return response;
    }
  }
  // Registers a broker the image does not know as it is now (a restart, new addresses); a
  // registration also unfences it.
  const std::shared_ptr<const MetadataImage> image = metadata_->image();
  const BrokerInfo* known = image->broker(request.node_id());
  if (known == nullptr || known->fenced || known->incarnation_id != request.incarnation_id() ||
      known->grpc_address != request.grpc_addr() ||
      known->inter_broker_address != request.inter_broker_addr() || known->rack != request.rack() ||
      known->directory_id != request.directory_id()) {
    MutexLock changes(&changes_mu_);
    if (absl::Status s = Commit({BrokerRegistration(request)}); !s.ok()) {
      SetStatus(s, v1::REQUEST_TIMED_OUT, error);
      return response;
    }
    logging::Get("controller")
        ->info("registered node {} (grpc {}, inter-broker {}, rack '{}', incarnation {})",
               request.node_id(), request.grpc_addr(), request.inter_broker_addr(), request.rack(),
               request.incarnation_id());
  }
  MutexLock lock(&mu_);
  last_heartbeat_[request.node_id()] = now;
  incarnations_[request.node_id()] = request.incarnation_id();
  // A partition this broker no longer reports is no longer led by it.
  for (auto it = leaders_.begin(); it != leaders_.end();) {
    it = it->second.leader() == request.node_id() ? leaders_.erase(it) : std::next(it);
  }
  for (const v1::PartitionLeader& led : request.led()) {
    v1::PartitionLeader& held = leaders_[{led.topic(), led.partition()}];
    if (held.term() <= led.term()) held = led;
  }
  for (const auto& [tp, leader] : leaders_) *response.add_leaders() = leader;
  response.set_metadata_end(metadata_->high_watermark());
  return response;
}

void Controller::ShutDown(const v1::BrokerHeartbeatRequest& request, v1::Error* error) {
  {
    MutexLock lock(&mu_);
    auto incarnation = incarnations_.find(request.node_id());
    if (incarnation != incarnations_.end() && incarnation->second != request.incarnation_id()) {
      return;  // an older incarnation's farewell: the live one stays
    }
    incarnations_.erase(request.node_id());
    last_heartbeat_.erase(request.node_id());
    for (auto it = leaders_.begin(); it != leaders_.end();) {
      it = it->second.leader() == request.node_id() ? leaders_.erase(it) : std::next(it);
    }
  }
  const std::shared_ptr<const MetadataImage> image = metadata_->image();
  const BrokerInfo* known = image->broker(request.node_id());
  if (known == nullptr || known->fenced || request.node_id() == options_.node_id) return;
  v1::MetadataRecord record;
  record.mutable_fence()->set_node_id(request.node_id());
  record.mutable_fence()->set_fenced(true);
  MutexLock changes(&changes_mu_);
  if (absl::Status s = Commit({record}); !s.ok()) {
    SetStatus(s, v1::REQUEST_TIMED_OUT, error);
    return;
  }
  logging::Get("controller")->info("node {} shut down cleanly: fenced", request.node_id());
}

void Controller::Run() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    // Often: a new controller commits its barrier soon after it is elected.
    cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(50));
    if (stopping_) break;
    mu_.Unlock();
    Sweep();
    mu_.Lock();
  }
}

void Controller::Sweep() {
  const raft::Term term = metadata_->term();
  if (metadata_->leader() != options_.node_id) return;
  bool ready;
  {
    MutexLock lock(&mu_);
    ready = ready_term_ == term;
  }
  if (!ready) {
    // The barrier: re-recording the cluster id (the first leader records it) commits every
    // earlier record before this controller answers from its image.
    v1::MetadataRecord barrier;
    barrier.mutable_cluster()->set_cluster_id(options_.cluster_id);
    MutexLock changes(&changes_mu_);
    if (absl::Status s = Commit({barrier}); !s.ok()) {
      logging::Get("controller")->warn("term {}: barrier not committed: {}", term, s.ToString());
      return;
    }
    MutexLock lock(&mu_);
    ready_term_ = term;
    // A new controller gives every broker a whole session to find it.
    last_heartbeat_.clear();
    const auto now = Clock::now();
    for (const auto& [id, broker] : metadata_->image()->brokers()) last_heartbeat_[id] = now;
    leaders_.clear();
    last_sweep_ = now;
    logging::Get("controller")->info("controller leader in term {}", term);
    return;
  }
  std::shared_ptr<const MetadataImage> image = metadata_->image();
  const auto now = Clock::now();
  std::vector<raft::NodeId> silent;
  {
    MutexLock lock(&mu_);
    // A controller that was not running for half a session (paused, starved) gives every broker
    // a new session: its own silence is not the brokers'.
    if (last_sweep_.has_value() &&
        now - *last_sweep_ > std::chrono::milliseconds(options_.session_timeout_ms / 2)) {
      for (auto& [id, seen] : last_heartbeat_) seen = now;
    }
    last_sweep_ = now;
    for (const auto& [id, broker] : image->brokers()) {
      if (broker.fenced || id == options_.node_id) continue;  // the controller runs: it is alive
      auto seen = last_heartbeat_.find(id);
      if (seen == last_heartbeat_.end()) {
        last_heartbeat_[id] = now;
      } else if (now - seen->second > std::chrono::milliseconds(options_.session_timeout_ms)) {
        silent.push_back(id);
      }
    }
  }
  {
    MutexLock changes(&changes_mu_);
    for (raft::NodeId id : silent) {
      v1::MetadataRecord record;
      record.mutable_fence()->set_node_id(id);
      record.mutable_fence()->set_fenced(true);
      if (absl::Status s = Commit({record}); !s.ok()) {
        logging::Get("controller")->warn("cannot fence node {}: {}", id, s.ToString());
        continue;
      }
      logging::Get("controller")
          ->warn("fenced node {}: no heartbeat for {} ms", id, options_.session_timeout_ms);
      MutexLock lock(&mu_);
      incarnations_.erase(id);
      for (auto it = leaders_.begin(); it != leaders_.end();) {
        it = it->second.leader() == id ? leaders_.erase(it) : std::next(it);
      }
    }
  }
  // After fencing: a slow completion must not hold a silent broker's fence back.
  CompleteReassignments();
}

grpc::Status Controller::CreateTopics(grpc::ServerContext*, const v1::CreateTopicsRequest* request,
                                      v1::CreateTopicsResponse* response) {
  *response = CreateTopics(*request);
  return grpc::Status::OK;
}

v1::CreateTopicsResponse Controller::CreateTopics(const v1::CreateTopicsRequest& request) {
  v1::CreateTopicsResponse response;
  for (const v1::NewTopic& topic : request.topics()) {
    v1::TopicResult* result = response.add_topics();
    result->set_name(topic.name());
    if (!Leading(result->mutable_error())) continue;
    CreateTopic(topic, request.validate_only(), /*internal=*/false, result->mutable_error());
  }
  return response;
}

grpc::Status Controller::CreateInternalTopics(grpc::ServerContext*,
                                              const v1::CreateTopicsRequest* request,
                                              v1::CreateTopicsResponse* response) {
  *response = CreateInternalTopics(*request);
  return grpc::Status::OK;
}

v1::CreateTopicsResponse Controller::CreateInternalTopics(const v1::CreateTopicsRequest& request) {
  v1::CreateTopicsResponse response;
  for (const v1::NewTopic& topic : request.topics()) {
    v1::TopicResult* result = response.add_topics();
    result->set_name(topic.name());
    if (!Leading(result->mutable_error())) continue;
    CreateTopic(topic, request.validate_only(), /*internal=*/true, result->mutable_error());
  }
  return response;
}

void Controller::CreateTopic(const v1::NewTopic& request, bool validate_only, bool internal,
                             v1::Error* error) {
  TopicInfo topic{request.name(),
                  request.partitions() != 0 ? request.partitions() : options_.num_partitions,
                  request.replication_factor() > 0 ? request.replication_factor()
                                                   : options_.default_replication_factor,
                  {request.configs().begin(), request.configs().end()},
                  IsInternalTopicName(request.name()),
                  NewTopicId()};
  if (absl::Status s = storage::ValidateTopicName(topic.name); !s.ok()) {
    return SetStatus(s, v1::INVALID_TOPIC, error);
  }
  if (topic.name == kMetadataTopic) {
    return SetStatus(absl::InvalidArgumentError(absl::StrCat("topic name '", topic.name,
                                                             "' is the cluster metadata log's")),
                     v1::INVALID_TOPIC, error);
  }
  // As on a single node: the broker creates its internal topics ('__' names) itself, with their
  // own configs; one a client made would be written around Raft and stop brokers from starting.
  if (internal && !topic.internal) {
    return SetStatus(absl::InvalidArgumentError(absl::StrCat("topic name '", topic.name,
                                                             "' is not an internal ('__') name")),
                     v1::INVALID_TOPIC, error);
  }
  if (absl::Status refused = RefuseInternalTopic(topic.name, "create topic");
      !internal && !refused.ok()) {
    return SetStatus(refused, v1::INVALID_REQUEST, error);
  }
  if (topic.partitions < 1 || topic.partitions > options_.max_partitions_per_topic) {
    return SetStatus(absl::InvalidArgumentError(absl::StrCat(
                         "partitions: ", topic.partitions, " is not within 1..",
                         options_.max_partitions_per_topic, " (--max-partitions-per-topic)")),
                     v1::INVALID_PARTITIONS, error);
  }
  if (absl::Status s = TopicTable::Validate(topic); !s.ok()) {
    return SetStatus(s, v1::INVALID_CONFIG, error);
  }
  MutexLock changes(&changes_mu_);
  const std::shared_ptr<const MetadataImage> image = metadata_->image();
  if (image->topic(topic.name) != nullptr) {
    return SetStatus(
        absl::AlreadyExistsError(absl::StrCat("topic '", topic.name, "' already exists")),
        v1::TOPIC_ALREADY_EXISTS, error);
  }
  if (internal && request.replication_factor() <= 0) {
    // Kafka's offsets.topic.replication.factor is 3; a smaller cluster gets every broker.
    int32_t unfenced = 0;
    for (const auto& [id, broker] : image->brokers()) unfenced += broker.fenced ? 0 : 1;
    topic.replication_factor = std::clamp(unfenced, 1, 3);
  }
  static thread_local std::mt19937 random{std::random_device{}()};
  auto placement = PlaceReplicas(image->brokers(), topic.partitions, topic.replication_factor,
                                 static_cast<uint32_t>(random()));
  if (!placement.ok()) return SetStatus(placement.status(), v1::INVALID_REPLICATION_FACTOR, error);
  if (validate_only) return;
  v1::MetadataRecord record;
  v1::TopicRecord* out = record.mutable_topic();
  out->set_name(topic.name);
  out->set_topic_id(topic.id);
  out->set_internal(topic.internal);
  for (const auto& [name, value] : topic.configs) (*out->mutable_configs())[name] = value;
  for (const std::vector<raft::NodeId>& replicas : *placement) {
    v1::PartitionReplicas* partition = out->add_replicas();
    for (raft::NodeId id : replicas) partition->add_node_ids(id);
  }
  if (absl::Status s = Commit({record}); !s.ok()) return SetStatus(s, v1::REQUEST_TIMED_OUT, error);
  if (metadata_->image()->topic(topic.name) == nullptr) {
    return SetStatus(absl::InternalError(absl::StrCat("topic '", topic.name,
                                                      "': its record committed but did not apply "
                                                      "(see the broker log)")),
                     v1::UNKNOWN_SERVER_ERROR, error);
  }
  logging::Get("controller")
      ->info("created topic {} ({} partitions, replication factor {})", topic.name,
             topic.partitions, topic.replication_factor);
}

grpc::Status Controller::AllocateProducerIds(grpc::ServerContext*,
                                             const v1::AllocateProducerIdsRequest* request,
                                             v1::AllocateProducerIdsResponse* response) {
  *response = AllocateProducerIds(*request);
  return grpc::Status::OK;
}

v1::AllocateProducerIdsResponse Controller::AllocateProducerIds(
    const v1::AllocateProducerIdsRequest& request) {
  v1::AllocateProducerIdsResponse response;
  if (!Leading(response.mutable_error())) return response;
  MutexLock changes(&changes_mu_);
  const int64_t first = metadata_->image()->next_producer_id();
  if (first > std::numeric_limits<int64_t>::max() - kProducerIdBlock) {
    SetStatus(absl::ResourceExhaustedError("producer ids: the int64 range is used up"),
              v1::UNKNOWN_SERVER_ERROR, response.mutable_error());
    return response;
  }
  v1::MetadataRecord record;
  record.mutable_producer_ids()->set_node_id(request.node_id());
  record.mutable_producer_ids()->set_next_producer_id(first + kProducerIdBlock);
  if (absl::Status s = Commit({record}); !s.ok()) {
    SetStatus(s, v1::REQUEST_TIMED_OUT, response.mutable_error());
    return response;
  }
  // Applied here before Commit returned: the image moved past the block, or the record did not
  // apply (an unregistered node) and nothing was granted.
  if (metadata_->image()->next_producer_id() != first + kProducerIdBlock) {
    SetStatus(
        absl::FailedPreconditionError(absl::StrCat("producer ids for node ", request.node_id(),
                                                   ": not granted (is it registered?)")),
        v1::INVALID_REQUEST, response.mutable_error());
    return response;
  }
  response.set_first_id(first);
  response.set_count(kProducerIdBlock);
  return response;
}

grpc::Status Controller::DeleteTopics(grpc::ServerContext*, const v1::DeleteTopicsRequest* request,
                                      v1::DeleteTopicsResponse* response) {
  *response = DeleteTopics(*request);
  return grpc::Status::OK;
}

v1::DeleteTopicsResponse Controller::DeleteTopics(const v1::DeleteTopicsRequest& request) {
  v1::DeleteTopicsResponse response;
  for (const std::string& name : request.names()) {
    v1::TopicResult* result = response.add_topics();
    result->set_name(name);
    v1::Error* error = result->mutable_error();
    if (!Leading(error)) continue;
    if (absl::Status refused = RefuseInternalTopic(name, "delete topic"); !refused.ok()) {
      SetStatus(refused, v1::INVALID_REQUEST, error);
      continue;
    }
    MutexLock changes(&changes_mu_);
    const std::shared_ptr<const MetadataImage> image = metadata_->image();  // `topic` points in it
    const TopicMetadata* topic = image->topic(name);
    if (topic == nullptr) {
      SetStatus(absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist")),
                v1::UNKNOWN_TOPIC_OR_PARTITION, error);
      continue;
    }
    v1::MetadataRecord record;
    record.mutable_topic_delete()->set_name(name);
    record.mutable_topic_delete()->set_topic_id(topic->info.id);
    if (absl::Status s = Commit({record}); !s.ok()) {
      SetStatus(s, v1::REQUEST_TIMED_OUT, error);
      continue;
    }
    logging::Get("controller")->info("deleted topic {}", name);
  }
  return response;
}

grpc::Status Controller::AlterConfigs(grpc::ServerContext*, const v1::AlterConfigsRequest* request,
                                      v1::AlterConfigsResponse* response) {
  *response = AlterConfigs(*request);
  return grpc::Status::OK;
}

v1::AlterConfigsResponse Controller::AlterConfigs(const v1::AlterConfigsRequest& request) {
  v1::AlterConfigsResponse response;
  v1::Error* error = response.mutable_error();
  if (!Leading(error)) return response;
  MutexLock changes(&changes_mu_);
  const std::shared_ptr<const MetadataImage> image = metadata_->image();  // `topic` points in it
  const TopicMetadata* topic = image->topic(request.topic());
  if (topic == nullptr) {
    SetStatus(absl::NotFoundError(absl::StrCat("topic '", request.topic(), "' does not exist")),
              v1::UNKNOWN_TOPIC_OR_PARTITION, error);
    return response;
  }
  TopicInfo changed = topic->info;
  for (const auto& [name, value] : request.set()) changed.configs[name] = value;
  for (const std::string& name : request.delete_()) changed.configs.erase(name);
  if (absl::Status refused = RefuseProtectedConfigChange(topic->info, changed.configs);
      !refused.ok()) {
    SetStatus(refused, v1::INVALID_CONFIG, error);
    return response;
  }
  if (absl::Status s = TopicTable::Validate(changed); !s.ok()) {
    SetStatus(s, v1::INVALID_CONFIG, error);
    return response;
  }
  v1::MetadataRecord record;
  record.mutable_topic_config()->set_name(request.topic());
  for (const auto& [name, value] : changed.configs) {
    (*record.mutable_topic_config()->mutable_configs())[name] = value;
  }
  if (absl::Status s = Commit({record}); !s.ok()) SetStatus(s, v1::REQUEST_TIMED_OUT, error);
  return response;
}

grpc::Status Controller::AlterPartitionReassignments(
    grpc::ServerContext*, const v1::AlterPartitionReassignmentsRequest* request,
    v1::AlterPartitionReassignmentsResponse* response) {
  *response = AlterPartitionReassignments(*request);
  return grpc::Status::OK;
}

v1::AlterPartitionReassignmentsResponse Controller::AlterPartitionReassignments(
    const v1::AlterPartitionReassignmentsRequest& request) {
  v1::AlterPartitionReassignmentsResponse response;
  if (!Leading(response.mutable_error())) return response;
  MutexLock changes(&changes_mu_);
  for (const v1::PartitionReassignment& move : request.reassignments()) {
    v1::ReassignmentResult* result = response.add_results();
    result->set_topic(move.topic());
    result->set_partition(move.partition());
    v1::Error* error = result->mutable_error();
    const std::shared_ptr<const MetadataImage> image = metadata_->image();
    const TopicMetadata* topic = image->topic(move.topic());
    if (topic == nullptr || move.partition() < 0 || move.partition() >= topic->info.partitions) {
      SetStatus(absl::NotFoundError(absl::StrCat("partition ", move.topic(), "-", move.partition(),
                                                 " does not exist")),
                v1::UNKNOWN_TOPIC_OR_PARTITION, error);
      continue;
    }
    v1::MetadataRecord record;
    v1::PartitionReplicasRecord* out = record.mutable_partition_replicas();
    out->set_topic(move.topic());
    out->set_topic_id(topic->info.id);
    out->set_partition(move.partition());
    out->mutable_replicas()->mutable_node_ids()->CopyFrom(move.replicas());
    // The image's own checks (registered, distinct, not empty), on a copy: refused before it
    // reaches the log, with the same words.
    MetadataImage trial = *image;
    if (absl::Status s = trial.Apply(record); !s.ok()) {
      SetStatus(s, v1::INVALID_REPLICA_ASSIGNMENT, error);
      continue;
    }
    if (absl::Status s = Commit({record}); !s.ok()) {
      SetStatus(s, v1::REQUEST_TIMED_OUT, error);
      continue;
    }
    logging::Get("controller")
        ->info("partition {}-{}: reassignment to [{}] begins", move.topic(), move.partition(),
               absl::StrJoin(move.replicas(), ","));
  }
  return response;
}

grpc::Status Controller::UnregisterBroker(grpc::ServerContext*,
                                          const v1::UnregisterBrokerRequest* request,
                                          v1::UnregisterBrokerResponse* response) {
  *response = UnregisterBroker(*request);
  return grpc::Status::OK;
}

v1::UnregisterBrokerResponse Controller::UnregisterBroker(
    const v1::UnregisterBrokerRequest& request) {
  v1::UnregisterBrokerResponse response;
  v1::Error* error = response.mutable_error();
  if (!Leading(error)) return response;
  const raft::NodeId id = request.node_id();
  if (options_.controllers.contains(id)) {
    SetStatus(absl::FailedPreconditionError(absl::StrCat(
                  "node ", id, " is a controller (a voter of the metadata log): it stays")),
              v1::INVALID_REQUEST, error);
    return response;
  }
  MutexLock changes(&changes_mu_);
  v1::MetadataRecord record;
  record.mutable_unregister()->set_node_id(id);
  // The image's own checks (registered, fenced, hosting nothing), on a copy: refused before it
  // reaches the log, with the same words.
  MetadataImage trial = *metadata_->image();
  if (absl::Status s = trial.Apply(record); !s.ok()) {
    SetStatus(s, absl::IsNotFound(s) ? v1::BROKER_ID_NOT_REGISTERED : v1::INVALID_REQUEST, error);
    return response;
  }
  if (absl::Status s = Commit({record}); !s.ok()) {
    SetStatus(s, v1::REQUEST_TIMED_OUT, error);
    return response;
  }
  {
    MutexLock lock(&mu_);
    incarnations_.erase(id);
    last_heartbeat_.erase(id);
  }
  logging::Get("controller")->info("node {} unregistered", id);
  return response;
}

void Controller::CompleteReassignments() {
  const std::shared_ptr<const MetadataImage> image = metadata_->image();
  std::vector<v1::MetadataRecord> completions;
  {
    MutexLock lock(&mu_);
    for (const auto& [name, topic] : image->topics()) {
      for (const auto& [partition, reassignment] : topic.reassignments) {
        auto reported = leaders_.find({name, partition});
        if (reported == leaders_.end()) continue;
        if (!CompletesReassignment(reported->second, topic.info.id, reassignment)) continue;
        v1::MetadataRecord& record = completions.emplace_back();
        v1::PartitionReplicasRecord* out = record.mutable_partition_replicas();
        out->set_topic(name);
        out->set_topic_id(topic.info.id);
        out->set_partition(partition);
        out->set_completed(true);
        out->mutable_replicas()->mutable_node_ids()->Add(reassignment.target.begin(),
                                                         reassignment.target.end());
      }
    }
  }
  if (completions.empty()) return;
  MutexLock changes(&changes_mu_);
  for (v1::MetadataRecord& record : completions) {
    const v1::PartitionReplicasRecord& done = record.partition_replicas();
    const std::string what = absl::StrCat(done.topic(), "-", done.partition(), " to [",
                                          absl::StrJoin(done.replicas().node_ids(), ","), "]");
    // The image may have moved on meanwhile (a changed target): the record then does not apply,
    // on every broker alike, and the next sweep looks again.
    if (absl::Status s = Commit({std::move(record)}); !s.ok()) {
      logging::Get("controller")->warn("reassignment of {}: not completed: {}", what, s.ToString());
      continue;
    }
    logging::Get("controller")->info("reassignment of {} completed", what);
  }
}

}  // namespace runnel::broker
