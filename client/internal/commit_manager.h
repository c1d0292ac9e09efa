// CommitManager: a Consumer's offsets in its group (group.id): commits, committed-offset lookups
// and auto-commit timing (the commit half of Kafka's ConsumerCoordinator; client-internal, not
// installed).
//
//   Commit       stores offsets and waits for the answer. When a heartbeat moved the member to a
//                new epoch while the commit travelled (STALE_MEMBER_EPOCH), it is retried with the
//                new one, up to three times, as Kafka does.
//   CommitAsync  sends the commit on the consumer's completion queue; `done` runs with the result
//                inside a later FinishAsync (Poll, Close), on the consumer's thread.
//   Committed    the group's committed offsets (FetchOffsets).
//   Auto-commit  with enable.auto.commit (and group.id) an auto-commit is due once
//                auto.commit.interval.ms have passed, by the Clock's steady time, since the last
//                successful Commit, CommitAsync sent, or auto-commit attempted; not a millisecond
//                before.
// Commits carry the member id and epoch `member` returns ("" and -1 when not subscribed), so the
// coordinator can refuse those of a member it has fenced.
//
// Ownership: Consumer::Impl owns it; the coordinator stubs (coordinator_stubs.h), completion queue
// and clock are the Impl's and outlive it. The Impl takes events off the completion queue and
// passes their tags (OnEvent). Thread-safety: none; used from the consumer's thread only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/consumer_options.h"
#include "client/internal/coordinator_stubs.h"
#include "client/types.h"
#include "common/clock.h"
#include "common/logging.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client::internal {

class CommitManager {
 public:
  using MemberFn = std::function<std::pair<std::string, int32_t>()>;

  // The auto-commit interval starts now.
  CommitManager(const ConsumerOptions& options, CoordinatorStubs* coordinator,
                grpc::CompletionQueue* cq, const Clock* clock, MemberFn member);

  // FailedPrecondition without group.id; OK at once for no offsets. Errors name the group. A
  // coordinator that moved or does not answer is found again and the commit retried, within
  // request.timeout.ms.
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets);
  absl::Status CommitWithMetadata(const std::map<TopicPartition, OffsetAndMetadata>& offsets);
  void CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                   std::function<void(absl::Status)> done);
  // A tag from the completion queue: true if it is one of the async commits', now finished.
  bool OnEvent(void* tag);
  // Runs the callbacks of finished async commits (a failure without callback is logged).
  void FinishAsync();
  bool HasAsync() const { return !commits_.empty(); }  // async commits not yet finished off
  bool AsyncInFlight() const;                          // some are still waiting for an answer

  // std::nullopt where nothing is committed. FailedPrecondition without group.id. With `retry`,
  // a coordinator that moved (or does not answer) is found again and asked again, within
  // request.timeout.ms; without, that is Unavailable at once (the caller retries after its
  // backoff, as Poll's offset lookups do).
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Committed(
      const std::vector<TopicPartition>& partitions, bool retry);
  // The same with each offset's metadata.
  absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndMetadata>>> CommittedWithMetadata(
      const std::vector<TopicPartition>& partitions, bool retry);

  // enable.auto.commit with group.id.
  bool AutoCommitEnabled() const;
  // Auto-commit is enabled and auto.commit.interval.ms have passed since the last commit.
  bool AutoCommitDue() const;
  // Commits `positions` as an auto-commit: a failure is logged, and the interval starts again
  // either way.
  void AutoCommit(const std::map<TopicPartition, int64_t>& positions);

 private:
  // An async commit on the completion queue (or failed before it was sent: `reader` is null).
  struct CommitCall {
    grpc::ClientContext context;
    v1::CommitOffsetsRequest request;
    v1::CommitOffsetsResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CommitOffsetsResponse>> reader;
    std::function<void(absl::Status)> done;
    std::string address;  // the broker asked
    bool finished = false;
  };

  // Commit, with (`retry`) or without retries.
  absl::Status Send(const std::map<TopicPartition, OffsetAndMetadata>& offsets, bool retry);
  v1::CommitOffsetsRequest Request(
      const std::map<TopicPartition, OffsetAndMetadata>& offsets) const;
  absl::Status Result(const grpc::Status& s, const v1::CommitOffsetsResponse& response,
                      const std::string& address) const;
  // Whether a commit answered so should be tried again (the coordinator moved, is loading, or did
  // not answer); tells the CoordinatorStubs where the coordinator went.
  bool Retriable(const grpc::Status& s, const v1::CommitOffsetsResponse& response,
                 const std::string& address);

  const ConsumerOptions options_;
  CoordinatorStubs* const coordinator_;
  grpc::CompletionQueue* const cq_;
  const Clock* const clock_;
  const MemberFn member_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  Clock::SteadyPoint last_commit_;                  // when the auto-commit interval started
  std::list<std::unique_ptr<CommitCall>> commits_;  // async commits in flight or finished
};

}  // namespace runnel::client::internal
