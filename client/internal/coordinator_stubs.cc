#include "client/internal/coordinator_stubs.h"

#include <chrono>

#include "client/internal/grpc_status.h"
#include "common/logging.h"

namespace runnel::client::internal {

v1::Groups::Stub* CoordinatorStubs::StubLocked(const std::string& address) {
  std::unique_ptr<v1::Groups::Stub>& stub = stubs_[address];
  if (stub == nullptr) stub = v1::Groups::NewStub(channels_->Get(address));
  return stub.get();
}

std::string CoordinatorStubs::Find(const std::string& broker) {
  if (group_id_.empty()) return broker;  // calls without a group: any broker answers
  v1::Groups::Stub* stub = nullptr;
  {
    MutexLock lock(&mu_);
    stub = StubLocked(broker);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(find_timeout_ms_));
  v1::FindCoordinatorRequest request;
  request.set_group_id(group_id_);
  v1::FindCoordinatorResponse response;
  const grpc::Status s = stub->FindCoordinator(&context, request, &response);
  if (!s.ok()) {
    Report(broker, s);
    return broker;
  }
  if (response.error().code() != v1::NONE || response.address().empty()) {
    logging::Get("client")->debug("consumer: coordinator of group {}: {}", group_id_,
                                  response.error().message());
    return broker;
  }
  return response.address();
}

CoordinatorStubs::Target CoordinatorStubs::Current() {
  std::string known;
  {
    MutexLock lock(&mu_);
    known = current_;
  }
  // Outside mu_: no lock order with the metadata, and the call may take a while.
  const std::string found = known.empty() ? Find(metadata_->AnyBroker()) : known;
  MutexLock lock(&mu_);
  if (current_.empty()) current_ = found;
  return {StubLocked(current_), current_};
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

bool CoordinatorStubs::ReportError(const std::string& address, const v1::Error& error) {
  if (!IsCoordinatorError(error.code())) return false;
  MutexLock lock(&mu_);
  if (current_ != address) return true;  // another call moved it already
  if (error.code() == v1::NOT_COORDINATOR && !error.leader_addr().empty() &&
      error.leader_addr() != address) {
    current_ = error.leader_addr();
  } else if (error.code() != v1::COORDINATOR_LOAD_IN_PROGRESS) {
    current_.clear();
  }
  return true;
}

}  // namespace runnel::client::internal
