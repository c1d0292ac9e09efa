// The group-metadata records of __consumer_offsets (docs/FORMAT.md section 17): what the
// GroupCoordinator writes so that a consumer group's membership survives a broker restart. The
// record kinds and their key versions are those of Kafka's KIP-848 coordinator:
//   3  group metadata              key (group)           value: group epoch, subscribed topics'
//                                                               partition counts
//   5  member metadata             key (group, member)   value: instance id, client id and host,
//                                                               rebalance timeout, subscription,
//                                                               assignor
//   6  target assignment metadata  key (group)           value: assignment epoch, assignor
//   7  target assignment member    key (group, member)   value: the member's target partitions
//   8  current member assignment   key (group, member)   value: member epoch, previous epoch,
//                                                               state, assigned and revoking
//                                                               partitions
// The values are Runnel's own layout (value version 0: fixed fields and int16-length strings;
// Kafka's are flexible versions keyed by topic ids). A null value deletes the record's key.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/group/assignor.h"

namespace runnel::broker {

enum class GroupRecordType : int16_t {
  kGroupMetadata = 3,
  kMemberMetadata = 5,
  kTargetAssignmentMetadata = 6,
  kTargetAssignmentMember = 7,
  kCurrentMemberAssignment = 8,
};

struct GroupRecordKey {
  GroupRecordType type = GroupRecordType::kGroupMetadata;
  std::string group;
  std::string member_id;  // empty for the group-wide kinds (3 and 6)

  friend bool operator==(const GroupRecordKey&, const GroupRecordKey&) = default;
};

struct GroupMetadataValue {
  int32_t epoch = 0;
  std::map<std::string, int32_t> partition_counts;  // subscribed topics, as last resolved

  friend bool operator==(const GroupMetadataValue&, const GroupMetadataValue&) = default;
};

struct MemberMetadataValue {
  std::string instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  std::vector<std::string> subscribed_topics;
  std::string regex;
  std::string assignor;

  friend bool operator==(const MemberMetadataValue&, const MemberMetadataValue&) = default;
};

struct TargetAssignmentMetadataValue {
  int32_t assignment_epoch = 0;
  std::string assignor;

  friend bool operator==(const TargetAssignmentMetadataValue&,
                         const TargetAssignmentMetadataValue&) = default;
};

struct CurrentMemberAssignmentValue {
  int32_t epoch = 0;
  int32_t previous_epoch = -1;
  bool left_static = false;  // a static member that left with epoch -2 and waits for its return
  TopicPartitions assigned;
  TopicPartitions revoking;

  friend bool operator==(const CurrentMemberAssignmentValue&,
                         const CurrentMemberAssignmentValue&) = default;
};

// True when `key` starts with one of the key versions above (the caller then decodes it with
// DecodeGroupRecordKey); false for offset commits, Kafka's classic-group records and garbage.
bool IsGroupRecordKey(std::string_view key);

// Every string must be at most wire::kMaxStringBytes long (the coordinator checks what members
// send). Decoders return InvalidArgument naming the record kind and field.
std::string EncodeGroupRecordKey(const GroupRecordKey& key);
absl::StatusOr<GroupRecordKey> DecodeGroupRecordKey(std::string_view bytes);

std::string EncodeGroupMetadata(const GroupMetadataValue& value);
absl::StatusOr<GroupMetadataValue> DecodeGroupMetadata(std::string_view bytes);
std::string EncodeMemberMetadata(const MemberMetadataValue& value);
absl::StatusOr<MemberMetadataValue> DecodeMemberMetadata(std::string_view bytes);
std::string EncodeTargetAssignmentMetadata(const TargetAssignmentMetadataValue& value);
absl::StatusOr<TargetAssignmentMetadataValue> DecodeTargetAssignmentMetadata(
    std::string_view bytes);
std::string EncodeTargetAssignmentMember(const TopicPartitions& partitions);
absl::StatusOr<TopicPartitions> DecodeTargetAssignmentMember(std::string_view bytes);
std::string EncodeCurrentMemberAssignment(const CurrentMemberAssignmentValue& value);
absl::StatusOr<CurrentMemberAssignmentValue> DecodeCurrentMemberAssignment(std::string_view bytes);

}  // namespace runnel::broker
