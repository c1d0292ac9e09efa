#include "broker/group/coordinator_shards.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/group/offset_codec.h"
#include "common/logging.h"

namespace runnel::broker {
namespace {

v1::Error MakeError(v1::ErrorCode code, std::string message) {
  v1::Error error;
  error.set_code(code);
  error.set_message(std::move(message));
  return error;
}

}  // namespace

CoordinatorShards::~CoordinatorShards() { Stop(); }

void CoordinatorShards::Start() {
  MutexLock lock(&mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] { RefreshLoop(); });
}

void CoordinatorShards::Stop() {
  std::thread thread;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

void CoordinatorShards::RefreshLoop() {
  while (true) {
    Refresh();
    MutexLock lock(&mu_);
    if (stopping_) return;
    cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(kRefreshMs));
    if (stopping_) return;
  }
}

std::map<int32_t, raft::Term> CoordinatorShards::LoadedCopy() const {
  MutexLock lock(&mu_);
  return loaded_;
}

void CoordinatorShards::Refresh() {
  MutexLock pass(&refresh_mu_);
  auto logger = logging::Get("broker");
  const std::shared_ptr<const MetadataImage> image = cluster_->image();
  const TopicMetadata* topic = image == nullptr ? nullptr : image->topic(OffsetStore::kTopic);
  const int32_t partitions = topic == nullptr ? 0 : topic->info.partitions;
  const auto unload = [&](int32_t partition, const char* why) {
    coordinator_->UnloadPartition(partition);
    MutexLock lock(&mu_);
    loaded_.erase(partition);
    logger->info("no longer coordinating the groups of {}-{}: {}", OffsetStore::kTopic, partition,
                 why);
  };
  for (const auto& [partition, term] : LoadedCopy()) {
    if (partition >= partitions) unload(partition, "the topic is gone");
  }
  for (int32_t p = 0; p < partitions; ++p) {
    const std::optional<ReplicaStatus> status =
        cluster_->replicas().Status(storage::TopicPartition{OffsetStore::kTopic, p});
    const bool leading = status.has_value() && status->role == raft::Role::kLeader;
    const std::map<int32_t, raft::Term> loaded = LoadedCopy();
    if (auto it = loaded.find(p); it != loaded.end()) {
      if (!leading) {
        unload(p, "another broker leads it");
      } else if (status->term != it->second) {
        unload(p, "it is led in a new term");
      } else {
        continue;
      }
    }
    // A new leader's log may end with entries of an earlier term that are not committed yet;
    // once its own first entry is, they are (or they were replaced), and the log up to the high
    // watermark is the partition's whole committed state.
    if (!leading || !status->TermCommitted()) continue;
    const absl::StatusOr<PartitionRoute> route = cluster_->Lookup(OffsetStore::kTopic, p);
    if (!route.ok() || route->log == nullptr) continue;
    if (absl::Status s = coordinator_->LoadPartition(p, *route->log); !s.ok()) {
      // Retried on the next pass; its groups are answered COORDINATOR_LOAD_IN_PROGRESS meanwhile.
      // FailedPrecondition: writes of the earlier leadership are still being answered.
      if (absl::IsFailedPrecondition(s)) {
        logger->debug("groups of {}-{}: {}", OffsetStore::kTopic, p, s.ToString());
      } else {
        logger->error("cannot load the groups of {}-{}: {}", OffsetStore::kTopic, p, s.ToString());
      }
      continue;
    }
    MutexLock lock(&mu_);
    loaded_[p] = status->term;
  }
}

v1::Error CoordinatorShards::Check(const std::string& group) const {
  const std::shared_ptr<const MetadataImage> image = cluster_->image();
  const TopicMetadata* topic = image == nullptr ? nullptr : image->topic(OffsetStore::kTopic);
  if (topic == nullptr) {
    return MakeError(
        v1::COORDINATOR_NOT_AVAILABLE,
        absl::StrCat(OffsetStore::kTopic, " does not exist yet: find the coordinator"));
  }
  const int32_t p = OffsetsPartitionFor(group, topic->info.partitions);
  const std::string where = absl::StrCat("group '", group, "' (", OffsetStore::kTopic, "-", p, ")");
  const std::optional<ReplicaStatus> status =
      cluster_->replicas().Status(storage::TopicPartition{OffsetStore::kTopic, p});
  if (status.has_value() && status->role == raft::Role::kLeader) {
    {
      MutexLock lock(&mu_);
      if (auto it = loaded_.find(p); it != loaded_.end() && it->second == status->term) {
        return v1::Error();
      }
    }
    return MakeError(v1::COORDINATOR_LOAD_IN_PROGRESS,
                     absl::StrCat(where, ": this broker is loading its state"));
  }
  const absl::StatusOr<PartitionRoute> route = cluster_->Lookup(OffsetStore::kTopic, p);
  if (!route.ok() || route->leader_id == raft::kNoNode || route->leader) {
    return MakeError(v1::COORDINATOR_NOT_AVAILABLE, absl::StrCat(where, " has no leader now"));
  }
  v1::Error error = MakeError(
      v1::NOT_COORDINATOR,
      absl::StrCat(where, " is coordinated by broker ", route->leader_id, ", not this one"));
  error.set_leader_id(route->leader_id);
  error.set_leader_addr(route->leader_addr);
  return error;
}

v1::FindCoordinatorResponse CoordinatorShards::Find(const std::string& group,
                                                    int32_t num_partitions) {
  v1::FindCoordinatorResponse response;
  if (absl::Status s = cluster_->EnsureInternalTopic(OffsetStore::kTopic, num_partitions,
                                                     {{"cleanup.policy", "compact"}});
      !s.ok()) {
    *response.mutable_error() =
        MakeError(v1::COORDINATOR_NOT_AVAILABLE,
                  absl::StrCat("cannot create ", OffsetStore::kTopic, ": ", s.message()));
    return response;
  }
  const std::shared_ptr<const MetadataImage> image = cluster_->image();
  const TopicMetadata* topic = image->topic(OffsetStore::kTopic);
  if (topic == nullptr) {
    *response.mutable_error() = MakeError(
        v1::COORDINATOR_NOT_AVAILABLE, absl::StrCat(OffsetStore::kTopic, " is not known here yet"));
    return response;
  }
  const int32_t p = OffsetsPartitionFor(group, topic->info.partitions);
  const absl::StatusOr<PartitionRoute> route =
      cluster_->AwaitLeader(OffsetStore::kTopic, p, std::chrono::milliseconds(kLeaderWaitMs));
  if (!route.ok() || route->leader_id == raft::kNoNode || route->leader_addr.empty()) {
    *response.mutable_error() = MakeError(
        v1::COORDINATOR_NOT_AVAILABLE,
        absl::StrCat("group '", group, "': ", OffsetStore::kTopic, "-", p, " has no leader now",
                     route.ok() ? "" : absl::StrCat(" (", route.status().message(), ")")));
    return response;
  }
  response.set_node_id(route->leader_id);
  response.set_address(route->leader_addr);
  return response;
}

}  // namespace runnel::broker
