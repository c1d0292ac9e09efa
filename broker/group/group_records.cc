#include "broker/group/group_records.h"

#include "absl/strings/str_cat.h"
#include "broker/group/wire.h"
#include "common/big_endian.h"
#include "common/status_macros.h"

namespace runnel::broker {
namespace {

using wire::PutString;
using wire::Reader;

constexpr int16_t kValueVersion = 0;

bool HasMember(GroupRecordType type) {
  return type == GroupRecordType::kMemberMetadata ||
         type == GroupRecordType::kTargetAssignmentMember ||
         type == GroupRecordType::kCurrentMemberAssignment;
}

bool IsKnown(int16_t version) {
  switch (static_cast<GroupRecordType>(version)) {
    case GroupRecordType::kGroupMetadata:
    case GroupRecordType::kMemberMetadata:
    case GroupRecordType::kTargetAssignmentMetadata:
    case GroupRecordType::kTargetAssignmentMember:
    case GroupRecordType::kCurrentMemberAssignment:
      return true;
  }
  return false;
}

std::string StartValue() {
  std::string out;
  AppendBigEndian<int16_t>(&out, kValueVersion);
  return out;
}

absl::Status CheckValueVersion(Reader& r) {
  ASSIGN_OR_RETURN(const int16_t version, r.Get<int16_t>("version"));
  if (version != kValueVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.what(), ": value version ", version, " is not supported"));
  }
  return absl::OkStatus();
}

void PutPartitions(std::string* out, const TopicPartitions& partitions) {
  int32_t topics = 0;
  for (const auto& [topic, ps] : partitions) topics += ps.empty() ? 0 : 1;
  AppendBigEndian<int32_t>(out, topics);
  for (const auto& [topic, ps] : partitions) {
    if (ps.empty()) continue;
    PutString(out, topic);
    AppendBigEndian<int32_t>(out, static_cast<int32_t>(ps.size()));
    for (int32_t p : ps) AppendBigEndian<int32_t>(out, p);
  }
}

// Topics without partitions are not kept, so a decoded set compares equal to the one encoded.
absl::StatusOr<TopicPartitions> GetPartitions(Reader& r, const char* field) {
  ASSIGN_OR_RETURN(const int32_t topics, r.GetCount(field, 2 + 4));
  TopicPartitions out;
  for (int32_t t = 0; t < topics; ++t) {
    ASSIGN_OR_RETURN(const std::string topic, r.GetString(field));
    ASSIGN_OR_RETURN(const int32_t n, r.GetCount(field, 4));
    for (int32_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(const int32_t p, r.Get<int32_t>(field));
      if (p < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(r.what(), ": ", field, " has partition ", p, " of topic ", topic));
      }
      out[topic].insert(p);
    }
  }
  return out;
}

}  // namespace

bool IsGroupRecordKey(std::string_view key) {
  return key.size() >= 2 && IsKnown(LoadBigEndian<int16_t>(key.data()));
}

std::string EncodeGroupRecordKey(const GroupRecordKey& key) {
  std::string out;
  AppendBigEndian<int16_t>(&out, static_cast<int16_t>(key.type));
  PutString(&out, key.group);
  if (HasMember(key.type)) PutString(&out, key.member_id);
  return out;
}

absl::StatusOr<GroupRecordKey> DecodeGroupRecordKey(std::string_view bytes) {
  Reader r(bytes, "group record key");
  ASSIGN_OR_RETURN(const int16_t version, r.Get<int16_t>("version"));
  if (!IsKnown(version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("group record key: version ", version, " is not a group record"));
  }
  GroupRecordKey key;
  key.type = static_cast<GroupRecordType>(version);
  ASSIGN_OR_RETURN(key.group, r.GetString("group"));
  if (HasMember(key.type)) {
    ASSIGN_OR_RETURN(key.member_id, r.GetString("member_id"));
  }
  RETURN_IF_ERROR(r.Done());
  return key;
}

std::string EncodeGroupMetadata(const GroupMetadataValue& value) {
  std::string out = StartValue();
  AppendBigEndian<int32_t>(&out, value.epoch);
  AppendBigEndian<int32_t>(&out, static_cast<int32_t>(value.partition_counts.size()));
  for (const auto& [topic, partitions] : value.partition_counts) {
    PutString(&out, topic);
    AppendBigEndian<int32_t>(&out, partitions);
  }
  return out;
}

absl::StatusOr<GroupMetadataValue> DecodeGroupMetadata(std::string_view bytes) {
  Reader r(bytes, "group metadata");
  RETURN_IF_ERROR(CheckValueVersion(r));
  GroupMetadataValue value;
  ASSIGN_OR_RETURN(value.epoch, r.Get<int32_t>("epoch"));
  ASSIGN_OR_RETURN(const int32_t topics, r.GetCount("partition_counts", 2 + 4));
  for (int32_t i = 0; i < topics; ++i) {
    ASSIGN_OR_RETURN(std::string topic, r.GetString("partition_counts"));
    ASSIGN_OR_RETURN(value.partition_counts[std::move(topic)], r.Get<int32_t>("partition_counts"));
  }
  RETURN_IF_ERROR(r.Done());
  return value;
}

std::string EncodeMemberMetadata(const MemberMetadataValue& value) {
  std::string out = StartValue();
  PutString(&out, value.instance_id);
  PutString(&out, value.client_id);
  PutString(&out, value.client_host);
  AppendBigEndian<int32_t>(&out, value.rebalance_timeout_ms);
  AppendBigEndian<int32_t>(&out, static_cast<int32_t>(value.subscribed_topics.size()));
  for (const std::string& topic : value.subscribed_topics) PutString(&out, topic);
  PutString(&out, value.regex);
  PutString(&out, value.assignor);
  return out;
}

absl::StatusOr<MemberMetadataValue> DecodeMemberMetadata(std::string_view bytes) {
  Reader r(bytes, "member metadata");
  RETURN_IF_ERROR(CheckValueVersion(r));
  MemberMetadataValue value;
  ASSIGN_OR_RETURN(value.instance_id, r.GetString("instance_id"));
  ASSIGN_OR_RETURN(value.client_id, r.GetString("client_id"));
  ASSIGN_OR_RETURN(value.client_host, r.GetString("client_host"));
  ASSIGN_OR_RETURN(value.rebalance_timeout_ms, r.Get<int32_t>("rebalance_timeout_ms"));
  ASSIGN_OR_RETURN(const int32_t topics, r.GetCount("subscribed_topics", 2));
  for (int32_t i = 0; i < topics; ++i) {
    ASSIGN_OR_RETURN(value.subscribed_topics.emplace_back(), r.GetString("subscribed_topics"));
  }
  ASSIGN_OR_RETURN(value.regex, r.GetString("regex"));
  ASSIGN_OR_RETURN(value.assignor, r.GetString("assignor"));
  RETURN_IF_ERROR(r.Done());
  return value;
}

std::string EncodeTargetAssignmentMetadata(const TargetAssignmentMetadataValue& value) {
  std::string out = StartValue();
  AppendBigEndian<int32_t>(&out, value.assignment_epoch);
  PutString(&out, value.assignor);
  return out;
}

absl::StatusOr<TargetAssignmentMetadataValue> DecodeTargetAssignmentMetadata(
    std::string_view bytes) {
  Reader r(bytes, "target assignment metadata");
  RETURN_IF_ERROR(CheckValueVersion(r));
  TargetAssignmentMetadataValue value;
  ASSIGN_OR_RETURN(value.assignment_epoch, r.Get<int32_t>("assignment_epoch"));
  ASSIGN_OR_RETURN(value.assignor, r.GetString("assignor"));
  RETURN_IF_ERROR(r.Done());
  return value;
}

std::string EncodeTargetAssignmentMember(const TopicPartitions& partitions) {
  std::string out = StartValue();
  PutPartitions(&out, partitions);
  return out;
}

absl::StatusOr<TopicPartitions> DecodeTargetAssignmentMember(std::string_view bytes) {
  Reader r(bytes, "target assignment member");
  RETURN_IF_ERROR(CheckValueVersion(r));
  ASSIGN_OR_RETURN(TopicPartitions partitions, GetPartitions(r, "partitions"));
  RETURN_IF_ERROR(r.Done());
  return partitions;
}

std::string EncodeCurrentMemberAssignment(const CurrentMemberAssignmentValue& value) {
  std::string out = StartValue();
  AppendBigEndian<int32_t>(&out, value.epoch);
  AppendBigEndian<int32_t>(&out, value.previous_epoch);
  AppendBigEndian<int8_t>(&out, value.left_static ? 1 : 0);
  PutPartitions(&out, value.assigned);
  PutPartitions(&out, value.revoking);
  return out;
}

absl::StatusOr<CurrentMemberAssignmentValue> DecodeCurrentMemberAssignment(std::string_view bytes) {
  Reader r(bytes, "current member assignment");
  RETURN_IF_ERROR(CheckValueVersion(r));
  CurrentMemberAssignmentValue value;
  ASSIGN_OR_RETURN(value.epoch, r.Get<int32_t>("epoch"));
  ASSIGN_OR_RETURN(value.previous_epoch, r.Get<int32_t>("previous_epoch"));
  ASSIGN_OR_RETURN(const int8_t state, r.Get<int8_t>("state"));
  if (state != 0 && state != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("current member assignment: state ", state, " is not 0 or 1"));
  }
  value.left_static = state == 1;
  ASSIGN_OR_RETURN(value.assigned, GetPartitions(r, "assigned"));
  ASSIGN_OR_RETURN(value.revoking, GetPartitions(r, "revoking"));
  RETURN_IF_ERROR(r.Done());
  return value;
}

}  // namespace runnel::broker
