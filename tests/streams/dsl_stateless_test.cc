// Stateless DSL operations run through the TopologyTestDriver.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client/partitioner.h"
#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"
#include "tests/streams/driver_test_util.h"

namespace runnel::streams {
namespace {

using KV = std::pair<std::string, std::string>;

using testing::Driver;

TestInputTopic<std::string, std::string> Input(TopologyTestDriver* d, const std::string& topic) {
  return {d, topic, serdes::String(), serdes::String()};
}
TestOutputTopic<std::string, std::string> Output(TopologyTestDriver* d, const std::string& t) {
  return {d, t, serdes::String(), serdes::String()};
}

std::vector<KV> ReadAll(TestOutputTopic<std::string, std::string>& out) {
  auto kvs = out.ReadKeyValuesToList();
  EXPECT_TRUE(kvs.ok()) << kvs.status();
  return kvs.ok() ? *kvs : std::vector<KV>{};
}

TEST(DslStatelessTest, FilterAndFilterNotKeepComplementaryRecords) {
  StreamsBuilder builder;
  auto in = builder.Stream<std::string, std::string>("in");
  auto is_long = [](const std::string&, const std::string& v) { return v.size() > 3; };
  in.Filter(is_long).To("long");
  in.FilterNot(is_long).To("short");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  for (const char* v : {"a", "abcd", "xyz", "hello"}) ASSERT_TRUE(input.PipeInput("k", v, 1).ok());
  auto long_out = Output(driver.get(), "long");
  auto short_out = Output(driver.get(), "short");
  EXPECT_EQ(ReadAll(long_out), (std::vector<KV>{{"k", "abcd"}, {"k", "hello"}}));
  EXPECT_EQ(ReadAll(short_out), (std::vector<KV>{{"k", "a"}, {"k", "xyz"}}));
}

TEST(DslStatelessTest, MapMapValuesAndSelectKeyTransformKeysAndValues) {
  StreamsBuilder builder;
  auto in = builder.Stream<std::string, std::string>("in");
  in.Map([](const std::string& k, const std::string& v) {
      return std::make_pair(v, k);
    }).To("swapped");
  in.MapValues([](const std::string& v) { return static_cast<int64_t>(v.size()); }).To("lengths");
  in.MapValues([](const std::string& k, const std::string& v) { return k + ":" + v; }).To("joined");
  in.SelectKey([](const std::string&, const std::string& v) {
      return v.substr(0, 1);
    }).To("by-initial");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  ASSERT_TRUE(input.PipeInput("k1", "apple", 10).ok());
  ASSERT_TRUE(input.PipeInput("k2", "kiwi", 11).ok());

  auto swapped = Output(driver.get(), "swapped");
  EXPECT_EQ(ReadAll(swapped), (std::vector<KV>{{"apple", "k1"}, {"kiwi", "k2"}}));
  TestOutputTopic<std::string, int64_t> lengths(driver.get(), "lengths", serdes::String(),
                                                serdes::Int64());
  auto l = lengths.ReadKeyValuesToList();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::pair<std::string, int64_t>>{{"k1", 5}, {"k2", 4}}));
  auto joined = Output(driver.get(), "joined");
  EXPECT_EQ(ReadAll(joined), (std::vector<KV>{{"k1", "k1:apple"}, {"k2", "k2:kiwi"}}));
  auto by_initial = Output(driver.get(), "by-initial");
  auto first = by_initial.ReadRecord();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->key, "a");
  EXPECT_EQ(first->value, "apple");
  EXPECT_EQ(first->timestamp, 10) << "the record keeps its timestamp";
}

TEST(DslStatelessTest, FlatMapAndFlatMapValuesEmitZeroOrMoreRecords) {
  StreamsBuilder builder;
  auto in = builder.Stream<std::string, std::string>("in");
  in.FlatMapValues([](const std::string& v) {
      std::vector<std::string> chars;
      for (char c : v) chars.emplace_back(1, c);
      return chars;
    }).To("chars");
  in.FlatMap([](const std::string& k, const std::string& v) {
      return std::vector<KV>{{k + "1", v}, {k + "2", v}};
    }).To("doubled");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  ASSERT_TRUE(input.PipeInput("k", "ab", 1).ok());
  ASSERT_TRUE(input.PipeInput("e", "", 2).ok());
  auto chars = Output(driver.get(), "chars");
  EXPECT_EQ(ReadAll(chars), (std::vector<KV>{{"k", "a"}, {"k", "b"}}));
  auto doubled = Output(driver.get(), "doubled");
  EXPECT_EQ(ReadAll(doubled),
            (std::vector<KV>{{"k1", "ab"}, {"k2", "ab"}, {"e1", ""}, {"e2", ""}}));
}

TEST(DslStatelessTest, PeekAndForeachSeeEveryRecord) {
  StreamsBuilder builder;
  std::vector<KV> peeked, seen;
  auto in = builder.Stream<std::string, std::string>("in");
  in.Peek([&](const std::string& k, const std::string& v) { peeked.emplace_back(k, v); }).To("out");
  in.Foreach([&](const std::string& k, const std::string& v) { seen.emplace_back(k, v); });
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  ASSERT_TRUE(input.PipeInput("a", "1", 1).ok());
  ASSERT_TRUE(input.PipeInput("b", "2", 2).ok());
  const std::vector<KV> expected{{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(peeked, expected);
  EXPECT_EQ(seen, expected);
  auto out = Output(driver.get(), "out");
  EXPECT_EQ(ReadAll(out), expected);
}

TEST(DslStatelessTest, SplitSendsEachRecordToItsFirstMatchingBranch) {
  StreamsBuilder builder;
  auto branches =
      builder.Stream<std::string, std::string>("in")
          .Split("route-")
          .Branch([](const std::string&,
                     const std::string& v) { return v.find("ERROR") != std::string::npos; },
                  "errors")
          .Branch([](const std::string&,
                     const std::string& v) { return v.find("WARN") != std::string::npos; },
                  "warnings")
          .DefaultBranch("rest");
  ASSERT_EQ(branches.size(), 3u);
  branches.at("route-errors").To("errors");
  branches.at("route-warnings").To("warnings");
  branches.at("route-rest").To("rest");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  for (const char* v : {"ERROR disk", "WARN slow", "ERROR and WARN", "fine"}) {
    ASSERT_TRUE(input.PipeInput("k", v, 1).ok());
  }
  auto errors = Output(driver.get(), "errors");
  auto warnings = Output(driver.get(), "warnings");
  auto rest = Output(driver.get(), "rest");
  EXPECT_EQ(ReadAll(errors), (std::vector<KV>{{"k", "ERROR disk"}, {"k", "ERROR and WARN"}}));
  EXPECT_EQ(ReadAll(warnings), (std::vector<KV>{{"k", "WARN slow"}}));
  EXPECT_EQ(ReadAll(rest), (std::vector<KV>{{"k", "fine"}}));
}

TEST(DslStatelessTest, BranchWithoutACatchAllDropsUnmatchedRecords) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, std::string>("in").Branch(
      {[](const std::string&, const std::string& v) { return v == "x"; }});
  ASSERT_EQ(branches.size(), 1u);
  branches[0].To("xs");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  auto input = Input(driver.get(), "in");
  ASSERT_TRUE(input.PipeInput("k", "y", 1).ok());
  ASSERT_TRUE(input.PipeInput("k", "x", 2).ok());
  auto xs = Output(driver.get(), "xs");
  EXPECT_EQ(ReadAll(xs), (std::vector<KV>{{"k", "x"}}));
}

TEST(DslStatelessTest, MergeCombinesTwoStreams) {
  StreamsBuilder builder;
  auto a = builder.Stream<std::string, std::string>("a");
  auto b = builder.Stream<std::string, std::string>("b");
  a.Merge(b).To("merged");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(Input(driver.get(), "a").PipeInput("1", "from-a", 1).ok());
  ASSERT_TRUE(Input(driver.get(), "b").PipeInput("2", "from-b", 2).ok());
  auto merged = Output(driver.get(), "merged");
  EXPECT_EQ(ReadAll(merged), (std::vector<KV>{{"1", "from-a"}, {"2", "from-b"}}));
}

TEST(DslStatelessTest, KeyedOutputLandsOnMurmur2PartitionsOfTheSinkTopic) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").To("out");
  TestDriverOptions options;
  options.topic_partitions = {{"in", 3}, {"out", 4}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->task_ids(), (std::vector<std::string>{"0_0", "0_1", "0_2"}));
  auto input = Input(driver.get(), "in");
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(input.PipeInput("key-" + std::to_string(i), "v", i).ok());
  for (const TestRecord& r : driver->Records("out")) {
    EXPECT_EQ(r.partition, client::PartitionForKey(*r.key, 4)) << *r.key;
  }
  EXPECT_EQ(driver->Records("out").size(), 20u);
}

TEST(DslStatelessTest, UndecodableInputIsAnErrorNamingTheRecord) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  const absl::Status s = driver->PipeRaw("in", "k", std::string("abc"), 1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("in-0@0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("value"), std::string::npos) << s;
}

TEST(DslStatelessTest, DescribePrintsSubtopologiesLikeKafkaStreams) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Filter([](const std::string&, const std::string&) { return true; })
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
            "      --> KSTREAM-FILTER-0000000001\n"
            "    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n"
            "      --> KSTREAM-SINK-0000000002\n"
            "      <-- KSTREAM-SOURCE-0000000000\n"
            "    Sink: KSTREAM-SINK-0000000002 (topic: out)\n"
            "      --> none\n"
            "      <-- KSTREAM-FILTER-0000000001\n"
            "\n");
}

struct Point {
  int x = 0;
};

TEST(DslStatelessTest, ATypeWithoutASerdeIsABuildErrorNamingTheSink) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .MapValues([](const std::string& v) { return Point{static_cast<int>(v.size())}; })
      .To("points");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("sink topic points"), std::string::npos)
      << topology.status();

  StreamsBuilder with_serde;
  with_serde.Stream<std::string, std::string>("in")
      .MapValues([](const std::string& v) { return Point{static_cast<int>(v.size())}; })
      .To("points", Produced<std::string, Point>::With(
                        serdes::String(),
                        serdes::Of<Point>([](const Point& p) { return std::to_string(p.x); },
                                          [](std::string_view s) -> absl::StatusOr<Point> {
                                            return Point{std::stoi(std::string(s))};
                                          })));
  auto driver = Driver(with_serde);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(Input(driver.get(), "in").PipeInput("k", "four", 1).ok());
  auto out = Output(driver.get(), "points");
  EXPECT_EQ(ReadAll(out), (std::vector<KV>{{"k", "4"}}));
}

}  // namespace
}  // namespace runnel::streams
