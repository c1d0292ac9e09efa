#include "client/producer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/internal/grpc_status.h"
#include "client/internal/record_accumulator.h"
#include "client/internal/sticky_partitioner.h"
#include "client/partitioner.h"
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
  // `clock` outlives the producer.
  Impl(const ProducerOptions& options, const Clock& clock);
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
  struct TopicState {
    int32_t partitions = 0;
    int64_t fetched_ms = 0;
  };

  struct InFlight {
    int64_t sent_ms;
    std::vector<BatchPtr> batches;  // in the order of the request's partitions
  };

  // A finished batch whose callbacks still have to run (outside the lock).
  struct Finished {
    BatchPtr batch;
    absl::Status status;
    int64_t base_offset = -1;
    int64_t log_append_time = -1;
  };

  absl::StatusOr<int32_t> PartitionCount(const std::string& topic);
  void SenderLoop();
  absl::Status Connect();
  // Called with mu_ held; releases it while the reader thread ends and while callbacks run, so
  // any state read before the call may have changed after it.
  void DisconnectDroppingLock() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaderLoop(grpc::ClientReaderWriter<v1::ProduceRequest, v1::ProduceResponse>* stream);
  absl::Status SendRequest(std::vector<BatchPtr> batches);
  void HandleResponse(const v1::ProduceResponse& response);
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
  // The new producer id after a failed sequenced batch; once nothing is in flight.
  absl::Status ResetProducerId() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::InitProducerIdResponse> InitProducerId() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs callbacks, then releases the batches' memory and completion counts.
  void Complete(std::vector<Finished> finished) ABSL_LOCKS_EXCLUDED(mu_);

  // Steady milliseconds of the clock: linger, retries, timeouts, metadata age.
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.SteadyNow().time_since_epoch())
        .count();
  }

  const ProducerOptions options_;
  const Clock& clock_;
  const std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");

  mutable Mutex mu_;
  CondVar work_cv_;  // the sender: new work, responses, closing
  CondVar done_cv_;  // Flush, Close and Send waiting for memory: batches completed
  absl::flat_hash_map<std::string, TopicState> topics_ ABSL_GUARDED_BY(mu_);  // metadata
  internal::StickyPartitioner sticky_ ABSL_GUARDED_BY(mu_);
  internal::RecordAccumulator accumulator_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
  int32_t flushing_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // no new sends; linger no longer waited for
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // the sender must exit now
  int64_t producer_id_ ABSL_GUARDED_BY(mu_) = -1;
  int16_t producer_epoch_ ABSL_GUARDED_BY(mu_) = -1;
  bool reset_producer_id_ ABSL_GUARDED_BY(mu_) = false;  // see FailLocked

  // The current Produce stream; replaced by the sender thread only (under mu_, so Close may
  // cancel it).
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::ClientReaderWriter<v1::ProduceRequest, v1::ProduceResponse>> stream_;
  std::thread reader_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;     // the reader saw the stream end
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;  // request.timeout.ms cancelled the stream
  int64_t reconnect_at_ms_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_connect_error_ ABSL_GUARDED_BY(mu_);
  int64_t last_expire_ms_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread sender_;
  Mutex close_mu_;  // one Close at a time
};

Producer::Impl::Impl(const ProducerOptions& options, const Clock& clock)
    : options_(options),
      clock_(clock),
      target_(std::vector<std::string>(absl::StrSplit(options.bootstrap_servers, ',')).front()),
      accumulator_(options) {
  grpc::ChannelArguments args;
  if (!options.client_id.empty())
    args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, options.client_id);
  args.SetMaxSendMessageSize(-1);  // requests are bounded by max.request.size
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Broker::NewStub(channel_);
  sender_ = std::thread([this] { SenderLoop(); });
}

// --- Send side ---

absl::StatusOr<int32_t> Producer::Impl::PartitionCount(const std::string& topic) {
  {
    MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it != topics_.end() && NowMs() - it->second.fetched_ms < options_.metadata_max_age_ms) {
      return it->second.partitions;
    }
  }
  v1::MetadataRequest request;
  request.add_topics(topic);
  request.set_allow_auto_topic_creation(true);
  v1::MetadataResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(std::max(options_.max_block_ms, 1)));
  context.set_wait_for_ready(true);  // a broker that is starting is waited for, up to the deadline
  const grpc::Status s = stub_->Metadata(&context, request, &response);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("metadata for topic ", topic, " from ", target_, ": ", s.error_message(),
                     " (after max.block.ms=", options_.max_block_ms, ")"));
  }
  if (response.topics_size() != 1) {
    return absl::InternalError(absl::StrCat("metadata for topic ", topic, ": ",
                                            response.topics_size(), " topics in the answer"));
  }
  const v1::TopicMetadata& t = response.topics(0);
  if (t.error().code() == v1::UNKNOWN_TOPIC_OR_PARTITION) {
    return absl::NotFoundError(absl::StrCat(
        "topic ", topic, " does not exist and the broker does not auto-create topics"));
  }
  RETURN_IF_ERROR(ToStatus(t.error(), "metadata for topic " + topic));
  if (t.partitions_size() == 0) {
    return absl::InternalError(absl::StrCat("metadata for topic ", topic, ": no partitions"));
  }
  MutexLock lock(&mu_);
  TopicState& state = topics_[topic];
  state.partitions = t.partitions_size();
  state.fetched_ms = NowMs();
  return state.partitions;
}

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
  ASSIGN_OR_RETURN(const int32_t partitions, PartitionCount(record.topic));
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
    if (context_ != nullptr) context_->TryCancel();
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
    if (broken_) DisconnectDroppingLock();
    if (!connected_) {
      if (!accumulator_.HasIncomplete() || now < reconnect_at_ms_) {
        work_cv_.WaitWithTimeout(
            &mu_, std::chrono::milliseconds(std::max<int64_t>(reconnect_at_ms_ - now, 100)));
        continue;
      }
      absl::Status s = RunUnlocked(&mu_, [&] { return Connect(); });
      if (!s.ok()) {
        if (last_connect_error_.ok()) log_->warn("producer: {}", s.ToString());
        last_connect_error_ = s;
        reconnect_at_ms_ = NowMs() + options_.retry_backoff_ms;
      }
      continue;
    }
    // request.timeout.ms: an answer overdue means the stream is stuck; cancel and resend.
    if (!in_flight_.empty() &&
        now - in_flight_.begin()->second.sent_ms > options_.request_timeout_ms) {
      if (!cancelled_) {
        log_->warn("producer: no answer from {} within request.timeout.ms={}; reconnecting",
                   target_, options_.request_timeout_ms);
        context_->TryCancel();
        cancelled_ = true;
      }
      work_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(10));
      continue;
    }
    if (reset_producer_id_) {
      // Wait for every outstanding batch, then renumber under a new producer id.
      if (!in_flight_.empty()) {
        work_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(100));
        continue;
      }
      absl::Status s = RunUnlocked(&mu_, [&] { return ResetProducerId(); });
      if (!s.ok()) {
        log_->warn("producer: {}", s.ToString());
        work_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(options_.retry_backoff_ms));
      }
      continue;
    }
    std::vector<BatchPtr> batches;
    int64_t wake = now + 1000;
    if (static_cast<int32_t>(in_flight_.size()) < options_.max_in_flight) {
      wake = accumulator_.Drain(now, flushing_ > 0 || closing_, producer_id_, producer_epoch_,
                                &batches);
    }
    if (batches.empty()) {
      if (!in_flight_.empty()) {
        wake = std::min(wake, in_flight_.begin()->second.sent_ms + options_.request_timeout_ms + 1);
      }
      work_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(std::max<int64_t>(wake - now, 1)));
      continue;
    }
    absl::Status s = RunUnlocked(&mu_, [&] { return SendRequest(std::move(batches)); });
    if (!s.ok()) broken_ = true;  // the batches are in in_flight_ and get resent
  }
  // Stopped: whatever is left fails.
  std::vector<Finished> finished;
  FailAllLocked(absl::CancelledError("producer closed before the record was delivered"), &finished);
  if (connected_) DisconnectDroppingLock();
  RunUnlocked(&mu_, [&] { Complete(std::move(finished)); });
}

absl::Status Producer::Impl::Connect() {
  bool need_id;
  {
    MutexLock lock(&mu_);
    need_id = options_.idempotent() && producer_id_ < 0;
  }
  if (need_id) {
    ASSIGN_OR_RETURN(v1::InitProducerIdResponse response, InitProducerId());
    MutexLock lock(&mu_);
    producer_id_ = response.producer_id();
    producer_epoch_ = static_cast<int16_t>(response.producer_epoch());
  }
  auto context = std::make_unique<grpc::ClientContext>();
  auto stream = stub_->Produce(context.get());
  MutexLock lock(&mu_);
  context_ = std::move(context);
  stream_ = std::move(stream);
  connected_ = true;
  broken_ = false;
  cancelled_ = false;
  if (!last_connect_error_.ok()) log_->info("producer: connected to {}", target_);
  last_connect_error_ = absl::OkStatus();
  reader_ = std::thread([this, stream = stream_.get()] { ReaderLoop(stream); });
  return absl::OkStatus();
}

absl::StatusOr<v1::InitProducerIdResponse> Producer::Impl::InitProducerId() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.request_timeout_ms));
  v1::InitProducerIdResponse response;
  const grpc::Status s = stub_->InitProducerId(&context, {}, &response);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("InitProducerId at ", target_, ": ", s.error_message()));
  }
  RETURN_IF_ERROR(ToStatus(response.error(), "InitProducerId"));
  return response;
}

absl::Status Producer::Impl::ResetProducerId() {
  ASSIGN_OR_RETURN(v1::InitProducerIdResponse response, InitProducerId());
  MutexLock lock(&mu_);
  log_->warn(
      "producer: a batch failed after it got a sequence number; continuing as producer {} "
      "(was {})",
      response.producer_id(), producer_id_);
  producer_id_ = response.producer_id();
  producer_epoch_ = static_cast<int16_t>(response.producer_epoch());
  accumulator_.Renumber(producer_id_, producer_epoch_);
  reset_producer_id_ = false;
  return absl::OkStatus();
}

// Ends the current stream: every batch in flight goes back to its queue to be resent.
void Producer::Impl::DisconnectDroppingLock() {
  context_->TryCancel();
  RunUnlocked(&mu_, [&] {  // the reader takes mu_ to finish
    reader_.join();
    stream_->Finish().IgnoreError();
  });
  stream_.reset();
  context_.reset();
  connected_ = false;
  broken_ = false;
  reconnect_at_ms_ = NowMs() + options_.retry_backoff_ms;
  std::vector<Finished> finished;
  for (auto& [id, request] : in_flight_) {
    for (BatchPtr& batch : request.batches) {
      accumulator_.Returned(batch->tp);
      RetryLocked(std::move(batch), absl::UnavailableError("produce stream broke"), &finished);
    }
  }
  in_flight_.clear();
  if (!finished.empty()) {
    RunUnlocked(&mu_, [&] { Complete(std::move(finished)); });
  }
}

void Producer::Impl::ReaderLoop(
    grpc::ClientReaderWriter<v1::ProduceRequest, v1::ProduceResponse>* stream) {
  v1::ProduceResponse response;
  while (stream->Read(&response)) HandleResponse(response);
  MutexLock lock(&mu_);
  broken_ = true;
  work_cv_.SignalAll();
}

absl::Status Producer::Impl::SendRequest(std::vector<BatchPtr> batches) {
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
  grpc::ClientReaderWriter<v1::ProduceRequest, v1::ProduceResponse>* stream;
  std::vector<Finished> finished;
  {
    MutexLock lock(&mu_);
    for (auto& [batch, why] : unbuilt) {
      accumulator_.Returned(batch->tp);
      FailLocked(std::move(batch), std::move(why), &finished);
    }
    request.set_id(next_request_id_++);
    stream = stream_.get();
    if (options_.acks != Acks::kNone && !batches.empty()) {
      in_flight_[request.id()] = {NowMs(), std::move(batches)};
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
    return absl::UnavailableError("produce stream write failed");
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

void Producer::Impl::HandleResponse(const v1::ProduceResponse& response) {
  std::vector<Finished> finished;
  {
    MutexLock lock(&mu_);
    auto it = in_flight_.find(response.id());
    if (it == in_flight_.end()) return;  // resent after a reconnect; this answer is stale
    InFlight request = std::move(it->second);
    in_flight_.erase(it);
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
      absl::Status error = ToStatus(result.error(), "produce to " + ToString(batch->tp));
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
  for (auto& [id, request] : in_flight_) {
    for (BatchPtr& batch : request.batches) finished->push_back({std::move(batch), why});
  }
  in_flight_.clear();
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
  return std::unique_ptr<Producer>(new Producer(std::make_unique<Impl>(options, clock)));
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
