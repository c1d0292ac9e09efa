// FillPartitionRows: the per-partition rows that Admin.DescribeTopics and Broker.Metadata both
// return (leader, replicas, start offset, high watermark; sizes, in-sync replicas and log end
// where the message has them). In a cluster the leader, replicas, in-sync replicas and offsets
// are the partition leader's, as this broker knows them (ClusterNode::Lookup: its own replica's
// state when it leads, else what the leader last reported through the controller).
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "broker/cluster/cluster_node.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/error_codes.h"

namespace runnel::broker {

// Fills `out` (a TopicDescription or TopicMetadata) for topic `name`, or its error if the topic
// does not exist. Returns the topic when it exists. `cluster` is null on a single node.
template <typename TopicMessage>
std::optional<TopicInfo> FillPartitionRows(PartitionManager& partitions, const ClusterNode* cluster,
                                           int32_t node_id, const std::string& name,
                                           TopicMessage* out) {
  out->set_name(name);
  std::optional<TopicInfo> topic;
  if (cluster == nullptr) {
    topic = partitions.topics().Get(name);
  } else {
    const std::shared_ptr<const MetadataImage> image = cluster->image();  // `t` points in it
    if (const TopicMetadata* t = image->topic(name)) topic = t->info;
  }
  if (!topic.has_value()) {
    SetError(absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist")),
             out->mutable_error());
    return std::nullopt;
  }
  for (int32_t p = 0; p < topic->partitions; ++p) {
    auto* row = out->add_partitions();
    row->set_partition(p);
    if (cluster != nullptr) {
      const absl::StatusOr<PartitionRoute> route = cluster->Lookup(name, p);
      if (!route.ok()) continue;  // the image changed since the topic table was read
      row->set_leader(route->leader_id);
      row->set_leader_epoch(static_cast<int32_t>(route->term));
      for (raft::NodeId id : route->replicas) row->add_replicas(id);
      row->set_log_start_offset(route->log_start);
      row->set_high_watermark(route->high_watermark);
      if constexpr (requires { row->add_isr(0); }) {
        for (raft::NodeId id : route->in_sync) row->add_isr(id);
        for (raft::NodeId id : route->adding) row->add_adding_replicas(id);
        for (raft::NodeId id : route->removing) row->add_removing_replicas(id);
        row->set_log_end_offset(route->log_end);
        if (route->log != nullptr)
          row->set_size_bytes(static_cast<int64_t>(route->log->size_bytes()));
      }
      continue;
    }
    row->set_leader(node_id);
    row->add_replicas(node_id);
    if (const std::shared_ptr<storage::Log> log = partitions.logs().Get({name, p})) {
      row->set_log_start_offset(log->start_offset());
      row->set_high_watermark(log->high_watermark());
      if constexpr (requires { row->set_size_bytes(int64_t{0}); }) {
        row->set_size_bytes(static_cast<int64_t>(log->size_bytes()));
        row->add_isr(node_id);
        row->set_log_end_offset(log->end_offset());
      }
    }
  }
  return topic;
}

}  // namespace runnel::broker
