#include "broker/cluster/topic_table.h"

#include <nlohmann/json.hpp>

#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/file.h"
#include "storage/log_manager.h"

namespace runnel::broker {

bool IsInternalTopicName(std::string_view name) { return name.starts_with("__"); }

absl::Status RefuseProtectedConfigChange(const TopicInfo& topic,
                                         const std::map<std::string, std::string>& configs) {
  if (!IsInternalTopicName(topic.name)) return absl::OkStatus();
  for (const char* name : kProtectedInternalConfigs) {
    auto value_in = [name](const std::map<std::string, std::string>& m) {
      auto it = m.find(name);
      return it == m.end() ? std::optional<std::string>() : it->second;
    };
    if (value_in(configs) == value_in(topic.configs)) continue;
    return absl::PermissionDeniedError(
        absl::StrCat("cannot change ", name, " of '", topic.name,
                     "': the broker sets it on its internal topics"));
  }
  return absl::OkStatus();
}

std::string NewTopicId() {
  std::random_device random;
  std::string bytes(16, '\0');
  for (char& b : bytes) b = static_cast<char>(random() & 0xff);
  return absl::WebSafeBase64Escape(bytes);  // 22 characters, no padding
}

absl::Status RefuseInternalTopic(std::string_view name, std::string_view action) {
  if (!IsInternalTopicName(name)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("cannot ", std::string(action), " '", std::string(name),
                   "': topic names starting with '__' are reserved for the broker's internal "
                   "topics"));
}
namespace {

using nlohmann::json;

// Refuses absurd partition counts before any directory is created for them.
constexpr int32_t kMaxPartitions = 100000;

json ToJson(const TopicInfo& t) {
  return json{{"name", t.name},
              {"partitions", t.partitions},
              {"replication_factor", t.replication_factor},
              {"configs", t.configs},
              {"internal", t.internal},
              {"id", t.id}};
}

absl::StatusOr<TopicInfo> FromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("topic entry is not an object");
  TopicInfo t;
  try {
    t.name = j.at("name").get<std::string>();
    t.partitions = j.at("partitions").get<int32_t>();
    t.replication_factor = j.at("replication_factor").get<int32_t>();
    t.configs = j.at("configs").get<std::map<std::string, std::string>>();
    t.internal = j.value("internal", false);
    t.id = j.value("id", std::string());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return t;
}

}  // namespace

TopicTable::TopicTable(TopicTable&& other) noexcept : path_(std::move(other.path_)) {
  MutexLock lock(&other.mu_);
  topics_ = std::move(other.topics_);
  version_ = other.version_;
}

absl::Status TopicTable::Validate(const TopicInfo& topic) {
  RETURN_IF_ERROR(storage::ValidateTopicName(topic.name));
  if (topic.partitions < 1 || topic.partitions > kMaxPartitions) {
    return absl::InvalidArgumentError(
        absl::StrCat("partitions: ", topic.partitions, " is not in [1, ", kMaxPartitions, "]"));
  }
  if (topic.id.find_first_of(" \n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("topic id '", topic.id, "' has spaces"));
  }
  if (topic.replication_factor < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("replication factor: ", topic.replication_factor, " is below 1"));
  }
  ASSIGN_OR_RETURN(const storage::LogConfigOverrides overrides,
                   storage::ParseLogConfigOverrides(topic.configs));
  return overrides.ApplyTo(storage::LogConfig{}).Validate();
}

absl::StatusOr<TopicTable> TopicTable::Open(const std::string& data_dir) {
  TopicTable table(absl::StrCat(data_dir, "/", kFileName));
  if (!storage::FileExists(table.path_)) return table;
  ASSIGN_OR_RETURN(const std::string text, storage::ReadWholeFile(table.path_));
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("topics") ||
      !doc["topics"].is_array()) {
    return absl::DataLossError(
        absl::StrCat(table.path_, ": not a topics file (expected {\"topics\": [...]})"));
  }
  {
    MutexLock lock(&table.mu_);  // released before the table is moved out
    for (const json& entry : doc["topics"]) {
      absl::StatusOr<TopicInfo> topic = FromJson(entry);
      absl::Status valid = topic.ok() ? Validate(*topic) : topic.status();
      if (!valid.ok()) {
        return absl::DataLossError(
            absl::StrCat(table.path_, ": bad topic entry ", entry.dump(), ": ", valid.message()));
      }
      table.topics_[topic->name] = *topic;
    }
    bool assigned = false;
    for (auto& [name, topic] : table.topics_) {
      if (!topic.id.empty()) continue;
      topic.id = NewTopicId();
      assigned = true;
    }
    if (assigned) RETURN_IF_ERROR(table.PersistLocked());
  }
  return table;
}

void TopicTable::Replace(std::vector<TopicInfo> topics) {
  std::map<std::string, TopicInfo> replaced;
  for (TopicInfo& topic : topics) {
    std::string name = topic.name;
    replaced.emplace(std::move(name), std::move(topic));
  }
  MutexLock lock(&mu_);
  if (replaced == topics_) return;
  topics_ = std::move(replaced);
  ++version_;
}

uint64_t TopicTable::version() const {
  MutexLock lock(&mu_);
  return version_;
}

absl::Status TopicTable::PersistLocked() const {
  if (path_.empty()) return absl::OkStatus();  // a Mirror
  json topics = json::array();
  for (const auto& [name, topic] : topics_) topics.push_back(ToJson(topic));
  return storage::WriteFileAtomically(path_, json{{"topics", topics}}.dump(2) + "\n");
}

absl::Status TopicTable::Create(const TopicInfo& topic) {
  RETURN_IF_ERROR(Validate(topic));
  MutexLock lock(&mu_);
  if (topics_.contains(topic.name)) {
    return absl::AlreadyExistsError(absl::StrCat("topic '", topic.name, "' already exists"));
  }
  topics_[topic.name] = topic;
  if (topic.id.empty()) topics_[topic.name].id = NewTopicId();
  absl::Status persisted = PersistLocked();
  if (!persisted.ok()) {
    topics_.erase(topic.name);
  } else {
    ++version_;
  }
  return persisted;
}

absl::Status TopicTable::Delete(const std::string& name) {
  MutexLock lock(&mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist"));
  }
  const TopicInfo removed = it->second;
  topics_.erase(it);
  absl::Status persisted = PersistLocked();
  if (!persisted.ok()) {
    topics_[name] = removed;
  } else {
    ++version_;
  }
  return persisted;
}

absl::Status TopicTable::SetConfigs(const std::string& name,
                                    const std::map<std::string, std::string>& configs) {
  MutexLock lock(&mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist"));
  }
  TopicInfo updated = it->second;
  updated.configs = configs;
  RETURN_IF_ERROR(Validate(updated));
  const TopicInfo previous = it->second;
  it->second = updated;
  absl::Status persisted = PersistLocked();
  if (!persisted.ok()) it->second = previous;
  return persisted;
}

std::optional<TopicInfo> TopicTable::Get(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

std::vector<TopicInfo> TopicTable::List() const {
  MutexLock lock(&mu_);
  std::vector<TopicInfo> out;
  for (const auto& [name, topic] : topics_) out.push_back(topic);
  return out;
}

}  // namespace runnel::broker
