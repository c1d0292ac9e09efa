#include "client/internal/fetcher.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/internal/grpc_status.h"
#include "common/record/record_batch.h"
#include "common/status_macros.h"

namespace runnel::client::internal {

Fetcher::Fetcher(const ConsumerOptions& options, MetadataCache* metadata, BrokerChannels* channels,
                 grpc::CompletionQueue* cq, const Clock* clock)
    : options_(options), metadata_(metadata), channels_(channels), cq_(cq), clock_(clock) {}

void Fetcher::Prune(const SubscriptionState& subscriptions) {
  for (auto it = buffers_.begin(); it != buffers_.end();) {
    const SubscriptionState::Partition* p = subscriptions.Find(it->first);
    if (p == nullptr) {
      it = buffers_.erase(it);
      continue;
    }
    BufferOf(it->first, *p);
    ++it;
  }
}

Fetcher::Buffer& Fetcher::BufferOf(const TopicPartition& tp,
                                   const SubscriptionState::Partition& p) {
  Buffer& b = buffers_[tp];
  if (b.epoch != p.epoch) {
    b.epoch = p.epoch;
    b.fetch_position = p.position.value_or(-1);
    b.completed.clear();
    b.high_watermark = -1;
    b.high_watermark_at = -1;
  }
  return b;
}

void Fetcher::BackOff(const std::string& address) {
  retry_at_[address] = clock_->SteadyNow() + std::chrono::milliseconds(options_.retry_backoff_ms);
}

bool Fetcher::done() const {
  return std::any_of(calls_.begin(), calls_.end(),
                     [](const auto& entry) { return entry.second->done; });
}

bool Fetcher::all_done() const {
  return std::all_of(calls_.begin(), calls_.end(),
                     [](const auto& entry) { return entry.second->done; });
}

void Fetcher::MaybeSend(const SubscriptionState& subscriptions) {
  Prune(subscriptions);
  std::set<TopicPartition> busy;  // in a fetch in flight
  for (const auto& [address, call] : calls_) {
    for (const auto& [tp, epoch] : call->epochs) busy.insert(tp);
  }
  const Clock::SteadyPoint now = clock_->SteadyNow();
  std::map<std::string, std::unique_ptr<FetchCall>> fresh;
  for (const auto& [tp, p] : subscriptions.partitions()) {
    if (!SubscriptionState::IsFetchable(p) || busy.contains(tp)) continue;
    const Buffer& b = BufferOf(tp, p);
    // One buffered response per partition is enough; the next is fetched as it is consumed.
    if (b.completed.size() > 1) continue;
    std::optional<LeaderInfo> leader = metadata_->Leader(tp);
    if (!leader.has_value()) metadata_->RequestUpdate(tp.topic);
    const std::string address = leader.has_value() ? leader->address : metadata_->AnyBroker();
    if (calls_.contains(address)) continue;  // that broker's fetch is in flight: the next round
    auto backoff = retry_at_.find(address);
    if (backoff != retry_at_.end() && now < backoff->second) continue;
    std::unique_ptr<FetchCall>& call = fresh[address];
    if (call == nullptr) {
      call = std::make_unique<FetchCall>();
      call->address = address;
      call->sent_at = clock_->NowMs();
    }
    v1::PartitionFetch* f = call->request.add_partitions();
    f->set_topic(tp.topic);
    f->set_partition(tp.partition);
    f->set_offset(b.fetch_position);
    f->set_max_bytes(options_.max_partition_fetch_bytes);
    call->epochs[tp] = p.epoch;
  }
  for (auto& [address, call] : fresh) {
    call->request.set_max_wait_ms(options_.fetch_max_wait_ms);
    call->request.set_min_bytes(options_.fetch_min_bytes);
    call->request.set_max_bytes(options_.fetch_max_bytes);
    // gRPC deadlines are on the real clock (common/clock.h).
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(int64_t{options_.fetch_max_wait_ms} +
                                                         options_.request_timeout_ms));
    std::unique_ptr<v1::Broker::Stub>& stub = stubs_[address];
    if (stub == nullptr) stub = v1::Broker::NewStub(channels_->Get(address));
    call->reader = stub->AsyncFetch(&call->context, call->request, cq_);
    call->reader->Finish(&call->response, &call->status, call.get());
    calls_[address] = std::move(call);
  }
}

bool Fetcher::OnEvent(void* tag) {
  for (auto& [address, call] : calls_) {
    if (tag != call.get()) continue;
    call->done = true;  // Finish always reports ok=true
    return true;
  }
  return false;
}

void Fetcher::Cancel() {
  for (auto& [address, call] : calls_) call->context.TryCancel();
}

absl::Status Fetcher::TakeCompleted(SubscriptionState* subscriptions) {
  absl::Status status;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (!it->second->done) {
      ++it;
      continue;
    }
    std::unique_ptr<FetchCall> call = std::move(it->second);
    it = calls_.erase(it);
    const absl::Status s = TakeCall(call.get(), subscriptions);
    if (status.ok()) status = s;
  }
  return status;
}

absl::Status Fetcher::TakeCall(FetchCall* call, SubscriptionState* subscriptions) {
  if (!call->status.ok()) {
    // The broker restarting or unreachable: try again after retry.backoff.ms, as Kafka does, and
    // look for the partitions' leaders again.
    log_->warn("consumer: fetch from {} failed: {}", call->address, call->status.error_message());
    BackOff(call->address);
    if (call->status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        call->status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      metadata_->MarkUnreachable(call->address);
    }
    return absl::OkStatus();
  }
  for (v1::PartitionFetchResult& r : *call->response.mutable_partitions()) {
    const TopicPartition tp{r.topic(), r.partition()};
    const SubscriptionState::Partition* p = subscriptions->Find(tp);
    auto sent = call->epochs.find(tp);
    if (p == nullptr || sent == call->epochs.end() || sent->second != p->epoch) continue;
    Buffer& b = BufferOf(tp, *p);
    switch (r.error().code()) {
      case v1::NONE:
        break;
      case v1::OFFSET_OUT_OF_RANGE:
        // Records still buffered before the fetch position are delivered first; the next fetch
        // from there finds the same and resets then.
        if (!b.completed.empty()) continue;
        RETURN_IF_ERROR(subscriptions->RequestReset(
            tp, absl::StrCat("offset ", b.fetch_position, " is out of range for ", ToString(tp),
                             " (log ", r.log_start_offset(), "..", r.high_watermark(), ")")));
        continue;
      case v1::UNKNOWN_TOPIC_OR_PARTITION:
        return ToStatus(r.error(), "fetch " + ToString(tp));
      case v1::NOT_LEADER:
        // The next fetch of the partition goes to the leader named, from the same position.
        metadata_->OnNotLeader(tp, r.error());
        if (r.error().leader_addr().empty()) BackOff(call->address);
        continue;
      default:
        log_->warn("consumer: fetch of {} from {}: {}", ToString(tp), call->address,
                   r.error().message());
        BackOff(call->address);
        continue;
    }
    b.high_watermark = r.high_watermark();
    b.high_watermark_at = call->sent_at;
    if (r.records().empty()) continue;
    auto data = std::make_shared<FetchedData>();
    data->topic = tp.topic;
    data->bytes = std::move(*r.mutable_records());
    // The next fetch starts after the last whole batch returned.
    std::string_view rest = data->bytes;
    while (!rest.empty()) {
      auto view = record::RecordBatchView::Parse(rest);
      if (!view.ok()) break;  // reported when Drain reaches it
      b.fetch_position = view->last_offset() + 1;
      rest.remove_prefix(view->size());
    }
    CompletedFetch fetch;
    fetch.rest = data->bytes;
    fetch.data = std::move(data);
    b.completed.push_back(std::move(fetch));
  }
  return absl::OkStatus();
}

std::optional<int64_t> Fetcher::CaughtUpAtMs(const TopicPartition& tp,
                                             const SubscriptionState::Partition& p) const {
  auto it = buffers_.find(tp);
  if (it == buffers_.end() || !p.position.has_value()) return std::nullopt;
  const Buffer& b = it->second;
  if (b.epoch != p.epoch || b.high_watermark_at < 0 || !b.completed.empty() ||
      *p.position < b.high_watermark) {
    return std::nullopt;
  }
  return b.high_watermark_at;
}

absl::StatusOr<bool> Fetcher::NextRecord(const TopicPartition& tp, int64_t* position,
                                         CompletedFetch* fetch, record::Record* out) const {
  while (true) {
    if (fetch->current != nullptr) {
      if (fetch->current->Next(out)) {
        if (out->offset < *position) continue;
        return true;
      }
      RETURN_IF_ERROR(fetch->current->status());
      fetch->current = nullptr;
      *position = std::max(*position, fetch->current_next);
    }
    if (fetch->rest.empty()) return false;
    auto view = record::RecordBatchView::Parse(fetch->rest);
    if (!view.ok()) {
      return absl::DataLossError(absl::StrCat("fetched data of ", ToString(tp), " at offset ",
                                              *position, ": ", view.status().message()));
    }
    if (view->last_offset() < *position) {
      fetch->rest.remove_prefix(view->size());
      continue;
    }
    if (view->is_control()) {
      // Without this the position would stay at the control batch, short of the end offset for
      // good when the batch ends the log (a fresh replicated partition: its first leader's entry).
      *position = view->last_offset() + 1;
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
    fetch->current_next = view->last_offset() + 1;
    fetch->timestamp_type = view->timestamp_type();
  }
}

absl::Status Fetcher::Drain(SubscriptionState* subscriptions, std::vector<ConsumerRecord>* out) {
  const std::map<TopicPartition, SubscriptionState::Partition>& partitions =
      subscriptions->partitions();
  Prune(*subscriptions);
  if (partitions.empty()) return absl::OkStatus();
  const size_t max_records = static_cast<size_t>(options_.max_poll_records);
  const size_t n = partitions.size();
  auto it = partitions.begin();
  std::advance(it, drain_start_ % n);
  for (size_t i = 0; i < n; ++i, ++it) {
    if (it == partitions.end()) it = partitions.begin();
    const TopicPartition& tp = it->first;
    const SubscriptionState::Partition& p = it->second;
    auto buffer = buffers_.find(tp);
    if (p.paused || !p.position.has_value() || buffer == buffers_.end()) continue;
    std::deque<CompletedFetch>& completed = buffer->second.completed;
    int64_t position = *p.position;
    absl::Status error;
    while (!completed.empty() && out->size() < max_records) {
      CompletedFetch& fetch = completed.front();
      record::Record r;
      auto more = NextRecord(tp, &position, &fetch, &r);
      if (!more.ok()) {
        error = more.status();
        break;
      }
      if (!*more) {
        completed.pop_front();
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
      position = r.offset + 1;
    }
    if (position != *p.position) subscriptions->Advance(tp, position);
    // Records already taken are returned first; the error comes back on the next Poll, which
    // stops at the same place.
    if (!error.ok()) return out->empty() ? error : absl::OkStatus();
  }
  drain_start_ = (drain_start_ + 1) % n;
  return absl::OkStatus();
}

}  // namespace runnel::client::internal
