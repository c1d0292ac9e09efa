// Kafka's null key and null value through the DSL (streams/README.md, "Null keys and values"):
// sinks write them as nulls, KStream aggregations skip and count them, KTable::ToStream forwards
// a delete as (key, null). Records are read back raw (TestRecord) where a null must be told
// apart from an empty or zero key or value.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"
#include "tests/streams/driver_test_util.h"

namespace runnel::streams {
namespace {

using S = std::string;

using testing::Driver;

// The latest count per key written to `topic`.
std::map<S, int64_t> LatestCounts(TopologyTestDriver* driver, const S& topic) {
  TestOutputTopic<S, int64_t> out(driver, topic, serdes::String(), serdes::Int64());
  auto counts = out.ReadKeyValuesToMap();
  EXPECT_TRUE(counts.ok()) << counts.status();
  return counts.ok() ? *counts : std::map<S, int64_t>{};
}

TEST(DslNullTest, ANullInt64KeyIsWrittenAsANullKeyAndSpreadLikeAKeylessRecord) {
  // The defect: the source left an int64_t key uninitialised, so a keyless record reached the
  // sink as 8 bytes of stack garbage, which also picked its partition.
  StreamsBuilder builder;
  builder.Stream<int64_t, S>("in").To("out");
  TestDriverOptions options;
  options.topic_partitions = {{"out", 4}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(driver->PipeRaw("in", std::nullopt, "v", i).ok());
  const std::vector<TestRecord>& out = driver->Records("out");
  ASSERT_EQ(out.size(), 4u);
  std::set<int32_t> partitions;
  for (const TestRecord& r : out) {
    EXPECT_FALSE(r.key.has_value()) << "key of " << r.key->size() << " bytes at " << r.timestamp;
    EXPECT_EQ(r.value, "v");
    partitions.insert(r.partition);
  }
  EXPECT_EQ(partitions.size(), 4u) << "keyless records are spread, as a producer spreads them";
}

TEST(DslNullTest, ANullValueReachesTheOutputTopicAsATombstone) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeTombstone("k", 1).ok());
  ASSERT_TRUE(in.PipeInput("k", "", 2).ok());
  const std::vector<TestRecord>& out = driver->Records("out");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "k");
  EXPECT_FALSE(out[0].value.has_value()) << "a tombstone, not \"" << *out[0].value << "\"";
  EXPECT_EQ(out[1].value, "") << "an empty value stays empty, not null";
}

TEST(DslNullTest, GroupByKeyCountSkipsNullKeysAndCountsThemAsDropped) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .Count(Materialized<S, int64_t>::As("counts"))
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
  ASSERT_TRUE(in.PipeValue("y", 2).ok());
  ASSERT_TRUE(in.PipeInput("", "z", 3).ok());  // an empty key is a key
  EXPECT_EQ(LatestCounts(driver.get(), "out"), (std::map<S, int64_t>{{"a", 1}, {"", 1}}));
  auto store = driver->KeyValueStoreContents("counts");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 2u);
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(DslNullTest, CountSkipsNullValuesAndCountsThemAsDropped) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").GroupByKey().Count().ToStream().To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
  ASSERT_TRUE(in.PipeTombstone("a", 2).ok());
  ASSERT_TRUE(in.PipeInput("a", "", 3).ok());  // an empty value is a value
  EXPECT_EQ(LatestCounts(driver.get(), "out"), (std::map<S, int64_t>{{"a", 2}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(DslNullTest, ReduceNeverSeesANullValue) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .Reduce([](const S& agg, const S& v) { return agg + "," + v; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
  ASSERT_TRUE(in.PipeTombstone("a", 2).ok());
  ASSERT_TRUE(in.PipeInput("a", "y", 3).ok());
  TestOutputTopic<S, S> out(driver.get(), "out", serdes::String(), serdes::String());
  auto latest = out.ReadKeyValuesToMap();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, (std::map<S, S>{{"a", "x,y"}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(DslNullTest, WindowedCountSkipsNullKeysAndNullValues) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(10))
      .Count(Materialized<S, int64_t>::As("w"))
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
  ASSERT_TRUE(in.PipeValue("y", 2).ok());
  ASSERT_TRUE(in.PipeTombstone("a", 3).ok());
  auto store = driver->WindowStoreContents("w");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ(store->size(), 1u) << "only key a has a window";
  TestOutputTopic<Windowed<S>, int64_t> out(
      driver.get(), "out", internal::WindowedSerde(serdes::String()), serdes::Int64());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->back().first.key, "a");
  EXPECT_EQ(records->back().second, 1);
  EXPECT_EQ(driver->metrics().dropped_records, 2);
}

TEST(DslNullTest, ANullKeyStaysNullThroughARepartitionTopicAndIsDroppedThere) {
  // A null key can reach a grouping that repartitions when a keyless stream is merged with one
  // whose key was changed.
  StreamsBuilder builder;
  auto rekeyed = builder.Stream<S, S>("a").SelectKey([](const S&, const S& v) { return v; });
  rekeyed.Merge(builder.Stream<S, S>("b"))
      .GroupByKey(Grouped<S, S>::As("merged"))
      .Count()
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> a(driver.get(), "a", serdes::String(), serdes::String());
  TestInputTopic<S, S> b(driver.get(), "b", serdes::String(), serdes::String());
  ASSERT_TRUE(a.PipeInput("k", "x", 1).ok());
  ASSERT_TRUE(b.PipeValue("y", 2).ok());
  const std::vector<TestRecord>& repartition = driver->Records("test-app-merged-repartition");
  ASSERT_EQ(repartition.size(), 2u);
  EXPECT_EQ(repartition[0].key, "x");
  EXPECT_FALSE(repartition[1].key.has_value()) << "written with a null key, not \"\"";
  EXPECT_EQ(LatestCounts(driver.get(), "out"), (std::map<S, int64_t>{{"x", 1}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(DslNullTest, KTableToStreamForwardsADeleteAsANullValue) {
  StreamsBuilder builder;
  builder.Table<S, S>("t").ToStream().To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "t", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("k", "v", 1).ok());
  ASSERT_TRUE(in.PipeTombstone("k", 2).ok());
  const std::vector<TestRecord>& out = driver->Records("out");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "k");
  EXPECT_EQ(out[0].value, "v");
  EXPECT_EQ(out[1].key, "k");
  EXPECT_FALSE(out[1].value.has_value()) << "the delete is forwarded as (k, null)";
}

TEST(DslNullTest, AFilteredOutRowIsADeleteDownstreamOfToStream) {
  StreamsBuilder builder;
  builder.Table<S, S>("t")
      .Filter([](const S&, const S& v) { return v != "hidden"; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "t", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("k", "shown", 1).ok());
  ASSERT_TRUE(in.PipeInput("k", "hidden", 2).ok());
  const std::vector<TestRecord>& out = driver->Records("out");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, "shown");
  EXPECT_FALSE(out[1].value.has_value()) << "the row left the filtered table";
}

TEST(DslNullTest, StepsThatKeepTheKeyOrValueKeepItsNullAndFunctionsSeeTheDefault) {
  // The documented rule: a step that does not compute a new key (or value) passes the null on;
  // a user function is called with K{} (or V{}) in place of a null and its result is not null.
  StreamsBuilder builder;
  std::vector<std::pair<int64_t, S>> peeked;
  auto in = builder.Stream<int64_t, S>("in");
  in.Filter([](const int64_t&, const S&) { return true; })
      .Peek([&](const int64_t& k, const S& v) { peeked.emplace_back(k, v); })
      .MapValues([](const S& v) { return "mapped:" + v; })
      .To("mapped");
  in.SelectKey([](const int64_t& k, const S&) { return k + 1; }).To("rekeyed");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", std::nullopt, std::nullopt, 1).ok());
  EXPECT_EQ(peeked, (std::vector<std::pair<int64_t, S>>{{0, ""}}));
  const std::vector<TestRecord>& mapped = driver->Records("mapped");
  ASSERT_EQ(mapped.size(), 1u);
  EXPECT_FALSE(mapped[0].key.has_value()) << "Filter, Peek and MapValues keep the key";
  EXPECT_EQ(mapped[0].value, "mapped:") << "the mapper's result is a value";
  const std::vector<TestRecord>& rekeyed = driver->Records("rekeyed");
  ASSERT_EQ(rekeyed.size(), 1u);
  EXPECT_EQ(rekeyed[0].key, serdes::Int64().serialize(1)) << "the selector saw 0 for null";
  EXPECT_FALSE(rekeyed[0].value.has_value()) << "SelectKey keeps the value";
}

}  // namespace
}  // namespace runnel::streams
