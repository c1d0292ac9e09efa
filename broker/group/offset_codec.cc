#include "broker/group/offset_codec.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"

namespace runnel::broker {
namespace {

constexpr int16_t kKeyVersion = 1;
constexpr int16_t kValueVersion = 3;

void PutString(std::string* out, std::string_view s) {
  AppendBigEndian<int16_t>(out, static_cast<int16_t>(s.size()));
  out->append(s);
}

// Reads big-endian fields from `bytes`, naming the field that runs past the end.
class Reader {
 public:
  Reader(std::string_view bytes, const char* what) : bytes_(bytes), what_(what) {}

  template <typename T>
  absl::StatusOr<T> Get(const char* field) {
    if (bytes_.size() < sizeof(T)) return Short(field);
    const T v = LoadBigEndian<T>(bytes_.data());
    bytes_.remove_prefix(sizeof(T));
    return v;
  }
  absl::StatusOr<std::string> GetString(const char* field) {
    auto n = Get<int16_t>(field);
    if (!n.ok()) return n.status();
    if (*n < 0 || bytes_.size() < static_cast<size_t>(*n)) return Short(field);
    std::string s(bytes_.substr(0, static_cast<size_t>(*n)));
    bytes_.remove_prefix(static_cast<size_t>(*n));
    return s;
  }

 private:
  absl::Status Short(const char* field) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", field, " runs past the end"));
  }
  std::string_view bytes_;
  const char* what_;
};

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
