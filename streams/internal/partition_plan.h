// How many tasks each sub-topology has and how many partitions each internal topic needs, given
// the partition counts of the user's source topics. Both the runtime (which creates the internal
// topics) and the TopologyTestDriver use it.
//
// Rules (Kafka Streams'): a sub-topology has as many tasks as its widest source topic; a
// repartition topic has the partitions its Grouped asked for, else as many as the sub-topology
// writing it has tasks; a changelog has as many partitions as its store's sub-topology has tasks.
// A sub-topology is planned after those writing its repartition topics. Topics a join
// reads together (Topology::copartition_groups) must be co-partitioned: their user topics (and
// repartition topics given a partition count) must have the same count, else InvalidArgument
// naming two of them with their counts; their other repartition topics take that count (with
// none fixed, the group's largest).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

struct PartitionPlan {
  std::map<int32_t, int32_t> tasks;                   // sub-topology id -> task count
  std::map<std::string, int32_t> source_partitions;   // every source topic (full name)
  std::map<std::string, int32_t> repartition_topics;  // full name -> partitions
  std::map<std::string, int32_t> changelog_topics;    // full name -> partitions
};

// `user_partitions` gives the partition count of a user topic, or an error (e.g. NotFound) that
// is returned as it is.
absl::StatusOr<PartitionPlan> PlanPartitions(
    const Topology& topology, const std::string& application_id,
    const std::function<absl::StatusOr<int32_t>(const std::string& topic)>& user_partitions);

}  // namespace runnel::streams::internal
