#include "broker/group/group_records.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"

namespace runnel::broker {
namespace {

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

TEST(GroupRecordsTest, KeysHaveKafkasVersionsAndOurLayout) {
  EXPECT_EQ(Hex(EncodeGroupRecordKey({GroupRecordType::kGroupMetadata, "g", ""})), "0003000167");
  EXPECT_EQ(Hex(EncodeGroupRecordKey({GroupRecordType::kMemberMetadata, "g", "m1"})),
            "00050001670002" + Hex("m1"));
  EXPECT_EQ(Hex(EncodeGroupRecordKey({GroupRecordType::kTargetAssignmentMetadata, "g", ""})),
            "0006000167");
  EXPECT_EQ(Hex(EncodeGroupRecordKey({GroupRecordType::kTargetAssignmentMember, "g", "m"})),
            "000700016700016d");
  EXPECT_EQ(Hex(EncodeGroupRecordKey({GroupRecordType::kCurrentMemberAssignment, "g", "m"})),
            "000800016700016d");
  for (const GroupRecordKey& key :
       {GroupRecordKey{GroupRecordType::kGroupMetadata, "grp", ""},
        GroupRecordKey{GroupRecordType::kCurrentMemberAssignment, "grp", "member-1"}}) {
    const std::string bytes = EncodeGroupRecordKey(key);
    EXPECT_TRUE(IsGroupRecordKey(bytes));
    auto decoded = DecodeGroupRecordKey(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, key);
  }
}

TEST(GroupRecordsTest, OffsetCommitAndClassicGroupKeysAreNotGroupRecords) {
  EXPECT_FALSE(IsGroupRecordKey(std::string("\x00\x01\x00\x01g", 5)));  // offset commit v1
  EXPECT_FALSE(IsGroupRecordKey(std::string("\x00\x02\x00\x01g", 5)));  // Kafka's classic group
  EXPECT_FALSE(IsGroupRecordKey(std::string("\x00\x04\x00\x01g", 5)));  // partition metadata
  EXPECT_FALSE(IsGroupRecordKey(std::string("\x00", 1)));
  EXPECT_FALSE(IsGroupRecordKey(""));
}

TEST(GroupRecordsTest, ValuesHaveTheDocumentedBytes) {
  // docs/FORMAT.md section 17's examples.
  EXPECT_EQ(Hex(EncodeGroupMetadata({7, {{"t", 6}}})),
            "0000"
            "00000007"
            "00000001"
            "000174"
            "00000006");
  EXPECT_EQ(Hex(EncodeTargetAssignmentMember({{"t", {0, 2}}})),
            "0000"
            "00000001"
            "000174"
            "00000002"
            "00000000"
            "00000002");
  EXPECT_EQ(Hex(EncodeCurrentMemberAssignment({7, 6, false, {{"t", {1}}}, {}})),
            "0000"
            "00000007"
            "00000006"
            "00"
            "00000001"
            "000174"
            "00000001"
            "00000001"
            "00000000");
}

TEST(GroupRecordsTest, ValuesRoundTrip) {
  const GroupMetadataValue group{42, {{"a", 3}, {"b", 1000}}};
  auto g = DecodeGroupMetadata(EncodeGroupMetadata(group));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(*g, group);

  const MemberMetadataValue member{"instance-1",           "client", "127.0.0.1", 300000,
                                   {"orders", "payments"}, "",       "range"};
  auto m = DecodeMemberMetadata(EncodeMemberMetadata(member));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, member);
  const MemberMetadataValue regex_member{"", "", "::1", 1, {}, "orders-.*", "uniform"};
  auto r = DecodeMemberMetadata(EncodeMemberMetadata(regex_member));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, regex_member);

  const TargetAssignmentMetadataValue target{41, "uniform"};
  auto t = DecodeTargetAssignmentMetadata(EncodeTargetAssignmentMetadata(target));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, target);

  const CurrentMemberAssignmentValue current{
      41, 40, true, {{"a", {0, 1, 2}}, {"b", {999}}}, {{"b", {5}}}};
  auto c = DecodeCurrentMemberAssignment(EncodeCurrentMemberAssignment(current));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, current);

  // Topics without partitions are dropped, so what is decoded equals what the coordinator means.
  auto empty = DecodeTargetAssignmentMember(EncodeTargetAssignmentMember({{"a", {}}}));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST(GroupRecordsTest, MalformedBytesAreErrorsNamingTheField) {
  const std::string current = EncodeCurrentMemberAssignment({3, 2, false, {{"t", {1, 2}}}, {}});
  // Every truncation is an error, never a crash or a wrong value.
  for (size_t n = 0; n < current.size(); ++n) {
    auto v = DecodeCurrentMemberAssignment(current.substr(0, n));
    EXPECT_FALSE(v.ok()) << "decoded " << n << " of " << current.size() << " bytes";
  }
  auto extra = DecodeCurrentMemberAssignment(current + "x");
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("left over"), std::string::npos) << extra.status();

  auto version = DecodeGroupMetadata(std::string("\x00\x05\x00\x00\x00\x01\x00\x00\x00\x00", 10));
  ASSERT_FALSE(version.ok());
  EXPECT_NE(version.status().message().find("value version 5"), std::string::npos)
      << version.status();

  // A count larger than what follows (a corrupt length) is refused before anything is allocated.
  auto count = DecodeTargetAssignmentMember(std::string("\x00\x00\x7f\xff\xff\xff", 6));
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("partitions 2147483647 does not fit"), std::string::npos)
      << count.status();

  std::string negative = EncodeTargetAssignmentMember({{"t", {1}}});
  negative[negative.size() - 4] = '\xff';  // partition 1 -> a negative number
  auto neg = DecodeTargetAssignmentMember(negative);
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("has partition -"), std::string::npos) << neg.status();

  std::string state = EncodeCurrentMemberAssignment({1, 0, false, {}, {}});
  state[10] = 7;
  auto bad_state = DecodeCurrentMemberAssignment(state);
  ASSERT_FALSE(bad_state.ok());
  EXPECT_NE(bad_state.status().message().find("state 7"), std::string::npos) << bad_state.status();

  auto key = DecodeGroupRecordKey(std::string("\x00\x05\x00\x01g", 5));  // member id missing
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("member_id runs past the end"), std::string::npos)
      << key.status();
}

}  // namespace
}  // namespace runnel::broker
