#include "client/consumer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/group_membership.h"
#include "client/status.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kEarliest = -2;
constexpr int64_t kLatest = -1;

}  // namespace

// --- Options -----------------------------------------------------------------------------------

absl::Status ConsumerOptions::Validate() const {
  if (bootstrap_servers.empty()) return absl::InvalidArgumentError("bootstrap.servers: empty");
  RETURN_IF_ERROR(CheckAtLeast("fetch.min.bytes", fetch_min_bytes, 0));
  RETURN_IF_ERROR(CheckAtLeast("fetch.max.bytes", fetch_max_bytes, 1));
  RETURN_IF_ERROR(CheckAtLeast("fetch.max.wait.ms", fetch_max_wait_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("max.partition.fetch.bytes", max_partition_fetch_bytes, 1));
  RETURN_IF_ERROR(CheckAtLeast("max.poll.records", max_poll_records, 1));
  RETURN_IF_ERROR(CheckAtLeast("request.timeout.ms", request_timeout_ms, 1));
  RETURN_IF_ERROR(CheckAtLeast("retry.backoff.ms", retry_backoff_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("auto.commit.interval.ms", auto_commit_interval_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("max.poll.interval.ms", max_poll_interval_ms, 1));
  if (!group_remote_assignor.empty() && group_remote_assignor != "uniform" &&
      group_remote_assignor != "range") {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.remote.assignor: '", group_remote_assignor, "' is not one of uniform, range"));
  }
  if (!group_instance_id.empty() && group_id.empty()) {
    return absl::InvalidArgumentError("group.instance.id: set without group.id");
  }
  return absl::OkStatus();
}

absl::StatusOr<ConsumerOptions> ConsumerOptions::FromProperties(const Properties& properties) {
  ConsumerOptions o;
  for (const auto& [key, value] : properties) {
    if (key == "bootstrap.servers") {
      o.bootstrap_servers = value;
    } else if (key == "client.id") {
      o.client_id = value;
    } else if (key == "fetch.min.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_min_bytes));
    } else if (key == "fetch.max.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_max_bytes));
    } else if (key == "fetch.max.wait.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_max_wait_ms));
    } else if (key == "max.partition.fetch.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_partition_fetch_bytes));
    } else if (key == "max.poll.records") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_poll_records));
    } else if (key == "request.timeout.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.request_timeout_ms));
    } else if (key == "retry.backoff.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.retry_backoff_ms));
    } else if (key == "check.crcs") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.check_crcs));
    } else if (key == "group.id") {
      o.group_id = value;
    } else if (key == "group.instance.id") {
      o.group_instance_id = value;
    } else if (key == "group.remote.assignor") {
      o.group_remote_assignor = value;
    } else if (key == "max.poll.interval.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_poll_interval_ms));
    } else if (key == "enable.auto.commit") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.enable_auto_commit));
    } else if (key == "auto.commit.interval.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.auto_commit_interval_ms));
    } else if (key == "auto.offset.reset") {
      if (value == "earliest") {
        o.auto_offset_reset = AutoOffsetReset::kEarliest;
      } else if (value == "latest") {
        o.auto_offset_reset = AutoOffsetReset::kLatest;
      } else if (value == "none") {
        o.auto_offset_reset = AutoOffsetReset::kNone;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("auto.offset.reset: '", value, "' is not one of earliest, latest, none"));
      }
    } else {
      return UnknownProperty(key, "consumer");
    }
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

// --- Impl --------------------------------------------------------------------------------------

class Consumer::Impl {
 public:
  explicit Impl(const ConsumerOptions& options);
  ~Impl() { Close(); }

  absl::Status Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const;
  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::Status SeekTo(const std::vector<TopicPartition>& partitions, int64_t which);
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(int64_t timeout_ms);
  absl::StatusOr<int64_t> Position(const TopicPartition& tp);
  absl::Status SetPaused(const std::vector<TopicPartition>& partitions, bool paused);
  std::vector<TopicPartition> Paused() const;
  // ListOffsets: per partition, (offset, timestamp); offset -1 when none.
  absl::StatusOr<std::map<TopicPartition, OffsetAndTimestamp>> ListOffsets(
      const std::map<TopicPartition, int64_t>& queries);
  void Close();
  absl::Status Subscribe(std::vector<std::string> topics, std::string regex,
                         RebalanceListener* listener);
  absl::Status Unsubscribe();
  std::vector<std::string> Subscription() const;
  std::pair<std::string, int32_t> GroupMember() const {
    return membership_ != nullptr ? membership_->Identity()
                                  : std::pair<std::string, int32_t>{"", -1};
  }
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets);
  absl::Status CommitPositions();
  void CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                   std::function<void(absl::Status)> done);
  std::map<TopicPartition, int64_t> Positions() const;
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Committed(
      const std::vector<TopicPartition>& partitions);

 private:
  // The bytes of one partition's fetch result; the records handed out point into it.
  struct FetchedData {
    std::string topic;
    std::string bytes;
    std::vector<std::unique_ptr<record::RecordIterator>> iterators;  // of compressed batches
  };

  // One partition's fetched data, decoded lazily as Poll hands out records.
  struct CompletedFetch {
    uint64_t epoch = 0;
    std::shared_ptr<FetchedData> data;
    std::string_view rest;                      // batches not opened yet
    record::RecordIterator* current = nullptr;  // the open batch
    record::TimestampType timestamp_type = record::TimestampType::kCreateTime;  // of `current`
  };

  struct PartitionState {
    std::optional<int64_t> position;  // next offset Poll returns
    int64_t fetch_position = -1;      // next offset to fetch (past what is buffered)
    bool paused = false;
    uint64_t epoch = 0;  // bumped by every seek: fetched data of an older epoch is dropped
    std::deque<CompletedFetch> completed;
  };

  // One Fetch RPC in flight on the consumer's own completion queue (cq_), which Poll waits on:
  // no gRPC callback threads are involved. (gRPC 1.51's callback API, used here before, could
  // abort in its shared callback queue when consumers came and went.)
  struct FetchCall {
    grpc::ClientContext context;
    v1::FetchRequest request;
    v1::FetchResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::FetchResponse>> reader;
    std::map<TopicPartition, uint64_t> epochs;  // of the partitions asked for, when asked
    bool done = false;
  };
  // An async commit in flight on cq_.
  struct CommitCall {
    grpc::ClientContext context;
    v1::CommitOffsetsRequest request;
    v1::CommitOffsetsResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CommitOffsetsResponse>> reader;
    std::function<void(absl::Status)> done;
    bool finished = false;
  };
  // Waits on cq_ for one event (a fetch or commit finishing) until `deadline`; false if none came.
  bool NextEvent(Clock::time_point deadline);
  // Waits on cq_ until the fetch in flight completes or `deadline`; true if it completed.
  bool WaitForFetch(Clock::time_point deadline);
  // Runs the callbacks of finished async commits.
  void FinishCommits();
  v1::CommitOffsetsRequest CommitRequest(const std::map<TopicPartition, int64_t>& offsets) const;
  absl::Status CommitResult(const grpc::Status& s, const v1::CommitOffsetsResponse& response) const;
  // Applies what the group coordinator decided (revocations, then assignments); errors the
  // coordinator reported that end the membership.
  absl::Status Reconcile();
  // Commits (with enable.auto.commit) and hands `revoked` to the listener, then drops them.
  void Revoke(const std::vector<TopicPartition>& revoked);

  PartitionState* Find(const TopicPartition& tp);
  void SetPosition(PartitionState* p, int64_t offset);
  // Looks up the position of every assigned partition that has none (auto.offset.reset).
  absl::Status ResolvePositions();
  // ResolvePositions for Poll: a broker that is restarting or unreachable is logged and tried
  // again after retry.backoff.ms (the partitions wait without a position), as Kafka's consumer
  // retries its offset lookups; other errors are returned.
  absl::Status ResolvePositionsOrRetry();
  absl::Status ResetPosition(const TopicPartition& tp, PartitionState* p, const std::string& why);
  void MaybeSendFetch();
  // Takes the finished fetch's data into the partitions' buffers.
  absl::Status TakeFetch();
  // Appends up to max.poll.records buffered records to `out`.
  absl::Status Drain(std::vector<ConsumerRecord>* out);
  // The next record of `fetch` at or after the partition's position; false when exhausted.
  absl::StatusOr<bool> NextRecord(const TopicPartition& tp, int64_t position, CompletedFetch* fetch,
                                  record::Record* out);

  const ConsumerOptions options_;
  const std::string target_;
  std::unique_ptr<v1::Broker::Stub> stub_;
  std::unique_ptr<v1::Groups::Stub> groups_;
  Clock::time_point last_auto_commit_ = Clock::now();
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  std::map<TopicPartition, PartitionState> partitions_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<FetchCall> fetch_;  // the fetch in flight, if any (its tag on cq_)
  Clock::time_point retry_at_{};      // after a failed fetch, no new one before this
  Clock::time_point resolve_at_{};    // after a failed offset lookup, no new one before this
  size_t drain_start_ = 0;            // round-robin start of Drain, for fairness
  // Epochs come from one counter, so a partition assigned again never reuses an epoch that a
  // fetch still in flight carries.
  uint64_t last_epoch_ = 0;
  bool closed_ = false;
  // Subscription (group membership); null with manual assignment.
  std::unique_ptr<GroupMembership> membership_;
  std::vector<std::string> subscribed_topics_;
  std::string subscribed_regex_;
  RebalanceListener* listener_ = nullptr;
  std::list<std::unique_ptr<CommitCall>> commits_;  // async commits in flight or finished
};

Consumer::Impl::Impl(const ConsumerOptions& options)
    : options_(options),
      target_(std::vector<std::string>(absl::StrSplit(options.bootstrap_servers, ',')).front()) {
  grpc::ChannelArguments args;
  // A fetch answer holds up to fetch.max.bytes of records (more when the first batch of a
  // partition is larger); gRPC's 4 MiB default would refuse it.
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Broker::NewStub(channel);
  groups_ = v1::Groups::NewStub(channel);
}

Consumer::Impl::PartitionState* Consumer::Impl::Find(const TopicPartition& tp) {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

void Consumer::Impl::SetPosition(PartitionState* p, int64_t offset) {
  p->position = offset;
  p->fetch_position = offset;
  p->epoch = ++last_epoch_;
  p->completed.clear();
}

absl::Status Consumer::Impl::Assign(const std::vector<TopicPartition>& partitions) {
  if (membership_ != nullptr) {
    return absl::FailedPreconditionError(
        "assign: the consumer is subscribed; Unsubscribe first (partitions come from the group)");
  }
  std::map<TopicPartition, PartitionState> next;
  for (const TopicPartition& tp : partitions) {
    if (tp.topic.empty()) return absl::InvalidArgumentError("assign: empty topic name");
    if (tp.partition < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("assign: partition ", tp.partition, " of ", tp.topic, " is negative"));
    }
    auto it = partitions_.find(tp);
    next[tp] = it != partitions_.end() ? std::move(it->second) : PartitionState{};
  }
  partitions_ = std::move(next);
  return absl::OkStatus();
}

std::vector<TopicPartition> Consumer::Impl::Assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, p] : partitions_) out.push_back(tp);
  return out;
}

absl::Status Consumer::Impl::Seek(const TopicPartition& tp, int64_t offset) {
  PartitionState* p = Find(tp);
  if (p == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("seek: partition ", ToString(tp), " is not assigned"));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("seek: offset ", offset, " for ", ToString(tp), " is negative"));
  }
  SetPosition(p, offset);
  return absl::OkStatus();
}

absl::Status Consumer::Impl::SeekTo(const std::vector<TopicPartition>& partitions, int64_t which) {
  std::map<TopicPartition, int64_t> queries;
  for (const TopicPartition& tp : partitions) {
    if (Find(tp) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("seek: partition ", ToString(tp), " is not assigned"));
    }
    queries[tp] = which;
  }
  ASSIGN_OR_RETURN(auto offsets, ListOffsets(queries));
  for (const auto& [tp, found] : offsets) SetPosition(Find(tp), found.offset);
  return absl::OkStatus();
}

absl::StatusOr<std::map<TopicPartition, OffsetAndTimestamp>> Consumer::Impl::ListOffsets(
    const std::map<TopicPartition, int64_t>& queries) {
  v1::ListOffsetsRequest request;
  for (const auto& [tp, timestamp] : queries) {
    v1::PartitionOffsetQuery* q = request.add_partitions();
    q->set_topic(tp.topic);
    q->set_partition(tp.partition);
    q->set_timestamp(timestamp);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.request_timeout_ms));
  v1::ListOffsetsResponse response;
  const grpc::Status s = stub_->ListOffsets(&context, request, &response);
  if (!s.ok()) return RpcError(s, target_, "list offsets");
  std::map<TopicPartition, OffsetAndTimestamp> out;
  for (const v1::PartitionOffset& r : response.partitions()) {
    const TopicPartition tp{r.topic(), r.partition()};
    RETURN_IF_ERROR(ToStatus(r.error(), "list offsets of " + ToString(tp)));
    out[tp] = {r.offset(), r.timestamp()};
  }
  return out;
}

absl::Status Consumer::Impl::ResolvePositions() {
  if (!options_.group_id.empty()) {
    // The group's committed offsets come first, as in Kafka.
    std::vector<TopicPartition> unknown;
    for (const auto& [tp, p] : partitions_) {
      if (!p.position.has_value()) unknown.push_back(tp);
    }
    if (!unknown.empty()) {
      ASSIGN_OR_RETURN(auto committed, Committed(unknown));
      for (const auto& [tp, offset] : committed) {
        if (offset.has_value()) SetPosition(Find(tp), *offset);
      }
    }
  }
  std::map<TopicPartition, int64_t> queries;
  for (const auto& [tp, p] : partitions_) {
    if (p.position.has_value()) continue;
    if (options_.auto_offset_reset == AutoOffsetReset::kNone) {
      return absl::FailedPreconditionError(absl::StrCat(
          "partition ", ToString(tp), " has no position and auto.offset.reset is none"));
    }
    queries[tp] = options_.auto_offset_reset == AutoOffsetReset::kEarliest ? kEarliest : kLatest;
  }
  if (queries.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto offsets, ListOffsets(queries));
  for (const auto& [tp, found] : offsets) SetPosition(Find(tp), found.offset);
  return absl::OkStatus();
}

absl::Status Consumer::Impl::ResolvePositionsOrRetry() {
  if (Clock::now() < resolve_at_) return absl::OkStatus();
  const absl::Status s = ResolvePositions();
  if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
    log_->warn("consumer: {}; retrying", s.ToString());
    resolve_at_ = Clock::now() + std::chrono::milliseconds(options_.retry_backoff_ms);
    return absl::OkStatus();
  }
  return s;
}

absl::Status Consumer::Impl::ResetPosition(const TopicPartition& tp, PartitionState* p,
                                           const std::string& why) {
  if (options_.auto_offset_reset == AutoOffsetReset::kNone) {
    return absl::OutOfRangeError(absl::StrCat(why, " and auto.offset.reset is none"));
  }
  const bool earliest = options_.auto_offset_reset == AutoOffsetReset::kEarliest;
  ASSIGN_OR_RETURN(auto offsets, ListOffsets({{tp, earliest ? kEarliest : kLatest}}));
  log_->info("consumer: {}; resetting to the {} offset {}", why, earliest ? "earliest" : "latest",
             offsets[tp].offset);
  SetPosition(p, offsets[tp].offset);
  return absl::OkStatus();
}

absl::Status Consumer::Impl::SetPaused(const std::vector<TopicPartition>& partitions, bool paused) {
  for (const TopicPartition& tp : partitions) {
    if (Find(tp) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(paused ? "pause" : "resume", ": partition ",
                                                        ToString(tp), " is not assigned"));
    }
  }
  for (const TopicPartition& tp : partitions) Find(tp)->paused = paused;
  return absl::OkStatus();
}

std::vector<TopicPartition> Consumer::Impl::Paused() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, p] : partitions_) {
    if (p.paused) out.push_back(tp);
  }
  return out;
}

absl::StatusOr<int64_t> Consumer::Impl::Position(const TopicPartition& tp) {
  PartitionState* p = Find(tp);
  if (p == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("position: partition ", ToString(tp), " is not assigned"));
  }
  if (!p->position.has_value()) RETURN_IF_ERROR(ResolvePositions());
  return *p->position;
}

void Consumer::Impl::MaybeSendFetch() {
  if (fetch_ != nullptr || closed_ || Clock::now() < retry_at_) return;
  auto call = std::make_unique<FetchCall>();
  for (const auto& [tp, p] : partitions_) {
    // One buffered response per partition is enough; the next is fetched as it is consumed.
    if (p.paused || !p.position.has_value() || p.completed.size() > 1) continue;
    v1::PartitionFetch* f = call->request.add_partitions();
    f->set_topic(tp.topic);
    f->set_partition(tp.partition);
    f->set_offset(p.fetch_position);
    f->set_max_bytes(options_.max_partition_fetch_bytes);
    call->epochs[tp] = p.epoch;
  }
  if (call->request.partitions_size() == 0) return;
  call->request.set_max_wait_ms(options_.fetch_max_wait_ms);
  call->request.set_min_bytes(options_.fetch_min_bytes);
  call->request.set_max_bytes(options_.fetch_max_bytes);
  call->context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(int64_t{options_.fetch_max_wait_ms} + options_.request_timeout_ms));
  call->reader = stub_->AsyncFetch(&call->context, call->request, &cq_);
  call->reader->Finish(&call->response, &call->status, call.get());
  fetch_ = std::move(call);
}

bool Consumer::Impl::NextEvent(Clock::time_point deadline) {
  void* tag = nullptr;
  bool ok = false;
  if (deadline == Clock::time_point::max()) {
    if (!cq_.Next(&tag, &ok)) return false;  // shut down
  } else {
    const auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
    const auto got =
        cq_.AsyncNext(&tag, &ok,
                      std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    if (got != grpc::CompletionQueue::GOT_EVENT) return false;
  }
  // Finish always reports ok=true.
  if (fetch_ != nullptr && tag == fetch_.get()) {
    fetch_->done = true;
  } else {
    for (auto& call : commits_) {
      if (call.get() == tag) call->finished = true;
    }
  }
  return true;
}

bool Consumer::Impl::WaitForFetch(Clock::time_point deadline) {
  while (!fetch_->done) {
    if (!NextEvent(deadline)) return false;
  }
  return true;
}

absl::Status Consumer::Impl::TakeFetch() {
  std::unique_ptr<FetchCall> call = std::move(fetch_);
  const grpc::Status status = call->status;
  if (!status.ok()) {
    // The broker restarting or unreachable: try again after retry.backoff.ms, as Kafka does.
    log_->warn("consumer: fetch from {} failed: {}", target_, status.error_message());
    retry_at_ = Clock::now() + std::chrono::milliseconds(options_.retry_backoff_ms);
    return absl::OkStatus();
  }
  for (v1::PartitionFetchResult& r : *call->response.mutable_partitions()) {
    const TopicPartition tp{r.topic(), r.partition()};
    PartitionState* p = Find(tp);
    auto sent = call->epochs.find(tp);
    if (p == nullptr || sent == call->epochs.end() || sent->second != p->epoch) continue;
    const int64_t fetched_at = p->fetch_position;
    switch (r.error().code()) {
      case v1::NONE:
        break;
      case v1::OFFSET_OUT_OF_RANGE:
        // Records still buffered before the fetch position are delivered first; the next fetch
        // from there finds the same and resets then.
        if (!p->completed.empty()) continue;
        RETURN_IF_ERROR(ResetPosition(
            tp, p,
            absl::StrCat("offset ", fetched_at, " is out of range for ", ToString(tp), " (log ",
                         r.log_start_offset(), "..", r.high_watermark(), ")")));
        continue;
      case v1::UNKNOWN_TOPIC_OR_PARTITION:
        return ToStatus(r.error(), "fetch " + ToString(tp));
      default:
        log_->warn("consumer: fetch of {}: {}", ToString(tp), r.error().message());
        retry_at_ = Clock::now() + std::chrono::milliseconds(options_.retry_backoff_ms);
        continue;
    }
    if (r.records().empty()) continue;
    auto data = std::make_shared<FetchedData>();
    data->topic = tp.topic;
    data->bytes = std::move(*r.mutable_records());
    // The next fetch starts after the last whole batch returned.
    std::string_view rest = data->bytes;
    while (!rest.empty()) {
      auto view = record::RecordBatchView::Parse(rest);
      if (!view.ok()) break;  // reported when Poll reaches it
      p->fetch_position = view->last_offset() + 1;
      rest.remove_prefix(view->size());
    }
    CompletedFetch fetch;
    fetch.epoch = p->epoch;
    fetch.rest = data->bytes;
    fetch.data = std::move(data);
    p->completed.push_back(std::move(fetch));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Consumer::Impl::NextRecord(const TopicPartition& tp, int64_t position,
                                                CompletedFetch* fetch, record::Record* out) {
  while (true) {
    if (fetch->current != nullptr) {
      if (fetch->current->Next(out)) {
        if (out->offset < position) continue;
        return true;
      }
      RETURN_IF_ERROR(fetch->current->status());
      fetch->current = nullptr;
    }
    if (fetch->rest.empty()) return false;
    auto view = record::RecordBatchView::Parse(fetch->rest);
    if (!view.ok()) {
      return absl::DataLossError(absl::StrCat("fetched data of ", ToString(tp), " at offset ",
                                              position, ": ", view.status().message()));
    }
    if (view->last_offset() < position || view->is_control()) {
      fetch->rest.remove_prefix(view->size());
      continue;
    }
    // A bad batch stays at the front: every Poll reports it until the caller seeks past it.
    if (options_.check_crcs && view->ComputeCrc() != view->crc()) {
      return absl::DataLossError(absl::StrCat("batch at offset ", view->base_offset(), " of ",
                                              ToString(tp), " fails its CRC check"));
    }
    auto it = record::RecordIterator::Create(*view);
    if (!it.ok()) {
      return absl::DataLossError(absl::StrCat("batch at offset ", view->base_offset(), " of ",
                                              ToString(tp), ": ", it.status().message()));
    }
    fetch->rest.remove_prefix(view->size());
    fetch->data->iterators.push_back(std::make_unique<record::RecordIterator>(std::move(*it)));
    fetch->current = fetch->data->iterators.back().get();
    fetch->timestamp_type = view->timestamp_type();
  }
}

absl::Status Consumer::Impl::Drain(std::vector<ConsumerRecord>* out) {
  if (partitions_.empty()) return absl::OkStatus();
  const size_t n = partitions_.size();
  auto it = partitions_.begin();
  std::advance(it, drain_start_ % n);
  for (size_t i = 0; i < n; ++i, ++it) {
    if (it == partitions_.end()) it = partitions_.begin();
    const TopicPartition& tp = it->first;
    PartitionState& p = it->second;
    while (!p.paused && !p.completed.empty() &&
           out->size() < static_cast<size_t>(options_.max_poll_records)) {
      CompletedFetch& fetch = p.completed.front();
      if (fetch.epoch != p.epoch) {
        p.completed.pop_front();
        continue;
      }
      record::Record r;
      auto more = NextRecord(tp, *p.position, &fetch, &r);
      // Records already taken are returned first; the error comes back on the next Poll, which
      // stops at the same place.
      if (!more.ok()) return out->empty() ? more.status() : absl::OkStatus();
      if (!*more) {
        p.completed.pop_front();
        continue;
      }
      ConsumerRecord& c = out->emplace_back();
      c.topic = fetch.data->topic;
      c.partition = tp.partition;
      c.offset = r.offset;
      c.timestamp = r.timestamp;
      c.timestamp_type = fetch.timestamp_type;
      c.key = r.key;
      c.value = r.value;
      c.headers = std::move(r.headers);
      c.storage = fetch.data;
      p.position = r.offset + 1;
    }
  }
  drain_start_ = (drain_start_ + 1) % n;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ConsumerRecord>> Consumer::Impl::Poll(int64_t timeout_ms) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  // (A timeout beyond a year is a year: the deadline arithmetic must not overflow.)
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::clamp<int64_t>(
                                           timeout_ms, 0, 365LL * 24 * 3600 * 1000));
  FinishCommits();
  RETURN_IF_ERROR(Reconcile());
  RETURN_IF_ERROR(ResolvePositionsOrRetry());
  if (!options_.group_id.empty() && options_.enable_auto_commit &&
      Clock::now() - last_auto_commit_ >=
          std::chrono::milliseconds(options_.auto_commit_interval_ms)) {
    // What earlier Polls returned counts as consumed (Kafka's at-least-once auto-commit).
    const absl::Status s = CommitPositions();
    if (!s.ok()) log_->warn("consumer: auto-commit: {}", s.ToString());
    last_auto_commit_ = Clock::now();
  }
  std::vector<ConsumerRecord> records;
  while (true) {
    RETURN_IF_ERROR(Drain(&records));
    MaybeSendFetch();  // prefetch while the caller works through `records`
    if (!records.empty()) return records;
    const auto now = Clock::now();
    // Waits are sliced so that group changes are applied while Poll waits.
    const auto slice =
        membership_ == nullptr ? deadline : std::min(deadline, now + std::chrono::milliseconds(50));
    if (fetch_ == nullptr) {
      if (now >= deadline) return records;
      // Nothing to fetch (no assignment, all paused) or backing off after an error.
      const auto until =
          std::min(slice, now + std::chrono::milliseconds(std::max(options_.retry_backoff_ms, 1)));
      if (membership_ != nullptr) {
        membership_->WaitForChange(until);
      } else if (commits_.empty()) {
        std::this_thread::sleep_for(until - now);
      } else {
        NextEvent(until);
      }
    } else if (WaitForFetch(slice)) {  // a finished fetch is taken even when the timeout is 0
      RETURN_IF_ERROR(TakeFetch());
    } else if (Clock::now() >= deadline) {
      return records;
    }
    FinishCommits();
    RETURN_IF_ERROR(Reconcile());
    RETURN_IF_ERROR(ResolvePositionsOrRetry());
  }
}

v1::CommitOffsetsRequest Consumer::Impl::CommitRequest(
    const std::map<TopicPartition, int64_t>& offsets) const {
  v1::CommitOffsetsRequest request;
  request.set_group_id(options_.group_id);
  const auto [member_id, epoch] =
      membership_ != nullptr ? membership_->Identity() : std::pair<std::string, int32_t>{"", -1};
  request.set_member_id(member_id);
  request.set_member_epoch(epoch);
  for (const auto& [tp, offset] : offsets) {
    v1::PartitionOffsetCommit* o = request.add_offsets();
    o->set_topic(tp.topic);
    o->set_partition(tp.partition);
    o->set_offset(offset);
  }
  return request;
}

absl::Status Consumer::Impl::CommitResult(const grpc::Status& s,
                                          const v1::CommitOffsetsResponse& response) const {
  if (!s.ok()) return RpcError(s, target_, "commit offsets of group " + options_.group_id);
  RETURN_IF_ERROR(ToStatus(response.error(), "commit offsets of group " + options_.group_id));
  for (const v1::PartitionCommitResult& r : response.partitions()) {
    RETURN_IF_ERROR(
        ToStatus(r.error(), "commit offset of " + r.topic() + "-" + std::to_string(r.partition())));
  }
  return absl::OkStatus();
}

absl::Status Consumer::Impl::Commit(const std::map<TopicPartition, int64_t>& offsets) {
  if (options_.group_id.empty()) return absl::FailedPreconditionError("commit needs group.id");
  if (offsets.empty()) return absl::OkStatus();
  // A heartbeat may move the member to a new epoch while the commit travels: the coordinator
  // then answers STALE_MEMBER_EPOCH and the commit is retried with the new one, as Kafka does.
  for (int attempt = 0;; ++attempt) {
    const v1::CommitOffsetsRequest request = CommitRequest(offsets);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(options_.request_timeout_ms));
    v1::CommitOffsetsResponse response;
    const grpc::Status s = groups_->CommitOffsets(&context, request, &response);
    if (s.ok() && response.error().code() == v1::STALE_MEMBER_EPOCH && attempt < 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
      continue;
    }
    RETURN_IF_ERROR(CommitResult(s, response));
    last_auto_commit_ = Clock::now();
    return absl::OkStatus();
  }
}

void Consumer::Impl::CommitAsync(const std::map<TopicPartition, int64_t>& offsets,
                                 std::function<void(absl::Status)> done) {
  auto call = std::make_unique<CommitCall>();
  call->done = std::move(done);
  if (options_.group_id.empty()) {
    call->status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "commit needs group.id");
    call->finished = true;
    commits_.push_back(std::move(call));
    return;
  }
  call->request = CommitRequest(offsets);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(options_.request_timeout_ms));
  call->reader = groups_->AsyncCommitOffsets(&call->context, call->request, &cq_);
  call->reader->Finish(&call->response, &call->status, call.get());
  commits_.push_back(std::move(call));
  last_auto_commit_ = Clock::now();
}

void Consumer::Impl::FinishCommits() {
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
            : CommitResult(call->status, call->response);
    if (call->done) {
      call->done(result);
    } else if (!result.ok()) {
      log_->warn("consumer: async commit: {}", result.ToString());
    }
  }
}

std::map<TopicPartition, int64_t> Consumer::Impl::Positions() const {
  std::map<TopicPartition, int64_t> offsets;
  for (const auto& [tp, p] : partitions_) {
    if (p.position.has_value()) offsets[tp] = *p.position;
  }
  return offsets;
}

absl::Status Consumer::Impl::Subscribe(std::vector<std::string> topics, std::string regex,
                                       RebalanceListener* listener) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("subscribe: needs group.id");
  }
  if (membership_ == nullptr && !partitions_.empty()) {
    return absl::FailedPreconditionError(
        "subscribe: the consumer has a manual assignment; Assign({}) first");
  }
  if (topics.empty() && regex.empty()) {
    return absl::InvalidArgumentError("subscribe: no topics");
  }
  for (const std::string& topic : topics) {
    if (topic.empty()) return absl::InvalidArgumentError("subscribe: empty topic name");
  }
  if (membership_ != nullptr) RETURN_IF_ERROR(Unsubscribe());
  subscribed_topics_ = std::move(topics);
  subscribed_regex_ = std::move(regex);
  listener_ = listener;
  MembershipOptions m;
  m.group_id = options_.group_id;
  m.instance_id = options_.group_instance_id;
  m.client_id = options_.client_id;
  m.assignor = options_.group_remote_assignor;
  m.rebalance_timeout_ms = options_.max_poll_interval_ms;
  m.request_timeout_ms = options_.request_timeout_ms;
  m.retry_backoff_ms = std::max(options_.retry_backoff_ms, 1);
  m.topics = subscribed_topics_;
  m.regex = subscribed_regex_;
  membership_ = std::make_unique<GroupMembership>(groups_.get(), target_, std::move(m));
  return absl::OkStatus();
}

std::vector<std::string> Consumer::Impl::Subscription() const {
  if (membership_ == nullptr) return {};
  if (!subscribed_regex_.empty()) return {subscribed_regex_};
  return subscribed_topics_;
}

void Consumer::Impl::Revoke(const std::vector<TopicPartition>& revoked) {
  if (revoked.empty()) return;
  if (options_.enable_auto_commit) {
    std::map<TopicPartition, int64_t> offsets;
    for (const TopicPartition& tp : revoked) {
      const PartitionState* p = Find(tp);
      if (p != nullptr && p->position.has_value()) offsets[tp] = *p->position;
    }
    if (absl::Status s = Commit(offsets); !s.ok()) {
      log_->warn("consumer: commit before revocation: {}", s.ToString());
    }
  }
  if (listener_ != nullptr) listener_->OnPartitionsRevoked(revoked);
  for (const TopicPartition& tp : revoked) partitions_.erase(tp);
}

absl::Status Consumer::Impl::Reconcile() {
  if (membership_ == nullptr) return absl::OkStatus();
  auto owned = [this] {
    std::set<TopicPartition> out;
    for (const auto& [tp, p] : partitions_) out.insert(tp);
    return out;
  };
  const absl::Status fatal = membership_->Fatal();
  if (membership_->TakeLost() || !fatal.ok()) {
    if (!partitions_.empty()) {
      const std::vector<TopicPartition> lost = Assignment();
      log_->warn("consumer: group {}: lost {} partition(s)", options_.group_id, lost.size());
      if (listener_ != nullptr) listener_->OnPartitionsLost(lost);
      partitions_.clear();
    }
    membership_->SetOwned({});
  }
  RETURN_IF_ERROR(fatal);
  const std::optional<std::set<TopicPartition>> target = membership_->PendingAssignment();
  if (!target.has_value()) return absl::OkStatus();
  std::vector<TopicPartition> revoked, added;
  for (const auto& [tp, p] : partitions_) {
    if (!target->contains(tp)) revoked.push_back(tp);
  }
  for (const TopicPartition& tp : *target) {
    if (!partitions_.contains(tp)) added.push_back(tp);
  }
  Revoke(revoked);
  for (const TopicPartition& tp : added) partitions_[tp] = PartitionState{};
  membership_->SetOwned(owned());
  if (!added.empty() && listener_ != nullptr) listener_->OnPartitionsAssigned(added);
  return absl::OkStatus();
}

absl::Status Consumer::Impl::Unsubscribe() {
  if (membership_ == nullptr) return absl::OkStatus();
  if (membership_->Fatal().ok()) Revoke(Assignment());
  partitions_.clear();
  membership_->Leave();
  membership_.reset();
  listener_ = nullptr;
  subscribed_topics_.clear();
  subscribed_regex_.clear();
  return absl::OkStatus();
}

absl::Status Consumer::Impl::CommitPositions() { return Commit(Positions()); }

absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Consumer::Impl::Committed(
    const std::vector<TopicPartition>& partitions) {
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
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.request_timeout_ms));
  v1::FetchOffsetsResponse response;
  const grpc::Status s = groups_->FetchOffsets(&context, request, &response);
  if (!s.ok()) return RpcError(s, target_, "committed offsets of group " + options_.group_id);
  RETURN_IF_ERROR(ToStatus(response.error(), "committed offsets of group " + options_.group_id));
  std::map<TopicPartition, std::optional<int64_t>> out;
  for (const v1::PartitionCommittedOffset& r : response.partitions()) {
    out[{r.topic(), r.partition()}] =
        r.offset() >= 0 ? std::optional<int64_t>(r.offset()) : std::nullopt;
  }
  return out;
}

void Consumer::Impl::Close() {
  if (closed_) return;
  if (membership_ != nullptr) {
    (void)Unsubscribe();  // commits (auto-commit) and revokes before leaving
  } else if (!options_.group_id.empty() && options_.enable_auto_commit) {
    const absl::Status s = CommitPositions();
    if (!s.ok()) log_->warn("consumer: commit on close: {}", s.ToString());
  }
  // Async commits finish first (each bounded by request.timeout.ms).
  while (
      std::any_of(commits_.begin(), commits_.end(), [](const auto& c) { return !c->finished; })) {
    if (!NextEvent(Clock::time_point::max())) break;
  }
  FinishCommits();
  closed_ = true;
  if (fetch_ != nullptr) {
    fetch_->context.TryCancel();
    WaitForFetch(Clock::time_point::max());
    fetch_.reset();
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
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Consumer>(new Consumer(std::make_unique<Impl>(options)));
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const Properties& properties) {
  ASSIGN_OR_RETURN(ConsumerOptions options, ConsumerOptions::FromProperties(properties));
  return Create(options);
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
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(timestamps));
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
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(Queries(partitions, kEarliest)));
  return Offsets(found);
}

absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::EndOffsets(
    const std::vector<TopicPartition>& partitions) {
  ASSIGN_OR_RETURN(auto found, impl_->ListOffsets(Queries(partitions, kLatest)));
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
absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions) {
  return impl_->Committed(partitions);
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
