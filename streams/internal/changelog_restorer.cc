#include "streams/internal/changelog_restorer.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::streams::internal {

namespace {
absl::Status Annotate(const absl::Status& s, const client::TopicPartition& tp) {
  return WithContext(s, absl::StrCat("restoring from ", client::ToString(tp)));
}
}  // namespace

ChangelogRestorer::ChangelogRestorer(std::unique_ptr<client::Consumer> consumer,
                                     int64_t stall_timeout_ms, const Clock* clock,
                                     std::function<bool()> cancelled)
    : consumer_(std::move(consumer)),
      stall_timeout_ms_(stall_timeout_ms),
      clock_(clock),
      cancelled_(std::move(cancelled)) {}

ChangelogRestorer::~ChangelogRestorer() { consumer_->Close(); }

absl::StatusOr<int64_t> ChangelogRestorer::Restore(
    const std::string& topic, int32_t partition, int64_t until,
    const std::function<absl::Status(const std::vector<ChangelogRecord>&)>& apply,
    const std::function<absl::Status(const std::vector<std::string>&)>& tail) {
  const client::TopicPartition tp{topic, partition};
  absl::Status s = consumer_->Assign({tp});
  if (s.ok()) s = consumer_->SeekToBeginning({tp});
  if (!s.ok()) return Annotate(s, tp);
  absl::StatusOr<std::map<client::TopicPartition, int64_t>> ends = consumer_->EndOffsets({tp});
  if (!ends.ok()) return Annotate(ends.status(), tp);
  const int64_t end = ends->at(tp);
  const int64_t stop = until >= 0 ? std::min(until, end) : end;  // restored before this
  std::vector<std::string> tail_keys;
  Clock::SteadyPoint last_progress = clock_->SteadyNow();
  std::vector<ChangelogRecord> batch;
  // Bounded by the end offset (each round either advances the position or counts towards the
  // stall timeout).
  while (true) {
    absl::StatusOr<int64_t> position = consumer_->Position(tp);
    if (!position.ok()) return Annotate(position.status(), tp);
    if (*position >= end) break;
    if (cancelled_ && cancelled_()) {
      return absl::CancelledError(absl::StrCat("restoring from ", client::ToString(tp),
                                               ": cancelled at offset ", *position, " of ", end));
    }
    if (clock_->SteadyNow() - last_progress > std::chrono::milliseconds(stall_timeout_ms_)) {
      return absl::UnavailableError(absl::StrCat("restoring from ", client::ToString(tp),
                                                 ": no records for ", stall_timeout_ms_,
                                                 " ms at offset ", *position, " of ", end));
    }
    absl::StatusOr<std::vector<client::ConsumerRecord>> records = consumer_->Poll(100);
    if (!records.ok()) return Annotate(records.status(), tp);
    if (records->empty()) continue;
    last_progress = clock_->SteadyNow();
    batch.clear();
    for (const client::ConsumerRecord& r : *records) {
      if (r.offset >= end) break;  // (none should be: the task being restored is the only writer)
      if (!r.key.has_value()) {
        return absl::DataLossError(absl::StrCat("changelog ", client::ToString(tp), "@", r.offset,
                                                " has a record without a key"));
      }
      if (r.offset >= stop) {
        tail_keys.emplace_back(*r.key);
        continue;
      }
      std::optional<std::string> value;
      if (r.value.has_value()) value = std::string(*r.value);
      batch.push_back(ChangelogRecord{std::string(*r.key), std::move(value), r.timestamp});
    }
    restored_records_ += static_cast<int64_t>(batch.size());
    if (!batch.empty()) RETURN_IF_ERROR(apply(batch));
  }
  RETURN_IF_ERROR(consumer_->Assign({}));
  if (!tail_keys.empty()) RETURN_IF_ERROR(tail(tail_keys));
  return end;
}

}  // namespace runnel::streams::internal
