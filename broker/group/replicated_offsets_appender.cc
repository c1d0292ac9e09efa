#include "broker/group/replicated_offsets_appender.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "broker/group/offset_codec.h"
#include "broker/group/offset_store.h"
#include "common/record/record_batch.h"
#include "common/status_macros.h"

namespace runnel::broker {

absl::Status ReplicatedOffsetsAppender::Append(const std::string& group, int32_t num_partitions,
                                               std::string batch,
                                               std::function<void(absl::Status)> done) {
  const std::string topic = OffsetStore::kTopic;
  RETURN_IF_ERROR(
      cluster_->EnsureInternalTopic(topic, num_partitions, {{"cleanup.policy", "compact"}}));
  int32_t partitions = 0;
  {
    const std::shared_ptr<const MetadataImage> image = cluster_->image();
    const TopicMetadata* metadata = image->topic(topic);
    if (metadata == nullptr) {
      return absl::UnavailableError(absl::StrCat(topic, " is not in this broker's image"));
    }
    partitions = metadata->info.partitions;
  }
  const int32_t partition = OffsetsPartitionFor(group, partitions);
  const absl::StatusOr<PartitionRoute> route =
      cluster_->AwaitLeader(topic, partition, std::chrono::milliseconds(kLeaderWaitMs));
  RETURN_IF_ERROR(route.status());
  if (!route->leader) {
    if (route->leader_id == raft::kNoNode) {
      return absl::UnavailableError(absl::StrCat(topic, "-", partition, " has no leader yet"));
    }
    return absl::FailedPreconditionError(absl::StrCat("group '", group, "': ", topic, "-",
                                                      partition, " is led by broker ",
                                                      route->leader_id, ", not this one"));
  }
  int64_t append_time = -1;
  RETURN_IF_ERROR(route->log->PrepareAppend(&batch, &append_time));
  ASSIGN_OR_RETURN(const record::RecordBatchView view, record::RecordBatchView::Parse(batch));
  const int64_t count = view.last_offset_delta() + int64_t{1};
  cluster_->replicas().Produce(
      storage::TopicPartition{topic, partition}, std::move(batch), count, /*wait_commit=*/true,
      [done = std::move(done)](absl::StatusOr<storage::AppendResult> result) {
        done(result.status());
      });
  return absl::OkStatus();
}

}  // namespace runnel::broker
