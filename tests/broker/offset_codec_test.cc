#include "broker/group/offset_codec.h"

#include <gtest/gtest.h>

#include "tests/common/test_bytes.h"

namespace runnel::broker {
namespace {

using runnel::testing::ToHex;

TEST(OffsetCodecTest, KeyAndValueHaveKafkasLayout) {
  // OffsetCommitKey v1: 0001, "g" (0001 67), "t" (0001 74), partition 3 (00000003).
  EXPECT_EQ(ToHex(EncodeOffsetKey({"g", "t", 3})),
            "0001000167000174"
            "00000003");
  // OffsetCommitValue v3: 0003, offset 42, leader epoch -1, "m", timestamp 1000.
  EXPECT_EQ(ToHex(EncodeOffsetValue({42, -1, "m", 1000})),
            "0003"
            "000000000000002a"
            "ffffffff"
            "00016d"
            "00000000000003e8");
}

TEST(OffsetCodecTest, RoundTripsAndNamesTruncatedFields) {
  const OffsetKey key{"orders-app", "orders", 17};
  const CommittedOffset value{123456789, -1, "checkpoint", 1700000000000};
  auto k = DecodeOffsetKey(EncodeOffsetKey(key));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(*k, key);
  auto v = DecodeOffsetValue(EncodeOffsetValue(value));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, value);

  const std::string bytes = EncodeOffsetKey(key);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto cut = DecodeOffsetKey(bytes.substr(0, n));
    ASSERT_FALSE(cut.ok()) << n;
    EXPECT_NE(std::string(cut.status().message()).find("runs past the end"), std::string::npos);
  }
  const std::string value_bytes = EncodeOffsetValue(value);
  EXPECT_NE(std::string(DecodeOffsetValue(value_bytes.substr(0, 12)).status().message())
                .find("leader_epoch runs past the end"),
            std::string::npos);
  // Group metadata records (key version 2) are not offsets: Unimplemented, for readers to skip.
  EXPECT_EQ(DecodeOffsetKey(std::string("\x00\x02\x00\x01g", 5)).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(OffsetCodecTest, GroupPartitionIsKafkasHashOfTheGroupId) {
  // Java: "hello".hashCode() = 99162322, "abc".hashCode() = 96354, and
  // "polygenelubricants".hashCode() = Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
  EXPECT_EQ(OffsetsPartitionFor("hello", 50), 99162322 % 50);
  EXPECT_EQ(OffsetsPartitionFor("abc", 50), 96354 % 50);
  EXPECT_EQ(OffsetsPartitionFor("polygenelubricants", 50), 0);
  EXPECT_EQ(OffsetsPartitionFor("", 50), 0);
}

}  // namespace
}  // namespace runnel::broker
