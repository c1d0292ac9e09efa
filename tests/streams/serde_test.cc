#include "streams/serde.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "tests/streams/serde_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;

TEST(SerdeTest, StringKeepsBytesAsTheyAre) {
  const Serde<std::string> serde = serdes::String();
  const std::string binary = "\x00\xff\x80 a\n"s;
  EXPECT_EQ(serde.serialize(binary), binary);
  EXPECT_EQ(RoundTrip(serde, binary), binary);
  EXPECT_EQ(RoundTrip(serde, ""s), "");
  EXPECT_EQ(RoundTrip(serde, "héllo"s), "héllo");
}

TEST(SerdeTest, Int64IsEightBytesBigEndian) {
  const Serde<int64_t> serde = serdes::Int64();
  EXPECT_EQ(serde.serialize(0x0102030405060708), "\x01\x02\x03\x04\x05\x06\x07\x08"s);
  EXPECT_EQ(serde.serialize(0), std::string(8, '\0'));
  EXPECT_EQ(serde.serialize(-1), std::string(8, '\xff'));
  EXPECT_EQ(serde.serialize(-2), "\xff\xff\xff\xff\xff\xff\xff\xfe"s);
  EXPECT_EQ(serde.serialize(std::numeric_limits<int64_t>::min()),
            "\x80\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(*serde.deserialize("\x00\x00\x00\x00\x00\x00\x01\x00"s), 256);
  EXPECT_EQ(*serde.deserialize("\xff\xff\xff\xff\xff\xff\xff\x9c"s), -100);
}

TEST(SerdeTest, Int64RoundTripsExtremes) {
  const Serde<int64_t> serde = serdes::Int64();
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{-1234567890123},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
}

TEST(SerdeTest, Int64RejectsWrongLengthNamingBothLengths) {
  const Serde<int64_t> serde = serdes::Int64();
  for (const std::string& bad : {""s, "\x01\x02\x03"s, std::string(9, '\0')}) {
    auto r = serde.deserialize(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("Int64"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("expected 8 bytes"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("got " + std::to_string(bad.size())), std::string::npos)
        << r.status();
  }
}

TEST(SerdeTest, Int32IsFourBytesBigEndian) {
  const Serde<int32_t> serde = serdes::Int32();
  EXPECT_EQ(serde.serialize(0x0a0b0c0d), "\x0a\x0b\x0c\x0d"s);
  EXPECT_EQ(serde.serialize(-1), "\xff\xff\xff\xff"s);
  EXPECT_EQ(serde.serialize(std::numeric_limits<int32_t>::min()), "\x80\x00\x00\x00"s);
  EXPECT_EQ(*serde.deserialize("\x00\x00\x01\x01"s), 257);
  for (int32_t v :
       {0, 42, -42, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
}

TEST(SerdeTest, Int32RejectsWrongLength) {
  auto r = serdes::Int32().deserialize("\x00\x00\x00\x00\x00\x00\x00\x01"s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Int32 serde: expected 4 bytes (big-endian), got 8");
}

TEST(SerdeTest, DoubleIsIeee754BigEndian) {
  const Serde<double> serde = serdes::Double();
  EXPECT_EQ(serde.serialize(1.0), "\x3f\xf0\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(serde.serialize(-2.5), "\xc0\x04\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(serde.serialize(0.0), std::string(8, '\0'));
  EXPECT_EQ(serde.serialize(-0.0), "\x80\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(serde.serialize(std::numeric_limits<double>::infinity()),
            "\x7f\xf0\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(*serde.deserialize("\x40\x09\x21\xfb\x54\x44\x2d\x18"s), 3.141592653589793);
}

TEST(SerdeTest, DoubleRoundTripsSpecialValuesBitForBit) {
  const Serde<double> serde = serdes::Double();
  for (double v :
       {0.0, -0.0, 1.5, -1e300, std::numeric_limits<double>::denorm_min(),
        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN()}) {
    const double back = RoundTrip(serde, v);
    EXPECT_EQ(std::bit_cast<uint64_t>(back), std::bit_cast<uint64_t>(v)) << v;
  }
  EXPECT_TRUE(std::isnan(RoundTrip(serde, std::nan(""))));
  EXPECT_TRUE(std::signbit(RoundTrip(serde, -0.0)));
}

TEST(SerdeTest, DoubleRejectsWrongLength) {
  auto r = serdes::Double().deserialize("abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Double serde: expected 8 bytes"), std::string::npos);
  EXPECT_NE(r.status().message().find("got 3"), std::string::npos);
}

TEST(SerdeTest, BytesRoundTripsBinaryAndCompares) {
  const Serde<Bytes> serde = serdes::Bytes();
  const Bytes binary{"\x00\x01\xfe\xff"s};
  EXPECT_EQ(serde.serialize(binary), binary.data);
  EXPECT_EQ(RoundTrip(serde, binary), binary);
  EXPECT_EQ(RoundTrip(serde, Bytes{}), Bytes{});
  // Unsigned byte-wise order: 0x7f < 0x80 < 0xff, and a prefix sorts first.
  EXPECT_TRUE(Bytes{"\x7f"s} < Bytes{"\x80"s});
  EXPECT_TRUE(Bytes{"\x80"s} < Bytes{"\xff"s});
  EXPECT_TRUE(Bytes{"\xff"s} < Bytes{"\xff\x00"s});
  EXPECT_FALSE(Bytes{"a"s} < Bytes{"a"s});
  EXPECT_FALSE(Bytes{"a"s} == Bytes{"b"s});
}

TEST(SerdeTest, OfUsesTheGivenFunctions) {
  const Serde<int> serde = serdes::Of<int>([](const int& v) { return std::to_string(v); },
                                           [](std::string_view s) -> absl::StatusOr<int> {
                                             if (s.empty())
                                               return absl::InvalidArgumentError("empty");
                                             return std::stoi(std::string(s));
                                           });
  EXPECT_EQ(serde.serialize(42), "42");
  EXPECT_EQ(RoundTrip(serde, -7), -7);
  EXPECT_EQ(serde.deserialize("").status().message(), "empty");
}

TEST(SerdeTest, DefaultIsTheBuiltInSerdeOfEachType) {
  EXPECT_EQ(serdes::Default<std::string>().serialize("x"), "x");
  EXPECT_EQ(serdes::Default<int64_t>().serialize(1), serdes::Int64().serialize(1));
  EXPECT_EQ(serdes::Default<int32_t>().serialize(1), serdes::Int32().serialize(1));
  EXPECT_EQ(serdes::Default<double>().serialize(1.0), serdes::Double().serialize(1.0));
  EXPECT_EQ(serdes::Default<Bytes>().serialize(Bytes{"\x01"s}), "\x01"s);
}

}  // namespace
}  // namespace runnel::streams
