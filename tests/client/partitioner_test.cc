#include "client/partitioner.h"

#include <gtest/gtest.h>

#include <set>

#include <string>
#include <utility>

#include "client/internal/sticky_partitioner.h"

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

// Kafka's sticky partitioner (KIP-480): one partition until told to move, then another one.
TEST(StickyPartitionerTest, KeylessRecordsStayOnOnePartitionUntilItsBatchIsDone) {
  std::set<int32_t> first_choices;
  for (uint32_t seed = 0; seed < 50; ++seed) {
    internal::StickyPartitioner sticky(seed);
    const int32_t p = sticky.Partition("t", 6);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 6);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(sticky.Partition("t", 6), p);
    first_choices.insert(p);
    for (int i = 0; i < 20; ++i) {
      const int32_t current = sticky.Partition("t", 6);
      const int32_t next = sticky.Next("t", 6, current);
      ASSERT_NE(next, current) << "Next moves to another partition";
      ASSERT_EQ(sticky.Partition("t", 6), next);
    }
  }
  EXPECT_GT(first_choices.size(), 3u) << "the first partition is chosen at random";
}

TEST(StickyPartitionerTest, AShrunkenTopicGetsAPartitionThatExists) {
  internal::StickyPartitioner sticky(1);
  int32_t p = sticky.Partition("t", 8);
  for (int i = 0; i < 20 && p < 2; ++i) p = sticky.Next("t", 8, p);
  ASSERT_GE(p, 2);
  EXPECT_LT(sticky.Partition("t", 2), 2);
  EXPECT_EQ(sticky.Next("t", 1, 0), 0) << "one partition: nowhere else to go";
}

}  // namespace
}  // namespace runnel::client
