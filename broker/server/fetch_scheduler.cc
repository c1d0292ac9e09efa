#include "broker/server/fetch_scheduler.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/server/error_codes.h"
#include "broker/server/serving_log.h"
#include "common/check.h"

namespace runnel::broker {

// Finishes the gRPC call and, once its response has gone out, gives the memory it held back.
class FetchScheduler::Reactor final : public grpc::ServerUnaryReactor {
 public:
  explicit Reactor(FetchScheduler* scheduler) : scheduler_(scheduler) {}

  void set_call(std::weak_ptr<Call> call) { call_ = std::move(call); }

  // `held`: the budget bytes the response holds until it is sent.
  void Finish(int64_t held) {
    held_ = held;
    grpc::ServerUnaryReactor::Finish(grpc::Status::OK);
  }

  // Answers with an error and no response (it holds no budget).
  void Refuse(const grpc::Status& status) { grpc::ServerUnaryReactor::Finish(status); }

  void OnCancel() override;

  void OnDone() override {
    if (held_ > 0) scheduler_->Release(held_);
    delete this;
  }

 private:
  FetchScheduler* const scheduler_;
  std::weak_ptr<Call> call_;  // set before the reactor is handed to gRPC
  int64_t held_ = 0;          // written before Finish, read in OnDone after it
};

// One Fetch call. Runs (TryComplete) only on the fetch threads, one run at a time: a wake-up
// during a run makes the run go again instead of starting another. Finishes exactly once.
class FetchScheduler::Call : public std::enable_shared_from_this<Call> {
 public:
  Call(FetchScheduler* scheduler, Reactor* reactor, const v1::FetchRequest* request,
       v1::FetchResponse* response)
      : scheduler_(scheduler),
        reactor_(reactor),
        request_(request),
        response_(response),
        timer_(scheduler->pool_.get_executor()) {}

  const v1::FetchRequest& request() const { return *request_; }

  // Runs the call on a fetch thread now, or again after the run in progress. `final`: answer
  // with whatever is there (deadline, shutdown, cancellation).
  void Schedule(bool final) {
    {
      MutexLock lock(&mu_);
      if (done_) return;
      final_ = final_ || final;
      if (running_) {
        again_ = true;
        return;
      }
      running_ = true;
    }
    asio::post(scheduler_->pool_, [self = shared_from_this()] { self->Run(); });
  }

 private:
  void Run() {
    while (true) {
      bool final;
      {
        MutexLock lock(&mu_);
        final = final_ || request_->max_wait_ms() <= 0;
        again_ = false;
      }
      if (TryComplete(final)) {
        MutexLock lock(&mu_);
        done_ = true;
        running_ = false;
        return;
      }
      if (!parked_) {
        // A long poll parks after its first look, then checks the high watermarks it saw: one
        // that grew between the look and the parking woke nobody, so it looks again.
        const ParkResult parked = scheduler_->Park(shared_from_this());
        if (parked == ParkResult::kStopping) {
          MutexLock lock(&mu_);
          final_ = true;  // stopping: answer with what there is
          continue;
        }
        if (parked == ParkResult::kFull) {
          Refuse();
          MutexLock lock(&mu_);
          done_ = true;
          running_ = false;
          return;
        }
        parked_ = true;
        ArmDeadline();
        if (HighWatermarksMoved()) continue;
      }
      MutexLock lock(&mu_);
      if (!again_) {
        running_ = false;
        return;
      }
    }
  }

  void ArmDeadline() {
    timer_.expires_at(received_ + std::chrono::milliseconds(request_->max_wait_ms()));
    timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
      if (error != asio::error::operation_aborted) self->Schedule(/*final=*/true);
    });
  }

  bool HighWatermarksMoved() const {
    for (size_t i = 0; i < seen_.size(); ++i) {
      if (seen_[i].log != nullptr && seen_[i].log->high_watermark() != seen_[i].high_watermark) {
        return true;
      }
    }
    return false;
  }

  // Reads every requested partition; finishes the call and returns true when enough bytes are
  // there (or `final`), else gives the memory back and returns false.
  bool TryComplete(bool final) {
    v1::FetchResponse response;
    int64_t total = 0;
    int64_t held = 0;  // budget bytes the records read hold
    bool any_error = false;
    bool memory_short = false;
    const FetchOptions& options = scheduler_->options_;
    const int64_t budget = request_->max_bytes() > 0
                               ? std::min<int64_t>(request_->max_bytes(), options.max_bytes)
                               : options.max_bytes;
    seen_.assign(static_cast<size_t>(request_->partitions_size()), {});
    for (int i = 0; i < request_->partitions_size(); ++i) {
      const v1::PartitionFetch& p = request_->partitions(i);
      v1::PartitionFetchResult* result = response.add_partitions();
      result->set_topic(p.topic());
      result->set_partition(p.partition());
      auto log = ServingLog(*scheduler_->partitions_, scheduler_->cluster_, p.topic(),
                            p.partition(), /*allow_auto_create=*/false);
      if (!log.ok()) {
        SetError(log.status(), result->mutable_error());
        any_error = true;
        continue;
      }
      seen_[static_cast<size_t>(i)] = {*log, (*log)->high_watermark()};
      result->set_high_watermark(seen_[static_cast<size_t>(i)].high_watermark);
      result->set_log_start_offset((*log)->start_offset());
      const int64_t left = budget - total;
      if (left <= 0) continue;
      const int64_t partition_max =
          p.max_bytes() > 0 ? p.max_bytes() : options.default_partition_max_bytes;
      const int64_t reserved = scheduler_->Reserve(std::min(left, partition_max));
      if (reserved == 0) {
        memory_short = true;
        continue;
      }
      auto data = (*log)->Read(p.offset(), static_cast<size_t>(reserved),
                               storage::ReadLimit::kHighWatermark);
      const int64_t used = data.ok() ? static_cast<int64_t>(data->size()) : 0;
      scheduler_->Adjust(reserved, used);
      held += used;
      if (!data.ok()) {
        SetError(data.status(), result->mutable_error());
        any_error = true;
        continue;
      }
      total += used;
      *result->mutable_records() = std::move(*data);
    }
    if (!final && !any_error && total < std::max(1, request_->min_bytes())) {
      if (held > 0) scheduler_->Release(held);
      // Short of memory, memory coming back is news too.
      if (memory_short) {
        waited_for_memory_ = true;
        scheduler_->WaitForMemory(shared_from_this());
      }
      return false;
    }
    // The handles go now: the call itself may be dropped last on the flush thread (a wake-up
    // racing the answer), which must not be where a deleted partition's Log is freed.
    seen_.clear();
    if (waited_for_memory_) scheduler_->ForgetMemoryWait(this);
    if (parked_) {
      scheduler_->Unpark(this);
      timer_.cancel();
    }
    BrokerMetrics& metrics = *scheduler_->metrics_;
    metrics.fetch_bytes += total;
    if (any_error) metrics.fetch_errors++;
    metrics.fetch_latency.Observe(std::chrono::steady_clock::now() - received_);
    *response_ = std::move(response);
    reactor_->Finish(held);  // the reactor may be gone once this returns
    return true;
  }

  // Too many long polls wait already: answer RESOURCE_EXHAUSTED (the client backs off and
  // fetches again). Never parked; holds no memory (TryComplete gave it back).
  void Refuse() {
    seen_.clear();
    if (waited_for_memory_) scheduler_->ForgetMemoryWait(this);
    scheduler_->metrics_->fetch_parked_refused++;
    reactor_->Refuse(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("fetch: ", scheduler_->options_.max_parked,
                     " fetches are waiting for data already (--fetch-max-parked); fetch again "
                     "after a back-off")));
  }

  FetchScheduler* const scheduler_;
  Reactor* const reactor_;
  const v1::FetchRequest* const request_;
  v1::FetchResponse* const response_;
  asio::steady_timer timer_;  // armed and cancelled by runs only; its handler only schedules
  const std::chrono::steady_clock::time_point received_ = std::chrono::steady_clock::now();
  bool parked_ = false;             // touched by runs only (one at a time)
  bool waited_for_memory_ = false;  // likewise
  // Per requested partition, as the last look found it (no log: an error).
  struct Seen {
    std::shared_ptr<storage::Log> log;
    int64_t high_watermark = 0;
  };
  std::vector<Seen> seen_;  // likewise

  Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool again_ ABSL_GUARDED_BY(mu_) = false;
  bool final_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// The client went away (or its deadline passed): answer now rather than at max_wait_ms.
void FetchScheduler::Reactor::OnCancel() {
  if (std::shared_ptr<Call> call = call_.lock()) call->Schedule(/*final=*/true);
}

int32_t FetchOptions::ThreadsFor(int32_t threads) {
  if (threads > 0) return threads;
  return std::clamp<int32_t>(static_cast<int32_t>(std::thread::hardware_concurrency()), 2,
                             kMaxThreads);
}

FetchScheduler::FetchScheduler(PartitionManager* partitions, ClusterNode* cluster,
                               BrokerMetrics* metrics, FetchOptions options)
    : partitions_(partitions),
      cluster_(cluster),
      metrics_(metrics),
      options_(options),
      pool_(static_cast<size_t>(FetchOptions::ThreadsFor(options.threads))) {
  RUNNEL_CHECK(options.threads >= 0 && options.threads <= FetchOptions::kMaxThreads,
               "fetch threads %d out of 0..%d", options.threads, FetchOptions::kMaxThreads);
  RUNNEL_CHECK(options.max_parked >= 1 && options.max_parked <= FetchOptions::kMaxParkedLimit,
               "fetch max parked %d out of 1..%d", options.max_parked,
               FetchOptions::kMaxParkedLimit);
  // Parked fetches are woken when data becomes visible: when the high watermark grows (after the
  // sync), not when it is appended.
  listener_ = partitions_->logs().AddHighWatermarkListener(
      [this](const storage::TopicPartition& tp) { WakePartition(tp); });
}

// The flush thread may sync (and call the listener) until the storage is closed, after the
// scheduler is gone: stop listening first. Every call has finished (and cancelled its timer), so
// nothing queued is dropped by the stop.
FetchScheduler::~FetchScheduler() {
  partitions_->logs().RemoveHighWatermarkListener(listener_);
  if (!joined_) {
    pool_.stop();
    pool_.join();
  }
}

void FetchScheduler::JoinThreads() {
  if (joined_) return;
  joined_ = true;
  pool_.join();  // returns once nothing is queued: no call is left to run, no timer to fire
}

grpc::ServerUnaryReactor* FetchScheduler::Fetch(const v1::FetchRequest* request,
                                                v1::FetchResponse* response) {
  metrics_->fetch_requests++;
  auto* reactor = new Reactor(this);
  auto call = std::make_shared<Call>(this, reactor, request, response);
  reactor->set_call(call);
  call->Schedule(/*final=*/false);
  return reactor;
}

void FetchScheduler::Stop() {
  std::vector<std::shared_ptr<Call>> parked;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& [tp, calls] : parked_) {
      for (const auto& [raw, weak] : calls) {
        if (std::shared_ptr<Call> call = weak.lock()) parked.push_back(std::move(call));
      }
    }
  }
  for (const std::shared_ptr<Call>& call : parked) call->Schedule(/*final=*/true);
}

FetchScheduler::ParkResult FetchScheduler::Park(const std::shared_ptr<Call>& call) {
  MutexLock lock(&mu_);
  if (stopping_) return ParkResult::kStopping;
  if (parked_calls_ >= options_.max_parked) return ParkResult::kFull;
  for (const auto& p : call->request().partitions()) {
    parked_[storage::TopicPartition{p.topic(), p.partition()}].emplace(call.get(), call);
  }
  ++parked_calls_;
  metrics_->fetch_parked = parked_calls_;
  return ParkResult::kParked;
}

void FetchScheduler::Unpark(Call* call) {
  MutexLock lock(&mu_);
  --parked_calls_;
  RUNNEL_CHECK(parked_calls_ >= 0, "a fetch was unparked more often than parked");
  metrics_->fetch_parked = parked_calls_;
  for (const auto& p : call->request().partitions()) {
    auto it = parked_.find(storage::TopicPartition{p.topic(), p.partition()});
    if (it == parked_.end()) continue;
    it->second.erase(call);
    if (it->second.empty()) parked_.erase(it);
  }
}

void FetchScheduler::WakePartition(const storage::TopicPartition& tp) {
  std::vector<std::shared_ptr<Call>> woken;
  {
    MutexLock lock(&mu_);
    auto it = parked_.find(tp);
    if (it == parked_.end()) return;
    woken.reserve(it->second.size());
    for (const auto& [raw, weak] : it->second) {
      if (std::shared_ptr<Call> call = weak.lock()) woken.push_back(std::move(call));
    }
  }
  for (const std::shared_ptr<Call>& call : woken) call->Schedule(/*final=*/false);
}

int64_t FetchScheduler::Reserve(int64_t want) {
  MutexLock lock(&memory_mu_);
  const int64_t got = std::clamp<int64_t>(options_.memory_bytes - memory_in_use_, 0, want);
  memory_in_use_ += got;
  metrics_->fetch_memory_bytes = memory_in_use_;
  return got;
}

void FetchScheduler::Adjust(int64_t reserved, int64_t used) {
  MutexLock lock(&memory_mu_);
  // More than reserved only for a first batch larger than the reservation (returned whole).
  memory_in_use_ += used - reserved;
  RUNNEL_CHECK(memory_in_use_ >= 0, "fetch memory in use went negative (%d)", memory_in_use_);
  metrics_->fetch_memory_bytes = memory_in_use_;
  if (memory_in_use_ > metrics_->fetch_memory_peak_bytes) {
    metrics_->fetch_memory_peak_bytes = memory_in_use_;
  }
}

void FetchScheduler::Release(int64_t bytes) {
  absl::flat_hash_map<Call*, std::weak_ptr<Call>> waiters;
  {
    MutexLock lock(&memory_mu_);
    memory_in_use_ -= bytes;
    RUNNEL_CHECK(memory_in_use_ >= 0, "fetch memory released twice (%d in use)", memory_in_use_);
    metrics_->fetch_memory_bytes = memory_in_use_;
    waiters.swap(memory_waiters_);
  }
  for (const auto& [raw, weak] : waiters) {
    if (std::shared_ptr<Call> call = weak.lock()) call->Schedule(/*final=*/false);
  }
}

void FetchScheduler::WaitForMemory(const std::shared_ptr<Call>& call) {
  metrics_->fetch_memory_waits++;
  {
    MutexLock lock(&memory_mu_);
    if (memory_in_use_ >= options_.memory_bytes) {
      memory_waiters_.emplace(call.get(), call);
      return;
    }
  }
  call->Schedule(/*final=*/false);  // released meanwhile: look again (after this run)
}

void FetchScheduler::ForgetMemoryWait(Call* call) {
  MutexLock lock(&memory_mu_);
  memory_waiters_.erase(call);
}

}  // namespace runnel::broker
