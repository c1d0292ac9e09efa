#include "streams/internal/producer_collector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::streams::internal {

ProducerCollector::ProducerCollector(std::unique_ptr<client::Producer> producer,
                                     ProductionExceptionHandler handler)
    : producer_(std::move(producer)), handler_(std::move(handler)) {}

ProducerCollector::~ProducerCollector() { producer_->Close(); }

absl::Status ProducerCollector::error() const {
  MutexLock lock(&mu_);
  return error_;
}

absl::Status ProducerCollector::Handle(const client::ProducerRecord& record, absl::Status error) {
  if (error.ok() || !handler_ || IsRetriableProductionError(error)) return error;
  const ErrorRecord failed{.topic = record.topic,
                           .partition = record.partition,
                           .offset = -1,
                           .key = record.key,
                           .value = record.value,
                           .timestamp = record.timestamp};
  if (handler_(failed, error) != HandlerResponse::kContinue) return error;
  ++dropped_records_;
  return absl::OkStatus();
}

absl::Status ProducerCollector::Send(const std::string& topic, std::optional<int32_t> partition,
                                     const RawRecord& record) {
  RETURN_IF_ERROR(error());
  client::ProducerRecord out;
  out.topic = topic;
  out.partition = partition;
  out.key = record.key;
  out.value = record.value;
  out.timestamp = record.timestamp;
  // The handler is shown the record, so the callback keeps a copy of it only when there is one.
  std::optional<client::ProducerRecord> kept;
  if (handler_) kept = out;
  const bool track = partition.has_value();
  const absl::Status queued =
      producer_->Send(out, [this, topic, track, kept = std::move(kept)](
                               const absl::StatusOr<client::RecordMetadata>& result) {
        if (result.ok()) {
          if (!track) return;
          MutexLock lock(&mu_);
          int64_t& end = acked_ends_[{topic, result->partition}];
          end = std::max(end, result->offset + 1);
          return;
        }
        absl::Status s = WithContext(result.status(), absl::StrCat("sending to ", topic));
        if (kept.has_value()) s = Handle(*kept, std::move(s));
        if (s.ok()) return;
        MutexLock lock(&mu_);
        if (error_.ok()) error_ = std::move(s);
      });
  return Handle(out, WithContext(queued, absl::StrCat("sending to ", topic)));
}

std::optional<int64_t> ProducerCollector::AckedEnd(const std::string& topic,
                                                   int32_t partition) const {
  MutexLock lock(&mu_);
  auto it = acked_ends_.find({topic, partition});
  if (it == acked_ends_.end()) return std::nullopt;
  return it->second;
}

absl::Status ProducerCollector::Flush() {
  producer_->Flush();
  return error();
}

}  // namespace runnel::streams::internal
