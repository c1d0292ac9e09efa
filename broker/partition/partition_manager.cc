#include "broker/partition/partition_manager.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {

absl::StatusOr<std::unique_ptr<PartitionManager>> PartitionManager::Create(
    storage::LogManager* logs, TopicTable* topics, const PartitionManagerOptions& options) {
  if (options.num_partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num.partitions: ", options.num_partitions, " is below 1"));
  }
  std::unique_ptr<PartitionManager> manager(new PartitionManager(logs, topics, options));
  if (options.cluster) return manager;
  RETURN_IF_ERROR(manager->DeleteStrayLogs());
  for (const TopicInfo& topic : topics->List()) RETURN_IF_ERROR(manager->OpenLogs(topic));
  return manager;
}

absl::Status PartitionManager::DeleteStrayLogs() {
  for (const storage::TopicPartition& tp : logs_->List()) {
    const std::optional<TopicInfo> topic = topics_->Get(tp.topic);
    if (topic.has_value() && tp.partition < topic->partitions) continue;
    // A create or delete was interrupted between its two steps (the topic table and the
    // directories): the partition belongs to no topic. Kept, a later topic of that name would
    // adopt its records.
    logging::Get("broker")->warn(
        "partition dir {} belongs to no topic in {} (an interrupted topic create or delete): "
        "deleting it",
        tp.DirName(), TopicTable::kFileName);
    RETURN_IF_ERROR(logs_->Delete(tp));
  }
  return absl::OkStatus();
}

absl::Status PartitionManager::OpenLogs(const TopicInfo& topic) {
  ASSIGN_OR_RETURN(const storage::LogConfigOverrides overrides,
                   storage::ParseLogConfigOverrides(topic.configs));
  RETURN_IF_ERROR(logs_->SetTopicOverrides(topic.name, overrides));
  for (int32_t p = 0; p < topic.partitions; ++p) {
    RETURN_IF_ERROR(logs_->GetOrCreate({topic.name, p}, topic.id).status());
  }
  return absl::OkStatus();
}

absl::Status PartitionManager::CheckPartitionLimits(int64_t partitions) const {
  if (partitions > options_.max_partitions_per_topic) {
    return absl::FailedPreconditionError(
        absl::StrCat("partitions: ", partitions, " is more than a topic may have on this broker (",
                     options_.max_partitions_per_topic, ", --max-partitions-per-topic)"));
  }
  int64_t existing = 0;
  for (const TopicInfo& t : topics_->List()) existing += t.partitions;
  if (existing + partitions > options_.max_partitions) {
    return absl::FailedPreconditionError(absl::StrCat(
        "partitions: ", partitions, " more would make ", existing + partitions,
        " on this broker, over its limit of ", options_.max_partitions,
        " (--max-partitions; by default set by the file descriptor limit, ulimit -n)"));
  }
  return absl::OkStatus();
}

absl::Status PartitionManager::RefuseInCluster(const char* what) const {
  if (!options_.cluster) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", what, " here: in a cluster the controller changes topics"));
}

absl::Status PartitionManager::CreateTopic(TopicInfo topic) {
  RETURN_IF_ERROR(RefuseInCluster("create a topic"));
  MutexLock lock(&create_mu_);
  topic.id = NewTopicId();
  RETURN_IF_ERROR(TopicTable::Validate(topic));
  RETURN_IF_ERROR(CheckPartitionLimits(topic.partitions));
  if (topics_->Get(topic.name).has_value()) {
    return absl::AlreadyExistsError(absl::StrCat("topic '", topic.name, "' already exists"));
  }
  // Logs first: a crash in between leaves directories of no topic, which the next start deletes
  // (DeleteStrayLogs), never a topic whose partitions have no log. A failure rolls back, so a
  // create is all or nothing.
  absl::Status created = OpenLogs(topic);
  if (created.ok()) {
    created = logs_->disk_space().WithReserve([&] { return topics_->Create(topic); });
  }
  if (!created.ok()) {
    for (int32_t p = 0; p < topic.partitions; ++p) {
      absl::Status undone = logs_->Delete({topic.name, p});
      if (!undone.ok() && !absl::IsNotFound(undone)) {
        logging::Get("broker")->error("rolling back topic {}: {}", topic.name, undone.ToString());
      }
    }
    return created;
  }
  logging::Get("broker")->info("created topic {} with {} partitions", topic.name, topic.partitions);
  return absl::OkStatus();
}

absl::Status PartitionManager::DeleteTopic(const std::string& name) {
  RETURN_IF_ERROR(RefuseInCluster("delete a topic"));
  MutexLock lock(&create_mu_);
  const std::optional<TopicInfo> topic = topics_->Get(name);
  if (!topic.has_value()) {
    return absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist"));
  }
  // On a full disk too: deleting a topic is how an operator frees space.
  RETURN_IF_ERROR(logs_->disk_space().WithReserve([&] { return topics_->Delete(name); }));
  // Every partition, whatever fails: a directory left behind is deleted at the next start, or
  // when a topic of this name is created again (its id differs), never adopted.
  absl::Status first_error;
  for (int32_t p = 0; p < topic->partitions; ++p) {
    // First, so no snapshot of its producers is written into the directory from now on; a topic
    // created again under this name starts afresh.
    producer_states_.Drop({name, p});
    absl::Status s = logs_->Delete({name, p});
    if (!s.ok() && !absl::IsNotFound(s)) first_error.Update(s);
  }
  if (!first_error.ok()) {
    logging::Get("broker")->error("deleted topic {}, but not all its directories: {}", name,
                                  first_error.ToString());
    return first_error;
  }
  logging::Get("broker")->info("deleted topic {}", name);
  return absl::OkStatus();
}

absl::Status PartitionManager::AlterTopicConfigs(
    const std::string& name, const std::map<std::string, std::string>& configs) {
  RETURN_IF_ERROR(RefuseInCluster("change topic configs"));
  MutexLock lock(&create_mu_);
  RETURN_IF_ERROR(
      logs_->disk_space().WithReserve([&] { return topics_->SetConfigs(name, configs); }));
  ASSIGN_OR_RETURN(const storage::LogConfigOverrides overrides,
                   storage::ParseLogConfigOverrides(configs));
  return logs_->SetTopicOverrides(name, overrides);
}

absl::StatusOr<std::shared_ptr<storage::Log>> PartitionManager::GetLog(const std::string& topic,
                                                                       int32_t partition,
                                                                       bool allow_auto_create) {
  std::optional<TopicInfo> info = topics_->Get(topic);
  if (!info.has_value() && allow_auto_create && options_.auto_create_topics && !options_.cluster) {
    // The broker creates its internal topics itself, with their own configs.
    RETURN_IF_ERROR(RefuseInternalTopic(topic, "auto-create topic"));
    absl::Status created = CreateTopic({topic, options_.num_partitions, 1, {}, false, ""});
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    info = topics_->Get(topic);
  }
  if (!info.has_value()) {
    return absl::NotFoundError(absl::StrCat("topic '", topic, "' does not exist"));
  }
  if (partition < 0 || partition >= info->partitions) {
    return absl::NotFoundError(absl::StrCat("topic '", topic, "' has no partition ", partition,
                                            " (it has ", info->partitions, ")"));
  }
  std::shared_ptr<storage::Log> log = logs_->Get({topic, partition});
  if (log == nullptr) {
    return absl::NotFoundError(absl::StrCat("partition ", topic, "-", partition, " has no log"));
  }
  return log;
}

}  // namespace runnel::broker
