#include "broker/group/topic_partitions.h"

#include <gtest/gtest.h>

namespace runnel::broker {
namespace {

TEST(TopicPartitionsTest, SetOperations) {
  const TopicPartitions a{{"t", {0, 1}}, {"u", {3}}};
  const TopicPartitions b{{"t", {1, 2}}};
  EXPECT_TRUE(Contains(a, "u", 3));
  EXPECT_FALSE(Contains(a, "u", 4));
  EXPECT_FALSE(Contains(a, "v", 0));
  EXPECT_TRUE(Intersects(a, b));
  EXPECT_FALSE(Intersects(a, {{"t", {2}}}));
  EXPECT_TRUE(IsSubset({{"t", {1}}}, a));
  EXPECT_FALSE(IsSubset(b, a));
  EXPECT_TRUE(IsSubset({}, a));
  EXPECT_EQ(Minus(a, b), (TopicPartitions{{"t", {0}}, {"u", {3}}}));
  EXPECT_EQ(Minus(b, b), TopicPartitions{}) << "no empty topic entries";
  TopicPartitions c = a;
  AddAll(&c, b);
  EXPECT_EQ(c, (TopicPartitions{{"t", {0, 1, 2}}, {"u", {3}}}));
}

}  // namespace
}  // namespace runnel::broker
