// TopicTable: the broker's topic metadata — each topic's partition count, replication factor and
// config overrides — persisted in `<data_dir>/topics.json` (written atomically, read at start), so
// topics survive restarts. The controller issue will move this into the replicated metadata log;
// until then a single node owns it.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "storage/log_config.h"

namespace runnel::broker {

// Names starting with "__" are reserved for the broker's internal topics (__consumer_offsets).
// Clients may read them, but may not create them (explicitly or by auto-creation), produce to
// them, delete them, or change their protected configs (kProtectedInternalConfigs); the broker
// creates them itself, compacted.
bool IsInternalTopicName(std::string_view name);
// Configs of internal topics that only the broker sets: a __consumer_offsets with delete policy
// would expire committed offsets.
inline constexpr const char* kProtectedInternalConfigs[] = {"cleanup.policy"};
// PermissionDenied naming `action` and the topic when `name` is reserved, else OK.
absl::Status RefuseInternalTopic(std::string_view name, std::string_view action);

// A new random topic id: 16 bytes, base64url without padding (Kafka's Uuid.toString()).
std::string NewTopicId();

struct TopicInfo {
  std::string name;
  int32_t partitions = 1;
  int32_t replication_factor = 1;
  std::map<std::string, std::string> configs;  // Kafka-named overrides, validated
  bool internal = false;                       // e.g. __consumer_offsets
  // Tells this topic from an earlier one of the same name: its partition directories are tagged
  // with it (partition.metadata). Create assigns it when empty.
  std::string id;

  friend bool operator==(const TopicInfo&, const TopicInfo&) = default;
};

// PermissionDenied naming the config when `configs` (a topic's new set of overrides) changes one
// of kProtectedInternalConfigs of `topic`, an internal topic; OK for any other topic.
absl::Status RefuseProtectedConfigChange(const TopicInfo& topic,
                                         const std::map<std::string, std::string>& configs);

class TopicTable {
 public:
  // Loads `<data_dir>/topics.json` if present. A file that does not parse, or describes an invalid
  // topic, fails with DataLoss naming the file and the problem. Topics without an id (written
  // before ids) get one, persisted.
  static absl::StatusOr<TopicTable> Open(const std::string& data_dir);
  // A table kept only in memory, mirroring a cluster's metadata image (Replace): a broker of a
  // cluster has no topics.json.
  static TopicTable Mirror() { return TopicTable(""); }

  TopicTable(TopicTable&& other) noexcept;

  // Adds a topic after checking its name, partition count, replication factor and configs;
  // AlreadyExists if it is there, InvalidArgument naming the bad field otherwise. Persisted
  // before it returns. A topic without an id gets a new one (PartitionManager assigns it first, as
  // the partition directories are tagged with it before the table is written).
  absl::Status Create(const TopicInfo& topic);
  absl::Status Delete(const std::string& name);  // NotFound if absent
  // Replaces the topic's overrides (validated), persisted before it returns.
  absl::Status SetConfigs(const std::string& name,
                          const std::map<std::string, std::string>& configs);

  // Replaces every topic (a Mirror's new image); the version grows when the set changed.
  void Replace(std::vector<TopicInfo> topics);

  std::optional<TopicInfo> Get(const std::string& name) const;
  std::vector<TopicInfo> List() const;  // by name
  // Grows with every created or deleted topic, so callers can tell cheaply whether the set of
  // topics may have changed since they last looked.
  uint64_t version() const;

  // Checks a topic definition without adding it.
  static absl::Status Validate(const TopicInfo& topic);

  static constexpr char kFileName[] = "topics.json";

 private:
  explicit TopicTable(std::string path) : path_(std::move(path)) {}
  absl::Status PersistLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string path_;
  mutable Mutex mu_;
  std::map<std::string, TopicInfo> topics_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace runnel::broker
