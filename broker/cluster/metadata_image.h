// MetadataImage: the cluster as the metadata log describes it — the cluster id, the brokers
// (addresses, rack, fenced or not) and the topics (id, configs, each partition's replicas) — built
// by applying the log's records (proto/runnel/v1/metadata.proto) in offset order. Every broker
// applies the same records to its own image, so all images agree once they have applied the
// same prefix. Apply never half-applies: a record that does not fit the image (a topic created
// twice, a delete of an unknown topic, a replica on an unknown broker) changes nothing and is
// answered with an error naming why, the same on every broker.
//
// Thread-safety: none; the owner applies on one thread and publishes copies (it is a value).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "broker/cluster/topic_table.h"
#include "raft/types.h"
#include "runnel/v1/metadata.pb.h"

namespace runnel::broker {

// The metadata log's own partition's topic (ClusterMetadata::kTopic); no topic may take its name.
inline constexpr char kMetadataTopic[] = "__cluster_metadata";

struct BrokerInfo {
  raft::NodeId id = raft::kNoNode;
  std::string incarnation_id;
  std::string grpc_address;
  std::string inter_broker_address;
  std::string rack;
  bool fenced = false;
  // Its data dir's id, and the image version (applied()) at which that directory first
  // registered: a partition created before then was never on this directory.
  std::string directory_id;
  int64_t directory_since = 0;

  friend bool operator==(const BrokerInfo&, const BrokerInfo&) = default;
};

// A partition reassignment in progress (PartitionReplicasRecord).
struct Reassignment {
  std::vector<raft::NodeId> target;  // the replicas it moves to, the preferred leader first
  // Every broker that may be a member of the partition's group until it completes: the replicas
  // before it began and every target since (a reassignment changed or cancelled part way may
  // have left members of an earlier target, which the leader then removes). They all host it.
  std::set<raft::NodeId> hosts;
  int64_t started_at = 0;  // the image version (applied()) that set `target`

  friend bool operator==(const Reassignment&, const Reassignment&) = default;
};

struct TopicMetadata {
  TopicInfo info;  // name, id, partition count, replication factor, configs
  std::vector<std::vector<raft::NodeId>> replicas;  // by partition, preferred leader first
  std::map<int32_t, Reassignment> reassignments;    // by partition, those in progress
  int64_t created_at = 0;                           // the image version that created it

  // The brokers that host `partition`: its replicas, and during a reassignment its hosts.
  std::set<raft::NodeId> Hosts(int32_t partition) const;
  // The reassignment of `partition` in progress, or null.
  const Reassignment* reassignment(int32_t partition) const;

  friend bool operator==(const TopicMetadata&, const TopicMetadata&) = default;
};

class MetadataImage {
 public:
  // Applies one record; InvalidArgument / AlreadyExists / NotFound / FailedPrecondition naming
  // why it does not apply (the image is then unchanged).
  absl::Status Apply(const v1::MetadataRecord& record);

  const std::string& cluster_id() const { return cluster_id_; }
  const std::map<raft::NodeId, BrokerInfo>& brokers() const { return brokers_; }
  const std::map<std::string, TopicMetadata>& topics() const { return topics_; }
  const BrokerInfo* broker(raft::NodeId id) const;
  const TopicMetadata* topic(const std::string& name) const;
  // Records applied so far (those that did not apply included): the image's version.
  int64_t applied() const { return applied_; }
  // The first producer id no broker was granted yet (ProducerIdsRecord).
  int64_t next_producer_id() const { return next_producer_id_; }

  friend bool operator==(const MetadataImage&, const MetadataImage&) = default;

 private:
  absl::Status ApplyCluster(const v1::ClusterRecord& record);
  absl::Status ApplyBroker(const v1::BrokerRecord& record);
  absl::Status ApplyFence(const v1::BrokerFenceRecord& record);
  absl::Status ApplyTopic(const v1::TopicRecord& record);
  absl::Status ApplyTopicDelete(const v1::TopicDeleteRecord& record);
  absl::Status ApplyTopicConfig(const v1::TopicConfigRecord& record);
  absl::Status ApplyPartitionReplicas(const v1::PartitionReplicasRecord& record);
  absl::Status ApplyProducerIds(const v1::ProducerIdsRecord& record);
  absl::Status ApplyUnregister(const v1::BrokerUnregisterRecord& record);
  // OK when `replicas` is a non-empty list of distinct registered brokers.
  absl::Status CheckReplicas(const std::string& what, const v1::PartitionReplicas& replicas) const;

  std::string cluster_id_;
  std::map<raft::NodeId, BrokerInfo> brokers_;
  std::map<std::string, TopicMetadata> topics_;
  int64_t applied_ = 0;
  int64_t next_producer_id_ = 0;
};

// Replica placement for a new topic (Kafka's rack-aware assignment, AdminUtils): `partitions`
// lists of `replication_factor` distinct brokers among `brokers` (unfenced ones only), ordered
// rack by rack alternately (a, b, c, a, b, c, ...). Partition p's preferred leader is broker
// (start + p) mod n, so leaders spread evenly; its followers are the next candidates after the
// leader, with a shift that grows every n partitions so the pairs of brokers sharing partitions
// vary, skipping a candidate whose rack already holds a replica until every rack does. `start`
// picks the first leader (callers pass a random or rotating value). InvalidArgument naming the
// numbers when there are fewer unfenced brokers than `replication_factor` (Kafka's
// INVALID_REPLICATION_FACTOR).
absl::StatusOr<std::vector<std::vector<raft::NodeId>>> PlaceReplicas(
    const std::map<raft::NodeId, BrokerInfo>& brokers, int32_t partitions,
    int32_t replication_factor, uint32_t start);

}  // namespace runnel::broker
