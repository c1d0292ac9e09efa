#include "streams/internal/partition_plan.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::streams::internal {

namespace {

// Applies the co-partition groups that sub-topology `s` reads to `counts` (its source topics ->
// partitions, internal names without the application id), Kafka Streams'
// CopartitionedTopicsEnforcer: the user topics of a group, and the repartition topics whose
// partitions were asked for, must agree; the other repartition topics of the group follow them
// (or, with nothing fixed, take the group's largest count).
absl::Status Copartition(const Topology& topology, const std::string& application_id,
                         const Topology::Subtopology& s, std::map<std::string, int32_t>* counts) {
  for (const std::vector<std::string>& group : topology.copartition_groups()) {
    if (group.empty() || !counts->contains(group.front())) continue;
    std::optional<std::string> fixed;  // the first topic whose count cannot change
    int32_t largest = 0;
    for (const std::string& topic : group) {
      if (!counts->contains(topic)) {
        return absl::InternalError(absl::StrCat("joined topic ", topic,
                                                " is not a source of sub-topology ", s.id,
                                                ", which reads ", group.front()));
      }
      const int32_t n = counts->at(topic);
      largest = std::max(largest, n);
      auto rt = topology.repartition_topics().find(topic);
      if (rt != topology.repartition_topics().end() && !rt->second.partitions.has_value()) continue;
      if (!fixed.has_value()) {
        fixed = topic;
      } else if (counts->at(*fixed) != n) {
        return absl::InvalidArgumentError(absl::StrCat(
            "topics ", topology.ResolveTopic(application_id, *fixed), " (", counts->at(*fixed),
            " partitions) and ", topology.ResolveTopic(application_id, topic), " (", n,
            " partitions) are joined but not co-partitioned: the two sides of a join need the same "
            "number of partitions (repartition one side, e.g. with KStream::Repartition)"));
      }
    }
    const int32_t target = fixed.has_value() ? counts->at(*fixed) : largest;
    for (const std::string& topic : group) (*counts)[topic] = target;
  }
  return absl::OkStatus();
}

// True when `topic` is in a co-partition group with a topic whose partition count is fixed (a
// user topic, or a repartition topic given a count): its count then comes from that topic, not
// from its writer, which may be planned later (a foreign-key join's subscription and response
// topics go both ways between two sub-topologies).
bool SizedByCopartition(const Topology& topology, const std::string& topic) {
  for (const std::vector<std::string>& group : topology.copartition_groups()) {
    if (std::find(group.begin(), group.end(), topic) == group.end()) continue;
    for (const std::string& other : group) {
      auto rt = topology.repartition_topics().find(other);
      if (rt == topology.repartition_topics().end() || rt->second.partitions.has_value()) {
        return true;
      }
    }
  }
  return false;
}

// Plans sub-topology `s`, whose repartition sources' writers are planned (or which are sized by
// a co-partitioned topic).
absl::Status PlanSubtopology(
    const Topology& topology, const std::string& application_id, const Topology::Subtopology& s,
    const std::function<absl::StatusOr<int32_t>(const std::string& topic)>& user_partitions,
    PartitionPlan* out) {
  PartitionPlan& plan = *out;
  std::map<std::string, int32_t> counts;
  for (const std::string& topic : s.source_topics) {
    int32_t n;
    auto rt = topology.repartition_topics().find(topic);
    if (rt != topology.repartition_topics().end()) {
      if (rt->second.partitions.has_value()) {
        n = *rt->second.partitions;
      } else {
        std::optional<int32_t> writer = topology.SubtopologyWriting(topic);
        n = writer.has_value() && plan.tasks.contains(*writer) ? plan.tasks[*writer] : 1;
      }
    } else {
      ASSIGN_OR_RETURN(n, user_partitions(topic));
    }
    counts[topic] = n;
  }
  RETURN_IF_ERROR(Copartition(topology, application_id, s, &counts));
  int32_t tasks = 0;
  for (const auto& [topic, n] : counts) {
    const std::string full = topology.ResolveTopic(application_id, topic);
    if (topology.repartition_topics().contains(topic)) plan.repartition_topics[full] = n;
    plan.source_partitions[full] = n;
    tasks = std::max(tasks, n);
  }
  plan.tasks[s.id] = tasks;
  for (const std::string& store : s.stores) {
    if (topology.stores().at(store).logging) {
      plan.changelog_topics[Topology::ChangelogTopic(application_id, store)] = tasks;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PartitionPlan> PlanPartitions(
    const Topology& topology, const std::string& application_id,
    const std::function<absl::StatusOr<int32_t>(const std::string& topic)>& user_partitions) {
  PartitionPlan plan;
  // A reader's repartition topics take their writers' task counts, so writers go first. A join
  // can number a reader before a writer (the reader's first node is the other side's repartition
  // source), hence the passes.
  const std::vector<Topology::Subtopology>& all = topology.subtopologies();
  std::vector<bool> planned(all.size(), false);
  for (size_t done = 0; done < all.size();) {
    const size_t before = done;
    for (const Topology::Subtopology& s : all) {
      if (planned[s.id]) continue;
      bool ready = true;
      for (const std::string& topic : s.source_topics) {
        std::optional<int32_t> writer = topology.SubtopologyWriting(topic);
        if (writer.has_value() && *writer != s.id && !planned[*writer] &&
            !SizedByCopartition(topology, topic)) {
          ready = false;
        }
      }
      if (!ready) continue;
      RETURN_IF_ERROR(PlanSubtopology(topology, application_id, s, user_partitions, &plan));
      planned[s.id] = true;
      ++done;
    }
    if (done == before) {
      return absl::InternalError("the sub-topologies' repartition topics form a cycle");
    }
  }
  return plan;
}

}  // namespace runnel::streams::internal
