// Session windows (Kafka Streams' SessionWindows): sessions, merges with their retractions
// downstream, grace, the merger of Aggregate, Reduce, and suppress(untilWindowCloses), through
// the driver.
#include <gtest/gtest.h>

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

using testing::Driver;

// One output record: (key, start, end), value (nullopt: a retraction), timestamp.
template <typename V>
using Out = std::tuple<std::tuple<S, int64_t, int64_t>, std::optional<V>, int64_t>;

template <typename V>
std::vector<Out<V>> ReadAll(TopologyTestDriver* driver, const S& topic, Serde<V> value_serde) {
  TestOutputTopic<Windowed<S>, V> out(driver, topic, internal::WindowedSerde(serdes::String()),
                                      value_serde);
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<Out<V>> got;
  if (!records.ok()) return got;
  for (auto& r : *records) {
    got.push_back({{r.key.key, r.key.start, r.key.end}, r.value, r.timestamp});
  }
  return got;
}

void Pipe(TopologyTestDriver* driver, const std::vector<std::tuple<S, S, int64_t>>& records) {
  TestInputTopic<S, S> in(driver, "in", serdes::String(), serdes::String());
  for (const auto& [key, value, ts] : records) {
    ASSERT_TRUE(in.PipeInput(key, value, ts).ok()) << ts;
  }
}

std::unique_ptr<TopologyTestDriver> SessionCount(int64_t gap, int64_t grace,
                                                 StoreType type = StoreType::kInMemory) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(gap, grace))
      .Count(Materialized<S, int64_t>::As("sessions").WithStoreType(type))
      .ToStream()
      .To("out");
  return Driver(builder);
}

// Grace 100 here: with less, [0, 0] would have closed (and expired) by stream time 20.
TEST(DslSessionWindowTest, ARecordBridgingTwoSessionsMergesThemAndRetractsTheOldOnes) {
  auto driver = SessionCount(10, 100);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}, {"a", "v", 20}});  // 20 apart: two sessions
  Pipe(driver.get(), {{"a", "v", 10}});                 // within 10 of both
  Pipe(driver.get(), {{"a", "v", 25}});                 // extends the merged session
  EXPECT_EQ(ReadAll(driver.get(), "out", serdes::Int64()),
            (std::vector<Out<int64_t>>{{{"a", 0, 0}, 1, 0},
                                       {{"a", 20, 20}, 1, 20},
                                       {{"a", 0, 0}, std::nullopt, 0},
                                       {{"a", 20, 20}, std::nullopt, 20},
                                       {{"a", 0, 20}, 3, 20},
                                       {{"a", 0, 20}, std::nullopt, 20},
                                       {{"a", 0, 25}, 4, 25}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 0);
}

TEST(DslSessionWindowTest, ARecordInsideASessionUpdatesItWithoutRetraction) {
  auto driver = SessionCount(10, 5);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}, {"a", "v", 8}, {"a", "v", 3}, {"b", "v", 3}});
  EXPECT_EQ(ReadAll(driver.get(), "out", serdes::Int64()),
            (std::vector<Out<int64_t>>{{{"a", 0, 0}, 1, 0},
                                       {{"a", 0, 0}, std::nullopt, 0},
                                       {{"a", 0, 8}, 2, 8},
                                       {{"a", 0, 8}, 3, 8},
                                       {{"b", 3, 3}, 1, 3}}));
}

// Beyond Kafka Streams: LateRecordsTo writes each record too late for its session to a topic, as
// the time windows do; the records admitted do not go there.
TEST(DslSessionWindowTest, LateRecordsAreWrittenToTheLateRecordsTopic) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10, 5))
      .LateRecordsTo("late")
      .Count(Materialized<S, int64_t>::As("sessions").WithStoreType(StoreType::kInMemory))
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "first", 0}, {"b", "v", 16}});  // stream time 16 > 0 + 10 + 5
  Pipe(driver.get(), {{"a", "late", 0}, {"a", "in-time", 6}, {"b", "also-late", 0}});
  EXPECT_EQ(driver->metrics().dropped_late_records, 2);
  TestOutputTopic<S, S> late(driver.get(), "late", serdes::String(), serdes::String());
  auto records = late.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::tuple<S, S, int64_t>> got;
  for (auto& r : *records) got.emplace_back(r.key, r.value.value_or("<null>"), r.timestamp);
  EXPECT_EQ(got, (std::vector<std::tuple<S, S, int64_t>>{{"a", "late", 0}, {"b", "also-late", 0}}));
}

// Kafka Streams' rule (KStreamSessionWindowAggregate, 3.x): close = stream time - grace - gap; a
// record is late when the session it would make ends before close. So a session [s, e] still
// takes a record at stream time e + gap + grace, and not at e + gap + grace + 1.
TEST(DslSessionWindowTest, ASessionTakesRecordsUntilStreamTimePassesEndPlusGapPlusGrace) {
  auto driver = SessionCount(10, 5);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}, {"b", "v", 15}});  // stream time 15 == 0 + 10 + 5
  Pipe(driver.get(), {{"a", "v", 0}});                  // still joins [0, 0]
  EXPECT_EQ(driver->metrics().dropped_late_records, 0);
  Pipe(driver.get(), {{"b", "v", 16}, {"a", "v", 0}});  // stream time 16: late
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  EXPECT_EQ(ReadAll(driver.get(), "out", serdes::Int64()),
            (std::vector<Out<int64_t>>{{{"a", 0, 0}, 1, 0},
                                       {{"b", 15, 15}, 1, 15},
                                       {{"a", 0, 0}, 2, 0},
                                       {{"b", 15, 15}, std::nullopt, 15},
                                       {{"b", 15, 16}, 2, 16}}));
}

TEST(DslSessionWindowTest, AggregateMergesSessionsWithTheMerger) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10, 100))
      .Aggregate([] { return S(); }, [](const S&, const S& v, const S& agg) { return agg + v; },
                 [](const S&, const S& one, const S& two) { return one + "|" + two; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "x", 0}, {"a", "y", 20}, {"a", "z", 10}});
  // The merged aggregate starts from the initializer, merges the sessions by end, then adds z.
  EXPECT_EQ(ReadAll(driver.get(), "out", serdes::String()),
            (std::vector<Out<S>>{{{"a", 0, 0}, "x", 0},
                                 {{"a", 20, 20}, "y", 20},
                                 {{"a", 0, 0}, std::nullopt, 0},
                                 {{"a", 20, 20}, std::nullopt, 20},
                                 {{"a", 0, 20}, "|x|yz", 20}}));
}

TEST(DslSessionWindowTest, ReduceMergesSessionsWithTheReducer) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10, 100))
      .Reduce([](const S& agg, const S& v) { return agg + "+" + v; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "x", 0}, {"a", "y", 20}, {"a", "z", 10}});
  auto got = ReadAll(driver.get(), "out", serdes::String());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.back(), (Out<S>{{"a", 0, 20}, "x+y+z", 20}));
}

TEST(DslSessionWindowTest, RocksDbSessionStoreGivesTheSameResults) {
  auto driver = SessionCount(10, 100, StoreType::kRocksDb);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}, {"a", "v", 20}, {"a", "v", 10}});
  auto got = ReadAll(driver.get(), "out", serdes::Int64());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[2], (Out<int64_t>{{"a", 0, 0}, std::nullopt, 0}));
  EXPECT_EQ(got.back(), (Out<int64_t>{{"a", 0, 20}, 3, 20}));
}

// Session counts (gap 10, no grace) suppressed until each session closes, written to "final".
std::unique_ptr<TopologyTestDriver> SuppressedSessionCount(TestDriverOptions options = {}) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapWithNoGrace(10))
      .Count()
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .To("final");
  return Driver(builder, std::move(options));
}

TEST(DslSessionWindowTest, SuppressEmitsOnlyTheFinalSessionsOnceTheyClose) {
  auto driver = SuppressedSessionCount();
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}, {"a", "v", 5}, {"b", "v", 15}});
  // Stream time 15 == 5 + 10: [0, 5] may still grow, and does.
  EXPECT_EQ(ReadAll(driver.get(), "final", serdes::Int64()), std::vector<Out<int64_t>>{});
  Pipe(driver.get(), {{"a", "v", 15}});
  EXPECT_EQ(ReadAll(driver.get(), "final", serdes::Int64()), std::vector<Out<int64_t>>{});
  // Stream time 30 closes every session ending by 19; the merged-away [0, 0] and [0, 5] never
  // come out.
  Pipe(driver.get(), {{"c", "v", 30}});
  EXPECT_EQ(ReadAll(driver.get(), "final", serdes::Int64()),
            (std::vector<Out<int64_t>>{{{"a", 0, 15}, 3, 15}, {{"b", 15, 15}, 1, 15}}));
}

// Suppress holds back the changelog tombstone of a session it emitted until the commit
// (TaskContext::RemoveEmitted), but not that of a session merged away: after a crash the restored
// buffer would hold the retracted [0, 0] again, and the replayed input, merging into the restored
// [0, 5], would never retract it: it would come out as a final session.
TEST(DslSessionWindowTest, AMergedAwaySessionsRemovalIsLoggedAtOnce) {
  TestDriverOptions options;
  options.commit_every_record = false;  // commits when the wall clock passes 30 s
  options.cache_max_bytes = 0;          // every session update reaches the buffer at once
  auto driver = SuppressedSessionCount(options);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", "v", 0}});
  ASSERT_TRUE(driver->AdvanceWallClockTime(30000).ok());  // committed: [0, 0] buffered
  Pipe(driver.get(), {{"a", "v", 5}});                    // [0, 0] merged into [0, 5]
  ASSERT_TRUE(driver->RestartTasks().ok());               // the crash; 5 comes again
  Pipe(driver.get(), {{"a", "v", 5}, {"c", "v", 30}});
  // The replay counts the event at 5 twice (at least once), but no [0, 0].
  EXPECT_EQ(ReadAll(driver.get(), "final", serdes::Int64()),
            (std::vector<Out<int64_t>>{{{"a", 0, 5}, 3, 5}}));
}

TEST(DslSessionWindowTest, InvalidSessionWindowsAreABuildError) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapWithNoGrace(0))
      .Count();
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("inactivity gap 0"), std::string::npos)
      << topology.status();
}

}  // namespace
}  // namespace runnel::streams
