// PartitionManager: the broker's view of its partitions — topic metadata (TopicTable) tied to the
// partition logs (storage::LogManager). Creates and deletes topics with their logs, resolves a
// topic/partition to its Log (auto-creating the topic when allowed, as Kafka's
// auto.create.topics.enable), and owns the partitions' idempotent-producer state (dropped with a
// deleted topic).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/cluster/topic_table.h"
#include "broker/partition/producer_state_manager.h"
#include "common/mutex.h"
#include "storage/log_manager.h"

namespace runnel::broker {

struct PartitionManagerOptions {
  bool auto_create_topics = true;  // auto.create.topics.enable
  int32_t num_partitions = 1;      // num.partitions: partitions of auto-created topics
  // Limits on partitions, checked before anything is created: per topic, and on the broker (each
  // partition holds a file descriptor, so runneld derives it from its descriptor limit).
  int32_t max_partitions_per_topic = 10'000;
  int64_t max_partitions = 100'000;
  ProducerStateOptions producer_state;  // producer.id.expiration.ms and its check interval
  // A broker of a cluster: the topic table mirrors the metadata log, whose replica reconciler
  // opens and deletes the logs; this manager then neither deletes "stray" logs nor creates,
  // deletes or alters topics (FailedPrecondition: the controller does, broker/cluster/).
  bool cluster = false;
};

class PartitionManager {
 public:
  // Borrows both; they must outlive the manager. Deletes every log that belongs to no topic of the
  // table (an interrupted create or delete left it) and opens the logs of every known topic.
  static absl::StatusOr<std::unique_ptr<PartitionManager>> Create(
      storage::LogManager* logs, TopicTable* topics, const PartitionManagerOptions& options);

  // InvalidArgument / AlreadyExists naming the problem (FailedPrecondition for a partition count
  // over a limit); nothing is created on error: a failure part way rolls back. The topic gets a
  // new id (any id in `topic` is replaced), its partition directories tagged with it.
  absl::Status CreateTopic(TopicInfo topic);
  // FailedPrecondition naming the limit when `partitions` more would pass
  // max_partitions_per_topic or max_partitions.
  absl::Status CheckPartitionLimits(int64_t partitions) const;
  // Takes the topic out of the table, then deletes its partitions (storage::LogManager::Delete: a
  // crash after the first step leaves directories the next start deletes, DeleteStrayLogs).
  absl::Status DeleteTopic(const std::string& name);
  absl::Status AlterTopicConfigs(const std::string& name,
                                 const std::map<std::string, std::string>& configs);

  // The partition's log. NotFound when the topic or partition does not exist (after trying to
  // auto-create the topic when `allow_auto_create` and auto-creation is on).
  absl::StatusOr<std::shared_ptr<storage::Log>> GetLog(const std::string& topic, int32_t partition,
                                                       bool allow_auto_create);

  const TopicTable& topics() const { return *topics_; }
  storage::LogManager& logs() { return *logs_; }
  // Appends produced batches with the idempotent-producer checks (producer_state_manager.h).
  ProducerStateManager& producer_states() { return producer_states_; }
  const PartitionManagerOptions& options() const { return options_; }

 private:
  PartitionManager(storage::LogManager* logs, TopicTable* topics,
                   const PartitionManagerOptions& options)
      : logs_(logs), topics_(topics), options_(options), producer_states_(options.producer_state) {}

  absl::Status OpenLogs(const TopicInfo& topic);
  // FailedPrecondition in a cluster (options.cluster), naming `what`.
  absl::Status RefuseInCluster(const char* what) const;
  // Deletes the logs of partitions that no topic in the table has.
  absl::Status DeleteStrayLogs();

  storage::LogManager* const logs_;
  TopicTable* const topics_;
  const PartitionManagerOptions options_;
  ProducerStateManager producer_states_;
  Mutex create_mu_;  // serialises topic creation and deletion
};

}  // namespace runnel::broker
