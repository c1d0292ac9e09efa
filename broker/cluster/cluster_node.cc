#include "broker/cluster/cluster_node.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/cluster/leader_balance.h"
#include "broker/cluster/reassignment.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {
namespace {

using Clock = std::chrono::steady_clock;

// Whether an answer says "ask another node": NOT_LEADER anywhere in it.
bool NotLeader(const v1::Error& error) { return error.code() == v1::NOT_LEADER; }
// An answer with one error (heartbeat, alter configs, producer ids) or one per topic.
template <typename Response>
bool NotLeader(const Response& r) {
  if constexpr (requires { r.topics(); }) {
    for (const v1::TopicResult& t : r.topics()) {
      if (NotLeader(t.error())) return true;
    }
    return false;
  } else {
    return NotLeader(r.error());
  }
}

// The controller leader a NOT_LEADER answer names (kNoNode when it names none).
raft::NodeId LeaderHint(const v1::Error& error) {
  return NotLeader(error) && error.leader_id() > 0 ? error.leader_id() : raft::kNoNode;
}
template <typename Response>
raft::NodeId LeaderHint(const Response& r) {
  if constexpr (requires { r.topics(); }) {
    for (const v1::TopicResult& t : r.topics()) {
      if (NotLeader(t.error())) return LeaderHint(t.error());
    }
    return raft::kNoNode;
  } else {
    return LeaderHint(r.error());
  }
}

// Fills every error slot of an answer that could not be had.
template <typename Response>
void Unanswered(const std::string& why, Response* r) {
  if constexpr (requires { r->mutable_topics(); }) {
    for (v1::TopicResult& t : *r->mutable_topics()) {
      if (t.error().code() != v1::NONE && !NotLeader(t.error())) continue;
      t.mutable_error()->set_code(v1::REQUEST_TIMED_OUT);
      t.mutable_error()->set_message(why);
    }
  } else {
    r->mutable_error()->set_code(v1::REQUEST_TIMED_OUT);
    r->mutable_error()->set_message(why);
  }
}

// One result per topic asked, in the order asked, whatever came back (nothing at all when no
// controller answered): a topic without a result gets REQUEST_TIMED_OUT.
template <typename TopicResults>
void OnePerTopic(const std::vector<std::string>& names, TopicResults* r) {
  if (r->topics_size() == static_cast<int>(names.size())) return;
  std::map<std::string, v1::TopicResult> got;
  for (const v1::TopicResult& t : r->topics()) got[t.name()] = t;
  r->clear_topics();
  for (const std::string& name : names) {
    v1::TopicResult* t = r->add_topics();
    if (auto it = got.find(name); it != got.end()) {
      *t = it->second;
      continue;
    }
    t->set_name(name);
    t->mutable_error()->set_code(v1::REQUEST_TIMED_OUT);
    t->mutable_error()->set_message("no controller answered in time; retry");
  }
}

std::string NewIncarnationId() {
  // A topic id is a random 16-byte id too.
  return NewTopicId();
}

}  // namespace

ClusterNode::ClusterNode(ClusterNodeOptions options, storage::LogManager* logs,
                         std::function<void(const absl::Status&)> on_fatal)
    : options_(std::move(options)),
      logs_(logs),
      on_fatal_(std::move(on_fatal)),
      incarnation_id_(NewIncarnationId()) {
  for (const RaftPeer& peer : options_.peers) inter_broker_addresses_[peer.id] = peer.address;
}

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Create(
    ClusterNodeOptions options, storage::LogManager* logs, ProducerStateManager* producer_states,
    std::function<absl::StatusOr<storage::LogConfig>(const TopicMetadata&)> log_config,
    std::function<void(std::shared_ptr<const MetadataImage>)> on_image,
    std::function<void(const absl::Status&)> on_fatal) {
  std::unique_ptr<ClusterNode> node(new ClusterNode(std::move(options), logs, std::move(on_fatal)));
  ClusterNode* const self = node.get();
  const ClusterNodeOptions& o = node->options_;
  if (!node->inter_broker_addresses_.contains(o.node_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--peers does not list this broker's --node-id ", o.node_id));
  }

  ReplicaManagerOptions replication = o.replication;
  replication.node_id = o.node_id;
  replication.producer_states = producer_states;
  node->replicas_ =
      std::make_unique<ReplicaManager>(replication, [self](raft::NodeId to, v1::RaftBatch batch) {
        self->transport_->Send(to, std::move(batch));
      });
  node->transport_ =
      std::make_unique<RaftTransport>(RaftTransportOptions{.node_id = o.node_id,
                                                           .cluster_id = o.cluster_id,
                                                           .incarnation_id = node->incarnation_id_,
                                                           .peers = o.peers},
                                      [self](raft::NodeId from, v1::RaftBatch batch) {
                                        self->replicas_->Receive(from, std::move(batch));
                                      });
  std::set<raft::NodeId> brokers;
  for (const RaftPeer& peer : o.peers) brokers.insert(peer.id);
  node->metadata_ =
      std::make_unique<ClusterMetadata>(ClusterMetadataOptions{.node_id = o.node_id,
                                                               .controllers = o.controllers,
                                                               .brokers = brokers,
                                                               .directory_id = o.directory_id},
                                        node->replicas_.get());
  ReplicaReconcilerHooks hooks;
  hooks.log_config = std::move(log_config);
  hooks.open_log =
      [logs](const storage::TopicPartition& tp,
             const storage::LogConfig& config) -> absl::StatusOr<std::shared_ptr<storage::Log>> {
    RETURN_IF_ERROR(logs->SetTopicOverrides(tp.topic, storage::LogConfigOverrides::From(config)));
    return logs->GetOrCreate(tp);
  };
  hooks.delete_log = [logs, producer_states](const storage::TopicPartition& tp) {
    producer_states->Drop(tp);
    return logs->Delete(tp);
  };
  node->reconciler_ =
      std::make_unique<ReplicaReconciler>(o.node_id, node->replicas_.get(), hooks, o.directory_id);
  ControllerOptions controller = o.controller;
  controller.node_id = o.node_id;
  controller.cluster_id = o.cluster_id;
  controller.controllers = o.controllers;
  node->controller_ = std::make_unique<Controller>(controller, node->metadata_.get(),
                                                   node->inter_broker_addresses_);

  node->replicas_->Start();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.inter_broker_addr, grpc::InsecureServerCredentials(), &port);
  node->transport_->ConfigureServer(&builder);
  builder.RegisterService(node->controller_.get());
  node->server_ = builder.BuildAndStart();
  if (node->server_ == nullptr || port == 0) {
    node->replicas_->Stop();
    return absl::UnavailableError(absl::StrCat("inter-broker address ", o.inter_broker_addr,
                                               " is not usable (--inter-broker-addr)"));
  }
  node->transport_->Start();

  // The metadata log is the cluster's history: never shortened by retention or compaction.
  ASSIGN_OR_RETURN(
      const storage::LogConfigOverrides keep_all,
      storage::ParseLogConfigOverrides(
          {{"retention.ms", "-1"}, {"retention.bytes", "-1"}, {"cleanup.policy", "delete"}}));
  RETURN_IF_ERROR(logs->SetTopicOverrides(ClusterMetadata::kTopic, keep_all));
  ASSIGN_OR_RETURN(std::shared_ptr<storage::Log> metadata_log,
                   logs->GetOrCreate({ClusterMetadata::kTopic, 0}));
  // The image the last run knew committed is reconciled before anything serves: every replica
  // is open with its topic's config before retention or a client touches it.
  node->metadata_->SetListener(
      [self, on_image = std::move(on_image)](std::shared_ptr<const MetadataImage> image) {
        on_image(image);
        {
          MutexLock lock(&self->mu_);
          self->image_ = image;
        }
        self->reconciler_->Update(std::move(image));
      });
  RETURN_IF_ERROR(node->metadata_->Start(std::move(metadata_log)));
  RETURN_IF_ERROR(node->reconciler_->Reconcile(*node->image()));
  node->reconciler_->Start();
  node->controller_->Start();
  node->heartbeat_thread_ = std::thread([self] { self->RunHeartbeats(); });
  logging::Get("cluster")->info(
      "node {} of cluster {}: inter-broker listener {}, {} peers, controllers {}", o.node_id,
      o.cluster_id, o.inter_broker_addr, o.peers.size(), absl::StrJoin(o.controllers, ","));
  return node;
}

ClusterNode::~ClusterNode() { Stop(); }

std::shared_ptr<const MetadataImage> ClusterNode::image() const {
  {
    MutexLock lock(&mu_);
    if (image_ != nullptr) return image_;
  }
  return metadata_->image();  // nothing applied yet: the empty image
}

void ClusterNode::SetGrpcAddress(const std::string& address) {
  MutexLock lock(&mu_);
  grpc_addr_ = address;
  cv_.SignalAll();
}

void ClusterNode::StopHeartbeats() {
  {
    MutexLock lock(&mu_);
    heartbeats_stopped_ = true;
    cv_.SignalAll();
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

void ClusterNode::HandOver(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  size_t still_led = 0;
  std::map<raft::NodeId, int> given;  // leaderships handed to each broker: spread them
  while (Clock::now() < deadline) {
    still_led = 0;
    for (const storage::TopicPartition& tp : replicas_->Replicas()) {
      const std::optional<ReplicaStatus> status = replicas_->Status(tp);
      if (!status.has_value() || status->role != raft::Role::kLeader) continue;
      // To an in-sync voter other than this one (a learner cannot lead; none: nobody can take it
      // over), the one given the fewest so far.
      raft::NodeId to = raft::kNoNode;
      for (raft::NodeId id : status->in_sync) {
        if (id == options_.node_id ||
            std::find(status->voters.begin(), status->voters.end(), id) == status->voters.end()) {
          continue;
        }
        if (to == raft::kNoNode || given[id] < given[to]) to = id;
      }
      if (to == raft::kNoNode) continue;
      ++still_led;
      // Re-asked each pass until it moved.
      if (replicas_->TransferLeadership(tp, to).ok()) ++given[to];
    }
    if (still_led == 0) break;
    MutexLock lock(&mu_);
    cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(50));
  }
  if (still_led > 0) {
    logging::Get("cluster")->warn("shutdown: {} leaderships not handed over within {} ms",
                                  still_led, limit.count());
  }
  StopHeartbeats();
  Heartbeat(/*shutting_down=*/true);
}

void ClusterNode::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    cv_.SignalAll();
  }
  StopHeartbeats();
  if (controller_ != nullptr) controller_->Stop();
  if (reconciler_ != nullptr) reconciler_->Stop();
  if (replicas_ != nullptr) replicas_->Stop();
  if (server_ != nullptr)
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (transport_ != nullptr) transport_->Stop();
}

bool ClusterNode::MetadataCaughtUp() const {
  if (metadata_caught_up_.load(std::memory_order_acquire)) return true;
  int64_t target;
  {
    MutexLock lock(&mu_);
    target = metadata_target_;
  }
  if (target < 0 || metadata_->high_watermark() < target) return false;
  metadata_caught_up_.store(true, std::memory_order_release);
  return true;
}

absl::StatusOr<PartitionRoute> ClusterNode::Lookup(const std::string& topic,
                                                   int32_t partition) const {
  const std::shared_ptr<const MetadataImage> image = this->image();
  const TopicMetadata* t = image->topic(topic);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("topic '", topic, "' does not exist"));
  if (partition < 0 || partition >= static_cast<int32_t>(t->replicas.size())) {
    return absl::NotFoundError(absl::StrCat("topic '", topic, "' has no partition ", partition,
                                            " (it has ", t->replicas.size(), ")"));
  }
  PartitionRoute route;
  route.replicas = t->replicas[static_cast<size_t>(partition)];
  if (const Reassignment* moving = t->reassignment(partition)) {
    const auto among = [](const std::vector<raft::NodeId>& ids, raft::NodeId id) {
      return std::find(ids.begin(), ids.end(), id) != ids.end();
    };
    for (raft::NodeId id : moving->target) {
      if (!among(route.replicas, id)) route.adding.push_back(id);
    }
    for (raft::NodeId id : route.replicas) {
      if (!among(moving->target, id)) route.removing.push_back(id);
    }
  }
  const storage::TopicPartition tp{topic, partition};
  if (const std::optional<ReplicaStatus> status = replicas_->Status(tp)) {
    route.log = logs_->Get(tp);
    route.leader_id = status->leader;
    route.term = status->term;
    if (status->role == raft::Role::kLeader && status->leader == options_.node_id) {
      route.leader = route.log != nullptr;
      route.in_sync = status->in_sync;
      route.log_start = status->log_start;
      route.log_end = status->log_end;
      route.high_watermark = status->high_watermark;
      route.term_committed = status->TermCommitted();
    }
  }
  if (!route.leader) {
    MutexLock lock(&mu_);
    // A report naming this broker, which does not lead, is stale.
    if (auto it = leaders_.find({topic, partition});
        it != leaders_.end() && it->second.leader() != options_.node_id &&
        (route.leader_id == raft::kNoNode || it->second.term() >= route.term)) {
      const v1::PartitionLeader& reported = it->second;
      route.leader_id = reported.leader();
      route.term = reported.term();
      route.in_sync.assign(reported.isr().begin(), reported.isr().end());
      route.log_start = reported.log_start();
      route.log_end = reported.log_end();
      route.high_watermark = reported.high_watermark();
    }
  }
  if (route.leader_id != raft::kNoNode) {
    if (const BrokerInfo* broker = image->broker(route.leader_id)) {
      route.leader_addr = broker->grpc_address;
    }
  }
  return route;
}

ClusterStats ClusterNode::Stats() const {
  ClusterStats stats;
  for (const storage::TopicPartition& tp : replicas_->Replicas()) {
    if (tp.topic == ClusterMetadata::kTopic) continue;
    ++stats.replicas;
    const std::optional<ReplicaStatus> status = replicas_->Status(tp);
    if (!status.has_value() || status->role != raft::Role::kLeader) continue;
    ++stats.leaders;
    const auto in_sync_voters =
        std::count_if(status->voters.begin(), status->voters.end(), [&](raft::NodeId id) {
          return std::find(status->in_sync.begin(), status->in_sync.end(), id) !=
                 status->in_sync.end();
        });
    if (in_sync_voters < static_cast<int64_t>(status->voters.size())) ++stats.under_replicated;
  }
  if (const std::shared_ptr<const MetadataImage> image = this->image()) {
    for (const auto& [id, broker] : image->brokers()) {
      ++stats.brokers;
      if (broker.fenced) ++stats.fenced_brokers;
    }
    for (const auto& [name, topic] : image->topics()) {
      for (int32_t p = 0; p < static_cast<int32_t>(topic.replicas.size()); ++p) {
        const absl::StatusOr<PartitionRoute> route = Lookup(name, p);
        if (!route.ok() || route->leader_id == raft::kNoNode) ++stats.offline;
      }
    }
  }
  stats.controller_leader = metadata_->leader() == options_.node_id;
  stats.metadata_caught_up = MetadataCaughtUp();
  stats.raft_messages_refused = replicas_->messages_refused();
  stats.transport = transport_->stats();
  return stats;
}

absl::StatusOr<PartitionRoute> ClusterNode::AwaitLeader(const std::string& topic, int32_t partition,
                                                        std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  absl::StatusOr<PartitionRoute> route = Lookup(topic, partition);
  while (route.ok() && route->leader_id == raft::kNoNode &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    route = Lookup(topic, partition);
  }
  return route;
}

std::unique_ptr<v1::Controller::Stub> ClusterNode::StubFor(raft::NodeId id) {
  auto it = inter_broker_addresses_.find(id);
  if (it == inter_broker_addresses_.end()) return nullptr;
  return v1::Controller::NewStub(
      grpc::CreateChannel(it->second, grpc::InsecureChannelCredentials()));
}

template <typename Response, typename Local, typename Remote>
Response ClusterNode::OnController(Local local, Remote remote, std::chrono::milliseconds call_limit,
                                   std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  const std::vector<raft::NodeId> controllers(options_.controllers.begin(),
                                              options_.controllers.end());
  size_t next = 0;                      // the controller to try when none is known to lead
  raft::NodeId failed = raft::kNoNode;  // the last target that could not be reached
  raft::NodeId hinted = raft::kNoNode;  // the leader the last NOT_LEADER answer named
  std::string last_error = "no controller answered";
  Response response;
  while (Clock::now() < deadline) {
    raft::NodeId target = hinted != raft::kNoNode ? hinted : metadata_->leader();
    if (target == raft::kNoNode || target == failed) {
      target = controllers[next++ % controllers.size()];
    }
    // Another controller naming this node id as the leader while this process does not lead:
    // another process holds this id (its controller answers at the address --peers gives it).
    if (target == options_.node_id && hinted != options_.node_id) {
      response = local();
    } else {
      std::unique_ptr<v1::Controller::Stub> stub = StubFor(target);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + call_limit);
      response = Response();
      const grpc::Status status = stub == nullptr ? grpc::Status(grpc::StatusCode::NOT_FOUND, "")
                                                  : remote(stub.get(), &context, &response);
      if (!status.ok()) {
        last_error = absl::StrCat("controller ", target, ": ", status.error_message());
        failed = target;
        MutexLock lock(&mu_);
        if (stopping_) break;
        cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(100));
        continue;
      }
    }
    if (!NotLeader(response)) return response;
    hinted = target == options_.node_id && hinted != options_.node_id ? raft::kNoNode
                                                                      : LeaderHint(response);
    if (hinted == target) hinted = raft::kNoNode;  // a leader naming itself is not leading yet
    failed = raft::kNoNode;
    last_error = "the controller leader changed; no new leader answered in time";
    MutexLock lock(&mu_);
    if (stopping_) break;
    cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(50));
  }
  Unanswered(last_error, &response);
  return response;
}

absl::Status ClusterNode::EnsureInternalTopic(const std::string& name, int32_t partitions,
                                              const std::map<std::string, std::string>& configs) {
  if (image() != nullptr && image()->topic(name) != nullptr) return absl::OkStatus();
  v1::CreateTopicsRequest request;
  v1::NewTopic* topic = request.add_topics();
  topic->set_name(name);
  topic->set_partitions(partitions);
  for (const auto& [key, value] : configs) (*topic->mutable_configs())[key] = value;
  v1::CreateTopicsResponse response = OnController<v1::CreateTopicsResponse>(
      [&] { return controller_->CreateInternalTopics(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context, v1::CreateTopicsResponse* out) {
        return stub->CreateInternalTopics(context, request, out);
      });
  OnePerTopic({name}, &response);
  const v1::Error& error = response.topics(0).error();
  if (error.code() != v1::NONE && error.code() != v1::TOPIC_ALREADY_EXISTS) {
    return absl::UnavailableError(absl::StrCat("creating internal topic ", name, ": ",
                                               v1::ErrorCode_Name(error.code()), " ",
                                               error.message()));
  }
  // This broker's image has it before the answer goes (bounded by the propose timeout).
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  while ((image() == nullptr || image()->topic(name) == nullptr) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (image() == nullptr || image()->topic(name) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("internal topic ", name, " created but not in this broker's image yet"));
  }
  return absl::OkStatus();
}

v1::CreateTopicsResponse ClusterNode::CreateTopics(const v1::CreateTopicsRequest& request) {
  v1::CreateTopicsResponse response = OnController<v1::CreateTopicsResponse>(
      [&] { return controller_->CreateTopics(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context, v1::CreateTopicsResponse* out) {
        return stub->CreateTopics(context, request, out);
      });
  std::vector<std::string> names;
  for (const v1::NewTopic& t : request.topics()) names.push_back(t.name());
  OnePerTopic(names, &response);
  if (request.validate_only()) return response;
  // This broker's image has them before the answer goes (bounded by the propose timeout).
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  for (const v1::TopicResult& result : response.topics()) {
    while (result.error().code() == v1::NONE && image()->topic(result.name()) == nullptr &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return response;
}

v1::DeleteTopicsResponse ClusterNode::DeleteTopics(const v1::DeleteTopicsRequest& request) {
  v1::DeleteTopicsResponse response = OnController<v1::DeleteTopicsResponse>(
      [&] { return controller_->DeleteTopics(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context, v1::DeleteTopicsResponse* out) {
        return stub->DeleteTopics(context, request, out);
      });
  OnePerTopic({request.names().begin(), request.names().end()}, &response);
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  for (const v1::TopicResult& result : response.topics()) {
    while (result.error().code() == v1::NONE && image()->topic(result.name()) != nullptr &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return response;
}

v1::AlterConfigsResponse ClusterNode::AlterConfigs(const v1::AlterConfigsRequest& request) {
  std::map<std::string, std::string> expected;
  // The image is held while its topic is read: a pointer into a temporary image would dangle
  // once the replication thread publishes the next one.
  const std::shared_ptr<const MetadataImage> before = image();
  if (const TopicMetadata* topic = before->topic(request.topic())) {
    expected = topic->info.configs;
  }
  for (const auto& [name, value] : request.set()) expected[name] = value;
  for (const std::string& name : request.delete_()) expected.erase(name);
  v1::AlterConfigsResponse response = OnController<v1::AlterConfigsResponse>(
      [&] { return controller_->AlterConfigs(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context, v1::AlterConfigsResponse* out) {
        return stub->AlterConfigs(context, request, out);
      });
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  auto applied = [&] {
    const std::shared_ptr<const MetadataImage> now = image();
    const TopicMetadata* topic = now->topic(request.topic());
    return topic == nullptr || topic->info.configs == expected;
  };
  while (response.error().code() == v1::NONE && !applied() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return response;
}

v1::AlterPartitionReassignmentsResponse ClusterNode::AlterPartitionReassignments(
    const v1::AlterPartitionReassignmentsRequest& request) {
  v1::AlterPartitionReassignmentsResponse response =
      OnController<v1::AlterPartitionReassignmentsResponse>(
          [&] { return controller_->AlterPartitionReassignments(request); },
          [&](v1::Controller::Stub* stub, grpc::ClientContext* context,
              v1::AlterPartitionReassignmentsResponse* out) {
            return stub->AlterPartitionReassignments(context, request, out);
          });
  // Answered once this broker's image has each reassignment that began (or already completed).
  const auto recorded = [&] {
    const std::shared_ptr<const MetadataImage> now = image();
    for (int i = 0; i < response.results_size() && i < request.reassignments_size(); ++i) {
      const v1::PartitionReassignment& move = request.reassignments(i);
      const TopicMetadata* topic = now->topic(move.topic());
      if (response.results(i).error().code() != v1::NONE || topic == nullptr ||
          move.partition() >= static_cast<int32_t>(topic->replicas.size())) {
        continue;
      }
      const std::vector<raft::NodeId> target(move.replicas().begin(), move.replicas().end());
      const Reassignment* running = topic->reassignment(move.partition());
      if (running != nullptr ? running->target != target
                             : topic->replicas[static_cast<size_t>(move.partition())] != target) {
        return false;
      }
    }
    return true;
  };
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  while (response.error().code() == v1::NONE && !recorded() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return response;
}

v1::UnregisterBrokerResponse ClusterNode::UnregisterBroker(
    const v1::UnregisterBrokerRequest& request) {
  v1::UnregisterBrokerResponse response = OnController<v1::UnregisterBrokerResponse>(
      [&] { return controller_->UnregisterBroker(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context,
          v1::UnregisterBrokerResponse* out) {
        return stub->UnregisterBroker(context, request, out);
      });
  // Answered once this broker's image no longer lists it.
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(options_.controller.propose_timeout_ms);
  while (response.error().code() == v1::NONE && image()->broker(request.node_id()) != nullptr &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return response;
}

absl::StatusOr<std::pair<int64_t, int64_t>> ClusterNode::AllocateProducerIds() {
  v1::AllocateProducerIdsRequest request;
  request.set_node_id(options_.node_id);
  const v1::AllocateProducerIdsResponse response = OnController<v1::AllocateProducerIdsResponse>(
      [&] { return controller_->AllocateProducerIds(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context,
          v1::AllocateProducerIdsResponse* out) {
        return stub->AllocateProducerIds(context, request, out);
      });
  if (response.error().code() != v1::NONE) {
    return absl::UnavailableError(
        absl::StrCat("no producer ids from the controller: ", response.error().message()));
  }
  return std::pair<int64_t, int64_t>{response.first_id(), response.count()};
}

void ClusterNode::RunHeartbeats() {
  {
    MutexLock lock(&mu_);
    while (!stopping_ && !heartbeats_stopped_ && grpc_addr_.empty()) cv_.Wait(&mu_);
    // Never heartbeat (register) without a client address.
    if (stopping_ || heartbeats_stopped_) return;
  }
  auto next_balance = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(options_.leader_imbalance_check_interval_ms);
  while (true) {
    Heartbeat();
    DriveReassignments();
    if (options_.leader_imbalance_check_interval_ms > 0 &&
        std::chrono::steady_clock::now() >= next_balance) {
      BalanceLeaders();
      next_balance = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(options_.leader_imbalance_check_interval_ms);
    }
    MutexLock lock(&mu_);
    if (stopping_ || heartbeats_stopped_) return;
    cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(options_.heartbeat_interval_ms));
    if (stopping_ || heartbeats_stopped_) return;
  }
}

int ClusterNode::BalanceLeaders() {
  const std::shared_ptr<const MetadataImage> image = this->image();
  if (image == nullptr) return 0;
  std::set<raft::NodeId> alive;
  for (const auto& [id, broker] : image->brokers()) {
    if (!broker.fenced) alive.insert(id);
  }
  std::map<storage::TopicPartition, PartitionLeadership> partitions;
  for (const auto& [name, topic] : image->topics()) {
    for (int32_t p = 0; p < static_cast<int32_t>(topic.replicas.size()); ++p) {
      // A partition being reassigned gets its preferred leader once the move completes.
      if (topic.reassignment(p) != nullptr) continue;
      const absl::StatusOr<PartitionRoute> route = Lookup(name, p);
      if (!route.ok()) continue;
      PartitionLeadership& leadership = partitions[storage::TopicPartition{name, p}];
      leadership.replicas = route->replicas;
      leadership.leader = route->leader_id;
      if (route->leader) leadership.in_sync = route->in_sync;
    }
  }
  int started = 0;
  for (const auto& [tp, to] :
       PreferredLeaderMoves({.self = options_.node_id,
       .imbalance_percentage = options_.leader_imbalance_per_broker_percentage},
                            partitions, alive)) {
    if (absl::Status s = replicas_->TransferLeadership(tp, to); s.ok()) {
      ++started;
      logging::Get("cluster")->info("{}: leadership to its preferred leader, node {}", tp.DirName(),
                                    to);
    }
  }
  return started;
}

int ClusterNode::DriveReassignments() {
  const std::shared_ptr<const MetadataImage> image = this->image();
  if (image == nullptr) return 0;
  int proposed = 0;
  for (const auto& [name, topic] : image->topics()) {
    for (const auto& [partition, reassignment] : topic.reassignments) {
      const storage::TopicPartition tp{name, partition};
      const std::optional<ReplicaStatus> status = replicas_->Status(tp);
      if (!status.has_value() || !status->TermCommitted() || !status->membership_committed) {
        continue;  // not the leader, or a change (or this term's start) is not committed yet
      }
      const raft::Membership current(
          std::set<raft::NodeId>(status->voters.begin(), status->voters.end()),
          std::set<raft::NodeId>(status->learners.begin(), status->learners.end()));
      const ReassignmentStep step =
          NextReassignmentStep(current, reassignment.target, status->in_sync, options_.node_id);
      if (!step.next.has_value()) continue;
      if (absl::Status s = replicas_->ChangeMembership(tp, *step.next); !s.ok()) {
        logging::Get("cluster")->info("{}: reassignment step to {} not taken: {}", tp.DirName(),
                                      step.next->ToString(), s.ToString());
        continue;
      }
      ++proposed;
      logging::Get("cluster")->info("{}: reassignment to [{}]: membership {} -> {}", tp.DirName(),
                                    absl::StrJoin(reassignment.target, ","), current.ToString(),
                                    step.next->ToString());
    }
  }
  return proposed;
}

void ClusterNode::ReportReassignment(const MetadataImage& image, const storage::TopicPartition& tp,
                                     const ReplicaStatus& status, v1::PartitionLeader* led) {
  const TopicMetadata* topic = image.topic(tp.topic);
  const Reassignment* moving = topic != nullptr ? topic->reassignment(tp.partition) : nullptr;
  if (moving == nullptr || !status.membership_committed) return;
  const raft::Membership committed(
      std::set<raft::NodeId>(status.voters.begin(), status.voters.end()),
      std::set<raft::NodeId>(status.learners.begin(), status.learners.end()));
  if (!NextReassignmentStep(committed, moving->target, status.in_sync, options_.node_id).done) {
    return;
  }
  led->set_topic_id(topic->info.id);
  for (raft::NodeId id : moving->target) led->add_reassigned_to(id);
  led->set_image_version(image.applied());
}

void ClusterNode::Heartbeat(bool shutting_down) {
  v1::BrokerHeartbeatRequest request;
  request.set_shutting_down(shutting_down);
  request.set_cluster_id(options_.cluster_id);
  request.set_node_id(options_.node_id);
  request.set_incarnation_id(incarnation_id_);
  request.set_inter_broker_addr(inter_broker_addresses_.at(options_.node_id));
  request.set_rack(options_.rack);
  request.set_directory_id(options_.directory_id);
  {
    MutexLock lock(&mu_);
    request.set_grpc_addr(grpc_addr_);
  }
  const std::shared_ptr<const MetadataImage> image = this->image();
  for (const storage::TopicPartition& tp : replicas_->Replicas()) {
    if (tp.topic == ClusterMetadata::kTopic) continue;
    const std::optional<ReplicaStatus> status = replicas_->Status(tp);
    if (!status.has_value() || status->role != raft::Role::kLeader) continue;
    v1::PartitionLeader* led = request.add_led();
    led->set_topic(tp.topic);
    led->set_partition(tp.partition);
    led->set_leader(options_.node_id);
    led->set_term(status->term);
    for (raft::NodeId id : status->in_sync) led->add_isr(id);
    ReportReassignment(*image, tp, *status, led);
    led->set_log_start(status->log_start);
    led->set_log_end(status->log_end);
    led->set_high_watermark(status->high_watermark);
  }
  // A controller leader that hangs (paused, partitioned away) must not hold this broker's
  // heartbeats past its session with the next one: each call gets a heartbeat interval (at least
  // 250 ms), then another controller is tried.
  const v1::BrokerHeartbeatResponse response = OnController<v1::BrokerHeartbeatResponse>(
      [&] { return controller_->Heartbeat(request); },
      [&](v1::Controller::Stub* stub, grpc::ClientContext* context,
          v1::BrokerHeartbeatResponse* out) { return stub->Heartbeat(context, request, out); },
      std::chrono::milliseconds(std::max<int64_t>(250, options_.heartbeat_interval_ms)),
      std::chrono::milliseconds(options_.controller.session_timeout_ms / 2));
  const auto now = Clock::now();
  MutexLock lock(&mu_);
  if (response.error().code() == v1::NONE) {
    refused_since_.reset();
    if (metadata_target_ < 0) metadata_target_ = response.metadata_end();
    leaders_.clear();
    for (const v1::PartitionLeader& leader : response.leaders()) {
      leaders_[{leader.topic(), leader.partition()}] = leader;
    }
    return;
  }
  if (response.error().code() != v1::INVALID_REQUEST) {
    logging::Get("cluster")->debug("heartbeat not answered: {}", response.error().message());
    return;
  }
  // Refused. A restart of a killed broker is refused until its old session expires; a refusal
  // that outlasts a whole session is another live broker with this node id.
  if (!refused_since_.has_value()) {
    refused_since_ = now;
    logging::Get("cluster")->warn("the controller refuses this broker: {}",
                                  response.error().message());
  }
  const auto patience = std::chrono::milliseconds(options_.controller.session_timeout_ms +
                                                  2 * options_.heartbeat_interval_ms);
  if (now - *refused_since_ > patience && on_fatal_) {
    on_fatal_(absl::FailedPreconditionError(response.error().message()));
    refused_since_ = now + std::chrono::hours(24 * 365);  // once
  }
}

}  // namespace runnel::broker
