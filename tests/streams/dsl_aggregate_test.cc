// Grouping, repartitioning, aggregations and tables, through the TopologyTestDriver.
#include <gtest/gtest.h>

#include <map>
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

// Word count: split lines, group by word (a repartition), count.
void WordCount(StreamsBuilder& builder, StoreType type, const std::string& grouping = "") {
  Grouped<S, S> grouped;
  grouped.name = grouping;
  builder.Stream<S, S>("lines")
      .FlatMapValues([](const S& line) {
        std::vector<S> words;
        S word;
        for (char c : line + " ") {
          if (std::isalnum(static_cast<unsigned char>(c))) {
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          } else if (!word.empty()) {
            words.push_back(std::exchange(word, ""));
          }
        }
        return words;
      })
      .GroupBy([](const S&, const S& word) { return word; }, grouped)
      .Count(Materialized<S, int64_t>::As("counts").WithStoreType(type))
      .ToStream()
      .To("word-counts");
}

class AggregateStoreTest : public ::testing::TestWithParam<StoreType> {};

TEST_P(AggregateStoreTest, WordCountCountsThroughARepartitionTopic) {
  StreamsBuilder builder;
  WordCount(builder, GetParam());
  TestDriverOptions options;
  options.topic_partitions = {{"lines", 3}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> lines(driver.get(), "lines", serdes::String(), serdes::String());
  ASSERT_TRUE(lines.PipeInput("a", "The cat, the DOG", 1).ok());
  ASSERT_TRUE(lines.PipeInput("b", "the end", 2).ok());
  TestOutputTopic<S, int64_t> counts(driver.get(), "word-counts", serdes::String(),
                                     serdes::Int64());
  auto latest = counts.ReadKeyValuesToMap();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, (std::map<S, int64_t>{{"the", 3}, {"cat", 1}, {"dog", 1}, {"end", 1}}));
  // The repartition topic: "<application.id>-<store>-repartition", as many partitions as the
  // input, every word on its murmur2 partition.
  EXPECT_EQ(driver->Partitions("test-app-counts-repartition"), 3);
  EXPECT_EQ(driver->Records("test-app-counts-repartition").size(), 6u);
  auto store = driver->KeyValueStoreContents("counts");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 4u);
  EXPECT_FALSE(driver->Records("test-app-counts-changelog").empty());
}

TEST_P(AggregateStoreTest, RestartedTasksRestoreTheirCountsFromTheChangelog) {
  StreamsBuilder builder;
  WordCount(builder, GetParam());
  TestDriverOptions options;
  options.topic_partitions = {{"lines", 2}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> lines(driver.get(), "lines", serdes::String(), serdes::String());
  ASSERT_TRUE(lines.PipeInput("a", "x y x", 1).ok());
  ASSERT_TRUE(driver->RestartTasks().ok());
  EXPECT_GT(driver->metrics().restored_records, 0);
  ASSERT_TRUE(lines.PipeInput("b", "x z", 2).ok());
  TestOutputTopic<S, int64_t> counts(driver.get(), "word-counts", serdes::String(),
                                     serdes::Int64());
  auto latest = counts.ReadKeyValuesToMap();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, (std::map<S, int64_t>{{"x", 3}, {"y", 1}, {"z", 1}}));
}

INSTANTIATE_TEST_SUITE_P(Stores, AggregateStoreTest,
                         ::testing::Values(StoreType::kInMemory, StoreType::kRocksDb),
                         [](const auto& info) {
                           return info.param == StoreType::kInMemory ? "InMemory" : "RocksDb";
                         });

TEST(DslAggregateTest, GroupedNameNamesTheRepartitionTopicAndPartitionsCanBeSet) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupBy([](const S&, const S& v) { return v; },
               Grouped<S, S>::As("by-value").WithNumberOfPartitions(1))
      .Count()
      .ToStream()
      .To("out");
  TestDriverOptions options;
  options.topic_partitions = {{"in", 4}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->Partitions("test-app-by-value-repartition"), 1);
  EXPECT_EQ(driver->task_ids(), (std::vector<S>{"0_0", "0_1", "0_2", "0_3", "1_0"}));
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  ASSERT_EQ(topology->subtopologies().size(), 2u);
  EXPECT_EQ(topology->subtopologies()[1].source_topics, (std::vector<S>{"by-value-repartition"}));
}

TEST(DslAggregateTest, GroupByKeyWithoutAKeyChangeDoesNotRepartition) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").GroupByKey().Count().ToStream().To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  EXPECT_EQ(topology->subtopologies().size(), 1u);
  EXPECT_TRUE(topology->repartition_topics().empty());
}

TEST(DslAggregateTest, ReduceAndAggregateKeepARunningResultPerKey) {
  StreamsBuilder builder;
  auto grouped = builder.Stream<S, int64_t>("amounts").GroupByKey();
  grouped.Reduce([](const int64_t& a, const int64_t& b) { return std::max(a, b); })
      .ToStream()
      .To("max");
  grouped
      .Aggregate([] { return S(); },
                 [](const S&, const int64_t& v, const S& agg) {
                   return agg.empty() ? std::to_string(v) : agg + "," + std::to_string(v);
                 })
      .ToStream()
      .To("history");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, int64_t> in(driver.get(), "amounts", serdes::String(), serdes::Int64());
  ASSERT_TRUE(in.PipeInput("a", 5, 1).ok());
  ASSERT_TRUE(in.PipeInput("a", 3, 2).ok());
  ASSERT_TRUE(in.PipeInput("b", 7, 3).ok());
  ASSERT_TRUE(in.PipeInput("a", 9, 4).ok());
  TestOutputTopic<S, int64_t> max(driver.get(), "max", serdes::String(), serdes::Int64());
  auto m = max.ReadKeyValuesToList();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, (std::vector<std::pair<S, int64_t>>{{"a", 5}, {"a", 5}, {"b", 7}, {"a", 9}}));
  TestOutputTopic<S, S> history(driver.get(), "history", serdes::String(), serdes::String());
  auto h = history.ReadKeyValuesToMap();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, (std::map<S, S>{{"a", "5,3,9"}, {"b", "7"}}));
}

TEST(DslAggregateTest, RecordCacheEmitsOneUpdatePerKeyPerCommit) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").GroupByKey().Count().ToStream().To("out");
  TestDriverOptions options;
  options.commit_every_record = false;
  options.commit_interval_ms = 1000;
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(in.PipeInput("k", "v", i).ok());
  TestOutputTopic<S, int64_t> out(driver.get(), "out", serdes::String(), serdes::Int64());
  EXPECT_TRUE(out.IsEmpty()) << "nothing leaves the cache before the commit";
  ASSERT_TRUE(driver->AdvanceWallClockTime(999).ok());
  EXPECT_TRUE(out.IsEmpty());
  ASSERT_TRUE(driver->AdvanceWallClockTime(1).ok());
  auto kvs = out.ReadKeyValuesToList();
  ASSERT_TRUE(kvs.ok());
  EXPECT_EQ(*kvs, (std::vector<std::pair<S, int64_t>>{{"k", 5}}));
}

TEST(DslAggregateTest, TableFromATopicFollowsUpdatesAndTombstones) {
  StreamsBuilder builder;
  auto table = builder.Table<S, S>("profiles", {}, Materialized<S, S>::As("profiles-store"));
  table.To("profiles-copy");
  table.Filter([](const S&, const S& v) { return v != "hidden"; })
      .MapValues([](const S& v) { return static_cast<int64_t>(v.size()); })
      .ToStream()
      .To("name-lengths");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "profiles", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("u1", "alice", 1).ok());
  ASSERT_TRUE(in.PipeInput("u2", "bob", 2).ok());
  ASSERT_TRUE(in.PipeInput("u1", "alicia", 3).ok());
  ASSERT_TRUE(in.PipeTombstone("u2", 4).ok());
  ASSERT_TRUE(in.PipeInput("u3", "hidden", 5).ok());
  auto store = driver->KeyValueStoreContents("profiles-store");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->size(), 2u) << "u2 was deleted";
  TestOutputTopic<S, S> copy(driver.get(), "profiles-copy", serdes::String(), serdes::String());
  auto records = copy.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[3].key, "u2");
  EXPECT_FALSE((*records)[3].value.has_value()) << "a deletion is written as a tombstone";
  TestOutputTopic<S, int64_t> lengths(driver.get(), "name-lengths", serdes::String(),
                                      serdes::Int64());
  auto l = lengths.ReadKeyValuesToList();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::pair<S, int64_t>>{{"u1", 5}, {"u2", 3}, {"u1", 6}}));
}

TEST(DslAggregateTest, RegroupedTableSubtractsTheOldRowAndAddsTheNewOne) {
  // users: user -> city; per city, the number of users living there.
  StreamsBuilder builder;
  builder.Table<S, S>("users")
      .GroupBy([](const S& user, const S& city) { return std::make_pair(city, user); },
               Grouped<S, S>::As("users-by-city"))
      .Count(Materialized<S, int64_t>::As("city-population"))
      .ToStream()
      .To("population");
  TestDriverOptions options;
  options.topic_partitions = {{"users", 2}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->Partitions("test-app-users-by-city-repartition"), 2);
  TestInputTopic<S, S> users(driver.get(), "users", serdes::String(), serdes::String());
  ASSERT_TRUE(users.PipeInput("ann", "paris", 1).ok());
  ASSERT_TRUE(users.PipeInput("bob", "paris", 2).ok());
  ASSERT_TRUE(users.PipeInput("cid", "oslo", 3).ok());
  ASSERT_TRUE(users.PipeInput("ann", "oslo", 4).ok());  // moves: paris -1, oslo +1
  ASSERT_TRUE(users.PipeTombstone("bob", 5).ok());      // leaves: paris -1
  TestOutputTopic<S, int64_t> population(driver.get(), "population", serdes::String(),
                                         serdes::Int64());
  auto latest = population.ReadKeyValuesToMap();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, (std::map<S, int64_t>{{"paris", 0}, {"oslo", 2}}));
}

TEST(DslAggregateTest, TwoStoresWithOneNameAreABuildError) {
  StreamsBuilder builder;
  auto in = builder.Stream<S, S>("in").GroupByKey();
  in.Count(Materialized<S, int64_t>::As("same"));
  in.Count(Materialized<S, int64_t>::As("same"));
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("same"), std::string::npos) << topology.status();
}

}  // namespace
}  // namespace runnel::streams
