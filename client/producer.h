// Producer: sends records to the partition leaders' Produce streams
// (proto/runnel/v1/broker.proto), in the shape of Kafka's producer.
//
// Send() encodes the record straight into an open RecordBatch v2 for its partition and returns;
// a sender thread ships a batch once it holds batch.size bytes or has waited linger.ms to the
// broker that leads its partition (bootstrap.servers lists where to start: any entry that answers
// will do), several partitions' batches per request and up to max.in.flight requests outstanding
// on one pipelined stream per broker. A reader thread per stream matches responses to requests and
// completes the records' callbacks.
//
// Delivery: a batch failing with a retriable error (broker restart, timeout, stream broken,
// NOT_LEADER: the partition moved, and goes where the error or fresh metadata says) is
// sent again after retry.backoff.ms until delivery.timeout.ms has passed since the record was
// sent. With idempotence (the default with acks=all, as in Kafka 3) every batch carries the
// producer id from InitProducerId and a per-partition sequence number, so a retry of a batch the
// broker already stored is not stored twice, and the order within a partition is kept: after a
// retriable failure the partition sends nothing new until its outstanding batches are back, then
// resends them in sequence order.
//
// Partitioning: an explicit partition wins; a keyed record goes to murmur2(key) % partitions
// (partitioner.h, Kafka's function); a record without key sticks to one partition until that
// partition's batch is full, then to another chosen at random (Kafka's sticky partitioner).
//
// Backpressure: records waiting in batches may hold at most buffer.memory bytes; Send blocks up
// to max.block.ms for room, then fails with ResourceExhausted naming buffer.memory.
//
// Thread-safety: Send, Flush and Close may be called from any thread. Callbacks run on the
// producer's reader or sender thread: they must be quick and must not call Flush or Close.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/producer_options.h"
#include "client/properties.h"
#include "client/types.h"
#include "common/clock.h"

namespace runnel::client {

struct ProducerRecord {
  std::string topic;
  std::optional<int32_t> partition;  // unset: chosen by the partitioner
  std::optional<std::string> key;
  std::optional<std::string> value;  // unset: a null value (a tombstone on compacted topics)
  int64_t timestamp = -1;            // epoch ms; -1: the time of Send
  std::vector<Header> headers;
};

struct RecordMetadata {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // -1 with acks=0, where the broker does not answer
  int64_t timestamp = -1;
};

using SendCallback = std::function<void(const absl::StatusOr<RecordMetadata>&)>;

class Producer {
 public:
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options);
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const Properties& properties);
  // The same with time read from `clock` rather than Clock::Real() (Kafka's Time): linger.ms,
  // retry.backoff.ms, delivery.timeout.ms, request.timeout.ms, metadata.max.age.ms, max.block.ms,
  // Close's timeout (SteadyNow) and the timestamp of a record sent without one (NowMs). gRPC
  // deadlines stay on the real clock. The sender thread looks at the clock at least once a second
  // of real time, so a ManualClock moved past a batch's linger has it sent within that second.
  // `clock` is borrowed and must outlive the producer.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options,
                                                          const Clock& clock);
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const Properties& properties,
                                                          const Clock& clock);
  // A temporary clock would be destroyed while the producer still reads it: refused.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions&,
                                                          const Clock&&) = delete;
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const Properties&,
                                                          const Clock&&) = delete;
  // Close() with its default timeout.
  ~Producer();

  // Queues `record`; `callback` (may be empty) runs once with its offset or its error. Returns an
  // error without calling the callback when the record cannot be queued: invalid (names what),
  // larger than max.request.size, its topic unknown after max.block.ms, no buffer memory after
  // max.block.ms, or the producer closed.
  absl::Status Send(const ProducerRecord& record, SendCallback callback);
  // The same, as a future (which holds the queueing error, if any).
  std::future<absl::StatusOr<RecordMetadata>> Send(const ProducerRecord& record);

  // Sends every buffered record now (ignoring linger.ms) and waits until each record sent
  // before the call has completed (succeeded or failed).
  void Flush();

  // Flushes for at most `timeout_ms`, then fails whatever is left with Cancelled and stops the
  // threads. Idempotent; later Sends fail.
  void Close(int64_t timeout_ms = 60000);

  const ProducerOptions& options() const;
  // The producer id the broker gave (-1 if not idempotent or not yet known).
  int64_t producer_id() const;

  class Impl;

 private:
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace runnel::client
