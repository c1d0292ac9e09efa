// Fetcher: a Consumer's Fetch RPCs and the data they brought (Kafka's Fetcher and FetchBuffer;
// client-internal, not installed).
//
// Fetches go to each partition's leader (MetadataCache), grouped per leader as Kafka's Fetcher
// does: one Fetch (long-polling up to fetch.max.wait.ms) is in flight per broker at most, on the
// consumer's completion queue: no gRPC callback threads are involved. (gRPC 1.51's callback API,
// used here before, could abort in its shared callback queue when consumers came and went.) A
// broker's fetch asks for every fetchable partition it leads (SubscriptionState::IsFetchable)
// that has at most one response buffered and is in no other fetch, from the offset past what is
// buffered, so the consumer prefetches while the application works through the previous
// response. A partition whose leader is not known yet is asked of any broker (its answer,
// NOT_LEADER naming the leader or UNKNOWN_TOPIC_OR_PARTITION, says where it is) and the metadata
// is refreshed. NOT_LEADER moves the partition to the leader it names; without a name, and after
// a failed fetch (the broker restarting, unreachable), the broker's next fetch waits
// retry.backoff.ms, timed by the Clock, and the metadata is refreshed. Either way the partition's
// next fetch starts where the last one ended: nothing is skipped or handed out twice.
// OFFSET_OUT_OF_RANGE marks the partition for an offset reset (SubscriptionState::RequestReset),
// which the consumer then looks up; an unknown topic is an error.
//
// Responses wait per partition until Drain hands out their records (round robin over the
// partitions, at most max.poll.records), opening batches lazily and checking their CRCs with
// check.crcs. The records point into the fetched bytes, kept alive by ConsumerRecord::storage.
// Buffered data belongs to one epoch of its partition: after a seek, reset or reassignment it is
// dropped, and fetching starts again from the new position.
//
// Ownership: Consumer::Impl owns the Fetcher; the metadata, channels, completion queue and clock
// are the Impl's and outlive it. The Impl takes events off the completion queue and passes the
// Fetcher its tags (OnEvent). Thread-safety: none; used from the consumer's thread only.
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
#include "client/internal/broker_channels.h"
#include "client/internal/metadata_cache.h"
#include "client/internal/subscription_state.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/record/record_iterator.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::client::internal {

class Fetcher {
 public:
  Fetcher(const ConsumerOptions& options, MetadataCache* metadata, BrokerChannels* channels,
          grpc::CompletionQueue* cq, const Clock* clock);

  // Starts a fetch to each broker that leads a partition needing data, unless that broker's fetch
  // is in flight or failed less than retry.backoff.ms ago.
  void MaybeSend(const SubscriptionState& subscriptions);
  bool in_flight() const { return !calls_.empty(); }
  // A fetch in flight has completed: its tag came off the completion queue.
  bool done() const;
  // Every fetch in flight has completed (Close waits for this after Cancel).
  bool all_done() const;
  // A tag from the completion queue: true (and done()) if it is a fetch in flight's.
  bool OnEvent(void* tag);
  // Takes the completed fetches' data into the partitions' buffers. Errors: an unknown topic
  // (NotFound), a position out of range under auto.offset.reset=none (OutOfRange).
  absl::Status TakeCompleted(SubscriptionState* subscriptions);
  // Appends up to max.poll.records buffered records to `out`, moving the partitions' positions
  // (past the control batches skipped too).
  // A corrupt batch is DataLoss naming the partition and offset, returned once the records before
  // it were handed out; it stays at the front, so every Drain reports it until a seek.
  absl::Status Drain(SubscriptionState* subscriptions, std::vector<ConsumerRecord>* out);
  // Cancels the fetches in flight (Close); their tags still come off the queue: wait for
  // all_done(), then Discard().
  void Cancel();
  void Discard() { calls_.clear(); }
  // When (the clock's NowMs; the time the fetch was sent — a response taken in late, after a
  // pause, does not vouch for the pause) a fetch response last showed `tp` (whose state is `p`)
  // with nothing to read past its position: its high watermark at or below the position and no
  // fetched record of it left to hand out; nullopt when records wait, or no response came since the
  // position was set (assigned, sought).
  std::optional<int64_t> CaughtUpAtMs(const TopicPartition& tp,
                                      const SubscriptionState::Partition& p) const;

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
    int64_t current_next = 0;                   // the open batch's last offset + 1
    record::TimestampType timestamp_type = record::TimestampType::kCreateTime;  // of `current`
  };

  // What is buffered for one partition, all of one epoch of it.
  struct Buffer {
    uint64_t epoch = 0;
    int64_t fetch_position = -1;  // next offset to fetch (past what is buffered)
    std::deque<CompletedFetch> completed;
    int64_t high_watermark = -1;     // of the last fetch response without an error
    int64_t high_watermark_at = -1;  // when that fetch was sent (NowMs): the partition had
                                     // nothing past it then, however late the answer is taken
  };

  // One Fetch RPC in flight on the completion queue.
  struct FetchCall {
    std::string address;  // the broker asked
    grpc::ClientContext context;
    v1::FetchRequest request;
    v1::FetchResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::FetchResponse>> reader;
    std::map<TopicPartition, uint64_t> epochs;  // of the partitions asked for, when asked
    int64_t sent_at = 0;  // NowMs: the answer tells what the broker had no earlier than this
    bool done = false;
  };

  // Drops the buffers of partitions no longer assigned and restarts those of an older epoch.
  void Prune(const SubscriptionState& subscriptions);
  // The buffer of `tp`, restarted from the partition's position if it was of an older epoch.
  Buffer& BufferOf(const TopicPartition& tp, const SubscriptionState::Partition& p);
  // The next record of `fetch` at or after `*position`; false when exhausted. A batch it passes
  // whole — a control batch (Raft's leader-change and membership entries in a replicated log) or
  // a batch whose last records compaction removed — moves `*position` past its last offset, as
  // Kafka's consumer does: a partition whose log ends in one reaches its end offset.
  absl::StatusOr<bool> NextRecord(const TopicPartition& tp, int64_t* position,
                                  CompletedFetch* fetch, record::Record* out) const;
  // The next fetch from `address` waits retry.backoff.ms.
  void BackOff(const std::string& address);
  absl::Status TakeCall(FetchCall* call, SubscriptionState* subscriptions);

  const ConsumerOptions options_;
  MetadataCache* const metadata_;
  BrokerChannels* const channels_;
  grpc::CompletionQueue* const cq_;
  const Clock* const clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  std::map<std::string, std::unique_ptr<v1::Broker::Stub>> stubs_;  // by broker address
  // The fetches in flight, at most one per broker address (their tags on cq_).
  std::map<std::string, std::unique_ptr<FetchCall>> calls_;
  // After a failed fetch from a broker, no new one to it before this.
  std::map<std::string, Clock::SteadyPoint> retry_at_;
  std::map<TopicPartition, Buffer> buffers_;
  size_t drain_start_ = 0;  // round-robin start of Drain, for fairness
};

}  // namespace runnel::client::internal
