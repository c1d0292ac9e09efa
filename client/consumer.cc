// Consumer (client/consumer.h, which says what Poll does) and its Impl, which wires the
// consumer's parts together on the application's thread:
//   SubscriptionState  assigned partitions, positions, paused, pending offset resets
//   Fetcher            the Fetch in flight, its retry backoff, the buffered responses
//   CommitManager      commits, committed-offset lookups, the auto-commit interval
//   Rebalancer         group subscriptions: revocations and assignments from GroupMembership
// (all in client/internal/). The Impl itself keeps what joins them: the channels to the brokers
// and the MetadataCache that says which broker leads which partition (refreshed in Poll's loop when
// due), the completion queue that fetches and async commits share (NextEvent hands each event to
// its owner), the ListOffsets lookups by leader (seeks, offsets for times, position lookups and
// resets) and Poll's loop. Time comes from the Clock given to Create (Clock::Real() by default) and
// is handed to every part; gRPC deadlines use the real clock.
#include "client/consumer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/internal/broker_channels.h"
#include "client/internal/commit_manager.h"
#include "client/internal/coordinator_stubs.h"
#include "client/internal/fetcher.h"
#include "client/internal/grpc_status.h"
#include "client/internal/metadata_cache.h"
#include "client/internal/rebalancer.h"
#include "client/internal/subscription_state.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client {

using internal::kEarliest;
using internal::kLatest;

// --- Impl --------------------------------------------------------------------------------------

class Consumer::Impl {
 public:
  // `bootstrap` is ParseBootstrapServers(bootstrap.servers).
  Impl(const ConsumerOptions& options, std::vector<std::string> bootstrap, const Clock* clock);
  ~Impl() { Close(); }

  absl::Status Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const { return subscriptions_.Assignment(); }
  absl::Status Seek(const TopicPartition& tp, int64_t offset) {
    return subscriptions_.Seek(tp, offset);
  }
  absl::Status SeekTo(const std::vector<TopicPartition>& partitions, int64_t which);
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(int64_t timeout_ms);
  absl::StatusOr<int64_t> Position(const TopicPartition& tp);
  std::optional<int64_t> CaughtUpAtMs(const TopicPartition& tp) const {
    const internal::SubscriptionState::Partition* p = subscriptions_.Find(tp);
    if (p == nullptr) return std::nullopt;
    return fetcher_.CaughtUpAtMs(tp, *p);
  }
  absl::Status SetPaused(const std::vector<TopicPartition>& partitions, bool paused) {
    return subscriptions_.SetPaused(partitions, paused);
  }
  std::vector<TopicPartition> Paused() const { return subscriptions_.Paused(); }
  // ListOffsets: per partition, (offset, timestamp); offset -1 when none. Each partition is
  // asked of its leader; NOT_LEADER (no leader yet, or another one), OFFSET_NOT_AVAILABLE (a new
  // leader not settled yet) and unreachable leaders are retried every retry.backoff.ms after a
  // metadata refresh for `timeout_ms` (the last error then). The public lookups wait
  // default.api.timeout.ms, as Kafka's do; Poll's own lookups wait kPollLookupTries tries and try
  // again at a later Poll.
  absl::StatusOr<std::map<TopicPartition, OffsetAndTimestamp>> ListOffsets(
      const std::map<TopicPartition, int64_t>& queries, int64_t timeout_ms);
  int64_t default_api_timeout_ms() const { return options_.default_api_timeout_ms; }
  int64_t PollLookupMs() const {
    return (kPollLookupTries - 1) *
           std::max<int64_t>(options_.retry_backoff_ms, kMinLookupBackoffMs);
  }
  void Close();
  absl::Status Subscribe(std::vector<std::string> topics, std::string regex,
                         RebalanceListener* listener);
  absl::Status Unsubscribe() { return rebalancer_.Unsubscribe(); }
  std::vector<std::string> Subscription() const { return rebalancer_.Subscription(); }
  std::pair<std::string, int32_t> GroupMember() const { return rebalancer_.Member(); }
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets) {
    return commits_.Commit(offsets);
  }
  absl::Status CommitWithMetadata(const std::map<TopicPartition, OffsetAndMetadata>& offsets) {
    return commits_.CommitWithMetadata(offsets);
  }
  absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndMetadata>>> CommittedWithMetadata(
      const std::vector<TopicPartition>& partitions) {
    return commits_.CommittedWithMetadata(partitions, /*retry=*/true);
  }
  absl::Status CommitPositions() { return commits_.Commit(subscriptions_.Positions()); }
  void CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                   std::function<void(absl::Status)> done) {
    commits_.CommitAsync(offsets, std::move(done));
  }
  std::map<TopicPartition, int64_t> Positions() const { return subscriptions_.Positions(); }
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Committed(
      const std::vector<TopicPartition>& partitions) {
    return commits_.Committed(partitions, /*retry=*/true);
  }

 private:
  // Waits on cq_ for one event (a fetch or commit finishing) until `deadline`; false if none came.
  bool NextEvent(Clock::SteadyPoint deadline);
  // Waits on cq_ until the fetch in flight completes or `deadline`; true if it completed.
  bool WaitForFetch(Clock::SteadyPoint deadline);
  // Takes the completed fetch into the buffers, then resets the positions it found out of range.
  absl::Status TakeFetch();
  // Looks up and sets the offsets of the partitions awaiting a reset. When a lookup fails the
  // resets are cancelled: the partitions keep their positions and the next fetch finds them out
  // of range again. A leader not known yet or unreachable is logged, not an error (retried so).
  absl::Status ResetOutOfRange();
  // Looks up the position of every assigned partition that has none (the group's committed
  // offset, else auto.offset.reset).
  absl::Status ResolvePositions(int64_t timeout_ms);
  // ResolvePositions for Poll: a broker that is restarting or unreachable is logged and tried
  // again after retry.backoff.ms (the partitions wait without a position), as Kafka's consumer
  // retries its offset lookups; other errors are returned.
  absl::Status ResolvePositionsOrRetry();

  static constexpr int kPollLookupTries = 3;
  static constexpr int64_t kMinLookupBackoffMs = 10;

  const ConsumerOptions options_;
  const Clock* const clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  internal::BrokerChannels channels_;
  internal::MetadataCache metadata_;        // partition leaders, for fetches and offset lookups
  internal::CoordinatorStubs coordinator_;  // where group calls go
  grpc::CompletionQueue cq_;                // fetches and async commits; shut down by Close
  internal::SubscriptionState subscriptions_;
  internal::Fetcher fetcher_;
  internal::CommitManager commits_;
  internal::Rebalancer rebalancer_;
  Clock::SteadyPoint resolve_at_{};  // after a failed offset lookup, no new one before this
  bool closed_ = false;
};

namespace {

internal::MetadataCacheOptions CacheOptions(const ConsumerOptions& options,
                                            std::vector<std::string> bootstrap) {
  internal::MetadataCacheOptions o;
  o.bootstrap = std::move(bootstrap);
  o.retry_backoff_ms = options.retry_backoff_ms;
  o.request_timeout_ms = options.request_timeout_ms;
  o.who = "consumer";
  return o;
}

}  // namespace

Consumer::Impl::Impl(const ConsumerOptions& options, std::vector<std::string> bootstrap,
                     const Clock* clock)
    : options_(options),
      clock_(clock),
      channels_(options.client_id),
      metadata_(CacheOptions(options, std::move(bootstrap)), &channels_, clock),
      coordinator_(&metadata_, &channels_, options.group_id, options.request_timeout_ms),
      subscriptions_(options.auto_offset_reset),
      fetcher_(options, &metadata_, &channels_, &cq_, clock),
      commits_(options, &coordinator_, &cq_, clock, [this] { return rebalancer_.Member(); }),
      rebalancer_(options, &coordinator_, &subscriptions_, &commits_, clock) {}

absl::Status Consumer::Impl::Assign(const std::vector<TopicPartition>& partitions) {
  if (rebalancer_.subscribed()) {
    return absl::FailedPreconditionError(
        "assign: the consumer is subscribed; Unsubscribe first (partitions come from the group)");
  }
  return subscriptions_.Assign(partitions);
}

absl::Status Consumer::Impl::SeekTo(const std::vector<TopicPartition>& partitions, int64_t which) {
  std::map<TopicPartition, int64_t> queries;
  for (const TopicPartition& tp : partitions) {
    if (!subscriptions_.IsAssigned(tp)) {
      return absl::FailedPreconditionError(
          absl::StrCat("seek: partition ", ToString(tp), " is not assigned"));
    }
    queries[tp] = which;
  }
  ASSIGN_OR_RETURN(auto offsets, ListOffsets(queries, options_.default_api_timeout_ms));
  for (const auto& [tp, found] : offsets) subscriptions_.SetPosition(tp, found.offset);
  return absl::OkStatus();
}

absl::StatusOr<std::map<TopicPartition, OffsetAndTimestamp>> Consumer::Impl::ListOffsets(
    const std::map<TopicPartition, int64_t>& queries, int64_t timeout_ms) {
  std::map<TopicPartition, OffsetAndTimestamp> out;
  std::map<TopicPartition, int64_t> left = queries;
  absl::Status last;
  const Clock::SteadyPoint deadline = clock_->SteadyNow() + std::chrono::milliseconds(timeout_ms);
  // Bounded by the deadline, and by a count for a clock that does not move on its own; with
  // retry.backoff.ms 0 the tries are still kMinLookupBackoffMs apart.
  const int64_t backoff_ms = std::max<int64_t>(options_.retry_backoff_ms, kMinLookupBackoffMs);
  const auto backoff = std::chrono::milliseconds(backoff_ms);
  const int64_t max_attempts = 1 + timeout_ms / backoff_ms;
  for (int64_t attempt = 0; !left.empty(); ++attempt) {
    if (attempt > 0 && (attempt == max_attempts || clock_->SteadyNow() >= deadline)) return last;
    if (attempt > 0) {
      // A leader moved or went away: look again after retry.backoff.ms.
      std::this_thread::sleep_for(backoff);
      std::vector<std::string> topics;
      for (const auto& [tp, timestamp] : left) topics.push_back(tp.topic);
      metadata_.Refresh(topics, 0).IgnoreError();
    }
    std::map<std::string, v1::ListOffsetsRequest> requests;  // by the leaders' addresses
    for (const auto& [tp, timestamp] : left) {
      const std::optional<internal::LeaderInfo> leader = metadata_.Leader(tp);
      if (!leader.has_value()) metadata_.RequestUpdate(tp.topic);
      v1::PartitionOffsetQuery* q =
          requests[leader.has_value() ? leader->address : metadata_.AnyBroker()].add_partitions();
      q->set_topic(tp.topic);
      q->set_partition(tp.partition);
      q->set_timestamp(timestamp);
    }
    for (const auto& [address, request] : requests) {
      v1::Broker::Stub stub(channels_.Get(address));
      grpc::ClientContext context;
      // Within request.timeout.ms, and not much past the lookup's own deadline.
      const auto left_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->SteadyNow());
      context.set_deadline(
          std::chrono::system_clock::now() +
          std::min(std::chrono::milliseconds(options_.request_timeout_ms),
                   std::max(left_ms, std::chrono::milliseconds(options_.request_timeout_ms / 10))));
      v1::ListOffsetsResponse response;
      const grpc::Status s = stub.ListOffsets(&context, request, &response);
      if (!s.ok()) {
        last = RpcError(s, address, "list offsets");
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
            s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          metadata_.MarkUnreachable(address);
        }
        continue;
      }
      for (const v1::PartitionOffset& r : response.partitions()) {
        const TopicPartition tp{r.topic(), r.partition()};
        const absl::Status error =
            ToStatus(r.error(), absl::StrCat("list offsets of ", ToString(tp), " at ", address));
        if (r.error().code() == v1::NOT_LEADER) {
          metadata_.OnNotLeader(tp, r.error());
          last = error;
          continue;
        }
        if (r.error().code() == v1::OFFSET_NOT_AVAILABLE) {  // the right leader, not settled yet
          last = error;
          continue;
        }
        RETURN_IF_ERROR(error);
        out[tp] = {r.offset(), r.timestamp()};
        left.erase(tp);
      }
    }
  }
  return out;
}

absl::Status Consumer::Impl::ResolvePositions(int64_t timeout_ms) {
  if (!options_.group_id.empty()) {
    // The group's committed offsets come first, as in Kafka.
    const std::vector<TopicPartition> unknown = subscriptions_.WithoutPosition();
    if (!unknown.empty()) {
      ASSIGN_OR_RETURN(auto committed, commits_.Committed(unknown, /*retry=*/false));
      for (const auto& [tp, offset] : committed) {
        if (offset.has_value()) subscriptions_.SetPosition(tp, *offset);
      }
    }
  }
  ASSIGN_OR_RETURN(const auto queries, subscriptions_.ResetQueries());
  if (queries.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto offsets, ListOffsets(queries, timeout_ms));
  for (const auto& [tp, found] : offsets) subscriptions_.SetPosition(tp, found.offset);
  return absl::OkStatus();
}

absl::Status Consumer::Impl::ResolvePositionsOrRetry() {
  if (clock_->SteadyNow() < resolve_at_) return absl::OkStatus();
  const absl::Status s = ResolvePositions(PollLookupMs());
  if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
    log_->warn("consumer: {}; retrying", s.ToString());
    resolve_at_ = clock_->SteadyNow() + std::chrono::milliseconds(options_.retry_backoff_ms);
    return absl::OkStatus();
  }
  return s;
}

absl::Status Consumer::Impl::ResetOutOfRange() {
  for (const auto& [tp, reset] : subscriptions_.PendingResets()) {
    auto offsets = ListOffsets({{tp, reset.query}}, PollLookupMs());
    if (!offsets.ok()) {
      // The partitions keep their positions: their next fetches find them out of range again.
      subscriptions_.CancelResets();
      if (absl::IsUnavailable(offsets.status()) || absl::IsDeadlineExceeded(offsets.status())) {
        log_->warn("consumer: {}; retrying", offsets.status().ToString());
        return absl::OkStatus();
      }
      return offsets.status();
    }
    const int64_t offset = (*offsets)[tp].offset;
    log_->info("consumer: {}; resetting to the {} offset {}", reset.why,
               reset.query == kEarliest ? "earliest" : "latest", offset);
    subscriptions_.SetPosition(tp, offset);
  }
  return absl::OkStatus();
}

absl::Status Consumer::Impl::TakeFetch() {
  const absl::Status taken = fetcher_.TakeCompleted(&subscriptions_);
  const absl::Status reset = ResetOutOfRange();
  RETURN_IF_ERROR(taken);
  return reset;
}

absl::StatusOr<int64_t> Consumer::Impl::Position(const TopicPartition& tp) {
  if (!subscriptions_.IsAssigned(tp)) {
    return absl::FailedPreconditionError(
        absl::StrCat("position: partition ", ToString(tp), " is not assigned"));
  }
  if (!subscriptions_.Position(tp).has_value())
    RETURN_IF_ERROR(ResolvePositions(options_.default_api_timeout_ms));
  const std::optional<int64_t> position = subscriptions_.Position(tp);
  if (!position.has_value()) {
    return absl::InternalError(absl::StrCat("position: no offset found for ", ToString(tp)));
  }
  return *position;
}

bool Consumer::Impl::NextEvent(Clock::SteadyPoint deadline) {
  void* tag = nullptr;
  bool ok = false;
  if (deadline == Clock::SteadyPoint::max()) {
    if (!cq_.Next(&tag, &ok)) return false;  // shut down
  } else {
    const auto left =
        std::max(deadline - clock_->SteadyNow(), Clock::SteadyPoint::duration::zero());
    const auto got =
        cq_.AsyncNext(&tag, &ok,
                      std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    if (got != grpc::CompletionQueue::GOT_EVENT) return false;
  }
  if (!fetcher_.OnEvent(tag)) commits_.OnEvent(tag);
  return true;
}

bool Consumer::Impl::WaitForFetch(Clock::SteadyPoint deadline) {
  while (!fetcher_.done()) {
    if (!NextEvent(deadline)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<ConsumerRecord>> Consumer::Impl::Poll(int64_t timeout_ms) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  // (A timeout beyond a year is a year: the deadline arithmetic must not overflow.)
  const auto deadline = clock_->SteadyNow() + std::chrono::milliseconds(std::clamp<int64_t>(
                                                  timeout_ms, 0, 365LL * 24 * 3600 * 1000));
  commits_.FinishAsync();
  RETURN_IF_ERROR(rebalancer_.Reconcile());
  RETURN_IF_ERROR(ResolvePositionsOrRetry());
  if (commits_.AutoCommitDue()) {
    // What earlier Polls returned counts as consumed (Kafka's at-least-once auto-commit).
    commits_.AutoCommit(subscriptions_.Positions());
  }
  std::vector<ConsumerRecord> records;
  while (true) {
    // Leaders moved, unknown or unreachable (a failed refresh is logged; fetches wait for the
    // next one, retry.backoff.ms later).
    metadata_.MaybeRefresh().IgnoreError();
    RETURN_IF_ERROR(fetcher_.Drain(&subscriptions_, &records));
    // Prefetch while the caller works through `records` (unless a listener closed the consumer).
    if (!closed_) fetcher_.MaybeSend(subscriptions_);
    if (!records.empty()) return records;
    const auto now = clock_->SteadyNow();
    // Waits are sliced so that group changes are applied while Poll waits.
    const bool subscribed = rebalancer_.subscribed();
    const auto slice =
        subscribed ? std::min(deadline, now + std::chrono::milliseconds(50)) : deadline;
    if (!fetcher_.in_flight()) {
      if (now >= deadline) return records;
      // Nothing to fetch (no assignment, all paused) or backing off after an error.
      const auto until =
          std::min(slice, now + std::chrono::milliseconds(std::max(options_.retry_backoff_ms, 1)));
      if (subscribed) {
        rebalancer_.WaitForChange(until);
      } else if (!commits_.HasAsync()) {
        std::this_thread::sleep_for(until - now);
      } else {
        NextEvent(until);
      }
    } else if (WaitForFetch(slice)) {  // a finished fetch is taken even when the timeout is 0
      RETURN_IF_ERROR(TakeFetch());
    } else if (clock_->SteadyNow() >= deadline) {
      return records;
    }
    commits_.FinishAsync();
    RETURN_IF_ERROR(rebalancer_.Reconcile());
    RETURN_IF_ERROR(ResolvePositionsOrRetry());
  }
}

absl::Status Consumer::Impl::Subscribe(std::vector<std::string> topics, std::string regex,
                                       RebalanceListener* listener) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  return rebalancer_.Subscribe(std::move(topics), std::move(regex), listener);
}

void Consumer::Impl::Close() {
  if (closed_) return;
  if (rebalancer_.subscribed()) {
    (void)rebalancer_.Unsubscribe();  // commits (auto-commit) and revokes before leaving
  } else if (commits_.AutoCommitEnabled()) {
    const absl::Status s = CommitPositions();
    if (!s.ok()) log_->warn("consumer: commit on close: {}", s.ToString());
  }
  // Async commits finish first (each bounded by request.timeout.ms).
  while (commits_.AsyncInFlight()) {
    if (!NextEvent(Clock::SteadyPoint::max())) break;
  }
  commits_.FinishAsync();
  closed_ = true;
  if (fetcher_.in_flight()) {
    fetcher_.Cancel();
    while (!fetcher_.all_done()) {
      if (!NextEvent(Clock::SteadyPoint::max())) break;
    }
    fetcher_.Discard();
  }
  // A completion queue must be shut down and drained before it is destroyed.
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
  }
}

// --- Consumer ----------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  return Create(options, Clock::Real());
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const Properties& properties) {
  return Create(properties, Clock::Real());
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options,
                                                           const Clock& clock) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::vector<std::string> bootstrap,
                   internal::ParseBootstrapServers(options.bootstrap_servers));
  return std::unique_ptr<Consumer>(
      new Consumer(std::make_unique<Impl>(options, std::move(bootstrap), &clock)));
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const Properties& properties,
                                                           const Clock& clock) {
  ASSIGN_OR_RETURN(ConsumerOptions options, ConsumerOptions::FromProperties(properties));
  return Create(options, clock);
}

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() = default;

absl::Status Consumer::Assign(const std::vector<TopicPartition>& partitions) {
  return impl_->Assign(partitions);
}
std::vector<TopicPartition> Consumer::Assignment() const { return impl_->Assignment(); }
absl::Status Consumer::Seek(const TopicPartition& tp, int64_t offset) {
  return impl_->Seek(tp, offset);
}
absl::Status Consumer::SeekToBeginning(const std::vector<TopicPartition>& partitions) {
  return impl_->SeekTo(partitions, kEarliest);
}
absl::Status Consumer::SeekToEnd(const std::vector<TopicPartition>& partitions) {
  return impl_->SeekTo(partitions, kLatest);
}
absl::StatusOr<std::vector<ConsumerRecord>> Consumer::Poll(int64_t timeout_ms) {
  return impl_->Poll(timeout_ms);
}
absl::StatusOr<int64_t> Consumer::Position(const TopicPartition& tp) { return impl_->Position(tp); }
std::optional<int64_t> Consumer::CaughtUpAtMs(const TopicPartition& tp) const {
  return impl_->CaughtUpAtMs(tp);
}
absl::Status Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  return impl_->SetPaused(partitions, true);
}
absl::Status Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  return impl_->SetPaused(partitions, false);
}
std::vector<TopicPartition> Consumer::Paused() const { return impl_->Paused(); }

absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndTimestamp>>>
Consumer::OffsetsForTimes(const std::map<TopicPartition, int64_t>& timestamps) {
  for (const auto& [tp, ts] : timestamps) {
    if (ts < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("offsets for times: timestamp ", ts, " for ", ToString(tp), " is negative"));
    }
  }
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(timestamps, impl_->default_api_timeout_ms()));
  std::map<TopicPartition, std::optional<OffsetAndTimestamp>> out;
  for (const auto& [tp, o] : found) {
    out[tp] = o.offset < 0 ? std::nullopt : std::optional<OffsetAndTimestamp>(o);
  }
  return out;
}

namespace {
std::map<TopicPartition, int64_t> Queries(const std::vector<TopicPartition>& partitions,
                                          int64_t which) {
  std::map<TopicPartition, int64_t> queries;
  for (const TopicPartition& tp : partitions) queries[tp] = which;
  return queries;
}
std::map<TopicPartition, int64_t> Offsets(const std::map<TopicPartition, OffsetAndTimestamp>& in) {
  std::map<TopicPartition, int64_t> out;
  for (const auto& [tp, o] : in) out[tp] = o.offset;
  return out;
}
}  // namespace

absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::BeginningOffsets(
    const std::vector<TopicPartition>& partitions) {
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(Queries(partitions, kEarliest),
                                                  impl_->default_api_timeout_ms()));
  return Offsets(found);
}

absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::EndOffsets(
    const std::vector<TopicPartition>& partitions) {
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(Queries(partitions, kLatest),
                                                  impl_->default_api_timeout_ms()));
  return Offsets(found);
}

absl::Status Consumer::Commit() { return impl_->CommitPositions(); }
absl::Status Consumer::Commit(const std::map<TopicPartition, int64_t>& offsets) {
  for (const auto& [tp, offset] : offsets) {
    if (offset < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("commit: offset ", offset, " for ", ToString(tp), " is negative"));
    }
  }
  return impl_->Commit(offsets);
}
absl::Status Consumer::CommitWithMetadata(
    const std::map<TopicPartition, OffsetAndMetadata>& offsets) {
  for (const auto& [tp, o] : offsets) {
    if (o.offset < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("commit: offset ", o.offset, " for ", ToString(tp), " is negative"));
    }
  }
  return impl_->CommitWithMetadata(offsets);
}
absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions) {
  return impl_->Committed(partitions);
}
absl::StatusOr<std::map<TopicPartition, std::optional<OffsetAndMetadata>>>
Consumer::CommittedWithMetadata(const std::vector<TopicPartition>& partitions) {
  return impl_->CommittedWithMetadata(partitions);
}

void Consumer::CommitAsync(std::function<void(absl::Status)> done) {
  impl_->CommitAsync(impl_->Positions(), std::move(done));
}
void Consumer::CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                           std::function<void(absl::Status)> done) {
  impl_->CommitAsync(offsets, std::move(done));
}

absl::Status Consumer::Subscribe(const std::vector<std::string>& topics,
                                 RebalanceListener* listener) {
  if (topics.empty()) return absl::InvalidArgumentError("subscribe: no topics");
  return impl_->Subscribe(topics, "", listener);
}
absl::Status Consumer::SubscribePattern(const std::string& regex, RebalanceListener* listener) {
  if (regex.empty()) return absl::InvalidArgumentError("subscribe: empty regex");
  return impl_->Subscribe({}, regex, listener);
}
absl::Status Consumer::Unsubscribe() { return impl_->Unsubscribe(); }
std::vector<std::string> Consumer::Subscription() const { return impl_->Subscription(); }
std::pair<std::string, int32_t> Consumer::GroupMember() const { return impl_->GroupMember(); }

void Consumer::Close() { impl_->Close(); }

}  // namespace runnel::client
