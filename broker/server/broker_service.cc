// BrokerService: the Broker gRPC service. Produce is in produce_reactor.cc and Fetch in
// fetch_scheduler.cc; ListOffsets, Metadata and InitProducerId are answered here.
#include "broker/server/broker_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/server/error_codes.h"
#include "broker/server/partition_rows.h"
#include "broker/server/serving_log.h"
#include "common/mutex.h"
#include "common/offset_query.h"

namespace runnel::broker {

BrokerService::BrokerService(PartitionManager* partitions, ClusterNode* cluster,
                             ProducerIdAllocator* producer_ids, BrokerMetrics* metrics,
                             const BrokerIdentity* identity, BrokerServiceOptions options)
    : partitions_(partitions),
      cluster_(cluster),
      producer_ids_(producer_ids),
      metrics_(metrics),
      identity_(identity),
      options_(options),
      topic_creator_(
          cluster != nullptr && options.blocking != nullptr
              ? std::make_unique<BackgroundTopicCreator>(partitions, cluster, options.blocking)
              : nullptr),
      fetches_(partitions, cluster, metrics, options.fetch),
      deadline_thread_([this] { RunDeadlines(); }) {}

BrokerService::~BrokerService() {
  {
    MutexLock lock(&reactors_mu_);
    stopping_deadlines_ = true;
    deadlines_cv_.SignalAll();
  }
  deadline_thread_.join();
}

void BrokerService::StopLongPolls() { fetches_.Stop(); }

grpc::ServerUnaryReactor* BrokerService::Fetch(grpc::CallbackServerContext* /*context*/,
                                               const v1::FetchRequest* request,
                                               v1::FetchResponse* response) {
  return fetches_.Fetch(request, response);
}

// --- ListOffsets, Metadata, InitProducerId ---------------------------------------------------

grpc::ServerUnaryReactor* BrokerService::ListOffsets(grpc::CallbackServerContext* context,
                                                     const v1::ListOffsetsRequest* request,
                                                     v1::ListOffsetsResponse* response) {
  for (const auto& q : request->partitions()) {
    v1::PartitionOffset* result = response->add_partitions();
    result->set_topic(q.topic());
    result->set_partition(q.partition());
    result->set_offset(kNoOffset);
    result->set_timestamp(-1);
    auto log = ServingLog(*partitions_, cluster_, q.topic(), q.partition(), false);
    if (!log.ok()) {
      SetError(log.status(), result->mutable_error());
      continue;
    }
    if (cluster_ != nullptr && !OffsetsSettled(*cluster_, q.topic(), q.partition())) {
      // KIP-207: offsets only grow, across leaders too.
      result->mutable_error()->set_code(v1::OFFSET_NOT_AVAILABLE);
      result->mutable_error()->set_message(
          absl::StrCat("partition ", q.topic(), "-", q.partition(),
                       ": this new leader's high watermark has not reached the start of its term "
                       "yet; retry"));
      continue;
    }
    if (q.timestamp() == kEarliestOffsetQuery) {
      result->set_offset((*log)->start_offset());
    } else if (q.timestamp() == kLatestOffsetQuery) {
      result->set_offset((*log)->high_watermark());  // Kafka: latest is the high watermark
    } else if (q.timestamp() < 0) {
      SetError(absl::InvalidArgumentError(
                   absl::StrCat("timestamp ", q.timestamp(), " is not -2, -1 or a time in ms")),
               result->mutable_error());
    } else {
      auto offset = (*log)->OffsetForTimestamp(q.timestamp());
      if (!offset.ok()) {
        SetError(offset.status(), result->mutable_error());
      } else if (offset->has_value()) {
        result->set_offset(**offset);
        result->set_timestamp(q.timestamp());
      }
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* BrokerService::Metadata(grpc::CallbackServerContext* context,
                                                  const v1::MetadataRequest* request,
                                                  v1::MetadataResponse* response) {
  // A topic to create waits for the controller: not on gRPC's threads.
  const bool creates =
      cluster_ != nullptr && request->allow_auto_topic_creation() &&
      std::any_of(request->topics().begin(), request->topics().end(),
                  [&](const std::string& name) { return !partitions_->topics().Get(name); });
  if (creates) {
    return RunBlocking(options_.blocking, context,
                       [this, request, response] { FillMetadata(*request, response); });
  }
  FillMetadata(*request, response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void BrokerService::FillMetadata(const v1::MetadataRequest& request,
                                 v1::MetadataResponse* response) {
  if (cluster_ != nullptr) {
    for (const auto& [id, broker] : cluster_->image()->brokers()) {
      v1::BrokerInfo* info = response->add_brokers();
      info->set_node_id(id);
      info->set_grpc_addr(broker.grpc_address);
      info->set_rack(broker.rack);
      info->set_fenced(broker.fenced);
    }
    response->set_controller_id(cluster_->controller_leader());
  } else {
    v1::BrokerInfo* self = response->add_brokers();
    self->set_node_id(identity_->node_id());
    self->set_grpc_addr(identity_->grpc_addr());
    response->set_controller_id(identity_->node_id());
  }
  std::vector<std::string> names(request.topics().begin(), request.topics().end());
  if (names.empty()) {
    for (const TopicInfo& t : partitions_->topics().List()) names.push_back(t.name);
  }
  for (const std::string& name : names) {
    if (request.allow_auto_topic_creation()) {
      // Creates the topic if it is missing and auto-creation is on. NotFound (auto-creation off)
      // is reported by the row below; other errors (a bad name) here.
      const absl::Status created =
          ServingLog(*partitions_, cluster_, name, 0, /*allow_auto_create=*/true).status();
      if (!created.ok() && !absl::IsNotFound(created) && !absl::IsUnavailable(created)) {
        v1::TopicMetadata* topic = response->add_topics();
        topic->set_name(name);
        SetError(created, topic->mutable_error());
        continue;
      }
    }
    FillPartitionRows(*partitions_, cluster_, identity_->node_id(), name, response->add_topics());
  }
}

grpc::ServerUnaryReactor* BrokerService::InitProducerId(
    grpc::CallbackServerContext* context, const v1::InitProducerIdRequest* /*request*/,
    v1::InitProducerIdResponse* response) {
  return RunBlocking(options_.blocking, context, [this, response] {
    absl::StatusOr<int64_t> id = producer_ids_->Allocate();
    if (id.ok()) {
      response->set_producer_id(*id);
      response->set_producer_epoch(0);
    } else {
      response->set_producer_id(record::kNoProducerId);
      response->set_producer_epoch(record::kNoProducerEpoch);
      SetError(id.status(), response->mutable_error());
    }
  });
}

}  // namespace runnel::broker
