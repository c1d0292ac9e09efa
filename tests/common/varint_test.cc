#include "common/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "common/byte_reader.h"
#include "tests/common/test_bytes.h"

namespace runnel {
namespace {

using testing::ToHex;

std::string EncodeVarint(int32_t v) {
  std::string s;
  AppendVarint(&s, v);
  return s;
}

std::string EncodeVarlong(int64_t v) {
  std::string s;
  AppendVarlong(&s, v);
  return s;
}

TEST(VarintTest, ZigZagMatchesKafkaEncodings) {
  // Values from Kafka's ByteUtilsTest and the protobuf spec's zig-zag table.
  EXPECT_EQ(ToHex(EncodeVarint(0)), "00");
  EXPECT_EQ(ToHex(EncodeVarint(-1)), "01");
  EXPECT_EQ(ToHex(EncodeVarint(1)), "02");
  EXPECT_EQ(ToHex(EncodeVarint(63)), "7e");
  EXPECT_EQ(ToHex(EncodeVarint(-64)), "7f");
  EXPECT_EQ(ToHex(EncodeVarint(64)), "8001");
  EXPECT_EQ(ToHex(EncodeVarint(300)), "d804");
  EXPECT_EQ(ToHex(EncodeVarint(std::numeric_limits<int32_t>::max())), "feffffff0f");
  EXPECT_EQ(ToHex(EncodeVarint(std::numeric_limits<int32_t>::min())), "ffffffff0f");
  EXPECT_EQ(ToHex(EncodeVarlong(std::numeric_limits<int64_t>::max())), "feffffffffffffffff01");
  EXPECT_EQ(ToHex(EncodeVarlong(std::numeric_limits<int64_t>::min())), "ffffffffffffffffff01");
}

TEST(VarintTest, SizeFunctionsMatchEncodedLength) {
  for (int32_t v : {0, 1, -1, 63, -64, 64, 8191, -8192, 8192, 1 << 20, -(1 << 27),
                    std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(VarintSize(v), static_cast<int>(EncodeVarint(v).size())) << v;
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1} << 40, -(int64_t{1} << 55),
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    EXPECT_EQ(VarlongSize(v), static_cast<int>(EncodeVarlong(v).size())) << v;
  }
}

TEST(VarintTest, RandomRoundTrip) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100000; ++i) {
    const int64_t v64 = static_cast<int64_t>(rng()) >> (rng() % 64);
    const int32_t v32 = static_cast<int32_t>(v64);
    std::string s32 = EncodeVarint(v32);
    std::string s64 = EncodeVarlong(v64);
    int32_t out32 = 0;
    int64_t out64 = 0;
    ASSERT_EQ(GetVarint(s32.data(), s32.data() + s32.size(), &out32), s32.data() + s32.size());
    ASSERT_EQ(GetVarlong(s64.data(), s64.data() + s64.size(), &out64), s64.data() + s64.size());
    ASSERT_EQ(out32, v32);
    ASSERT_EQ(out64, v64);
  }
}

TEST(VarintTest, RejectsTruncatedInput) {
  const std::string s = EncodeVarlong(int64_t{1} << 50);
  for (size_t n = 0; n < s.size(); ++n) {
    int64_t out = 0;
    EXPECT_EQ(GetVarlong(s.data(), s.data() + n, &out), nullptr) << "prefix of " << n << " bytes";
  }
}

TEST(VarintTest, RejectsOverlongAndOverflowingInput) {
  int32_t out32 = 0;
  int64_t out64 = 0;
  // Six bytes for an int32: continuation bit still set after five.
  const std::string six("\x80\x80\x80\x80\x80\x00", 6);
  EXPECT_EQ(GetVarint(six.data(), six.data() + six.size(), &out32), nullptr);
  // Five bytes whose last carries bits above bit 31.
  const std::string overflow32("\xff\xff\xff\xff\x1f", 5);
  EXPECT_EQ(GetVarint(overflow32.data(), overflow32.data() + overflow32.size(), &out32), nullptr);
  // Eleven bytes for an int64.
  const std::string eleven(10, '\x80');
  const std::string eleven_full = eleven + std::string(1, '\x00');
  EXPECT_EQ(GetVarlong(eleven_full.data(), eleven_full.data() + eleven_full.size(), &out64),
            nullptr);
  const std::string overflow64("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03", 10);
  EXPECT_EQ(GetVarlong(overflow64.data(), overflow64.data() + overflow64.size(), &out64), nullptr);
}

TEST(ByteReaderTest, ReadsBigEndianAndStopsAtTheEnd) {
  const std::string data("\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9);
  ByteReader r(data);
  int32_t i32 = 0;
  int64_t i64 = 0;
  ASSERT_TRUE(r.ReadFixed(&i32));
  EXPECT_EQ(i32, 0x01020304);
  EXPECT_FALSE(r.ReadFixed(&i64));  // only 5 left
  EXPECT_EQ(r.position(), 4u);      // a failed read does not move the cursor
  std::string_view rest;
  ASSERT_TRUE(r.ReadBytes(5, &rest));
  EXPECT_EQ(rest, data.substr(4));
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.Skip(1));
}

}  // namespace
}  // namespace runnel
