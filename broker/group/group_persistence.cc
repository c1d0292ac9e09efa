// GroupCoordinator's persistence: a group's state as records of __consumer_offsets (Encode,
// Decode), what changed since the last write appended (Persist), and every group rebuilt at start
// (Load). Record layouts: group_records.h, docs/FORMAT.md section 17.
#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "broker/group/group_coordinator.h"
#include "broker/group/group_records.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {

GroupCoordinator::RecordMap GroupCoordinator::Encode(const Group& group) {
  RecordMap records;
  if (group.members.empty()) return records;
  auto put = [&](GroupRecordType type, const std::string& member_id, std::string value) {
    records.emplace(EncodeGroupRecordKey({type, group.id, member_id}), std::move(value));
  };
  put(GroupRecordType::kGroupMetadata, "",
      EncodeGroupMetadata({group.epoch, group.partition_counts}));
  put(GroupRecordType::kTargetAssignmentMetadata, "",
      EncodeTargetAssignmentMetadata({group.assignment_epoch, group.assignor}));
  for (const auto& [id, m] : group.members) {
    put(GroupRecordType::kMemberMetadata, id,
        EncodeMemberMetadata({m.instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                              m.subscribed_topics, m.regex, m.assignor}));
    put(GroupRecordType::kCurrentMemberAssignment, id,
        EncodeCurrentMemberAssignment(
            {m.epoch, m.previous_epoch, m.left_static, m.assigned, m.revoking}));
  }
  for (const auto& [id, partitions] : group.target) {
    put(GroupRecordType::kTargetAssignmentMember, id, EncodeTargetAssignmentMember(partitions));
  }
  return records;
}

absl::StatusOr<GroupCoordinator::Group> GroupCoordinator::Decode(const std::string& group_id,
                                                                 const RecordMap& records) {
  Group group;
  group.id = group_id;
  bool has_metadata = false;
  std::set<std::string> with_metadata, with_assignment;
  for (const auto& [key_bytes, value] : records) {
    ASSIGN_OR_RETURN(const GroupRecordKey key, DecodeGroupRecordKey(key_bytes));
    switch (key.type) {
      case GroupRecordType::kGroupMetadata: {
        ASSIGN_OR_RETURN(GroupMetadataValue v, DecodeGroupMetadata(value));
        group.epoch = v.epoch;
        group.partition_counts = std::move(v.partition_counts);
        has_metadata = true;
        break;
      }
      case GroupRecordType::kTargetAssignmentMetadata: {
        ASSIGN_OR_RETURN(TargetAssignmentMetadataValue v, DecodeTargetAssignmentMetadata(value));
        group.assignment_epoch = v.assignment_epoch;
        group.assignor = std::move(v.assignor);
        break;
      }
      case GroupRecordType::kMemberMetadata: {
        ASSIGN_OR_RETURN(MemberMetadataValue v, DecodeMemberMetadata(value));
        Member& m = group.members[key.member_id];
        m.id = key.member_id;
        m.instance_id = std::move(v.instance_id);
        m.client_id = std::move(v.client_id);
        m.client_host = std::move(v.client_host);
        m.rebalance_timeout_ms = v.rebalance_timeout_ms;
        m.subscribed_topics = std::move(v.subscribed_topics);
        m.regex = std::move(v.regex);
        m.assignor = std::move(v.assignor);
        with_metadata.insert(key.member_id);
        break;
      }
      case GroupRecordType::kTargetAssignmentMember: {
        ASSIGN_OR_RETURN(group.target[key.member_id], DecodeTargetAssignmentMember(value));
        break;
      }
      case GroupRecordType::kCurrentMemberAssignment: {
        ASSIGN_OR_RETURN(CurrentMemberAssignmentValue v, DecodeCurrentMemberAssignment(value));
        Member& m = group.members[key.member_id];
        m.epoch = v.epoch;
        m.previous_epoch = v.previous_epoch;
        m.left_static = v.left_static;
        m.assigned = std::move(v.assigned);
        m.revoking = std::move(v.revoking);
        with_assignment.insert(key.member_id);
        break;
      }
    }
  }
  if (!has_metadata) return absl::InvalidArgumentError("no group metadata record");
  for (auto& [id, m] : group.members) {
    if (!with_metadata.contains(id) || !with_assignment.contains(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", id, " has no ",
          with_metadata.contains(id) ? "current assignment" : "member metadata", " record"));
    }
    if (!m.regex.empty()) {
      m.compiled_regex = std::make_shared<const RE2>(m.regex, RE2::Quiet);
      if (!m.compiled_regex->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("member ", id, ": regex '", m.regex, "' does not compile"));
      }
    }
    if (!m.instance_id.empty()) group.static_members[m.instance_id] = id;
  }
  if (std::optional<std::string> twice = SecondOwner(group); twice.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("two members own partition ", *twice));
  }
  return group;
}

absl::Status GroupCoordinator::Persist(const std::string& group_id,
                                       std::function<void(absl::Status)>* done) {
  auto it = groups_.find(group_id);
  RecordMap now = it == groups_.end() ? RecordMap{} : Encode(it->second);
  {
    // Records a failed write may or may not have left: each is written again (a value) or
    // tombstoned, whatever the log holds.
    MutexLock lock(&rewrite_mu_);
    if (auto unsure = rewrite_.find(group_id); unsure != rewrite_.end()) {
      RecordMap& written = written_[group_id];
      for (const std::string& key : unsure->second) written[key] = kUnknownRecord;
      rewrite_.erase(unsure);
    }
  }
  auto before_it = written_.find(group_id);
  static const RecordMap kNone;
  const RecordMap& before = before_it == written_.end() ? kNone : before_it->second;
  std::vector<KeyValue> changes;
  for (const auto& [key, value] : now) {
    auto b = before.find(key);
    if (b == before.end() || b->second != value) changes.push_back({key, value});
  }
  for (const auto& [key, value] : before) {
    if (!now.contains(key)) changes.push_back({key, std::nullopt});
  }
  if (changes.empty()) return absl::OkStatus();
  // A write that fails after it was accepted may or may not be in the log, though written_ says
  // it is: the keys it touched are written again next time (a retried heartbeat would otherwise
  // find nothing to write).
  std::set<std::string> touched;
  for (const KeyValue& change : changes) touched.insert(change.key);
  std::function<void(absl::Status)> answer = [this, group_id, touched = std::move(touched),
                                              done = *done](const absl::Status& s) {
    if (!s.ok()) {
      MutexLock lock(&rewrite_mu_);
      rewrite_[group_id].insert(touched.begin(), touched.end());
    }
    done(s);
  };
  RETURN_IF_ERROR(WithContext(store_->AppendGroupRecords(group_id, changes, std::move(answer)),
                              absl::StrCat("writing group ", group_id)));
  *done = nullptr;
  if (now.empty()) {
    written_.erase(group_id);
  } else {
    written_[group_id] = std::move(now);
  }
  return absl::OkStatus();
}

// Folds group records, in log order, into each group's latest records.
GroupRecordVisitor GroupCoordinator::Collect(std::map<std::string, RecordMap>* records) {
  return [records](std::string_view key, std::optional<std::string_view> value) {
    auto decoded = DecodeGroupRecordKey(key);
    if (!decoded.ok()) {
      logging::Get("broker")->warn("{}: {}; skipped", OffsetStore::kTopic,
                                   decoded.status().ToString());
      return;
    }
    RecordMap& group = (*records)[decoded->group];
    if (value.has_value()) {
      group[std::string(key)] = std::string(*value);
    } else {
      group.erase(std::string(key));
    }
  };
}

size_t GroupCoordinator::Install(std::map<std::string, RecordMap> records) {
  auto logger = logging::Get("broker");
  const auto now = options_.clock->SteadyNow();
  size_t members = 0;
  for (auto& [id, group_records] : records) {
    if (group_records.empty()) continue;
    auto group = Decode(id, group_records);
    // What is on disk is what a later Persist diffs against, so a group dropped here is
    // overwritten (or tombstoned) by its next change.
    written_[id] = std::move(group_records);
    if (!group.ok()) {
      logger->error("group {}: its records in {} do not decode ({}); its members must rejoin", id,
                    OffsetStore::kTopic, group.status().ToString());
      continue;
    }
    for (auto& [member_id, m] : group->members) {
      m.session_deadline = now + std::chrono::milliseconds(options_.session_timeout_ms);
      m.revoke_deadline = now + std::chrono::milliseconds(m.rebalance_timeout_ms);
    }
    members += group->members.size();
    groups_.insert_or_assign(id, *std::move(group));
  }
  return members;
}

absl::Status GroupCoordinator::Load() {
  std::map<std::string, RecordMap> records;
  RETURN_IF_ERROR(store_->Load(Collect(&records)));
  MutexLock lock(&mu_);
  const size_t members = Install(std::move(records));
  logging::Get("broker")->info("loaded {} consumer group(s) with {} member(s) from {}",
                               groups_.size(), members, OffsetStore::kTopic);
  return absl::OkStatus();
}

absl::Status GroupCoordinator::LoadPartition(int32_t partition, const storage::Log& log) {
  {
    MutexLock lock(&mu_);
    DropPartitionLocked(partition);
  }
  std::map<std::string, RecordMap> records;
  RETURN_IF_ERROR(store_->LoadPartition(partition, log, Collect(&records)));
  MutexLock lock(&mu_);
  // A heartbeat that raced with the unload may have made a group of this partition meanwhile;
  // what the log holds wins.
  DropPartitionLocked(partition);
  const size_t groups = records.size();
  const size_t members = Install(std::move(records));
  logging::Get("broker")->info("coordinating {} consumer group(s) with {} member(s) of {}-{}",
                               groups, members, OffsetStore::kTopic, partition);
  return absl::OkStatus();
}

void GroupCoordinator::UnloadPartition(int32_t partition) {
  store_->UnloadPartition(partition);
  MutexLock lock(&mu_);
  DropPartitionLocked(partition);
}

void GroupCoordinator::DropPartitionLocked(int32_t partition) {
  for (auto it = groups_.begin(); it != groups_.end();) {
    it = store_->PartitionOf(it->first) == partition ? groups_.erase(it) : std::next(it);
  }
  for (auto it = written_.begin(); it != written_.end();) {
    it = store_->PartitionOf(it->first) == partition ? written_.erase(it) : std::next(it);
  }
}

}  // namespace runnel::broker
