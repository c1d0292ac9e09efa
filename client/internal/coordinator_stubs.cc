#include "client/internal/coordinator_stubs.h"

namespace runnel::client::internal {

CoordinatorStubs::Target CoordinatorStubs::Current() {
  std::string candidate;
  {
    MutexLock lock(&mu_);
    candidate = current_;
  }
  if (candidate.empty()) candidate = metadata_->AnyBroker();  // outside mu_: no lock order
  MutexLock lock(&mu_);
  if (current_.empty()) current_ = candidate;
  std::unique_ptr<v1::Groups::Stub>& stub = stubs_[current_];
  if (stub == nullptr) stub = v1::Groups::NewStub(channels_->Get(current_));
  return {stub.get(), current_};
}

void CoordinatorStubs::Report(const std::string& address, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
      status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    return;
  }
  metadata_->MarkUnreachable(address);
  MutexLock lock(&mu_);
  if (current_ == address) current_.clear();
}

}  // namespace runnel::client::internal
