// The blueprint a StreamsBuilder produces: named nodes (sources, processors, sinks), the state
// stores they use and the internal topics between sub-topologies. A Topology is immutable once
// built and is shared by every task that runs it; tasks instantiate its nodes.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/internal/processor_node.h"
#include "streams/state/key_value_store.h"

namespace runnel::streams {

namespace internal {
class GraphBuilder;

struct NodeSpec {
  enum class Kind { kSource, kProcessor, kSink };
  Kind kind = Kind::kProcessor;
  std::string name;
  // Source: the topics it reads; sink: the one topic it writes. Names of internal topics
  // (repartition) are without the application id; `internal_topics` says so.
  std::vector<std::string> topics;
  bool internal_topics = false;
  std::vector<std::string> stores;
  std::vector<std::string> predecessors;
  std::vector<std::string> successors;
  // Makes the task's instance of the node.
  std::function<std::unique_ptr<ProcessorNode>()> factory;
  // True when `node` takes the records this node forwards (checked when a task wires them).
  std::function<bool(const ProcessorNode* child)> accepts_child;
};

struct StoreSpec {
  enum class Kind { kKeyValue, kWindow, kSession };
  std::string name;
  Kind kind = Kind::kKeyValue;
  bool persistent = false;   // RocksDB under state.dir, else in memory
  bool logging = true;       // backed by <application.id>-<name>-changelog
  bool caching = true;       // a record cache flushed at commit
  int64_t retention_ms = 0;  // window (session) stores: windows starting (sessions ending) more
                             // than this behind stream time go
  // A store added with StreamsBuilder::AddStateStore: its StoreSerdes<K, V> (processor.h), for
  // ProcessorContext::GetKeyValueStore; empty for the DSL's stores.
  std::any serdes;
};

// A global store (behind a GlobalKTable): every instance holds all partitions of `topic` in it,
// read before processing starts and kept up to date; tasks only read it. Not changelogged (the
// topic is its changelog) and not cached.
struct GlobalStoreSpec {
  StoreSpec store;
  std::string topic;        // a user topic
  std::string source_name;  // the node name Describe shows
  // Applies one record of the topic to the store (a put of the timestamped value, a delete for a
  // tombstone; a keyless record is skipped). InvalidArgument means exactly: the value does not
  // deserialize (the deserialization exception handler decides); any other error is the store's.
  std::function<absl::Status(KeyValueStore& store, const RawRecord& record)> apply;
};

struct RepartitionTopicSpec {
  std::string name;                   // "<name>-repartition", without the application id
  std::optional<int32_t> partitions;  // nullopt: as many as the upstream sub-topology's tasks
};

}  // namespace internal

class Topology {
 public:
  struct Subtopology {
    int32_t id = 0;
    std::vector<std::string> nodes;          // in the order they were added
    std::vector<std::string> source_topics;  // internal ones without the application id
    std::vector<std::string> stores;
  };

  // A description in Kafka Streams' format (Topology#describe): sub-topologies with their
  // sources, processors (with stores) and sinks, and the arrows between them.
  std::string Describe() const;

  const std::vector<Subtopology>& subtopologies() const { return subtopologies_; }
  const internal::NodeSpec* node(const std::string& name) const;
  const std::map<std::string, internal::StoreSpec>& stores() const { return stores_; }
  const std::map<std::string, internal::RepartitionTopicSpec>& repartition_topics() const {
    return repartition_topics_;
  }
  // The global stores (GlobalKTables) by store name; they belong to no sub-topology.
  const std::map<std::string, internal::GlobalStoreSpec>& global_stores() const {
    return global_stores_;
  }
  // Topics that a join reads together and that must therefore have the same number of partitions
  // (Kafka Streams' co-partition groups), each group sorted; internal names without the
  // application id. Checked (and repartition topics sized) by internal::PlanPartitions.
  const std::vector<std::vector<std::string>>& copartition_groups() const {
    return copartition_groups_;
  }
  // The sub-topology that reads `topic` (internal names without the application id).
  std::optional<int32_t> SubtopologyOfSource(const std::string& topic) const;
  // The sub-topology whose sink writes repartition topic `topic`, if any.
  std::optional<int32_t> SubtopologyWriting(const std::string& topic) const;

  // Full names: "<application.id>-<name>" for repartition topics, "<application.id>-<store>-
  // changelog" for changelogs; user topics as they are.
  static std::string InternalTopicName(const std::string& application_id, const std::string& name);
  static std::string ChangelogTopic(const std::string& application_id, const std::string& store);
  std::string ResolveTopic(const std::string& application_id, const std::string& topic) const;

 private:
  friend class internal::GraphBuilder;
  Topology() = default;
  // Groups the nodes into sub-topologies: nodes joined by an arrow or by a shared store.
  void ComputeSubtopologies();

  std::vector<internal::NodeSpec> nodes_;  // in the order they were added
  std::map<std::string, size_t> index_;
  std::map<std::string, internal::StoreSpec> stores_;
  std::map<std::string, internal::RepartitionTopicSpec> repartition_topics_;
  std::map<std::string, internal::GlobalStoreSpec> global_stores_;
  std::vector<std::vector<std::string>> copartition_groups_;
  std::vector<Subtopology> subtopologies_;
};

}  // namespace runnel::streams
