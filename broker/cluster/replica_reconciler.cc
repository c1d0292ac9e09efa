#include "broker/cluster/replica_reconciler.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::broker {
namespace {

std::shared_ptr<spdlog::logger> Logger() { return logging::Get("cluster"); }

}  // namespace

ReplicaReconciler::ReplicaReconciler(raft::NodeId node_id, ReplicaManager* replicas,
                                     ReplicaReconcilerHooks hooks, std::string directory_id)
    : node_id_(node_id),
      directory_id_(std::move(directory_id)),
      replicas_(replicas),
      hooks_(std::move(hooks)) {}

ReplicaReconciler::~ReplicaReconciler() { Stop(); }

void ReplicaReconciler::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ReplicaReconciler::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void ReplicaReconciler::Update(std::shared_ptr<const MetadataImage> image) {
  MutexLock lock(&mu_);
  pending_ = std::move(image);
  cv_.SignalAll();
}

void ReplicaReconciler::Run() {
  while (true) {
    std::shared_ptr<const MetadataImage> image;
    {
      MutexLock lock(&mu_);
      while (pending_ == nullptr && !stopping_) cv_.WaitWithTimeout(&mu_, std::chrono::seconds(1));
      if (stopping_) return;
      image = std::move(pending_);
      pending_ = nullptr;
    }
    if (absl::Status done = Reconcile(*image); !done.ok()) {
      // What failed is retried with the next image (or this one again shortly).
      Logger()->warn("replicas: {}", done.ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      MutexLock lock(&mu_);
      if (pending_ == nullptr) pending_ = image;
    }
  }
}

absl::Status ReplicaReconciler::Reconcile(const MetadataImage& image) {
  std::map<storage::TopicPartition, const TopicMetadata*> desired;
  for (const auto& [name, topic] : image.topics()) {
    for (int32_t p = 0; p < static_cast<int32_t>(topic.replicas.size()); ++p) {
      if (topic.Hosts(p).contains(node_id_)) desired[{name, p}] = &topic;
    }
  }
  std::map<storage::TopicPartition, std::shared_ptr<storage::Log>> hosted;
  std::map<std::string, std::map<std::string, std::string>> configs;
  {
    MutexLock lock(&mu_);
    hosted = hosted_;
    configs = configs_;
  }
  absl::Status first_error;
  const auto note = [&first_error](absl::Status status) {
    if (first_error.ok() && !status.ok()) first_error = std::move(status);
  };
  // Gone from here: stop replicating and delete the log — its topic is gone (or is a new topic of
  // the same name, whose partitions start empty), or a completed reassignment moved the partition
  // away (the group's committed membership no longer has this broker: nothing needs its copy).
  for (auto it = hosted.begin(); it != hosted.end();) {
    const storage::TopicPartition& tp = it->first;
    auto wanted = desired.find(tp);
    const bool same_topic =
        wanted != desired.end() && wanted->second->info.id == it->second->topic_id();
    if (same_topic) {
      ++it;
      continue;
    }
    absl::Status removed = replicas_->RemoveReplica(tp);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      note(removed);
      ++it;
      continue;
    }
    const TopicMetadata* topic = image.topic(tp.topic);
    const bool topic_gone = topic == nullptr || topic->info.id != it->second->topic_id();
    it->second.reset();
    if (absl::Status deleted = hooks_.delete_log(tp); !deleted.ok()) note(deleted);
    Logger()->info("partition {}: deleted ({})", tp.DirName(),
                   topic_gone ? "its topic is gone" : "reassigned to other brokers");
    it = hosted.erase(it);
  }
  // New here: open (tagged with the topic id) and replicate.
  for (const auto& [tp, topic] : desired) {
    if (hosted.contains(tp)) continue;
    absl::StatusOr<storage::LogConfig> config = hooks_.log_config(*topic);
    if (!config.ok()) {
      note(config.status());
      continue;
    }
    absl::StatusOr<std::shared_ptr<storage::Log>> log = hooks_.open_log(tp, *config);
    if (log.ok() && !(*log)->topic_id().empty() && (*log)->topic_id() != topic->info.id) {
      // A directory of an earlier topic of this name (deleted while this broker was away).
      log->reset();
      note(hooks_.delete_log(tp));
      log = hooks_.open_log(tp, *config);
    }
    if (log.ok()) {
      if (absl::Status tagged = (*log)->SetTopicId(topic->info.id); !tagged.ok()) log = tagged;
    }
    if (!log.ok()) {
      note(log.status());
      continue;
    }
    // A new group's members are its replicas; a broker joining by a reassignment learns the
    // group's membership from the leader's log (until then it is not a voter of its own group).
    const std::vector<raft::NodeId>& ids = topic->replicas[static_cast<size_t>(tp.partition)];
    // The partition is older than this data dir (or the image does not have this dir's
    // registration yet): a copy that was here went with a wiped disk, and its votes with it.
    const BrokerInfo* self = image.broker(node_id_);
    const bool may_have_lost_state =
        !directory_id_.empty() && (self == nullptr || self->directory_id != directory_id_ ||
                                   topic->created_at < self->directory_since);
    absl::Status added = replicas_->AddReplica(
        tp, topic->info.id, *log, raft::Membership(std::set<raft::NodeId>(ids.begin(), ids.end())),
        /*listener=*/{}, may_have_lost_state);
    if (!added.ok() && !absl::IsAlreadyExists(added)) {
      note(added);
      continue;
    }
    hosted[tp] = *log;
    Logger()->info("partition {}: replicated here (replicas {})", tp.DirName(), ids.size());
  }
  // Config changes reach the open logs.
  std::map<std::string, std::map<std::string, std::string>> new_configs;
  for (const auto& [tp, log] : hosted) {
    const TopicMetadata* topic = image.topic(tp.topic);
    if (topic == nullptr) continue;
    auto old = configs.find(tp.topic);
    if (old != configs.end() && old->second == topic->info.configs) {
      new_configs[tp.topic] = topic->info.configs;
      continue;
    }
    absl::StatusOr<storage::LogConfig> config = hooks_.log_config(*topic);
    if (!config.ok()) {
      note(config.status());  // not recorded as applied: the next pass tries again
      continue;
    }
    log->SetConfig(*config);
    new_configs[tp.topic] = topic->info.configs;
  }
  MutexLock lock(&mu_);
  hosted_ = std::move(hosted);
  configs_ = std::move(new_configs);
  reconciled_ = image.applied();
  return first_error;
}

std::set<storage::TopicPartition> ReplicaReconciler::hosted() const {
  MutexLock lock(&mu_);
  std::set<storage::TopicPartition> out;
  for (const auto& [tp, log] : hosted_) out.insert(tp);
  return out;
}

int64_t ReplicaReconciler::reconciled() const {
  MutexLock lock(&mu_);
  return reconciled_;
}

}  // namespace runnel::broker
