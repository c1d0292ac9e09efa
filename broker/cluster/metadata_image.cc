#include "broker/cluster/metadata_image.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"
#include "common/status_macros.h"

namespace runnel::broker {

const BrokerInfo* MetadataImage::broker(raft::NodeId id) const {
  auto it = brokers_.find(id);
  return it == brokers_.end() ? nullptr : &it->second;
}

const TopicMetadata* MetadataImage::topic(const std::string& name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

absl::Status MetadataImage::Apply(const v1::MetadataRecord& record) {
  ++applied_;
  switch (record.record_case()) {
    case v1::MetadataRecord::kCluster:
      return ApplyCluster(record.cluster());
    case v1::MetadataRecord::kBroker:
      return ApplyBroker(record.broker());
    case v1::MetadataRecord::kFence:
      return ApplyFence(record.fence());
    case v1::MetadataRecord::kTopic:
      return ApplyTopic(record.topic());
    case v1::MetadataRecord::kTopicDelete:
      return ApplyTopicDelete(record.topic_delete());
    case v1::MetadataRecord::kTopicConfig:
      return ApplyTopicConfig(record.topic_config());
    case v1::MetadataRecord::kPartitionReplicas:
      return ApplyPartitionReplicas(record.partition_replicas());
    case v1::MetadataRecord::kProducerIds:
      return ApplyProducerIds(record.producer_ids());
    case v1::MetadataRecord::kUnregister:
      return ApplyUnregister(record.unregister());
    case v1::MetadataRecord::RECORD_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "metadata record of no known kind (written by a newer broker?)");
}

absl::Status MetadataImage::ApplyCluster(const v1::ClusterRecord& record) {
  if (record.cluster_id().empty()) return absl::InvalidArgumentError("cluster record: empty id");
  if (!cluster_id_.empty() && cluster_id_ != record.cluster_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster record: the cluster is \"", cluster_id_, "\", not \"", record.cluster_id(), "\""));
  }
  cluster_id_ = record.cluster_id();
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyBroker(const v1::BrokerRecord& record) {
  if (record.node_id() < 0 || record.grpc_address().empty() ||
      record.inter_broker_address().empty() || record.incarnation_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("broker record of node ", record.node_id(),
                     ": node id, addresses and incarnation are required"));
  }
  BrokerInfo& broker = brokers_[record.node_id()];
  if (broker.id == raft::kNoNode || broker.directory_id != record.directory_id()) {
    broker.directory_id = record.directory_id();
    broker.directory_since = applied_;
  }
  broker.id = record.node_id();
  broker.incarnation_id = record.incarnation_id();
  broker.grpc_address = record.grpc_address();
  broker.inter_broker_address = record.inter_broker_address();
  broker.rack = record.rack();
  broker.fenced = false;  // a registration is a sign of life
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyProducerIds(const v1::ProducerIdsRecord& record) {
  if (!brokers_.contains(record.node_id())) {
    return absl::NotFoundError(
        absl::StrCat("producer ids record: node ", record.node_id(), " is not registered"));
  }
  if (record.next_producer_id() <= next_producer_id_) {
    return absl::FailedPreconditionError(
        absl::StrCat("producer ids record: next id ", record.next_producer_id(), " does not pass ",
                     next_producer_id_, " (ids would be granted twice)"));
  }
  next_producer_id_ = record.next_producer_id();
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyFence(const v1::BrokerFenceRecord& record) {
  auto it = brokers_.find(record.node_id());
  if (it == brokers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("fence record: node ", record.node_id(), " is not registered"));
  }
  it->second.fenced = record.fenced();
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyUnregister(const v1::BrokerUnregisterRecord& record) {
  const raft::NodeId id = record.node_id();
  auto it = brokers_.find(id);
  if (it == brokers_.end()) {
    return absl::NotFoundError(absl::StrCat("node ", id, " is not registered"));
  }
  if (!it->second.fenced) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", id, " is alive (not fenced): stop it first"));
  }
  std::vector<std::string> hosted;
  for (const auto& [name, topic] : topics_) {
    for (int32_t p = 0; p < topic.info.partitions; ++p) {
      if (topic.Hosts(p).contains(id)) hosted.push_back(absl::StrCat(name, "-", p));
    }
  }
  if (!hosted.empty()) {
    const size_t shown = std::min<size_t>(hosted.size(), 5);
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", id, " still hosts ", hosted.size(), " partition(s) (",
        absl::StrJoin(hosted.begin(), hosted.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
        hosted.size() > shown ? ", ..." : "",
        "): move them off with `runnel topic reassign` first"));
  }
  brokers_.erase(it);
  return absl::OkStatus();
}

absl::Status MetadataImage::CheckReplicas(const std::string& what,
                                          const v1::PartitionReplicas& replicas) const {
  if (replicas.node_ids().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no replicas"));
  }
  std::set<raft::NodeId> seen;
  for (int32_t id : replicas.node_ids()) {
    if (!brokers_.contains(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": replica node ", id, " is not a registered broker"));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": node ", id, " is listed twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyTopic(const v1::TopicRecord& record) {
  if (record.name() == kMetadataTopic) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic ", record.name(), ": the name of the metadata log itself"));
  }
  if (topics_.contains(record.name())) {
    return absl::AlreadyExistsError(absl::StrCat("topic ", record.name(), " already exists"));
  }
  if (record.topic_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("topic ", record.name(), ": no topic id"));
  }
  TopicMetadata topic;
  topic.info.name = record.name();
  topic.info.id = record.topic_id();
  topic.info.partitions = record.replicas_size();
  topic.info.internal = record.internal();
  topic.created_at = applied_;
  topic.info.configs.insert(record.configs().begin(), record.configs().end());
  for (int p = 0; p < record.replicas_size(); ++p) {
    RETURN_IF_ERROR(
        CheckReplicas(absl::StrCat("topic ", record.name(), " partition ", p), record.replicas(p)));
    topic.replicas.emplace_back(record.replicas(p).node_ids().begin(),
                                record.replicas(p).node_ids().end());
  }
  topic.info.replication_factor =
      topic.replicas.empty() ? 0 : static_cast<int32_t>(topic.replicas.front().size());
  RETURN_IF_ERROR(TopicTable::Validate(topic.info));
  topics_[record.name()] = std::move(topic);
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyTopicDelete(const v1::TopicDeleteRecord& record) {
  auto it = topics_.find(record.name());
  if (it == topics_.end() || it->second.info.id != record.topic_id()) {
    return absl::NotFoundError(
        absl::StrCat("topic ", record.name(), " with id ", record.topic_id(), " does not exist"));
  }
  topics_.erase(it);
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyTopicConfig(const v1::TopicConfigRecord& record) {
  auto it = topics_.find(record.name());
  if (it == topics_.end()) {
    return absl::NotFoundError(absl::StrCat("topic ", record.name(), " does not exist"));
  }
  TopicInfo changed = it->second.info;
  changed.configs.clear();
  changed.configs.insert(record.configs().begin(), record.configs().end());
  RETURN_IF_ERROR(TopicTable::Validate(changed));
  it->second.info = std::move(changed);
  return absl::OkStatus();
}

absl::Status MetadataImage::ApplyPartitionReplicas(const v1::PartitionReplicasRecord& record) {
  const std::string what =
      absl::StrCat("reassignment of partition ", record.topic(), "-", record.partition());
  auto it = topics_.find(record.topic());
  if (it == topics_.end() || it->second.info.id != record.topic_id()) {
    return absl::NotFoundError(absl::StrCat(what, ": topic ", record.topic(), " with id ",
                                            record.topic_id(), " does not exist"));
  }
  TopicMetadata& topic = it->second;
  const int32_t p = record.partition();
  if (p < 0 || p >= topic.info.partitions) {
    return absl::NotFoundError(
        absl::StrCat(what, ": topic ", record.topic(), " has no partition ", p));
  }
  RETURN_IF_ERROR(CheckReplicas(what, record.replicas()));
  const std::vector<raft::NodeId> next(record.replicas().node_ids().begin(),
                                       record.replicas().node_ids().end());
  std::vector<raft::NodeId>& replicas = topic.replicas[static_cast<size_t>(p)];
  auto running = topic.reassignments.find(p);
  if (record.completed()) {
    if (running == topic.reassignments.end() || running->second.target != next) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": completion to [", absl::StrJoin(next, ","), "] does not match ",
                       running == topic.reassignments.end()
                           ? std::string("any reassignment in progress")
                           : absl::StrCat("the one in progress (to [",
                                          absl::StrJoin(running->second.target, ","), "])")));
    }
    replicas = next;
    topic.reassignments.erase(running);
    if (p == 0) topic.info.replication_factor = static_cast<int32_t>(next.size());
    return absl::OkStatus();
  }
  const std::set<raft::NodeId> now(replicas.begin(), replicas.end());
  if (running == topic.reassignments.end() &&
      std::set<raft::NodeId>(next.begin(), next.end()) == now) {
    replicas = next;  // the same brokers in another order: a new preferred leader only
    return absl::OkStatus();
  }
  if (running == topic.reassignments.end()) {
    running = topic.reassignments.emplace(p, Reassignment{{}, now, 0}).first;
  }
  running->second.target = next;
  running->second.started_at = applied_;
  running->second.hosts.insert(next.begin(), next.end());
  return absl::OkStatus();
}

std::set<raft::NodeId> TopicMetadata::Hosts(int32_t partition) const {
  const std::vector<raft::NodeId>& assigned = replicas[static_cast<size_t>(partition)];
  std::set<raft::NodeId> out(assigned.begin(), assigned.end());
  if (const Reassignment* running = reassignment(partition)) {
    out.insert(running->hosts.begin(), running->hosts.end());
  }
  return out;
}

const Reassignment* TopicMetadata::reassignment(int32_t partition) const {
  auto it = reassignments.find(partition);
  return it == reassignments.end() ? nullptr : &it->second;
}

absl::StatusOr<std::vector<std::vector<raft::NodeId>>> PlaceReplicas(
    const std::map<raft::NodeId, BrokerInfo>& brokers, int32_t partitions,
    int32_t replication_factor, uint32_t start) {
  // Unfenced brokers, ordered rack by rack alternately (Kafka's getRackAlternatedBrokerList).
  std::map<std::string, std::vector<raft::NodeId>> by_rack;
  for (const auto& [id, broker] : brokers) {
    if (!broker.fenced) by_rack[broker.rack].push_back(id);
  }
  std::vector<raft::NodeId> order;
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (const auto& [rack, ids] : by_rack) {
      if (round < ids.size()) {
        order.push_back(ids[round]);
        any = true;
      }
    }
    if (!any) break;
  }
  const int32_t n = static_cast<int32_t>(order.size());
  if (replication_factor < 1 || replication_factor > n) {
    return absl::InvalidArgumentError(absl::StrCat("replication factor ", replication_factor,
                                                   " needs that many live brokers; ", n,
                                                   " are registered and not fenced"));
  }
  if (partitions < 1) {
    return absl::InvalidArgumentError(absl::StrCat("partitions: ", partitions, " is below 1"));
  }
  std::map<raft::NodeId, std::string> rack_of;
  for (const auto& [id, broker] : brokers) rack_of[id] = broker.rack;
  const size_t racks = by_rack.size();
  // Kafka's replicaIndex: the k-th candidate after the leader, shifted per round of leaders.
  const auto candidate = [n](int32_t leader, int32_t shift, int32_t k) {
    return (leader + 1 + (shift + k) % (n - 1)) % n;
  };
  std::vector<std::vector<raft::NodeId>> out(static_cast<size_t>(partitions));
  const int32_t first = static_cast<int32_t>(start % static_cast<uint32_t>(n));
  int32_t shift = static_cast<int32_t>(start % static_cast<uint32_t>(n));
  for (int32_t p = 0; p < partitions; ++p) {
    if (p > 0 && p % n == 0) ++shift;
    const int32_t leader = (first + p) % n;
    std::vector<raft::NodeId>& replicas = out[static_cast<size_t>(p)];
    replicas.push_back(order[static_cast<size_t>(leader)]);
    std::set<std::string> racks_used = {rack_of[replicas.front()]};
    std::set<raft::NodeId> used = {replicas.front()};
    // Each follower: the next candidate in a rack not used yet (once every rack is, any rack) and
    // not a replica already. Within 2n candidates every broker has been seen.
    int32_t k = 0;
    for (int32_t j = 1; j < replication_factor; ++j) {
      for (int32_t tries = 0; tries < 2 * n; ++tries, ++k) {
        const raft::NodeId id =
            order[static_cast<size_t>(candidate(leader, shift % std::max(n - 1, 1), k))];
        const bool rack_ok = !racks_used.contains(rack_of[id]) || racks_used.size() == racks;
        if (rack_ok && !used.contains(id)) {
          replicas.push_back(id);
          racks_used.insert(rack_of[id]);
          used.insert(id);
          ++k;
          break;
        }
      }
    }
    RUNNEL_CHECK(static_cast<int32_t>(replicas.size()) == replication_factor,
                 "placement found %d of %d replicas among %d brokers", replicas.size(),
                 replication_factor, n);
  }
  return out;
}

}  // namespace runnel::broker
