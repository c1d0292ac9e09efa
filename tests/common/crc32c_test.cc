#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace runnel::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

std::vector<std::pair<std::string, ExtendFn>> Implementations() {
  std::vector<std::pair<std::string, ExtendFn>> impls = {{"portable", &ExtendPortable},
                                                         {"dispatch", &Extend}};
  if (HardwareAvailable()) impls.emplace_back("hardware", &ExtendHardware);
  return impls;
}

// RFC 3720 (iSCSI) appendix B.4 test vectors.
TEST(Crc32cTest, Rfc3720Vectors) {
  for (const auto& [name, fn] : Implementations()) {
    SCOPED_TRACE(name);
    uint8_t buf[48];

    std::fill(buf, buf + 32, 0x00);
    EXPECT_EQ(fn(0, buf, 32), 0x8a9136aau);

    std::fill(buf, buf + 32, 0xff);
    EXPECT_EQ(fn(0, buf, 32), 0x62a8ab43u);

    for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
    EXPECT_EQ(fn(0, buf, 32), 0x46dd794eu);

    for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
    EXPECT_EQ(fn(0, buf, 32), 0x113fdb5cu);

    const uint8_t iscsi_read_pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    EXPECT_EQ(fn(0, iscsi_read_pdu, sizeof(iscsi_read_pdu)), 0xd9963a56u);

    EXPECT_EQ(fn(0, "123456789", 9), 0xe3069283u);  // the CRC catalogue's check value
    EXPECT_EQ(fn(0, "", 0), 0u);
  }
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenation) {
  const std::string a = "hello ", b = "world";
  EXPECT_EQ(Extend(Value(a), b.data(), b.size()), Value(a + b));
}

TEST(Crc32cTest, HardwareAndPortableAgreeOnRandomData) {
  if (!HardwareAvailable()) GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
  std::mt19937 rng(7);
  std::vector<uint8_t> data(1 << 16);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < 2000; ++i) {
    // Random start (exercises unaligned heads), random length, random initial CRC.
    const size_t start = rng() % 64;
    const size_t len = rng() % (data.size() - start);
    const uint32_t seed = (i % 2) ? rng() : 0;
    ASSERT_EQ(ExtendHardware(seed, data.data() + start, len),
              ExtendPortable(seed, data.data() + start, len))
        << "start=" << start << " len=" << len << " seed=" << seed;
  }
}

// The hardware path runs three chains over 3 x 8192- and 3 x 256-byte blocks and joins them:
// lengths on each side of those block boundaries, from aligned and unaligned starts.
TEST(Crc32cTest, HardwareAndPortableAgreeAroundTheThreeWayBlockBoundaries) {
  if (!HardwareAvailable()) GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
  std::mt19937 rng(11);
  std::vector<uint8_t> data(4 * 3 * 8192 + 64);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t base : {size_t{3 * 256}, size_t{2 * 3 * 256}, size_t{3 * 8192},
                      size_t{3 * 8192 + 3 * 256}, size_t{2 * 3 * 8192}, size_t{4 * 3 * 8192}}) {
    for (size_t start : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{13}}) {
      for (int delta = -9; delta <= 9; ++delta) {
        const size_t len = static_cast<size_t>(static_cast<int64_t>(base) + delta);
        if (start + len > data.size()) continue;
        ASSERT_EQ(ExtendHardware(0x1234567, data.data() + start, len),
                  ExtendPortable(0x1234567, data.data() + start, len))
            << "start=" << start << " len=" << len;
      }
    }
  }
}

}  // namespace
}  // namespace runnel::crc32c
