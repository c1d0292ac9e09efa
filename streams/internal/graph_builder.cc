#include "streams/internal/graph_builder.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace runnel::streams::internal {

std::string GraphBuilder::NewName(std::string_view prefix) {
  return absl::StrFormat("%s-%010d", prefix, next_index_++);
}

void GraphBuilder::Fail(absl::Status status) {
  if (error_.ok()) error_ = std::move(status);
}

void GraphBuilder::AddNode(NodeSpec node, const std::vector<std::string>& parents) {
  if (node.name.empty()) return Fail(absl::InvalidArgumentError("a node name is empty"));
  if (topology_.index_.contains(node.name)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("two nodes are named ", node.name, "; names must be unique")));
  }
  for (const std::string& parent : parents) {
    auto it = topology_.index_.find(parent);
    if (it == topology_.index_.end()) {
      return Fail(absl::InternalError(absl::StrCat("node ", node.name, ": no parent ", parent)));
    }
    topology_.nodes_[it->second].successors.push_back(node.name);
    node.predecessors.push_back(parent);
  }
  topology_.index_[node.name] = topology_.nodes_.size();
  topology_.nodes_.push_back(std::move(node));
}

void GraphBuilder::AddStore(StoreSpec store) {
  if (store.name.empty()) return Fail(absl::InvalidArgumentError("a store name is empty"));
  auto [it, inserted] = topology_.stores_.emplace(store.name, store);
  if (!inserted || topology_.global_stores_.contains(store.name)) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("two stores are named ", store.name, "; store names must be unique")));
  }
}

void GraphBuilder::AddGlobalStore(GlobalStoreSpec global) {
  const std::string name = global.store.name;
  if (name.empty()) return Fail(absl::InvalidArgumentError("a store name is empty"));
  if (topology_.stores_.contains(name) ||
      !topology_.global_stores_.emplace(name, std::move(global)).second) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("two stores are named ", name, "; store names must be unique")));
  }
}

void GraphBuilder::AddRepartitionTopic(RepartitionTopicSpec topic) {
  if (topic.partitions.has_value() && *topic.partitions <= 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "repartition topic ", topic.name, ": ", *topic.partitions, " partitions; at least 1")));
  }
  auto [it, inserted] = topology_.repartition_topics_.emplace(topic.name, topic);
  if (!inserted) {
    Fail(absl::InvalidArgumentError(absl::StrCat("two repartition topics are named ", topic.name,
                                                 "; give the groupings distinct names")));
  }
}

void GraphBuilder::AddCopartitionGroup(std::vector<std::string> nodes) {
  copartition_nodes_.push_back(std::move(nodes));
}

absl::StatusOr<Topology> GraphBuilder::Build() const {
  if (!error_.ok()) return error_;
  if (topology_.nodes_.empty() && topology_.global_stores_.empty()) {
    return absl::InvalidArgumentError("the topology is empty: it reads no topic");
  }
  for (const NodeSpec& node : topology_.nodes_) {
    for (const std::string& store : node.stores) {
      if (!topology_.stores_.contains(store) && !topology_.global_stores_.contains(store)) {
        return absl::InvalidArgumentError(
            absl::StrCat("node ", node.name, " uses store ", store,
                         ", which was never added (StreamsBuilder::AddStateStore)"));
      }
    }
  }
  Topology topology = topology_;
  for (const std::vector<std::string>& nodes : copartition_nodes_) {
    // Walk up from the nodes to the sources feeding them.
    std::set<std::string> topics;
    std::set<std::string> seen;
    std::vector<std::string> pending = nodes;
    while (!pending.empty()) {
      const std::string name = std::move(pending.back());
      pending.pop_back();
      if (!seen.insert(name).second) continue;
      const NodeSpec& node = topology.nodes_[topology.index_.at(name)];
      if (node.kind == NodeSpec::Kind::kSource) {
        topics.insert(node.topics.begin(), node.topics.end());
      }
      pending.insert(pending.end(), node.predecessors.begin(), node.predecessors.end());
    }
    topology.copartition_groups_.emplace_back(topics.begin(), topics.end());
  }
  topology.ComputeSubtopologies();
  return topology;
}

}  // namespace runnel::streams::internal
