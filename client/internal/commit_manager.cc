#include "client/internal/commit_manager.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "client/internal/grpc_status.h"
#include "common/status_macros.h"

namespace runnel::client::internal {

CommitManager::CommitManager(const ConsumerOptions& options, CoordinatorStubs* coordinator,
                             grpc::CompletionQueue* cq, const Clock* clock, MemberFn member)
    : options_(options),
      coordinator_(coordinator),
      cq_(cq),
      clock_(clock),
      member_(std::move(member)),
      last_commit_(clock->SteadyNow()) {}

namespace {
std::map<TopicPartition, OffsetAndMetadata> WithoutMetadata(
    const std::map<TopicPartition, int64_t>& offsets) {
  std::map<TopicPartition, OffsetAndMetadata> out;
  for (const auto& [tp, offset] : offsets) out[tp] = OffsetAndMetadata{offset, ""};
  return out;
}
}  // namespace

v1::CommitOffsetsRequest CommitManager::Request(
    const std::map<TopicPartition, OffsetAndMetadata>& offsets) const {
  v1::CommitOffsetsRequest request;
  request.set_group_id(options_.group_id);
  const auto [member_id, epoch] = member_();
  request.set_member_id(member_id);
  request.set_member_epoch(epoch);
  for (const auto& [tp, offset] : offsets) {
    v1::PartitionOffsetCommit* o = request.add_offsets();
    o->set_topic(tp.topic);
    o->set_partition(tp.partition);
    o->set_offset(offset.offset);
    o->set_metadata(offset.metadata);
  }
  return request;
}

absl::Status CommitManager::Result(const grpc::Status& s, const v1::CommitOffsetsResponse& response,
                                   const std::string& address) const {
  if (!s.ok()) return RpcError(s, address, "commit offsets of group " + options_.group_id);
  RETURN_IF_ERROR(ToStatus(response.error(), "commit offsets of group " + options_.group_id));
  for (const v1::PartitionCommitResult& r : response.partitions()) {
    RETURN_IF_ERROR(
        ToStatus(r.error(), "commit offset of " + r.topic() + "-" + std::to_string(r.partition())));
  }
  return absl::OkStatus();
}

absl::Status CommitManager::Commit(const std::map<TopicPartition, int64_t>& offsets) {
  return Send(WithoutMetadata(offsets), /*retry=*/true);
}

absl::Status CommitManager::CommitWithMetadata(
    const std::map<TopicPartition, OffsetAndMetadata>& offsets) {
  return Send(offsets, /*retry=*/true);
}

absl::Status CommitManager::Send(const std::map<TopicPartition, OffsetAndMetadata>& offsets,
                                 bool retry) {
  if (options_.group_id.empty()) return absl::FailedPreconditionError("commit needs group.id");
  if (offsets.empty()) return absl::OkStatus();
  // A heartbeat may move the member to a new epoch while the commit travels: the coordinator
  // then answers STALE_MEMBER_EPOCH and the commit is retried with the new one, as Kafka does.
  // A coordinator that moved (or does not answer) is found again and the commit retried there,
  // within request.timeout.ms in all.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
  int stale = 0;
  for (int attempt = 0;; ++attempt) {
    const v1::CommitOffsetsRequest request = Request(offsets);
    grpc::ClientContext context;
    // Each try within what is left of request.timeout.ms (the first one gets all of it).
    context.set_deadline(std::chrono::system_clock::now() +
                         std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()),
                                  std::chrono::milliseconds(options_.retry_backoff_ms)));
    v1::CommitOffsetsResponse response;
    const CoordinatorStubs::Target target = coordinator_->Current();
    const grpc::Status s = target.stub->CommitOffsets(&context, request, &response);
    coordinator_->Report(target.address, s);
    if (s.ok() && response.error().code() == v1::STALE_MEMBER_EPOCH && stale < 3) {
      // A pause for the heartbeat to land, not a decision by time: the real clock's sleep.
      std::this_thread::sleep_for(std::chrono::milliseconds(20 << stale++));
      continue;
    }
    if (Retriable(s, response, target.address) && retry &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
      continue;
    }
    RETURN_IF_ERROR(Result(s, response, target.address));
    last_commit_ = clock_->SteadyNow();
    return absl::OkStatus();
  }
}

bool CommitManager::Retriable(const grpc::Status& s, const v1::CommitOffsetsResponse& response,
                              const std::string& address) {
  if (!s.ok()) {
    return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
           s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  }
  if (coordinator_->ReportError(address, response.error())) return true;
  for (const v1::PartitionCommitResult& r : response.partitions()) {
    if (coordinator_->ReportError(address, r.error())) return true;
  }
  return false;
}

void CommitManager::CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                                std::function<void(absl::Status)> done) {
  auto call = std::make_unique<CommitCall>();
  call->done = std::move(done);
  if (options_.group_id.empty()) {
    call->status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "commit needs group.id");
    call->finished = true;
    commits_.push_back(std::move(call));
    return;
  }
  call->request = Request(WithoutMetadata(offsets));
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(options_.request_timeout_ms));
  const CoordinatorStubs::Target target = coordinator_->Current();
  call->address = target.address;
  call->reader = target.stub->AsyncCommitOffsets(&call->context, call->request, cq_);
  call->reader->Finish(&call->response, &call->status, call.get());
  commits_.push_back(std::move(call));
  last_commit_ = clock_->SteadyNow();
}

bool CommitManager::OnEvent(void* tag) {
  for (auto& call : commits_) {
    if (call.get() == tag) {
      call->finished = true;  // Finish always reports ok=true
      return true;
    }
  }
  return false;
}

bool CommitManager::AsyncInFlight() const {
  return std::any_of(commits_.begin(), commits_.end(), [](const auto& c) { return !c->finished; });
}

void CommitManager::FinishAsync() {
  for (auto it = commits_.begin(); it != commits_.end();) {
    if (!(*it)->finished) {
      ++it;
      continue;
    }
    std::unique_ptr<CommitCall> call = std::move(*it);
    it = commits_.erase(it);
    const absl::Status result =
        call->status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && !call->reader
            ? absl::FailedPreconditionError(call->status.error_message())
            : Result(call->status, call->response, call->address);
    if (call->reader) {
      coordinator_->Report(call->address, call->status);
      // Not retried (as Kafka's commitAsync), but the next call goes to the new coordinator.
      Retriable(call->status, call->response, call->address);
    }
    if (call->done) {
      call->done(result);
    } else if (!result.ok()) {
      log_->warn("consumer: async commit: {}", result.ToString());
    }
  }
}

absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> CommitManager::Committed(
    const std::vector<TopicPartition>& partitions, bool retry) {
  ASSIGN_OR_RETURN(auto committed, CommittedWithMetadata(partitions, retry));
  std::map<TopicPartition, std::optional<int64_t>> out;
  for (const auto& [tp, o] : committed) {
    out[tp] = o.has_value() ? std::optional<int64_t>(o->offset) : std::nullopt;
  }
  return out;
}

absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndMetadata>>>
CommitManager::CommittedWithMetadata(const std::vector<TopicPartition>& partitions, bool retry) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("committed offsets need group.id");
  }
  v1::FetchOffsetsRequest request;
  request.set_group_id(options_.group_id);
  for (const TopicPartition& tp : partitions) {
    v1::TopicPartition* t = request.add_partitions();
    t->set_topic(tp.topic);
    t->set_partition(tp.partition);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
  grpc::Status s;
  v1::FetchOffsetsResponse response;
  CoordinatorStubs::Target target;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()),
                                  std::chrono::milliseconds(options_.retry_backoff_ms)));
    response.Clear();
    target = coordinator_->Current();
    s = target.stub->FetchOffsets(&context, request, &response);
    coordinator_->Report(target.address, s);
    const bool retriable = s.ok() ? coordinator_->ReportError(target.address, response.error())
                                  : s.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (!retriable || !retry || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
  }
  if (!s.ok())
    return RpcError(s, target.address, "committed offsets of group " + options_.group_id);
  RETURN_IF_ERROR(ToStatus(response.error(), "committed offsets of group " + options_.group_id));
  std::map<TopicPartition, std::optional<OffsetAndMetadata>> out;
  for (const v1::PartitionCommittedOffset& r : response.partitions()) {
    out[{r.topic(), r.partition()}] =
        r.offset() >= 0
            ? std::optional<OffsetAndMetadata>(OffsetAndMetadata{r.offset(), r.metadata()})
            : std::nullopt;
  }
  return out;
}

bool CommitManager::AutoCommitEnabled() const {
  return !options_.group_id.empty() && options_.enable_auto_commit;
}

bool CommitManager::AutoCommitDue() const {
  return AutoCommitEnabled() && clock_->SteadyNow() - last_commit_ >=
                                    std::chrono::milliseconds(options_.auto_commit_interval_ms);
}

void CommitManager::AutoCommit(const std::map<TopicPartition, int64_t>& positions) {
  // One try, as Kafka's auto-commit (asynchronous there): the next interval commits again.
  const absl::Status s = Send(WithoutMetadata(positions), /*retry=*/false);
  if (!s.ok()) log_->warn("consumer: auto-commit: {}", s.ToString());
  last_commit_ = clock_->SteadyNow();
}

}  // namespace runnel::client::internal
