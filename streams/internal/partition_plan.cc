#include "streams/internal/partition_plan.h"

#include <algorithm>

#include "common/status_macros.h"

namespace runnel::streams::internal {

absl::StatusOr<PartitionPlan> PlanPartitions(
    const Topology& topology, const std::string& application_id,
    const std::function<absl::StatusOr<int32_t>(const std::string& topic)>& user_partitions) {
  PartitionPlan plan;
  for (const Topology::Subtopology& s : topology.subtopologies()) {
    int32_t tasks = 0;
    for (const std::string& topic : s.source_topics) {
      const std::string full = topology.ResolveTopic(application_id, topic);
      int32_t n;
      auto rt = topology.repartition_topics().find(topic);
      if (rt != topology.repartition_topics().end()) {
        if (rt->second.partitions.has_value()) {
          n = *rt->second.partitions;
        } else {
          std::optional<int32_t> writer = topology.SubtopologyWriting(topic);
          n = writer.has_value() && plan.tasks.contains(*writer) ? plan.tasks[*writer] : 1;
        }
        plan.repartition_topics[full] = n;
      } else {
        ASSIGN_OR_RETURN(n, user_partitions(topic));
      }
      plan.source_partitions[full] = n;
      tasks = std::max(tasks, n);
    }
    plan.tasks[s.id] = tasks;
    for (const std::string& store : s.stores) {
      if (topology.stores().at(store).logging) {
        plan.changelog_topics[Topology::ChangelogTopic(application_id, store)] = tasks;
      }
    }
  }
  return plan;
}

}  // namespace runnel::streams::internal
