// BrokerService's Produce path: the bidirectional stream's reactor (pipelined requests, one
// response per request in completion order, acks=all answered when durable or at timeout_ms) and
// the thread that answers the requests whose timeout passed.
#include <deque>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "broker/partition/producer_state.h"
#include "broker/server/broker_service.h"
#include "broker/server/error_codes.h"
#include "broker/server/partition_rows.h"
#include "broker/server/serving_log.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/record/batch_validator.h"
#include "common/record/record_batch.h"
#include "common/status_macros.h"
#include "storage/log_manager.h"

namespace runnel::broker {
namespace {

// Produce-path meaning of an append or validation failure.
void SetProduceError(const absl::Status& status, v1::Error* error) {
  SetError(status, error);
  if (absl::IsDataLoss(status)) error->set_code(v1::CORRUPT_MESSAGE);
  if (absl::IsInvalidArgument(status)) error->set_code(v1::CORRUPT_MESSAGE);
  if (const std::optional<storage::AppendError> refused = CauseOf<storage::AppendError>(status)) {
    switch (*refused) {
      case storage::AppendError::kMissingKey:
        error->set_code(v1::INVALID_RECORD);
        break;
      case storage::AppendError::kInvalidTimestamp:
        error->set_code(v1::INVALID_TIMESTAMP);
        break;
      case storage::AppendError::kTooLarge:
        error->set_code(v1::RECORD_TOO_LARGE);
        break;
    }
  }
  const std::optional<ProducerError> producer_error = CauseOf<ProducerError>(status);
  if (!producer_error.has_value()) return;
  switch (*producer_error) {
    case ProducerError::kOutOfOrderSequence:
      error->set_code(v1::OUT_OF_ORDER_SEQUENCE_NUMBER);
      return;
    case ProducerError::kProducerFenced:
      error->set_code(v1::PRODUCER_FENCED);
      return;
    case ProducerError::kInvalidSequence:  // Kafka: an InvalidRecordException
      error->set_code(v1::INVALID_RECORD);
      return;
  }
}

// Splits `records` into whole batches, validating each (nothing is appended unless all pass).
absl::StatusOr<std::vector<std::string_view>> SplitAndValidate(std::string_view records,
                                                               int64_t max_uncompressed_bytes) {
  if (records.empty()) return absl::InvalidArgumentError("records: empty, no batch to append");
  std::vector<std::string_view> batches;
  while (!records.empty()) {
    auto view = record::RecordBatchView::Parse(records);
    if (!view.ok()) {
      return absl::DataLossError(
          absl::StrCat("batch ", batches.size(), ": ", view.status().message()));
    }
    absl::Status valid = record::ValidateBatch(
        view->bytes(), {.max_uncompressed_bytes = static_cast<size_t>(max_uncompressed_bytes)});
    if (!valid.ok()) {
      return WithContext(valid, absl::StrCat("batch ", batches.size()));
    }
    if (view->delete_horizon_ms().has_value()) {  // a client's would let its tombstones go early
      return absl::InvalidArgumentError(
          absl::StrCat("batch ", batches.size(),
                       ": attributes: the delete-horizon bit (0x40) is set only by compaction"));
    }
    batches.push_back(view->bytes());
    records.remove_prefix(view->size());
  }
  return batches;
}

}  // namespace

// One bidirectional Produce stream. Requests are handled as they are read (pipelined); each
// response is queued once every partition of its request is appended (and, for acks=all, durable)
// and written in completion order, one write in flight at a time.
class BrokerService::ProduceReactor final
    : public grpc::ServerBidiReactor<v1::ProduceRequest, v1::ProduceResponse> {
 public:
  explicit ProduceReactor(BrokerService* service) : service_(service) {
    service_->AddReactor(this);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    Handle(&request_);
    MutexLock lock(&mu_);
    if (outstanding_ >= service_->options_.produce_max_in_flight) {
      reads_paused_ = true;  // Release reads on once an answer is out
      return;
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    queue_.pop_front();
    StartNextWriteLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    // Finish() may be called with mu_ held (from Release on the flush thread, or OnWriteDone);
    // gRPC can run OnDone on another thread before that lock is released, so wait for it.
    { MutexLock lock(&mu_); }
    service_->RemoveReactor(this);  // waits for a deadline sweep that is looking at it
    delete this;
  }

  // Answers every acks=all request whose timeout_ms has passed and that still waits for a sync:
  // REQUEST_TIMED_OUT on the partitions still waiting (their batches are appended; a retry of an
  // idempotent one is answered as a duplicate). Called by the service's deadline thread.
  void ExpireDeadlines(std::chrono::steady_clock::time_point now) {
    std::vector<std::shared_ptr<Pending>> expired;
    {
      MutexLock lock(&mu_);
      while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        expired.push_back(deadlines_.begin()->second);
        expired.back()->deadline.reset();
        deadlines_.erase(deadlines_.begin());
      }
    }
    for (const std::shared_ptr<Pending>& pending : expired) {
      v1::ProduceResponse ready;
      {
        MutexLock lock(&pending->mu);
        if (pending->answered) continue;
        pending->answered = true;
        for (size_t i = 0; i < pending->waiting.size(); ++i) {
          if (!pending->waiting[i]) continue;
          v1::Error* error =
              pending->response.mutable_partitions(static_cast<int>(i))->mutable_error();
          error->set_code(v1::REQUEST_TIMED_OUT);
          error->set_message(absl::StrCat("not durable within the request's timeout_ms (",
                                          pending->timeout_ms, " ms); the batch was appended"));
        }
        ready = std::move(pending->response);
      }
      Answer(pending, std::move(ready));
    }
  }

 private:
  struct Pending;
  using Deadlines = std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<Pending>>;

  // A response being assembled; `holds` counts the handler itself plus each durable wait.
  struct Pending {
    Mutex mu;
    v1::ProduceResponse response ABSL_GUARDED_BY(mu);
    int holds ABSL_GUARDED_BY(mu) = 1;
    bool answered ABSL_GUARDED_BY(mu) = false;      // by the last hold, or by the deadline
    std::vector<bool> waiting ABSL_GUARDED_BY(mu);  // per partition: for its sync
    int32_t timeout_ms = 0;
    std::optional<Deadlines::iterator> deadline;  // guarded by the reactor's mu_
    bool send = true;
    const std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
  };

  // Takes the record bytes out of `request` where it can (no copy on the way into the log).
  void Handle(v1::ProduceRequest* request_ptr) {
    v1::ProduceRequest& request = *request_ptr;
    service_->metrics_->produce_requests++;
    auto pending = std::make_shared<Pending>();
    pending->send = request.acks() != v1::ACKS_NONE;
    {
      MutexLock lock(&mu_);
      ++outstanding_;
    }
    service_->metrics_->produce_in_flight++;
    pending->timeout_ms = request.timeout_ms();
    {
      MutexLock lock(&pending->mu);
      pending->response.set_id(request.id());
      pending->waiting.assign(static_cast<size_t>(request.partitions_size()), false);
    }
    for (int i = 0; i < request.partitions_size(); ++i) {
      v1::PartitionBatches& p = *request.mutable_partitions(i);
      v1::PartitionProduceResult* result;
      {
        MutexLock lock(&pending->mu);
        result = pending->response.add_partitions();
        result->set_topic(p.topic());
        result->set_partition(p.partition());
        result->set_base_offset(-1);
        result->set_log_append_time(-1);
      }
      // A bad topic name is INVALID_TOPIC, as Kafka answers it (not a corrupt batch).
      const absl::Status name = storage::ValidateTopicName(p.topic());
      absl::Status status = name.ok() ? AppendPartition(request.acks(), p, i, pending) : name;
      if (!status.ok()) {
        service_->metrics_->produce_errors++;
        MutexLock lock(&pending->mu);
        v1::Error* error = pending->response.mutable_partitions(i)->mutable_error();
        SetProduceError(status, error);
        if (!name.ok()) error->set_code(v1::INVALID_TOPIC);
      }
    }
    if (request.acks() == v1::ACKS_ALL && request.timeout_ms() > 0) {
      // Before the handler's own hold goes: the request cannot have been answered yet.
      MutexLock lock(&mu_);
      pending->deadline = deadlines_.emplace(
          pending->received + std::chrono::milliseconds(request.timeout_ms()), pending);
    }
    Release(pending);
  }

  // Appends the partition's batches in order, each through the idempotent-producer checks; the
  // first failure stops the rest (batches before it stay appended, as a retry finds them
  // duplicates). The answer carries the first batch's offset: for a duplicate, its original one.
  absl::Status AppendPartition(v1::Acks acks, v1::PartitionBatches& p, int index,
                               const std::shared_ptr<Pending>& pending) {
    // Only the broker writes its internal topics (group offsets and membership).
    RETURN_IF_ERROR(RefuseInternalTopic(p.topic(), "produce to topic"));
    if (service_->cluster_ != nullptr) return ProposePartition(acks, p, index, pending);
    // Clients' appends stop short of a full disk, so metadata writes still find room.
    RETURN_IF_ERROR(service_->partitions_->logs().disk_space().CheckForAppends());
    // An acks=all answer waits in the flusher: refused before appending when too many wait.
    if (acks == v1::ACKS_ALL) RETURN_IF_ERROR(service_->partitions_->logs().flusher().CheckRoom());
    auto log = service_->partitions_->GetLog(p.topic(), p.partition(), /*allow_auto_create=*/true);
    if (!log.ok()) return log.status();
    auto batches = SplitAndValidate(p.records(), service_->options_.max_uncompressed_batch_bytes);
    if (!batches.ok()) return batches.status();
    service_->metrics_->produce_bytes += static_cast<int64_t>(p.records().size());
    const storage::TopicPartition tp{p.topic(), p.partition()};
    int64_t durable_end = 0;  // past the last offset answered for, duplicates' originals included
    absl::Status status;
    for (size_t b = 0; b < batches->size(); ++b) {
      // The usual single batch is moved out of the request; several are copied one by one.
      std::string batch =
          batches->size() == 1 ? std::move(*p.mutable_records()) : std::string((*batches)[b]);
      auto appended = service_->partitions_->producer_states().Append(tp, *log, std::move(batch));
      if (!appended.ok()) {
        status = appended.status();
        break;
      }
      durable_end = std::max(durable_end, appended->result.last_offset + 1);
      if (b == 0) {
        MutexLock lock(&pending->mu);
        v1::PartitionProduceResult* result = pending->response.mutable_partitions(index);
        result->set_base_offset(appended->result.base_offset);
        result->set_log_append_time(appended->result.log_append_time);
        result->set_log_start_offset((*log)->start_offset());
      }
    }
    if (status.ok() && acks == v1::ACKS_ALL) WaitDurable(log->get(), durable_end, index, pending);
    return status;
  }

  // AppendPartition in a cluster: this broker must lead the partition; each batch is checked and
  // stamped (Log::PrepareAppend), then proposed to the partition's Raft group in order, and the
  // answer waits for the leader's append (acks=1) or the commit (acks=all: synced on a majority).
  absl::Status ProposePartition(v1::Acks acks, v1::PartitionBatches& p, int index,
                                const std::shared_ptr<Pending>& pending) {
    RETURN_IF_ERROR(service_->partitions_->logs().disk_space().CheckForAppends());
    ASSIGN_OR_RETURN(const std::shared_ptr<storage::Log> log,
                     ServingLog(*service_->partitions_, service_->cluster_, p.topic(),
                                p.partition(), true, service_->topic_creator_.get()));
    ASSIGN_OR_RETURN(
        const std::vector<std::string_view> batches,
        SplitAndValidate(p.records(), service_->options_.max_uncompressed_batch_bytes));
    service_->metrics_->produce_bytes += static_cast<int64_t>(p.records().size());
    const storage::TopicPartition tp{p.topic(), p.partition()};
    for (size_t b = 0; b < batches.size(); ++b) {
      std::string batch =
          batches.size() == 1 ? std::move(*p.mutable_records()) : std::string(batches[b]);
      int64_t append_time = -1;
      RETURN_IF_ERROR(log->PrepareAppend(&batch, &append_time));
      const int64_t count = record::RecordBatchView::Parse(batch)->last_offset_delta() + int64_t{1};
      {
        MutexLock lock(&pending->mu);
        ++pending->holds;
        pending->waiting[static_cast<size_t>(index)] = true;
      }
      // Answered on the replication thread, possibly after a deadline answered the request: it
      // touches the reactor only if it is the one that answers (as WaitDurable's callback).
      service_->cluster_->replicas().Produce(
          tp, std::move(batch), count, acks == v1::ACKS_ALL,
          [reactor = this, pending, index, first = b == 0, log, tp, append_time,
           cluster = service_->cluster_](absl::StatusOr<storage::AppendResult> result) {
            {
              MutexLock lock(&pending->mu);
              pending->waiting[static_cast<size_t>(index)] = false;
              // A deadline may have answered already: the response was moved out with it.
              v1::PartitionProduceResult* out =
                  pending->answered ? nullptr : pending->response.mutable_partitions(index);
              if (out != nullptr && !result.ok() && out->error().code() == v1::NONE) {
                absl::Status status = result.status();
                if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status) ||
                    absl::IsUnavailable(status)) {
                  // Leadership moved between the check and the proposal, or while the entry
                  // waited for its commit (a transfer, a new leader's entry in its place, this
                  // replica removed by a reassignment, a shutdown): NOT_LEADER, which the client
                  // retries on the leader (idempotence makes a committed one a duplicate there).
                  const absl::StatusOr<PartitionRoute> route =
                      cluster->Lookup(tp.topic, tp.partition);
                  status = route.ok() ? NotLeaderFor(*cluster, tp.topic, tp.partition, *route)
                                      : route.status();
                }
                SetProduceError(status, out->mutable_error());
              } else if (out != nullptr && result.ok() && first) {
                out->set_base_offset(result->base_offset);
                out->set_log_append_time(append_time);
                out->set_log_start_offset(log->start_offset());
              }
            }
            if (std::optional<v1::ProduceResponse> ready = TakeHold(pending)) {
              reactor->Answer(pending, *std::move(ready));
            }
          });
    }
    return absl::OkStatus();
  }

  // Holds the response until `log` is durable below `end_offset`. The flush thread syncs it, or
  // sees that an earlier sync covered it (a duplicate's original usually was), then calls back;
  // so a duplicate is acknowledged only once its original data is on disk.
  void WaitDurable(storage::Log* log, int64_t end_offset, int index,
                   const std::shared_ptr<Pending>& pending) {
    {
      MutexLock lock(&pending->mu);
      ++pending->holds;
      pending->waiting[static_cast<size_t>(index)] = true;
    }
    // The callback may run after a deadline answered the request and the stream went away: it
    // touches the reactor only if it is the one that answers (the stream is alive until then).
    service_->partitions_->logs().flusher().RequestFlush(
        log, end_offset, [reactor = this, pending, index](absl::Status s) {
          {
            MutexLock lock(&pending->mu);
            pending->waiting[static_cast<size_t>(index)] = false;
            if (!s.ok() && !pending->answered) {
              SetError(s, pending->response.mutable_partitions(index)->mutable_error());
            }
          }
          if (std::optional<v1::ProduceResponse> ready = TakeHold(pending)) {
            reactor->Answer(pending, *std::move(ready));
          }
        });
  }

  // Takes a hold off `pending`; returns its answer if this was the last hold and no deadline
  // answered it already (the caller must then send it), else nothing. Touches no reactor.
  static std::optional<v1::ProduceResponse> TakeHold(const std::shared_ptr<Pending>& pending) {
    MutexLock lock(&pending->mu);
    if (--pending->holds > 0 || pending->answered) return std::nullopt;
    pending->answered = true;
    return std::move(pending->response);
  }

  // The handler's own hold (the stream is alive: it is reading).
  void Release(const std::shared_ptr<Pending>& pending) {
    if (std::optional<v1::ProduceResponse> ready = TakeHold(pending)) {
      Answer(pending, *std::move(ready));
    }
  }

  // Queues `ready`, the answer to `pending`, exactly once per request.
  void Answer(const std::shared_ptr<Pending>& pending, v1::ProduceResponse ready) {
    service_->metrics_->produce_latency.Observe(std::chrono::steady_clock::now() -
                                                pending->received);
    service_->metrics_->produce_in_flight--;
    MutexLock lock(&mu_);
    if (pending->deadline.has_value()) {
      deadlines_.erase(*pending->deadline);
      pending->deadline.reset();
    }
    --outstanding_;
    if (reads_paused_ && outstanding_ < service_->options_.produce_max_in_flight) {
      reads_paused_ = false;
      StartRead(&request_);  // the previous request is fully handled: the buffer is free
    }
    if (pending->send && !broken_) {
      queue_.push_back(std::move(ready));
      StartNextWriteLocked();
    }
    MaybeFinishLocked();
  }

  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty() || broken_) return;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || outstanding_ > 0 || writing_) return;
    if (!queue_.empty() && !broken_) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  BrokerService* const service_;
  v1::ProduceRequest request_;  // only touched by the read path (one read at a time)
  Mutex mu_;
  std::deque<v1::ProduceResponse> queue_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_paused_ ABSL_GUARDED_BY(mu_) = false;  // at produce_max_in_flight
  // acks=all requests with a timeout_ms, by when they must be answered.
  Deadlines deadlines_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<v1::ProduceRequest, v1::ProduceResponse>* BrokerService::Produce(
    grpc::CallbackServerContext* /*context*/) {
  return new ProduceReactor(this);
}

void BrokerService::AddReactor(ProduceReactor* reactor) {
  MutexLock lock(&reactors_mu_);
  reactors_.insert(reactor);
}

void BrokerService::RemoveReactor(ProduceReactor* reactor) {
  MutexLock lock(&reactors_mu_);
  reactors_.erase(reactor);
}

void BrokerService::RunDeadlines() {
  MutexLock lock(&reactors_mu_);
  while (!stopping_deadlines_) {
    deadlines_cv_.WaitWithTimeout(&reactors_mu_, kDeadlineTick);
    // Under reactors_mu_: a reactor is not deleted while it is looked at (OnDone waits).
    const auto now = std::chrono::steady_clock::now();
    for (ProduceReactor* reactor : reactors_) reactor->ExpireDeadlines(now);
  }
}

}  // namespace runnel::broker
