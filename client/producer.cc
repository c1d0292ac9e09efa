#include "client/producer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "client/internal/broker_channels.h"
#include "client/internal/grpc_status.h"
#include "client/internal/metadata_cache.h"
#include "client/internal/produce_link.h"
#include "client/internal/record_accumulator.h"
#include "client/internal/sticky_partitioner.h"
#include "client/partitioner.h"
#include "common/check.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/record/batch_builder.h"
#include "common/status_macros.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::client {
namespace {

using internal::BatchPtr;
using internal::ProducerBatch;

// Errors after which the same batch may succeed if sent again. OUT_OF_ORDER_SEQUENCE_NUMBER is
// retriable only while an earlier batch of the partition is being resent (handled separately).
bool Retriable(v1::ErrorCode code) {
  switch (code) {
    case v1::NOT_LEADER:
    case v1::REQUEST_TIMED_OUT:
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
    case v1::NOT_ENOUGH_REPLICAS:
    case v1::KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

// The bytes a record adds to a batch, roughly; what buffer.memory accounts before the exact size
// is known.
int64_t RecordFootprint(const ProducerRecord& r) {
  int64_t size = 24 + (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0);
  for (const Header& h : r.headers) size += 8 + h.key.size() + (h.value ? h.value->size() : 0);
  return size;
}

}  // namespace

// --- Impl --------------------------------------------------------------------------------------

class Producer::Impl {
 public:
  // `clock` outlives the producer; `bootstrap` is ParseBootstrapServers(bootstrap.servers).
  Impl(const ProducerOptions& options, std::vector<std::string> bootstrap, const Clock& clock);
  ~Impl() { Close(0); }

  absl::Status Send(const ProducerRecord& record, SendCallback callback);
  void Flush();
  void Close(int64_t timeout_ms = 60000);
  const ProducerOptions& options() const { return options_; }
  int64_t producer_id() const {
    MutexLock lock(&mu_);
    return producer_id_;
  }

 private:
  struct InFlight {
    int64_t sent_ms;
    std::vector<BatchPtr> batches;  // in the order of the request's partitions
  };

  // The Produce link to one broker (a partition leader) and the requests outstanding on it.
  struct Link {
    std::unique_ptr<internal::ProduceLink> stream;  // null: not connected
    std::map<uint64_t, InFlight> in_flight;         // by request id
    bool broken = false;                            // the reader saw the stream end
    bool cancelled = false;                         // request.timeout.ms cancelled the stream
    int64_t reconnect_at_ms = 0;
    bool warned = false;  // its failure was logged since it last answered
  };

  // A finished batch whose callbacks still have to run (outside the lock).
  struct Finished {
    BatchPtr batch;
    absl::Status status;
    int64_t base_offset = -1;
    int64_t log_append_time = -1;
  };

  void SenderLoop();
  // Drains the ready batches whose leader has a connected link with room, one request per link,
  // and sends them (dropping the lock while writing). Connects the links of leaders that have
  // ready batches and asks for metadata for partitions without a known leader. Returns when to
  // look again, or `now` after sending.
  int64_t DrainAndSendDroppingLock(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens the link to `address`, dropping the lock while the stream starts.
  void ConnectDroppingLock(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the link to `address`: every batch in flight on it goes back to its queue to be resent
  // to whichever broker leads its partition then. Releases mu_ while the reader thread ends and
  // while callbacks run, so any state read before the call may have changed after it.
  void DisconnectDroppingLock(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnyInFlightLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SendRequest(const std::string& address, std::vector<BatchPtr> batches);
  void HandleResponse(const std::string& address, const v1::ProduceResponse& response);
  void OnLinkEnd(const std::string& address);
  // Puts a batch that failed with `why` back in its queue, or fails it when out of retries or
  // time.
  void RetryLocked(BatchPtr batch, const absl::Status& why, std::vector<Finished>* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails the queued batches older than delivery.timeout.ms.
  void ExpireLocked(int64_t now, std::vector<Finished>* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAllLocked(const absl::Status& why, std::vector<Finished>* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives up on a batch. An idempotent batch that had a sequence leaves a gap the broker would
  // refuse every later batch for, so the producer takes a new producer id and renumbers what is
  // unacknowledged (Kafka bumps the epoch for the same reason).
  void FailLocked(BatchPtr batch, absl::Status why, std::vector<Finished>* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first producer id (before the first batch is sent) or, with `renumber`, a new one after a
  // failed sequenced batch (once nothing is in flight).
  absl::Status TakeProducerId(bool renumber) ABSL_LOCKS_EXCLUDED(mu_);
  // Asks any broker (ids are allocated cluster-wide).
  absl::StatusOr<v1::InitProducerIdResponse> InitProducerId() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs callbacks, then releases the batches' memory and completion counts.
  void Complete(std::vector<Finished> finished) ABSL_LOCKS_EXCLUDED(mu_);

  // Steady milliseconds of the clock: linger, retries, timeouts, metadata age.
  int64_t NowMs() const { return ToMs(clock_.SteadyNow()); }
  static int64_t ToMs(Clock::SteadyPoint t) {
    if (t == Clock::SteadyPoint::max()) return std::numeric_limits<int64_t>::max();
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  const ProducerOptions options_;
  const Clock& clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  internal::BrokerChannels channels_;
  internal::MetadataCache metadata_;  // partition counts for Send, leaders for the sender

  mutable Mutex mu_;
  CondVar work_cv_;  // the sender: new work, responses, closing
  CondVar done_cv_;  // Flush, Close and Send waiting for memory: batches completed
  internal::StickyPartitioner sticky_ ABSL_GUARDED_BY(mu_);
  internal::RecordAccumulator accumulator_ ABSL_GUARDED_BY(mu_);
  // By broker address. Links are added by the sender thread only and never removed, so a Link&
  // stays valid while the lock is dropped; only the sender replaces a link's stream.
  std::map<std::string, Link> links_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
  int32_t flushing_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // no new sends; linger no longer waited for
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // the sender must exit now
  int64_t producer_id_ ABSL_GUARDED_BY(mu_) = -1;
  int16_t producer_epoch_ ABSL_GUARDED_BY(mu_) = -1;
  bool reset_producer_id_ ABSL_GUARDED_BY(mu_) = false;  // see FailLocked
  int64_t init_at_ms_ ABSL_GUARDED_BY(mu_) = 0;          // InitProducerId backing off until
  absl::Status last_init_error_ ABSL_GUARDED_BY(mu_);
  int64_t last_expire_ms_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread sender_;
  Mutex close_mu_;  // one Close at a time
};

namespace {

internal::MetadataCacheOptions CacheOptions(const ProducerOptions& options,
                                            std::vector<std::string> bootstrap) {
  internal::MetadataCacheOptions o;
  o.bootstrap = std::move(bootstrap);
  o.retry_backoff_ms = options.retry_backoff_ms;
  o.metadata_max_age_ms = options.metadata_max_age_ms;
  o.request_timeout_ms = options.request_timeout_ms;
  o.allow_auto_topic_creation = true;  // as Kafka's producer asks
  o.who = "producer";
  return o;
}

}  // namespace

Producer::Impl::Impl(const ProducerOptions& options, std::vector<std::string> bootstrap,
                     const Clock& clock)
    : options_(options),
      clock_(clock),
      channels_(options.client_id),
      metadata_(CacheOptions(options, std::move(bootstrap)), &channels_, &clock),
      accumulator_(options) {
  sender_ = std::thread([this] { SenderLoop(); });
}

// --- Send side ---

absl::Status Producer::Impl::Send(const ProducerRecord& record, SendCallback callback) {
  if (record.topic.empty()) return absl::InvalidArgumentError("record: empty topic");
  {
    MutexLock lock(&mu_);
    if (closing_) return absl::FailedPreconditionError("producer is closed");
  }
  const int64_t footprint = RecordFootprint(record);
  if (footprint > options_.max_request_size) {
    return absl::InvalidArgumentError(absl::StrCat("record of ", footprint,
                                                   " bytes is larger than max.request.size (",
                                                   options_.max_request_size, ")"));
  }
  // A topic not seen yet blocks for its metadata (up to max.block.ms); known topics are kept up
  // to date by the sender.
  ASSIGN_OR_RETURN(const int32_t partitions,
                   metadata_.PartitionCount(record.topic, options_.max_block_ms));
  if (record.partition.has_value() && (*record.partition < 0 || *record.partition >= partitions)) {
    return absl::InvalidArgumentError(absl::StrCat("record: partition ", *record.partition,
                                                   " is not in topic ", record.topic, " (0..",
                                                   partitions - 1, ")"));
  }
  std::vector<record::RecordHeader> headers;
  headers.reserve(record.headers.size());
  for (const Header& h : record.headers) {
    headers.push_back({h.key, h.value ? std::optional<std::string_view>(*h.value) : std::nullopt});
  }
  const int64_t timestamp = record.timestamp >= 0 ? record.timestamp : clock_.NowMs();

  MutexLock lock(&mu_);
  if (closing_) return absl::FailedPreconditionError("producer is closed");
  // buffer.memory: wait for room (a record always fits into an empty buffer).
  const auto deadline = clock_.SteadyNow() + std::chrono::milliseconds(options_.max_block_ms);
  while (accumulator_.buffered_bytes() > 0 &&
         accumulator_.buffered_bytes() + footprint > options_.buffer_memory) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.SteadyNow());
    if (left.count() <= 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("buffer.memory (", options_.buffer_memory, " bytes) full for max.block.ms (",
                       options_.max_block_ms, " ms): the broker is not keeping up or unreachable"));
    }
    done_cv_.WaitWithTimeout(&mu_, left);
    if (closing_) return absl::FailedPreconditionError("producer is closed");
  }
  TopicPartition tp{record.topic, 0};
  const bool sticky = !record.partition && !record.key;
  if (record.partition.has_value()) {
    tp.partition = *record.partition;
  } else if (record.key.has_value()) {
    tp.partition = PartitionForKey(*record.key, partitions);
  } else {
    tp.partition = sticky_.Partition(record.topic, partitions);
    // A new batch would have to start: it starts on another partition instead (KIP-480).
    if (!accumulator_.Fits(tp, timestamp, record, headers)) {
      tp.partition = sticky_.Next(record.topic, partitions, tp.partition);
    }
  }
  const internal::RecordAccumulator::Appended appended =
      accumulator_.Append(tp, timestamp, record, headers, footprint, std::move(callback), NowMs());
  // A new batch starts its linger (and may have made an earlier one ready); a full one is ready.
  if (appended.new_batch || appended.batch_full) work_cv_.SignalAll();
  if (appended.batch_full && sticky) sticky_.Next(record.topic, partitions, tp.partition);
  return absl::OkStatus();
}

void Producer::Impl::Flush() {
  MutexLock lock(&mu_);
  ++flushing_;
  work_cv_.SignalAll();
  // Batches created from now on are not waited for.
  const uint64_t end = accumulator_.next_batch_id();
  while (accumulator_.HasIncompleteBefore(end) && !stopped_) done_cv_.Wait(&mu_);
  --flushing_;
}

void Producer::Impl::Close(int64_t timeout_ms) {
  MutexLock close_lock(&close_mu_);
  {
    MutexLock lock(&mu_);
    closing_ = true;
    work_cv_.SignalAll();
    done_cv_.SignalAll();
    const auto deadline =
        clock_.SteadyNow() + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
    while (accumulator_.HasIncomplete() && !stopped_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.SteadyNow());
      if (left.count() <= 0) break;
      done_cv_.WaitWithTimeout(&mu_, left);
    }
    stopped_ = true;
    // The sender may be blocked writing to a broker that stopped reading: unblock it.
    for (auto& [address, link] : links_) {
      if (link.stream != nullptr) link.stream->Cancel();
    }
    work_cv_.SignalAll();
  }
  if (sender_.joinable()) sender_.join();
}

// --- Sender side ---

void Producer::Impl::SenderLoop() {
  MutexLock lock(&mu_);
  while (!stopped_) {
    const int64_t now = NowMs();
    std::vector<Finished> finished;
    if (now - last_expire_ms_ >= 100) {
      last_expire_ms_ = now;
      ExpireLocked(now, &finished);
    }
    if (!finished.empty()) {
      RunUnlocked(&mu_, [&] { Complete(std::move(finished)); });
      continue;
    }
    // A link whose stream ended: its batches go back to be resent.
    auto broken = std::find_if(links_.begin(), links_.end(),
                               [](const auto& entry) { return entry.second.broken; });
    if (broken != links_.end()) {
      DisconnectDroppingLock(broken->first);
      continue;
    }
    // Leaders moved, unknown, unreachable, or the metadata is old. (A refresh that finds no
    // broker logs it; the batches wait in their queues, within delivery.timeout.ms.)
    if (accumulator_.HasIncomplete() && metadata_.RefreshDue()) {
      RunUnlocked(&mu_, [&] { metadata_.MaybeRefresh().IgnoreError(); });
      continue;
    }
    // request.timeout.ms: an answer overdue means the stream is stuck; cancel it, and its
    // batches are resent once the reader has seen the end.
    for (auto& [address, link] : links_) {
      if (link.stream == nullptr || link.cancelled || link.in_flight.empty() ||
          now - link.in_flight.begin()->second.sent_ms <= options_.request_timeout_ms) {
        continue;
      }
      log_->warn("producer: no answer from {} within request.timeout.ms={}; reconnecting", address,
                 options_.request_timeout_ms);
      link.stream->Cancel();
      link.cancelled = true;
    }
    // The first producer id, or a new one after a failed sequenced batch once every outstanding
    // batch is back.
    const bool need_id = options_.idempotent() && accumulator_.HasIncomplete() &&
                         (producer_id_ < 0 || (reset_producer_id_ && !AnyInFlightLocked()));
    if (need_id && now >= init_at_ms_) {
      const bool renumber = producer_id_ >= 0;
      absl::Status s = RunUnlocked(&mu_, [&] { return TakeProducerId(renumber); });
      if (!s.ok()) {
        if (last_init_error_.ok()) log_->warn("producer: {}", s.ToString());
        init_at_ms_ = NowMs() + options_.retry_backoff_ms;
      }
      last_init_error_ = s;
      continue;
    }
    int64_t wake = now + 1000;
    if (!reset_producer_id_ && !(options_.idempotent() && producer_id_ < 0)) {
      wake = DrainAndSendDroppingLock(now);
      if (wake <= now) continue;
    } else if (need_id) {
      wake = init_at_ms_;
    }
    for (const auto& [address, link] : links_) {
      if (!link.in_flight.empty()) {
        wake = std::min(wake,
                        link.in_flight.begin()->second.sent_ms + options_.request_timeout_ms + 1);
      }
    }
    work_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(std::max<int64_t>(wake - now, 1)));
  }
  // Stopped: whatever is left fails.
  std::vector<Finished> finished;
  FailAllLocked(absl::CancelledError("producer closed before the record was delivered"), &finished);
  for (auto& [address, link] : links_) {
    if (link.stream != nullptr) DisconnectDroppingLock(address);
  }
  RunUnlocked(&mu_, [&] { Complete(std::move(finished)); });
}

int64_t Producer::Impl::DrainAndSendDroppingLock(int64_t now) {
  std::map<TopicPartition, std::string> routes;  // partition -> its leader's address
  std::set<std::string> to_connect;
  bool leader_unknown = false;
  const auto sendable = [&](const TopicPartition& tp) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const std::optional<internal::LeaderInfo> leader = metadata_.Leader(tp);
    if (!leader.has_value()) {
      leader_unknown = true;
      return false;
    }
    Link& link = links_[leader->address];
    if (link.stream == nullptr) {
      to_connect.insert(leader->address);
      return false;
    }
    if (link.broken || link.cancelled ||
        static_cast<int32_t>(link.in_flight.size()) >= options_.max_in_flight) {
      return false;
    }
    routes[tp] = leader->address;
    return true;
  };
  std::vector<BatchPtr> batches;
  int64_t wake = accumulator_.Drain(now, flushing_ > 0 || closing_, producer_id_, producer_epoch_,
                                    sendable, &batches);
  if (leader_unknown) {
    metadata_.RequestUpdate();
    wake = std::min(wake, ToMs(metadata_.NextRefresh()));
  }
  for (const std::string& address : to_connect) {
    const int64_t at = links_[address].reconnect_at_ms;
    if (at > now) {
      wake = std::min(wake, at);
      continue;
    }
    ConnectDroppingLock(address);
    wake = now;  // the batches waiting for it go out in the next round
  }
  if (batches.empty()) return wake;
  std::map<std::string, std::vector<BatchPtr>> requests;
  for (BatchPtr& batch : batches) requests[routes[batch->tp]].push_back(std::move(batch));
  for (auto& entry : requests) {
    const std::string& address = entry.first;  // named: a lambda cannot capture a binding
    std::vector<BatchPtr>& request = entry.second;
    absl::Status s = RunUnlocked(&mu_, [&] { return SendRequest(address, std::move(request)); });
    if (!s.ok()) links_[address].broken = true;  // the batches are in flight there and get resent
  }
  return now;
}

bool Producer::Impl::AnyInFlightLocked() const {
  return std::any_of(links_.begin(), links_.end(),
                     [](const auto& entry) { return !entry.second.in_flight.empty(); });
}

void Producer::Impl::ConnectDroppingLock(const std::string& address) {
  Link& link = links_[address];
  // Cleared before the stream starts: a stream that ends at once reports it after this.
  link.broken = false;
  link.cancelled = false;
  auto stream = RunUnlocked(&mu_, [&] {
    return std::make_unique<internal::ProduceLink>(
        address, channels_.Get(address),
        [this, address](const v1::ProduceResponse& r) { HandleResponse(address, r); },
        [this, address] { OnLinkEnd(address); });
  });
  link.stream = std::move(stream);
  if (stopped_) link.stream->Cancel();  // Close came while the stream started
}

void Producer::Impl::OnLinkEnd(const std::string& address) {
  MutexLock lock(&mu_);
  links_[address].broken = true;
  work_cv_.SignalAll();
}

absl::StatusOr<v1::InitProducerIdResponse> Producer::Impl::InitProducerId() {
  const std::string address = metadata_.AnyBroker();
  v1::Broker::Stub stub(channels_.Get(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.request_timeout_ms));
  v1::InitProducerIdResponse response;
  const grpc::Status s = stub.InitProducerId(&context, {}, &response);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      metadata_.MarkUnreachable(address);
    }
    return RpcError(s, address, "InitProducerId");
  }
  RETURN_IF_ERROR(ToStatus(response.error(), "InitProducerId at " + address));
  return response;
}

absl::Status Producer::Impl::TakeProducerId(bool renumber) {
  ASSIGN_OR_RETURN(v1::InitProducerIdResponse response, InitProducerId());
  MutexLock lock(&mu_);
  if (renumber) {
    log_->warn(
        "producer: a batch failed after it got a sequence number; continuing as producer {} "
        "(was {})",
        response.producer_id(), producer_id_);
  }
  producer_id_ = response.producer_id();
  producer_epoch_ = static_cast<int16_t>(response.producer_epoch());
  if (renumber) accumulator_.Renumber(producer_id_, producer_epoch_);
  reset_producer_id_ = false;
  return absl::OkStatus();
}

void Producer::Impl::DisconnectDroppingLock(const std::string& address) {
  Link& link = links_[address];
  std::unique_ptr<internal::ProduceLink> stream = std::move(link.stream);
  if (stream != nullptr) {
    RunUnlocked(&mu_, [&] { stream.reset(); });  // the reader takes mu_ to finish
  }
  link.broken = false;
  link.reconnect_at_ms = NowMs() + options_.retry_backoff_ms;
  if (stopped_) return;  // FailAllLocked took the batches in flight
  if (!link.warned) {
    log_->warn("producer: produce stream to {} ended; {} requests to resend", address,
               link.in_flight.size());
    link.warned = true;
  }
  // The broker went away or hangs: its partitions may have a new leader.
  metadata_.MarkUnreachable(address);
  std::vector<Finished> finished;
  const absl::Status why =
      absl::UnavailableError(absl::StrCat("produce stream to ", address, " broke"));
  for (auto& [id, request] : link.in_flight) {
    for (BatchPtr& batch : request.batches) {
      accumulator_.Returned(batch->tp);
      RetryLocked(std::move(batch), why, &finished);
    }
  }
  link.in_flight.clear();
  if (!finished.empty()) {
    RunUnlocked(&mu_, [&] { Complete(std::move(finished)); });
  }
}

absl::Status Producer::Impl::SendRequest(const std::string& address,
                                         std::vector<BatchPtr> batches) {
  v1::ProduceRequest request;
  request.set_acks(options_.acks == Acks::kAll    ? v1::ACKS_ALL
                   : options_.acks == Acks::kNone ? v1::ACKS_NONE
                                                  : v1::ACKS_LEADER);
  request.set_timeout_ms(options_.request_timeout_ms);
  std::vector<std::pair<BatchPtr, absl::Status>> unbuilt;
  for (BatchPtr& batch : batches) {
    if (batch->encoded.empty()) {
      auto encoded = batch->builder.Build();
      if (!encoded.ok()) {
        unbuilt.emplace_back(std::move(batch), encoded.status());
        continue;
      }
      batch->encoded = std::move(*encoded);
    }
    v1::PartitionBatches* p = request.add_partitions();
    p->set_topic(batch->tp.topic);
    p->set_partition(batch->tp.partition);
    p->set_records(batch->encoded);
  }
  std::erase_if(batches, [](const BatchPtr& b) { return b == nullptr; });
  internal::ProduceLink* stream;
  std::vector<Finished> finished;
  {
    MutexLock lock(&mu_);
    for (auto& [batch, why] : unbuilt) {
      accumulator_.Returned(batch->tp);
      FailLocked(std::move(batch), std::move(why), &finished);
    }
    request.set_id(next_request_id_++);
    Link& link = links_[address];
    stream = link.stream.get();  // replaced by this (the sender) thread only
    RUNNEL_CHECK(stream != nullptr, "produce request for %s without a link", address);
    if (options_.acks != Acks::kNone && !batches.empty()) {
      link.in_flight[request.id()] = {NowMs(), std::move(batches)};
    }
  }
  if (!finished.empty()) Complete(std::move(finished));
  if (request.partitions_size() == 0) return absl::OkStatus();
  if (!stream->Write(request)) {
    // With acks=0 the batches are lost with the stream, as with Kafka.
    for (BatchPtr& batch : batches) {
      if (batch) finished.push_back({std::move(batch), absl::UnavailableError("stream broke")});
    }
    if (!finished.empty()) {
      MutexLock lock(&mu_);
      for (const Finished& f : finished) accumulator_.Returned(f.batch->tp);
    }
    Complete(std::move(finished));
    return absl::UnavailableError(absl::StrCat("produce stream write to ", address, " failed"));
  }
  if (options_.acks == Acks::kNone) {
    {
      MutexLock lock(&mu_);
      for (const BatchPtr& b : batches) accumulator_.Returned(b->tp);
    }
    for (BatchPtr& batch : batches) finished.push_back({std::move(batch), absl::OkStatus()});
    Complete(std::move(finished));
  }
  return absl::OkStatus();
}

void Producer::Impl::HandleResponse(const std::string& address,
                                    const v1::ProduceResponse& response) {
  std::vector<Finished> finished;
  {
    MutexLock lock(&mu_);
    Link& link = links_[address];
    auto it = link.in_flight.find(response.id());
    if (it == link.in_flight.end()) return;  // resent after a reconnect; this answer is stale
    InFlight request = std::move(it->second);
    link.in_flight.erase(it);
    link.warned = false;
    work_cv_.SignalAll();
    for (size_t i = 0; i < request.batches.size(); ++i) {
      BatchPtr& batch = request.batches[i];
      accumulator_.Returned(batch->tp);
      if (static_cast<int>(i) >= response.partitions_size()) {
        RetryLocked(std::move(batch), absl::InternalError("answer lacks a partition"), &finished);
        continue;
      }
      const v1::PartitionProduceResult& result = response.partitions(static_cast<int>(i));
      const v1::ErrorCode code = result.error().code();
      if (code == v1::NONE || code == v1::DUPLICATE_SEQUENCE_NUMBER) {
        accumulator_.Acknowledged(*batch);
        finished.push_back(
            {std::move(batch), absl::OkStatus(), result.base_offset(), result.log_append_time()});
        continue;
      }
      // The partition moved (to the leader the error names, if it names one) or is unknown here
      // yet: the retry goes where the metadata says then.
      if (code == v1::NOT_LEADER) metadata_.OnNotLeader(batch->tp, result.error());
      if (code == v1::UNKNOWN_TOPIC_OR_PARTITION) metadata_.RequestUpdate();
      absl::Status error = ToStatus(
          result.error(), absl::StrCat("produce to ", ToString(batch->tp), " at ", address));
      // Out of order because an earlier batch of the partition is being resent (or will be,
      // renumbered): this one follows it.
      const bool behind_a_resend = code == v1::OUT_OF_ORDER_SEQUENCE_NUMBER &&
                                   (reset_producer_id_ || accumulator_.BehindAResend(*batch));
      if (Retriable(code) || behind_a_resend) {
        RetryLocked(std::move(batch), error, &finished);
      } else {
        FailLocked(std::move(batch), std::move(error), &finished);
      }
    }
  }
  Complete(std::move(finished));
}

void Producer::Impl::RetryLocked(BatchPtr batch, const absl::Status& why,
                                 std::vector<Finished>* finished) {
  if (stopped_ || !accumulator_.CanRetry(*batch, NowMs())) {
    FailLocked(std::move(batch), why, finished);
    return;
  }
  accumulator_.Requeue(std::move(batch), NowMs());
}

void Producer::Impl::FailLocked(BatchPtr batch, absl::Status why, std::vector<Finished>* finished) {
  if (options_.idempotent() && batch->base_sequence >= 0 && !stopped_) {
    reset_producer_id_ = true;
    work_cv_.SignalAll();
  }
  finished->push_back({std::move(batch), std::move(why)});
}

void Producer::Impl::ExpireLocked(int64_t now, std::vector<Finished>* finished) {
  std::vector<BatchPtr> expired;
  accumulator_.Expire(now, &expired);
  for (BatchPtr& batch : expired) {
    const std::string tp = ToString(batch->tp);
    FailLocked(std::move(batch),
               absl::DeadlineExceededError(absl::StrCat("record to ", tp,
                                                        " not delivered within "
                                                        "delivery.timeout.ms (",
                                                        options_.delivery_timeout_ms, " ms)")),
               finished);
  }
}

void Producer::Impl::FailAllLocked(const absl::Status& why, std::vector<Finished>* finished) {
  std::vector<BatchPtr> queued;
  accumulator_.TakeAll(&queued);
  for (BatchPtr& batch : queued) finished->push_back({std::move(batch), why});
  for (auto& [address, link] : links_) {
    for (auto& [id, request] : link.in_flight) {
      for (BatchPtr& batch : request.batches) finished->push_back({std::move(batch), why});
    }
    link.in_flight.clear();
  }
}

void Producer::Impl::Complete(std::vector<Finished> finished) {
  if (finished.empty()) return;
  for (Finished& f : finished) {
    ProducerBatch& batch = *f.batch;
    for (size_t i = 0; i < batch.completions.size(); ++i) {
      ProducerBatch::Completion& c = batch.completions[i];
      if (!c.callback) continue;
      if (!f.status.ok()) {
        c.callback(f.status);
        continue;
      }
      RecordMetadata metadata{batch.tp.topic, batch.tp.partition,
                              f.base_offset < 0 ? -1 : f.base_offset + static_cast<int64_t>(i),
                              f.log_append_time >= 0 ? f.log_append_time : c.timestamp};
      c.callback(metadata);
    }
  }
  MutexLock lock(&mu_);
  for (const Finished& f : finished) accumulator_.Release(*f.batch);
  done_cv_.SignalAll();
}

// --- Producer ----------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  return Create(options, Clock::Real());
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const Properties& properties) {
  return Create(properties, Clock::Real());
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options,
                                                           const Clock& clock) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::vector<std::string> bootstrap,
                   internal::ParseBootstrapServers(options.bootstrap_servers));
  return std::unique_ptr<Producer>(
      new Producer(std::make_unique<Impl>(options, std::move(bootstrap), clock)));
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const Properties& properties,
                                                           const Clock& clock) {
  ASSIGN_OR_RETURN(ProducerOptions options, ProducerOptions::FromProperties(properties));
  return Create(options, clock);
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Producer::~Producer() { impl_->Close(); }

absl::Status Producer::Send(const ProducerRecord& record, SendCallback callback) {
  return impl_->Send(record, std::move(callback));
}

std::future<absl::StatusOr<RecordMetadata>> Producer::Send(const ProducerRecord& record) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecordMetadata>>>();
  auto future = promise->get_future();
  absl::Status s = impl_->Send(record, [promise](const absl::StatusOr<RecordMetadata>& result) {
    promise->set_value(result);
  });
  if (!s.ok()) promise->set_value(s);
  return future;
}

void Producer::Flush() { impl_->Flush(); }
void Producer::Close(int64_t timeout_ms) { impl_->Close(timeout_ms); }
const ProducerOptions& Producer::options() const { return impl_->options(); }
int64_t Producer::producer_id() const { return impl_->producer_id(); }

}  // namespace runnel::client
