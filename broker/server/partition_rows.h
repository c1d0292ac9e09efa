// FillPartitionRows: the per-partition rows that Admin.DescribeTopics and Broker.Metadata both
// return (leader, replicas, start offset, high watermark; sizes where the message has them).
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/error_codes.h"

namespace runnel::broker {

// Fills `out` (a TopicDescription or TopicMetadata) for topic `name`, or its error if the topic
// does not exist. Returns the topic when it exists.
template <typename TopicMessage>
std::optional<TopicInfo> FillPartitionRows(PartitionManager& partitions, int32_t node_id,
                                           const std::string& name, TopicMessage* out) {
  out->set_name(name);
  std::optional<TopicInfo> topic = partitions.topics().Get(name);
  if (!topic.has_value()) {
    SetError(absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist")),
             out->mutable_error());
    return std::nullopt;
  }
  for (int32_t p = 0; p < topic->partitions; ++p) {
    auto* row = out->add_partitions();
    row->set_partition(p);
    row->set_leader(node_id);
    row->add_replicas(node_id);
    if (const std::shared_ptr<storage::Log> log = partitions.logs().Get({name, p})) {
      row->set_log_start_offset(log->start_offset());
      row->set_high_watermark(log->high_watermark());
      if constexpr (requires { row->set_size_bytes(int64_t{0}); }) {
        row->set_size_bytes(static_cast<int64_t>(log->size_bytes()));
      }
    }
  }
  return topic;
}

}  // namespace runnel::broker
