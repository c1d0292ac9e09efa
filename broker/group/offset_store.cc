#include "broker/group/offset_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/group/group_records.h"
#include "broker/group/wire.h"
#include "common/logging.h"
#include "common/record/batch_builder.h"
#include "common/record/record_batch.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"

namespace runnel::broker {
absl::Status OffsetStore::CheckGroupId(const std::string& group) {
  if (group.empty()) return absl::InvalidArgumentError("commit: empty group id");
  if (group.size() > wire::kMaxStringBytes) {
    return absl::InvalidArgumentError(absl::StrCat("commit: group id of ", group.size(),
                                                   " bytes is over ", wire::kMaxStringBytes));
  }
  return absl::OkStatus();
}

absl::Status OffsetStore::Check(const OffsetCommit& c) {
  if (c.topic.size() > wire::kMaxStringBytes) {
    return absl::InvalidArgumentError(absl::StrCat("commit: topic name of ", c.topic.size(),
                                                   " bytes is over ", wire::kMaxStringBytes));
  }
  const std::string what = absl::StrCat("commit for ", c.topic, "-", c.partition, ": ");
  if (c.topic.empty()) return absl::InvalidArgumentError("commit: empty topic name");
  if (c.partition < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, "partition is negative"));
  }
  if (c.offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, "offset ", c.offset, " is negative"));
  }
  if (c.metadata.size() > OffsetStore::kMaxMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, "metadata of ", c.metadata.size(),
                                                   " bytes is over ",
                                                   OffsetStore::kMaxMetadataBytes));
  }
  return absl::OkStatus();
}

void OffsetStore::Apply(const OffsetKey& key, std::optional<CommittedOffset> value) {
  if (value.has_value()) {
    offsets_[key] = *std::move(value);
  } else {
    offsets_.erase(key);
  }
}

absl::Status OffsetStore::Load(const GroupRecordVisitor& group_records) {
  const std::optional<TopicInfo> topic = partitions_->topics().Get(kTopic);
  if (!topic.has_value()) return absl::OkStatus();
  auto logger = logging::Get("broker");
  if (auto policy = topic->configs.find("cleanup.policy");
      policy == topic->configs.end() || policy->second != "compact") {
    // Older brokers let a client create it as a plain topic, whose retention would expire
    // committed offsets: the broker's own settings win.
    logger->warn("{} is not compacted (cleanup.policy={}): setting cleanup.policy=compact", kTopic,
                 policy == topic->configs.end() ? "delete (default)" : policy->second);
    std::map<std::string, std::string> configs = topic->configs;
    configs["cleanup.policy"] = "compact";
    RETURN_IF_ERROR(partitions_->AlterTopicConfigs(kTopic, configs));
  }
  int64_t records = 0;
  for (int32_t p = 0; p < topic->partitions; ++p) {
    ASSIGN_OR_RETURN(const std::shared_ptr<storage::Log> log,
                     partitions_->GetLog(kTopic, p, false));
    absl::flat_hash_map<OffsetKey, CommittedOffset> read;
    ASSIGN_OR_RETURN(const int64_t count,
                     ReadPartition(p, *log, log->end_offset(), group_records, &read));
    records += count;
    MutexLock lock(&mu_);
    for (auto& [key, value] : read) offsets_[key] = std::move(value);
  }
  logger->info("loaded {} committed offsets from {}", records, kTopic);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> OffsetStore::ReadPartition(
    int32_t p, const storage::Log& log, int64_t end, const GroupRecordVisitor& group_records,
    absl::flat_hash_map<OffsetKey, CommittedOffset>* into) {
  auto logger = logging::Get("broker");
  int64_t records = 0;
  int64_t offset = log.start_offset();
  while (offset < end) {
    ASSIGN_OR_RETURN(const std::string data, log.Read(offset, 1 << 20));
    if (data.empty()) break;
    std::string_view rest = data;
    while (!rest.empty()) {
      ASSIGN_OR_RETURN(const record::RecordBatchView view, record::RecordBatchView::Parse(rest));
      rest.remove_prefix(view.size());
      if (view.base_offset() >= end) return records;
      offset = view.last_offset() + 1;
      // A replica's log holds Raft's control batches (a leader's first entry) too.
      if (view.is_control()) continue;
      // A batch that does not decode is reported and skipped: its groups fall back to
      // auto.offset.reset rather than the broker refusing to start.
      auto it = record::RecordIterator::Create(view);
      if (!it.ok()) {
        logger->error("{}-{} batch at offset {}: {}; skipped", kTopic, p, view.base_offset(),
                      it.status().ToString());
        continue;
      }
      record::Record r;
      while (it->Next(&r)) {
        if (!r.key.has_value()) continue;
        if (IsGroupRecordKey(*r.key)) {
          if (group_records) group_records(*r.key, r.value);
          continue;
        }
        auto key = DecodeOffsetKey(*r.key);
        if (!key.ok()) {
          if (!absl::IsUnimplemented(key.status())) {
            logger->warn("{}-{} offset {}: {}; skipped", kTopic, p, r.offset,
                         key.status().ToString());
          }
          continue;
        }
        if (!r.value.has_value()) {
          into->erase(*key);
          continue;
        }
        auto value = DecodeOffsetValue(*r.value);
        if (!value.ok()) {
          logger->warn("{}-{} offset {}: {}; skipped", kTopic, p, r.offset,
                       value.status().ToString());
          continue;
        }
        (*into)[*key] = *std::move(value);
        ++records;
      }
      if (!it->status().ok()) {
        logger->error("{}-{} batch at offset {}: {}; the rest of it skipped", kTopic, p,
                      view.base_offset(), it->status().ToString());
      }
    }
  }
  return records;
}

int32_t OffsetStore::PartitionOf(const std::string& group) const {
  const std::optional<TopicInfo> topic = partitions_->topics().Get(kTopic);
  return OffsetsPartitionFor(group, topic.has_value() ? topic->partitions : num_partitions_);
}

void OffsetStore::ForgetPartition(int32_t partition) {
  const std::optional<TopicInfo> topic = partitions_->topics().Get(kTopic);
  const int32_t count = topic.has_value() ? topic->partitions : num_partitions_;
  absl::erase_if(offsets_, [&](const auto& entry) {
    return OffsetsPartitionFor(entry.first.group, count) == partition;
  });
}

absl::Status OffsetStore::LoadPartition(int32_t partition, const storage::Log& log,
                                        const GroupRecordVisitor& group_records) {
  {
    MutexLock lock(&mu_);
    Shard& shard = shards_[partition];
    if (shard.in_flight > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(kTopic, "-", partition, ": ", shard.in_flight,
                       " write(s) accepted before are not answered yet; load it after them"));
    }
    shard.served = false;
    ++shard.generation;
    ForgetPartition(partition);
  }
  // Every write answered OK is committed and below the high watermark (the replication thread
  // raises it before it answers), and none is accepted while the partition is not served.
  const int64_t end = log.high_watermark();
  absl::flat_hash_map<OffsetKey, CommittedOffset> read;
  ASSIGN_OR_RETURN(const int64_t records, ReadPartition(partition, log, end, group_records, &read));
  MutexLock lock(&mu_);
  Shard& shard = shards_[partition];
  ++shard.generation;
  for (auto& [key, value] : read) offsets_[key] = std::move(value);
  shard.served = true;
  logging::Get("broker")->info("loaded {} committed offsets from {}-{} up to offset {}", records,
                               kTopic, partition, end);
  return absl::OkStatus();
}

void OffsetStore::UnloadPartition(int32_t partition) {
  MutexLock lock(&mu_);
  Shard& shard = shards_[partition];
  shard.served = false;
  ++shard.generation;
  ForgetPartition(partition);
}

absl::Status OffsetStore::ServingLocked(const std::string& group, int32_t partition) const {
  if (appender_ == nullptr) return absl::OkStatus();
  if (auto it = shards_.find(partition); it != shards_.end() && it->second.served) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat("group '", group, "': ", kTopic, "-", partition,
                                             " is not served by this broker now"));
}

absl::Status OffsetStore::CheckServing(const std::string& group) const {
  const int32_t partition = PartitionOf(group);
  MutexLock lock(&mu_);
  return ServingLocked(group, partition);
}

absl::StatusOr<std::optional<CommittedOffset>> OffsetStore::FetchServed(const std::string& group,
                                                                        const std::string& topic,
                                                                        int32_t partition) const {
  const int32_t shard = PartitionOf(group);
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(ServingLocked(group, shard));
  auto it = offsets_.find(OffsetKey{group, topic, partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<std::pair<OffsetKey, CommittedOffset>>> OffsetStore::FetchAllServed(
    const std::string& group) const {
  const int32_t shard = PartitionOf(group);
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(ServingLocked(group, shard));
  return FetchAllLocked(group);
}

absl::StatusOr<std::shared_ptr<storage::Log>> OffsetStore::GroupLog(const std::string& group) {
  if (!partitions_->topics().Get(kTopic).has_value()) {
    TopicInfo topic;
    topic.name = kTopic;
    topic.partitions = num_partitions_;
    topic.internal = true;
    topic.configs = {{"cleanup.policy", "compact"}};
    const absl::Status created = partitions_->CreateTopic(topic);
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  }
  const int32_t partitions = partitions_->topics().Get(kTopic)->partitions;
  return partitions_->GetLog(kTopic, OffsetsPartitionFor(group, partitions), false);
}

absl::Status OffsetStore::AppendBatch(const std::string& group, std::string batch,
                                      std::function<void(absl::Status)> done) {
  if (appender_ != nullptr) {
    const int32_t partition = PartitionOf(group);
    {
      MutexLock lock(&mu_);
      RETURN_IF_ERROR(ServingLocked(group, partition));
      ++shards_[partition].in_flight;
    }
    const absl::Status appended =
        appender_->Append(group, num_partitions_, std::move(batch),
                          [this, partition, done = std::move(done)](absl::Status status) {
                            {
                              MutexLock lock(&mu_);
                              --shards_[partition].in_flight;
                            }
                            done(status);
                          });
    if (!appended.ok()) {
      MutexLock lock(&mu_);
      --shards_[partition].in_flight;
    }
    return appended;
  }
  ASSIGN_OR_RETURN(const std::shared_ptr<storage::Log> log, GroupLog(group));
  return log->Append(std::move(batch), std::move(done)).status();
}

absl::Status OffsetStore::Commit(const std::string& group, const std::vector<OffsetCommit>& offsets,
                                 std::function<void(absl::Status)> done) {
  RETURN_IF_ERROR(CheckGroupId(group));
  if (offsets.empty()) return absl::InvalidArgumentError("commit: no offsets");
  for (const OffsetCommit& c : offsets) RETURN_IF_ERROR(Check(c));
  const int64_t now = clock_->NowMs();
  record::RecordBatchBuilder builder;
  std::vector<std::pair<OffsetKey, CommittedOffset>> entries;
  for (const OffsetCommit& c : offsets) {
    OffsetKey key{group, c.topic, c.partition};
    CommittedOffset value{c.offset, -1, c.metadata, now};
    builder.Append(now, EncodeOffsetKey(key), EncodeOffsetValue(value));
    entries.emplace_back(std::move(key), std::move(value));
  }
  ASSIGN_OR_RETURN(std::string batch, builder.Build());
  std::vector<std::pair<OffsetKey, std::optional<CommittedOffset>>> changes;
  for (auto& [key, value] : entries) changes.emplace_back(std::move(key), std::move(value));
  MutexLock commit_lock(&commit_mu_);
  return AppendAndApply(group, std::move(batch), std::move(changes), std::move(done));
}

absl::Status OffsetStore::AppendAndApply(
    const std::string& group, std::string batch,
    std::vector<std::pair<OffsetKey, std::optional<CommittedOffset>>> changes,
    std::function<void(absl::Status)> done) {
  if (appender_ == nullptr) {
    RETURN_IF_ERROR(AppendBatch(group, std::move(batch), std::move(done)));
    MutexLock lock(&mu_);
    for (auto& [key, value] : changes) Apply(key, std::move(value));
    return absl::OkStatus();
  }
  // A proposal can fail after it was accepted (the leader lost its leadership): the cache takes
  // the changes once committed, and answers come in log order, so it still follows the log —
  // unless the partition was unloaded or loaded again meanwhile (its load read it from the log).
  const int32_t partition = PartitionOf(group);
  uint64_t generation = 0;
  {
    MutexLock lock(&mu_);
    generation = shards_[partition].generation;
  }
  return AppendBatch(group, std::move(batch),
                     [this, partition, generation, changes = std::move(changes),
                      done = std::move(done)](absl::Status status) mutable {
                       if (status.ok()) {
                         MutexLock lock(&mu_);
                         if (shards_[partition].generation == generation) {
                           for (auto& [key, value] : changes) Apply(key, std::move(value));
                         }
                       }
                       done(status);
                     });
}

absl::Status OffsetStore::AppendGroupRecords(const std::string& group,
                                             const std::vector<KeyValue>& records,
                                             std::function<void(absl::Status)> done) {
  if (records.empty()) return absl::InvalidArgumentError("group records: none to append");
  const int64_t now = clock_->NowMs();
  record::RecordBatchBuilder builder;
  for (const KeyValue& r : records) builder.Append(now, r.key, r.value);
  ASSIGN_OR_RETURN(std::string batch, builder.Build());
  MutexLock commit_lock(&commit_mu_);
  return AppendBatch(group, std::move(batch), std::move(done));
}

std::vector<std::string> OffsetStore::Groups() const {
  std::vector<std::string> out;
  {
    MutexLock lock(&mu_);
    for (const auto& [key, value] : offsets_) out.push_back(key.group);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::Status OffsetStore::DeleteGroup(const std::string& group,
                                      std::function<void(absl::Status)> done) {
  MutexLock commit_lock(&commit_mu_);
  const std::vector<std::pair<OffsetKey, CommittedOffset>> entries = FetchAll(group);
  if (entries.empty()) {
    return absl::NotFoundError(absl::StrCat("group '", group, "' has no committed offsets"));
  }
  record::RecordBatchBuilder builder;
  const int64_t now = clock_->NowMs();
  for (const auto& [key, value] : entries) builder.Append(now, EncodeOffsetKey(key), std::nullopt);
  ASSIGN_OR_RETURN(std::string batch, builder.Build());
  std::vector<std::pair<OffsetKey, std::optional<CommittedOffset>>> changes;
  for (const auto& [key, value] : entries) changes.emplace_back(key, std::nullopt);
  return AppendAndApply(group, std::move(batch), std::move(changes), std::move(done));
}

std::optional<CommittedOffset> OffsetStore::Fetch(const std::string& group,
                                                  const std::string& topic,
                                                  int32_t partition) const {
  MutexLock lock(&mu_);
  auto it = offsets_.find(OffsetKey{group, topic, partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<OffsetKey, CommittedOffset>> OffsetStore::FetchAll(
    const std::string& group) const {
  MutexLock lock(&mu_);
  return FetchAllLocked(group);
}

std::vector<std::pair<OffsetKey, CommittedOffset>> OffsetStore::FetchAllLocked(
    const std::string& group) const {
  std::vector<std::pair<OffsetKey, CommittedOffset>> out;
  for (const auto& [key, value] : offsets_) {
    if (key.group == group) out.emplace_back(key, value);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.topic, a.first.partition) < std::tie(b.first.topic, b.first.partition);
  });
  return out;
}

}  // namespace runnel::broker
