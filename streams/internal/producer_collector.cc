#include "streams/internal/producer_collector.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::streams::internal {

ProducerCollector::ProducerCollector(std::unique_ptr<client::Producer> producer)
    : producer_(std::move(producer)) {}

ProducerCollector::~ProducerCollector() { producer_->Close(); }

absl::Status ProducerCollector::error() const {
  MutexLock lock(&mu_);
  return error_;
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
  const absl::Status queued =
      producer_->Send(out, [this, topic](const absl::StatusOr<client::RecordMetadata>& result) {
        if (result.ok()) return;
        MutexLock lock(&mu_);
        if (error_.ok()) {
          error_ = WithContext(result.status(), absl::StrCat("sending to ", topic));
        }
      });
  return WithContext(queued, absl::StrCat("sending to ", topic));
}

absl::Status ProducerCollector::Flush() {
  producer_->Flush();
  return error();
}

}  // namespace runnel::streams::internal
