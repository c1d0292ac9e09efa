// KTable-KTable joins on the key through the driver: inner, left and outer joins with updates and
// deletes on both sides, the timestamps of their results, old values reaching an aggregation, a
// materialized result, and the checks made when the topology is built or planned. Every expected
// output was worked out change by change from the rule in
// streams/internal/table_join_processors.h.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"
#include "tests/streams/driver_test_util.h"

namespace runnel::streams {
namespace {

using S = std::string;
using Out = std::tuple<S, S, int64_t>;  // (key, value or "<tombstone>", timestamp)

using testing::Driver;

std::vector<Out> ReadOut(TopologyTestDriver* driver, const S& topic = "out") {
  TestOutputTopic<S, S> out(driver, topic, serdes::String(), serdes::String());
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<Out> all;
  if (!records.ok()) return all;
  for (auto& r : *records) all.emplace_back(r.key, r.value.value_or("<tombstone>"), r.timestamp);
  return all;
}

S Or(const std::optional<S>& v) { return v.value_or("null"); }

void Put(TopologyTestDriver* driver, const S& topic, const S& key, const S& value, int64_t ts) {
  ASSERT_TRUE(driver->PipeRaw(topic, key, value, ts).ok()) << topic << " " << key << "@" << ts;
}
void Delete(TopologyTestDriver* driver, const S& topic, const S& key, int64_t ts) {
  ASSERT_TRUE(driver->PipeRaw(topic, key, std::nullopt, ts).ok()) << topic << " " << key;
}

enum class Kind { kInner, kLeft, kOuter };

// table "left" joined with table "right" -> "out", values "<left>+<right>" ("null" for none).
std::unique_ptr<TopologyTestDriver> TableJoin(Kind kind, const S& store = "") {
  StreamsBuilder builder;
  KTable<S, S> left = builder.Table<S, S>("left");
  KTable<S, S> right = builder.Table<S, S>("right");
  Materialized<S, S> m;
  m.store_name = store;
  KTable<S, S> joined = [&] {
    switch (kind) {
      case Kind::kInner:
        return left.Join(
            right, [](const S& l, const S& r) { return l + "+" + r; }, m);
      case Kind::kLeft:
        return left.LeftJoin(
            right, [](const S& l, const std::optional<S>& r) { return l + "+" + Or(r); }, m);
      case Kind::kOuter:
        break;
    }
    return left.OuterJoin(
        right,
        [](const std::optional<S>& l, const std::optional<S>& r) { return Or(l) + "+" + Or(r); },
        m);
  }();
  joined.ToStream().To("out");
  return Driver(builder);
}

// Updates and deletes on both sides, out-of-order timestamps across the sides.
void PipeScenario(TopologyTestDriver* d) {
  Put(d, "left", "a", "L1", 10);
  Put(d, "right", "a", "R1", 5);
  Put(d, "left", "a", "L2", 20);
  Put(d, "right", "a", "R2", 30);
  Delete(d, "right", "a", 40);
  Delete(d, "left", "a", 50);
  Put(d, "right", "a", "R3", 60);
  Put(d, "right", "b", "Rb", 70);
  Put(d, "left", "b", "Lb", 65);
  Delete(d, "right", "a", 80);
}

TEST(DslTableJoinTest, InnerJoinEmitsWhileBothRowsExistAndATombstoneWhenEitherGoes) {
  auto driver = TableJoin(Kind::kInner);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"a", "L1+R1", 10},
                                                     {"a", "L2+R1", 20},
                                                     {"a", "L2+R2", 30},
                                                     {"a", "<tombstone>", 40},
                                                     {"b", "Lb+Rb", 70}}));
}

TEST(DslTableJoinTest, LeftJoinKeepsTheLeftRowWithoutAPartner) {
  auto driver = TableJoin(Kind::kLeft);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"a", "L1+null", 10},
                                                     {"a", "L1+R1", 10},
                                                     {"a", "L2+R1", 20},
                                                     {"a", "L2+R2", 30},
                                                     {"a", "L2+null", 40},
                                                     {"a", "<tombstone>", 50},
                                                     {"b", "Lb+Rb", 70}}));
}

TEST(DslTableJoinTest, OuterJoinKeepsEitherRowAndDeletesOnlyWhenBothAreGone) {
  auto driver = TableJoin(Kind::kOuter);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"a", "L1+null", 10},
                                                     {"a", "L1+R1", 10},
                                                     {"a", "L2+R1", 20},
                                                     {"a", "L2+R2", 30},
                                                     {"a", "L2+null", 40},
                                                     {"a", "<tombstone>", 50},
                                                     {"a", "null+R3", 60},
                                                     {"b", "null+Rb", 70},
                                                     {"b", "Lb+Rb", 70},
                                                     {"a", "<tombstone>", 80}}));
}

TEST(DslTableJoinTest, AMaterializedResultIsStoredAndEmitsTheSameChanges) {
  auto driver = TableJoin(Kind::kLeft, "joined");
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"a", "L1+null", 10},
                                                     {"a", "L1+R1", 10},
                                                     {"a", "L2+R1", 20},
                                                     {"a", "L2+R2", 30},
                                                     {"a", "L2+null", 40},
                                                     {"a", "<tombstone>", 50},
                                                     {"b", "Lb+Rb", 70}}));
  auto contents = driver->KeyValueStoreContents("joined");
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->size(), 1u);
  EXPECT_EQ(contents->at("b"), internal::EncodeTimestamped(70, "Lb+Rb"));
  // Its changelog holds the same history.
  EXPECT_EQ(driver->Records("test-app-joined-changelog").size(), 7u);
}

// The old result travels with each change, so a regrouping aggregation moves a row from its old
// group to its new one: count the left rows per joined right value.
TEST(DslTableJoinTest, OldResultsLetADownstreamAggregationSubtract) {
  StreamsBuilder builder;
  builder.Table<S, S>("left")
      .Join(builder.Table<S, S>("right"), [](const S&, const S& r) { return r; })
      .GroupBy([](const S& k, const S& r) { return std::make_pair(r, k); })
      .Count(Materialized<S, int64_t>::As("per-region"))
      .ToStream()
      .MapValues([](int64_t n) { return std::to_string(n); })
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  Put(driver.get(), "right", "a", "eu", 1);
  Put(driver.get(), "right", "b", "eu", 2);
  Put(driver.get(), "left", "a", "x", 3);    // eu: 1
  Put(driver.get(), "left", "b", "y", 4);    // eu: 2
  Put(driver.get(), "right", "a", "us", 5);  // eu: 1, us: 1
  Delete(driver.get(), "left", "b", 6);      // eu: 0
  EXPECT_EQ(ReadOut(driver.get()),
            (std::vector<Out>{
                {"eu", "1", 3}, {"eu", "2", 4}, {"eu", "1", 5}, {"us", "1", 5}, {"eu", "0", 6}}));
}

TEST(DslTableJoinTest, JoiningAnUnmaterializedTableFailsTheBuild) {
  StreamsBuilder builder;
  KTable<S, S> filtered =
      builder.Table<S, S>("left").Filter([](const S&, const S& v) { return !v.empty(); });
  filtered.Join(builder.Table<S, S>("right"), [](const S& l, const S& r) { return l + r; })
      .ToStream()
      .To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_EQ(std::string(topology.status().message()),
            "join KTABLE-JOINTHIS-0000000005 of tables KTABLE-FILTER-0000000002 and "
            "KTABLE-SOURCE-0000000003: table KTABLE-FILTER-0000000002 is not materialized (join a "
            "table from StreamsBuilder::Table or an aggregation)");
}

TEST(DslTableJoinTest, TheTwoTablesMustBeCoPartitioned) {
  StreamsBuilder builder;
  builder.Table<S, S>("left")
      .OuterJoin(builder.Table<S, S>("right"),
                 [](const std::optional<S>& l, const std::optional<S>& r) { return Or(l) + Or(r); })
      .ToStream()
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  TestDriverOptions options;
  options.topic_partitions = {{"left", 2}, {"right", 3}};
  auto driver = TopologyTestDriver::Create(*topology, options);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(driver.status().message(),
            "topics left (2 partitions) and right (3 partitions) are joined but not "
            "co-partitioned: the two sides of a join need the same number of partitions "
            "(repartition one side, e.g. with KStream::Repartition)");
}

TEST(DslTableJoinTest, CoPartitionedTablesJoinInEachPartition) {
  auto options = TestDriverOptions{};
  options.default_partitions = 3;
  StreamsBuilder builder;
  builder.Table<S, S>("left")
      .Join(builder.Table<S, S>("right"), [](const S& l, const S& r) { return l + "+" + r; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  std::map<S, S> expected;
  for (const S key : {"a", "b", "c", "d", "e"}) {
    Put(driver.get(), "left", key, "L" + key, 1);
    Put(driver.get(), "right", key, "R" + key, 2);
    expected[key] = "L" + key + "+R" + key;
  }
  TestOutputTopic<S, S> out(driver.get(), "out", serdes::String(), serdes::String());
  auto map = out.ReadKeyValuesToMap();
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(*map, expected);
}

}  // namespace
}  // namespace runnel::streams
