// The nodes a task runs: one instance of each topology node per task, wired parent -> children.
// A node is used by its task's thread only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "streams/record.h"

namespace runnel::streams::internal {

class TaskContext;

// A record as it arrives from or leaves for a topic: bytes, with Kafka's null key or value.
struct RawRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
};

class ProcessorNode {
 public:
  explicit ProcessorNode(std::string name) : name_(std::move(name)) {}
  virtual ~ProcessorNode() = default;
  ProcessorNode(const ProcessorNode&) = delete;
  ProcessorNode& operator=(const ProcessorNode&) = delete;

  // Called once before the first record, after the task's stores are open and restored;
  // `context` outlives the node.
  virtual absl::Status Init(TaskContext* context) {
    context_ = context;
    return absl::OkStatus();
  }
  // Called when the task closes, before its stores close.
  virtual void Close() {}
  // Called when the task's stream time moves to `stream_time` without a record
  // (window.idle.close.ms), on every node in topology order (upstream first). A node that keeps
  // its own stream time (windowed aggregations, suppress, joins) takes it and does what a record
  // at that time would have made it do (close windows, emit what closed).
  virtual absl::Status AdvanceStreamTime(int64_t /*stream_time*/) { return absl::OkStatus(); }

  const std::string& name() const { return name_; }
  void AddChild(ProcessorNode* child) { children_.push_back(child); }
  const std::vector<ProcessorNode*>& children() const { return children_; }

 protected:
  TaskContext* context_ = nullptr;
  std::vector<ProcessorNode*> children_;  // owned by the task

 private:
  std::string name_;
};

// A node that takes records with key K and value V. The DSL only ever connects a parent that
// forwards Record<K, V> to a child that is a Processor<K, V>, which is what makes the static
// cast in Forward safe; the task checks it with dynamic_cast when it wires the nodes.
template <typename K, typename V>
class Processor : public ProcessorNode {
 public:
  using ProcessorNode::ProcessorNode;
  using Key = K;
  using Value = V;
  virtual absl::Status Process(const Record<K, V>& record) = 0;
};

// Hands `record` to every child of `node`, in the order they were added; stops at the first
// error.
template <typename K, typename V>
absl::Status Forward(const ProcessorNode& node, const Record<K, V>& record) {
  for (ProcessorNode* child : node.children()) {
    absl::Status s = static_cast<Processor<K, V>*>(child)->Process(record);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// The entry of a sub-topology: turns a topic's raw records into typed ones.
class SourceNode : public ProcessorNode {
 public:
  using ProcessorNode::ProcessorNode;
  virtual absl::Status ProcessRaw(const RawRecord& record) = 0;
};

}  // namespace runnel::streams::internal
