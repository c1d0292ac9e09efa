// The runtime's RecordCollector: a task's output (sink topics, repartition topics, changelogs)
// goes through one client::Producer per stream thread. Send only queues; a record the producer
// fails for good is kept as the collector's first error and returned by the next Send or Flush,
// as Kafka Streams' RecordCollector does, so the thread stops before it commits past it —
// unless the production exception handler says continue: then the record is dropped and counted
// (dropped_records()), and the thread goes on and commits the input that caused it.
//
// Send and Flush are called from the stream thread; the producer's callbacks run on its own
// threads (error_ is guarded for them).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "client/producer.h"
#include "common/mutex.h"
#include "streams/exception_handlers.h"
#include "streams/internal/stream_task.h"

namespace runnel::streams::internal {

class ProducerCollector : public RecordCollector {
 public:
  // `handler`: default.production.exception.handler; empty: fail.
  ProducerCollector(std::unique_ptr<client::Producer> producer, ProductionExceptionHandler handler);
  // Closes the producer (what it could not deliver in its close timeout is failed) before the
  // state its callbacks use goes away.
  ~ProducerCollector() override;

  absl::Status Send(const std::string& topic, std::optional<int32_t> partition,
                    const RawRecord& record) override;
  // Waits until every record sent so far is acknowledged or failed; the first failure, if any
  // (it stays: a collector that failed keeps failing).
  absl::Status Flush();
  // Records the handler chose to drop.
  int64_t dropped_records() const { return dropped_records_.load(); }
  // The offset after the last record acknowledged in `topic`-`partition` among those sent with an
  // explicit partition (changelog records are); nullopt when none was.
  std::optional<int64_t> AckedEnd(const std::string& topic, int32_t partition) const;

 private:
  absl::Status error() const;
  // `error`, or OK when the handler says continue (the record is then counted as dropped).
  absl::Status Handle(const client::ProducerRecord& record, absl::Status error);

  std::unique_ptr<client::Producer> producer_;
  const ProductionExceptionHandler handler_;
  std::atomic<int64_t> dropped_records_{0};
  mutable Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int32_t>, int64_t> acked_ends_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::streams::internal
