#include "client/partitioner.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace runnel::client {
namespace {

// Kafka's own UtilsTest.testMurmur2 values, the short keys other Kafka-compatible clients check
// against the Java implementation, and librdkafka's "kafka" case (0xd067cf64).
TEST(PartitionerTest, Murmur2MatchesKafka) {
  const std::pair<std::string, int32_t> cases[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
      {"1", -1993445489},
      {"12", 126087238},
      {"123", -267702483},
      {"1234", -1614185708},
      {"12345", -1188365604},
      {"kafka", -798503068},
  };
  for (const auto& [key, expected] : cases) EXPECT_EQ(Murmur2(key), expected) << key;
}

TEST(PartitionerTest, PartitionIsThePositiveHashModuloTheCount) {
  // -973932308 & 0x7fffffff = 1173551340; % 6 = 0, % 7 = 3.
  EXPECT_EQ(ToPositive(-973932308), 1173551340);
  EXPECT_EQ(PartitionForKey("21", 6), 1173551340 % 6);
  EXPECT_EQ(PartitionForKey("21", 7), 1173551340 % 7);
  for (int n = 1; n <= 64; ++n) {
    const int32_t p = PartitionForKey("some-key", n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
  }
}

}  // namespace
}  // namespace runnel::client
