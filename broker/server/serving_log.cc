#include "broker/server/serving_log.h"

#include "absl/strings/str_cat.h"
#include "broker/server/error_codes.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {
namespace {

// Asks the controller to create `topic` with the broker's defaults; OK when it exists after.
absl::Status AutoCreate(PartitionManager& partitions, ClusterNode& cluster,
                        const std::string& topic) {
  RETURN_IF_ERROR(RefuseInternalTopic(topic, "auto-create topic"));
  v1::CreateTopicsRequest request;
  v1::NewTopic* create = request.add_topics();
  create->set_name(topic);
  create->set_partitions(partitions.options().num_partitions);
  const v1::CreateTopicsResponse response = cluster.CreateTopics(request);
  RUNNEL_CHECK(response.topics_size() == 1, "CreateTopics answered %d topics for 1",
               response.topics_size());
  const v1::Error& error = response.topics(0).error();
  switch (error.code()) {
    case v1::NONE:
    case v1::TOPIC_ALREADY_EXISTS:
      return absl::OkStatus();
    case v1::INVALID_TOPIC:
    case v1::INVALID_PARTITIONS:
    case v1::INVALID_REPLICATION_FACTOR:
    case v1::INVALID_CONFIG:
      return absl::InvalidArgumentError(
          absl::StrCat("auto-create topic '", topic, "': ", error.message()));
    default:
      return absl::UnavailableError(
          absl::StrCat("auto-create topic '", topic, "': ", error.message()));
  }
}

}  // namespace

absl::Status BackgroundTopicCreator::Start(const std::string& topic) {
  const absl::Status retry =
      NotLeaderError(absl::StrCat("node ", cluster_->node_id(), ": topic ", topic,
                                  " does not exist yet; the controller is asked to create it "
                                  "(auto.create.topics.enable); retry"),
                     -1, "");
  {
    MutexLock lock(&mu_);
    if (auto it = refused_.find(topic); it != refused_.end()) {
      if (std::chrono::steady_clock::now() - it->second.at < kRefusalKept) return it->second.why;
      refused_.erase(it);
    }
    if (creating_.contains(topic) || creating_.size() >= kMaxCreating) return retry;
    creating_.insert(topic);
  }
  const bool posted = calls_->Post([this, topic] {
    const absl::Status created = AutoCreate(*partitions_, *cluster_, topic);
    if (!created.ok()) {
      logging::Get("broker")->warn("auto-creating topic {} for a produce request: {}", topic,
                                   created.ToString());
    }
    MutexLock lock(&mu_);
    creating_.erase(topic);
    if (absl::IsInvalidArgument(created)) {  // the controller refused it: retrying cannot help
      if (refused_.size() >= kMaxRefusalsKept) refused_.clear();  // (bounded; they come back)
      refused_[topic] = Refusal{
          absl::NotFoundError(absl::StrCat(
              "topic ", topic, " does not exist and could not be created: ", created.message())),
          std::chrono::steady_clock::now()};
    }
  });
  if (!posted) {  // stopping, or too much waiting: a later produce tries again
    MutexLock lock(&mu_);
    creating_.erase(topic);
  }
  return retry;
}

absl::Status NotLeaderFor(const ClusterNode& cluster, const std::string& topic, int32_t partition,
                          const PartitionRoute& route) {
  const std::string who =
      route.leader_id == raft::kNoNode || route.leader_addr.empty()
          ? std::string("no leader is known yet; retry")
          : absl::StrCat("node ", route.leader_id, " (", route.leader_addr, ") does");
  return NotLeaderError(
      absl::StrCat("node ", cluster.node_id(), " does not lead ", topic, "-", partition, ": ", who),
      route.leader_id, route.leader_addr);
}

bool OffsetsSettled(const ClusterNode& cluster, const std::string& topic, int32_t partition) {
  const absl::StatusOr<PartitionRoute> route = cluster.Lookup(topic, partition);
  return !route.ok() || !route->leader || route->term_committed;
}

absl::StatusOr<std::shared_ptr<storage::Log>> ServingLog(PartitionManager& partitions,
                                                         ClusterNode* cluster,
                                                         const std::string& topic,
                                                         int32_t partition, bool allow_auto_create,
                                                         BackgroundTopicCreator* background) {
  if (cluster == nullptr) return partitions.GetLog(topic, partition, allow_auto_create);
  absl::StatusOr<PartitionRoute> route = cluster->Lookup(topic, partition);
  if (!route.ok() && absl::IsNotFound(route.status()) && !cluster->MetadataCaughtUp()) {
    // Not "unknown topic" from a broker that has not applied the cluster's metadata yet.
    return NotLeaderError(absl::StrCat("node ", cluster->node_id(),
                                       " is catching up on the "
                                       "cluster's metadata (",
                                       route.status().message(), " here yet); retry"),
                          -1, "");
  }
  if (!route.ok() && absl::IsNotFound(route.status()) && allow_auto_create &&
      partitions.options().auto_create_topics && cluster->image()->topic(topic) == nullptr) {
    if (background != nullptr) {
      // (A produce refuses a bad name before it gets here: INVALID_TOPIC, not retried.)
      RETURN_IF_ERROR(RefuseInternalTopic(topic, "auto-create topic"));
      return background->Start(topic);
    }
    RETURN_IF_ERROR(AutoCreate(partitions, *cluster, topic));
    route = cluster->Lookup(topic, partition);
  }
  if (!route.ok()) return route.status();
  if (!route->leader) return NotLeaderFor(*cluster, topic, partition, *route);
  return route->log;
}

}  // namespace runnel::broker
