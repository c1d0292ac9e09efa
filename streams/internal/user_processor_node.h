// The node that runs a user processor (streams/processor.h) in a task: an internal::Processor
// that passes Init, each record and Close through to the processor the user's supplier made,
// with a ProcessorContext over the task's context.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/processor.h"
#include "streams/record.h"

namespace runnel::streams::internal {

template <typename KIn, typename VIn, typename KOut, typename VOut>
class UserProcessorNode : public Processor<KIn, VIn> {
 public:
  using UserProcessor = streams::Processor<KIn, VIn, KOut, VOut>;
  // `stores`: the store names connected to the processor.
  UserProcessorNode(std::string name, std::unique_ptr<UserProcessor> processor,
                    std::vector<std::string> stores)
      : Processor<KIn, VIn>(std::move(name)),
        processor_(std::move(processor)),
        stores_(std::move(stores)) {}

  absl::Status Init(TaskContext* context) override {
    RETURN_IF_ERROR(ProcessorNode::Init(context));
    if (processor_ == nullptr) {
      return absl::InvalidArgumentError(this->name() + ": the processor supplier returned null");
    }
    user_context_ = std::make_unique<ProcessorContext<KOut, VOut>>(context, this, stores_);
    absl::Status s = processor_->Init(*user_context_);
    if (!s.ok()) return WithContext(s, this->name() + ": Init");
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::Status Process(const Record<KIn, VIn>& record) override {
    return processor_->Process(record);
  }

  void Close() override {
    if (initialized_) processor_->Close();
    initialized_ = false;
  }

 private:
  std::unique_ptr<UserProcessor> processor_;
  std::vector<std::string> stores_;
  std::unique_ptr<ProcessorContext<KOut, VOut>> user_context_;
  bool initialized_ = false;
};

}  // namespace runnel::streams::internal
