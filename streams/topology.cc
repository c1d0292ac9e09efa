#include "streams/topology.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runnel::streams {

const internal::NodeSpec* Topology::node(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &nodes_[it->second];
}

std::string Topology::InternalTopicName(const std::string& application_id,
                                        const std::string& name) {
  return absl::StrCat(application_id, "-", name);
}

std::string Topology::ChangelogTopic(const std::string& application_id, const std::string& store) {
  return absl::StrCat(application_id, "-", store, "-changelog");
}

std::string Topology::ResolveTopic(const std::string& application_id,
                                   const std::string& topic) const {
  return repartition_topics_.contains(topic) ? InternalTopicName(application_id, topic) : topic;
}

std::optional<int32_t> Topology::SubtopologyOfSource(const std::string& topic) const {
  for (const Subtopology& s : subtopologies_) {
    if (std::find(s.source_topics.begin(), s.source_topics.end(), topic) != s.source_topics.end()) {
      return s.id;
    }
  }
  return std::nullopt;
}

std::optional<int32_t> Topology::SubtopologyWriting(const std::string& topic) const {
  for (const Subtopology& s : subtopologies_) {
    for (const std::string& name : s.nodes) {
      const internal::NodeSpec& n = nodes_[index_.at(name)];
      if (n.kind == internal::NodeSpec::Kind::kSink && n.topics.front() == topic) return s.id;
    }
  }
  return std::nullopt;
}

void Topology::ComputeSubtopologies() {
  // Union-find over node indexes.
  std::vector<size_t> parent(nodes_.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  auto unite = [&](size_t a, size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  };
  std::map<std::string, size_t> store_user;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (const std::string& successor : nodes_[i].successors) unite(i, index_.at(successor));
    for (const std::string& store : nodes_[i].stores) {
      auto [it, inserted] = store_user.emplace(store, i);
      if (!inserted) unite(i, it->second);
    }
  }
  // Numbered in the order of their first node, as Kafka Streams numbers them.
  std::map<size_t, int32_t> id_of_root;
  subtopologies_.clear();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const size_t root = find(i);
    auto [it, inserted] = id_of_root.emplace(root, static_cast<int32_t>(subtopologies_.size()));
    if (inserted) {
      Subtopology fresh;
      fresh.id = it->second;
      subtopologies_.push_back(std::move(fresh));
    }
    Subtopology& s = subtopologies_[it->second];
    const internal::NodeSpec& n = nodes_[i];
    s.nodes.push_back(n.name);
    if (n.kind == internal::NodeSpec::Kind::kSource) {
      s.source_topics.insert(s.source_topics.end(), n.topics.begin(), n.topics.end());
    }
    for (const std::string& store : n.stores) {
      if (std::find(s.stores.begin(), s.stores.end(), store) == s.stores.end()) {
        s.stores.push_back(store);
      }
    }
  }
}

std::string Topology::Describe() const {
  std::string out = "Topologies:\n";
  for (const Subtopology& s : subtopologies_) {
    absl::StrAppend(&out, "   Sub-topology: ", s.id, "\n");
    for (const std::string& name : s.nodes) {
      const internal::NodeSpec& n = nodes_[index_.at(name)];
      switch (n.kind) {
        case internal::NodeSpec::Kind::kSource:
          absl::StrAppend(&out, "    Source: ", n.name, " (topics: [",
                          absl::StrJoin(n.topics, ", "), "])\n");
          break;
        case internal::NodeSpec::Kind::kProcessor:
          absl::StrAppend(&out, "    Processor: ", n.name, " (stores: [",
                          absl::StrJoin(n.stores, ", "), "])\n");
          break;
        case internal::NodeSpec::Kind::kSink:
          absl::StrAppend(&out, "    Sink: ", n.name, " (topic: ", n.topics.front(), ")\n");
          break;
      }
      absl::StrAppend(&out, "      --> ",
                      n.successors.empty() ? "none" : absl::StrJoin(n.successors, ", "), "\n");
      if (!n.predecessors.empty()) {
        absl::StrAppend(&out, "      <-- ", absl::StrJoin(n.predecessors, ", "), "\n");
      }
    }
    absl::StrAppend(&out, "\n");
  }
  for (const auto& [name, global] : global_stores_) {
    absl::StrAppend(&out, "   Global store: ", name, " (source: ", global.source_name,
                    ", topic: ", global.topic, ")\n\n");
  }
  return out;
}

}  // namespace runnel::streams
