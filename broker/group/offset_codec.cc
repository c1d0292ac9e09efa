#include "broker/group/offset_codec.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "broker/group/wire.h"
#include "common/big_endian.h"

namespace runnel::broker {
namespace {

using wire::PutString;
using wire::Reader;

constexpr int16_t kKeyVersion = 1;
constexpr int16_t kValueVersion = 3;

}  // namespace

std::string EncodeOffsetKey(const OffsetKey& key) {
  std::string out;
  AppendBigEndian<int16_t>(&out, kKeyVersion);
  PutString(&out, key.group);
  PutString(&out, key.topic);
  AppendBigEndian<int32_t>(&out, key.partition);
  return out;
}

std::string EncodeOffsetValue(const CommittedOffset& value) {
  std::string out;
  AppendBigEndian<int16_t>(&out, kValueVersion);
  AppendBigEndian<int64_t>(&out, value.offset);
  AppendBigEndian<int32_t>(&out, value.leader_epoch);
  PutString(&out, value.metadata);
  AppendBigEndian<int64_t>(&out, value.commit_timestamp);
  return out;
}

absl::StatusOr<OffsetKey> DecodeOffsetKey(std::string_view bytes) {
  Reader r(bytes, "offset commit key");
  auto version = r.Get<int16_t>("version");
  if (!version.ok()) return version.status();
  if (*version != kKeyVersion) {
    return absl::UnimplementedError(
        absl::StrCat("key version ", *version, " is not an offset commit"));
  }
  OffsetKey key;
  auto group = r.GetString("group");
  if (!group.ok()) return group.status();
  auto topic = r.GetString("topic");
  if (!topic.ok()) return topic.status();
  auto partition = r.Get<int32_t>("partition");
  if (!partition.ok()) return partition.status();
  return OffsetKey{*std::move(group), *std::move(topic), *partition};
}

absl::StatusOr<CommittedOffset> DecodeOffsetValue(std::string_view bytes) {
  Reader r(bytes, "offset commit value");
  auto version = r.Get<int16_t>("version");
  if (!version.ok()) return version.status();
  if (*version != kValueVersion) {
    return absl::UnimplementedError(absl::StrCat("value version ", *version, " is not supported"));
  }
  CommittedOffset value;
  auto offset = r.Get<int64_t>("offset");
  if (!offset.ok()) return offset.status();
  auto epoch = r.Get<int32_t>("leader_epoch");
  if (!epoch.ok()) return epoch.status();
  auto metadata = r.GetString("metadata");
  if (!metadata.ok()) return metadata.status();
  auto timestamp = r.Get<int64_t>("commit_timestamp");
  if (!timestamp.ok()) return timestamp.status();
  return CommittedOffset{*offset, *epoch, *std::move(metadata), *timestamp};
}

int32_t OffsetsPartitionFor(std::string_view group, int32_t partitions) {
  int32_t h = 0;
  for (const char c : group) {
    h = static_cast<int32_t>(31u * static_cast<uint32_t>(h) + static_cast<uint8_t>(c));
  }
  const int32_t positive = h == std::numeric_limits<int32_t>::min() ? 0 : (h < 0 ? -h : h);
  return positive % partitions;
}

}  // namespace runnel::broker
