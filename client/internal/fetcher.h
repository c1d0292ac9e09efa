// Fetcher: a Consumer's Fetch RPCs and the data they brought (Kafka's Fetcher and FetchBuffer;
// client-internal, not installed).
//
// One Fetch (long-polling up to fetch.max.wait.ms) is in flight at most, on the consumer's
// completion queue: no gRPC callback threads are involved. (gRPC 1.51's callback API, used here
// before, could abort in its shared callback queue when consumers came and went.) It asks for
// every fetchable partition (SubscriptionState::IsFetchable) that has at most one response
// buffered, from the offset past what is buffered, so the consumer prefetches while the
// application works through the previous response. A failed fetch (the broker restarting or
// unreachable) or a partition error other than those below holds the next fetch back for
// retry.backoff.ms, timed by the Clock. OFFSET_OUT_OF_RANGE marks the partition for an offset
// reset (SubscriptionState::RequestReset), which the consumer then looks up; an unknown topic is
// an error.
//
// Responses wait per partition until Drain hands out their records (round robin over the
// partitions, at most max.poll.records), opening batches lazily and checking their CRCs with
// check.crcs. The records point into the fetched bytes, kept alive by ConsumerRecord::storage.
// Buffered data belongs to one epoch of its partition: after a seek, reset or reassignment it is
// dropped, and fetching starts again from the new position.
//
// Ownership: Consumer::Impl owns the Fetcher; the stub, completion queue and clock are the
// Impl's and outlive it. The Impl takes events off the completion queue and passes the Fetcher
// its tags (OnEvent). Thread-safety: none; used from the consumer's thread only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/consumer.h"
#include "client/internal/subscription_state.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/record/record_iterator.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::client::internal {

class Fetcher {
 public:
  Fetcher(const ConsumerOptions& options, std::string target, v1::Broker::Stub* stub,
          grpc::CompletionQueue* cq, const Clock* clock);

  // Starts a fetch unless one is in flight, the last one failed less than retry.backoff.ms ago, or
  // no partition needs data.
  void MaybeSend(const SubscriptionState& subscriptions);
  bool in_flight() const { return call_ != nullptr; }
  // The fetch in flight has completed: its tag came off the completion queue.
  bool done() const { return call_ != nullptr && call_->done; }
  // A tag from the completion queue: true (and done()) if it is the fetch in flight's.
  bool OnEvent(void* tag);
  // Takes the completed fetch's data into the partitions' buffers (requires done()). Errors: an
  // unknown topic (NotFound), a position out of range under auto.offset.reset=none (OutOfRange).
  absl::Status TakeCompleted(SubscriptionState* subscriptions);
  // Appends up to max.poll.records buffered records to `out`, moving the partitions' positions.
  // A corrupt batch is DataLoss naming the partition and offset, returned once the records before
  // it were handed out; it stays at the front, so every Drain reports it until a seek.
  absl::Status Drain(SubscriptionState* subscriptions, std::vector<ConsumerRecord>* out);
  // Cancels the fetch in flight (Close); its tag still comes off the queue, then Discard() it.
  void Cancel();
  void Discard() { call_.reset(); }

 private:
  // The bytes of one partition's fetch result; the records handed out point into it.
  struct FetchedData {
    std::string topic;
    std::string bytes;
    std::vector<std::unique_ptr<record::RecordIterator>> iterators;  // of compressed batches
  };

  // One partition's fetched data, decoded lazily as Drain hands out records.
  struct CompletedFetch {
    std::shared_ptr<FetchedData> data;
    std::string_view rest;                      // batches not opened yet
    record::RecordIterator* current = nullptr;  // the open batch
    record::TimestampType timestamp_type = record::TimestampType::kCreateTime;  // of `current`
  };

  // What is buffered for one partition, all of one epoch of it.
  struct Buffer {
    uint64_t epoch = 0;
    int64_t fetch_position = -1;  // next offset to fetch (past what is buffered)
    std::deque<CompletedFetch> completed;
  };

  // One Fetch RPC in flight on the completion queue.
  struct FetchCall {
    grpc::ClientContext context;
    v1::FetchRequest request;
    v1::FetchResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::FetchResponse>> reader;
    std::map<TopicPartition, uint64_t> epochs;  // of the partitions asked for, when asked
    bool done = false;
  };

  // Drops the buffers of partitions no longer assigned and restarts those of an older epoch.
  void Prune(const SubscriptionState& subscriptions);
  // The buffer of `tp`, restarted from the partition's position if it was of an older epoch.
  Buffer& BufferOf(const TopicPartition& tp, const SubscriptionState::Partition& p);
  // The next record of `fetch` at or after `position`; false when exhausted.
  absl::StatusOr<bool> NextRecord(const TopicPartition& tp, int64_t position, CompletedFetch* fetch,
                                  record::Record* out) const;
  void BackOff();

  const ConsumerOptions options_;
  const std::string target_;
  v1::Broker::Stub* const stub_;
  grpc::CompletionQueue* const cq_;
  const Clock* const clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  std::unique_ptr<FetchCall> call_;  // the fetch in flight, if any (its tag on cq_)
  Clock::SteadyPoint retry_at_{};    // after a failed fetch, no new one before this
  std::map<TopicPartition, Buffer> buffers_;
  size_t drain_start_ = 0;  // round-robin start of Drain, for fairness
};

}  // namespace runnel::client::internal
