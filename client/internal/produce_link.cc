#include "client/internal/produce_link.h"

namespace runnel::client::internal {

ProduceLink::ProduceLink(std::string address, const std::shared_ptr<grpc::Channel>& channel,
                         OnResponse on_response, OnEnd on_end)
    : address_(std::move(address)), stub_(channel), stream_(stub_.Produce(&context_)) {
  reader_ = std::thread([this, on_response = std::move(on_response), on_end = std::move(on_end)] {
    v1::ProduceResponse response;
    while (stream_->Read(&response)) on_response(response);
    on_end();
  });
}

ProduceLink::~ProduceLink() {
  context_.TryCancel();
  reader_.join();
  stream_->Finish().IgnoreError();
}

bool ProduceLink::Write(const v1::ProduceRequest& request) { return stream_->Write(request); }

}  // namespace runnel::client::internal
