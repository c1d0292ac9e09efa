// The node that runs a processor of the Processor API (streams/processor.h) in a task: an
// internal::Processor that passes Init, each record and Close through to the processor, with a
// ProcessorContext over the task's context. A user's processor (KStream::Process) and the DSL's
// own processors (dsl_processors.h and the join and window processors) all run in one of these,
// as Kafka Streams' ProcessorNode runs both.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "streams/internal/dsl_helpers.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/processor.h"
#include "streams/record.h"

namespace runnel::streams::internal {

// What a DSL processor that keeps its own stream time (windowed aggregations, suppress, joins)
// implements beside streams::Processor: the task's idle advance of stream time
// (ProcessorNode::AdvanceStreamTime), which it takes as a record at that time would move it.
class StreamTimeFollower {
 public:
  virtual ~StreamTimeFollower() = default;
  virtual absl::Status AdvanceStreamTime(int64_t stream_time) = 0;
};

// The base of the DSL's processors (Kafka Streams' ContextualProcessor): keeps the context Init
// gives, and names what they use of it.
template <typename KIn, typename VIn, typename KOut, typename VOut>
class DslProcessor : public streams::Processor<KIn, VIn, KOut, VOut> {
 public:
  absl::Status Init(ProcessorContext<KOut, VOut>& context) override {
    context_ = &context;
    return absl::OkStatus();
  }

 protected:
  const std::string& name() const { return context_->name(); }
  TaskContext& task() const { return context_->task_context(); }
  absl::Status Forward(const Record<KOut, VOut>& record) const { return context_->Forward(record); }

  ProcessorContext<KOut, VOut>* context_ = nullptr;  // from Init
};

template <typename KIn, typename VIn, typename KOut, typename VOut>
class ProcessorApiNode : public Processor<KIn, VIn> {
 public:
  using ApiProcessor = streams::Processor<KIn, VIn, KOut, VOut>;
  // `stores`: the store names connected to the processor (what ProcessorContext's typed getters
  // may open).
  ProcessorApiNode(std::string name, std::unique_ptr<ApiProcessor> processor,
                   std::vector<std::string> stores)
      : Processor<KIn, VIn>(std::move(name)),
        processor_(std::move(processor)),
        follower_(dynamic_cast<StreamTimeFollower*>(processor_.get())),
        stores_(std::move(stores)) {}

  absl::Status Init(TaskContext* context) override {
    RETURN_IF_ERROR(ProcessorNode::Init(context));
    if (processor_ == nullptr) {
      return absl::InvalidArgumentError(this->name() + ": the processor supplier returned null");
    }
    context_ = std::make_unique<ProcessorContext<KOut, VOut>>(context, this, stores_);
    absl::Status s = processor_->Init(*context_);
    if (!s.ok()) return WithContext(s, this->name() + ": Init");
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::Status Process(const Record<KIn, VIn>& record) override {
    return processor_->Process(record);
  }

  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    return follower_ == nullptr ? absl::OkStatus() : follower_->AdvanceStreamTime(stream_time);
  }

  void Close() override {
    if (initialized_) processor_->Close();
    initialized_ = false;
  }

 private:
  std::unique_ptr<ApiProcessor> processor_;
  StreamTimeFollower* follower_;  // processor_, when it follows stream time; else null
  std::vector<std::string> stores_;
  std::unique_ptr<ProcessorContext<KOut, VOut>> context_;
  bool initialized_ = false;
};

// The topology node of processor P (a streams::Processor), made per task by `make`; `stores`
// are connected to it.
template <typename P>
NodeSpec ApiProcessorSpec(std::string name, std::function<std::unique_ptr<P>()> make,
                          std::vector<std::string> stores = {}) {
  using Node = ProcessorApiNode<typename P::KeyIn, typename P::ValueIn, typename P::KeyOut,
                                typename P::ValueOut>;
  NodeSpec spec;
  spec.kind = NodeSpec::Kind::kProcessor;
  spec.name = name;
  spec.stores = stores;
  spec.factory = [name, make, stores] {
    return std::unique_ptr<ProcessorNode>(std::make_unique<Node>(name, make(), stores));
  };
  spec.accepts_child = &TakesRecords<typename P::KeyOut, typename P::ValueOut>;
  return spec;
}

}  // namespace runnel::streams::internal
