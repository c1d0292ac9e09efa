// Tumbling and hopping windows, grace and suppress(untilWindowCloses), through the driver.
#include <gtest/gtest.h>

#include <map>
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
using WindowCounts = std::map<std::tuple<S, int64_t, int64_t>, int64_t>;

using testing::Driver;

// Window counts written to `topic` as (key, start, end) -> latest count.
WindowCounts Latest(TopologyTestDriver* driver, const S& topic) {
  TestOutputTopic<Windowed<S>, int64_t> out(
      driver, topic, internal::WindowedSerde(serdes::String()), serdes::Int64());
  auto records = out.ReadKeyValuesToList();
  EXPECT_TRUE(records.ok()) << records.status();
  WindowCounts counts;
  if (!records.ok()) return counts;
  for (auto& [w, c] : *records) counts[{w.key, w.start, w.end}] = c;
  return counts;
}

TEST(TimeWindowsTest, WindowStartsAreEpochAlignedAndCoverTheTimestamp) {
  const TimeWindows tumbling = TimeWindows::OfSizeWithNoGrace(10);
  EXPECT_EQ(tumbling.WindowStartsFor(0), (std::vector<int64_t>{0}));
  EXPECT_EQ(tumbling.WindowStartsFor(9), (std::vector<int64_t>{0}));
  EXPECT_EQ(tumbling.WindowStartsFor(10), (std::vector<int64_t>{10}));
  const TimeWindows hopping = TimeWindows::OfSizeWithNoGrace(10).AdvanceBy(5);
  EXPECT_EQ(hopping.WindowStartsFor(12), (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(hopping.WindowStartsFor(15), (std::vector<int64_t>{10, 15}));
  EXPECT_EQ(hopping.WindowStartsFor(3), (std::vector<int64_t>{0}));
  const TimeWindows thirds = TimeWindows::OfSizeWithNoGrace(9).AdvanceBy(3);
  EXPECT_EQ(thirds.WindowStartsFor(10), (std::vector<int64_t>{3, 6, 9}));
}

TEST(DslWindowTest, TumblingWindowsCountPerKeyAndWindow) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(10, 100))
      .Count(Materialized<S, int64_t>::As("w"))
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  for (auto [k, ts] :
       std::vector<std::pair<S, int64_t>>{{"a", 0}, {"a", 9}, {"a", 10}, {"b", 5}, {"a", 3}}) {
    ASSERT_TRUE(in.PipeInput(k, "v", ts).ok());
  }
  EXPECT_EQ(Latest(driver.get(), "out"),
            (WindowCounts{{{"a", 0, 10}, 3}, {{"a", 10, 20}, 1}, {{"b", 0, 10}, 1}}));
  auto store = driver->WindowStoreContents("w");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->size(), 3u);
}

TEST(DslWindowTest, HoppingWindowsPutARecordInEveryWindowThatContainsIt) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(10, 100).AdvanceBy(5))
      .Count()
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "v", 7).ok());
  ASSERT_TRUE(in.PipeInput("a", "v", 12).ok());
  EXPECT_EQ(Latest(driver.get(), "out"),
            (WindowCounts{{{"a", 0, 10}, 1}, {{"a", 5, 15}, 2}, {{"a", 10, 20}, 1}}));
}

TEST(DslWindowTest, ARecordExactlyAtWindowEndPlusGraceIsLate) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(10, 5))
      .LateRecordsTo("late")
      .Count()
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "first", 1).ok());
  ASSERT_TRUE(in.PipeInput("b", "advance", 14).ok());  // stream time 14 < 10 + 5
  ASSERT_TRUE(in.PipeInput("a", "in-grace", 2).ok());  // accepted
  ASSERT_TRUE(in.PipeInput("b", "advance", 15).ok());  // stream time 15 == 10 + 5: closed
  ASSERT_TRUE(in.PipeInput("a", "too-late", 3).ok());  // dropped
  EXPECT_EQ(Latest(driver.get(), "out"), (WindowCounts{{{"a", 0, 10}, 2}, {{"b", 10, 20}, 2}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  TestOutputTopic<S, S> late(driver.get(), "late", serdes::String(), serdes::String());
  auto l = late.ReadKeyValuesToList();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::pair<S, S>>{{"a", "too-late"}}));
}

TEST(DslWindowTest, SuppressEmitsExactlyOneFinalResultPerWindowWhenItCloses) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(10, 2))
      .Count()
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .To("final");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  TestOutputTopic<Windowed<S>, int64_t> out(
      driver.get(), "final", internal::WindowedSerde(serdes::String()), serdes::Int64());
  for (int64_t ts : {1, 4, 8}) ASSERT_TRUE(in.PipeInput("a", "v", ts).ok());
  ASSERT_TRUE(in.PipeInput("b", "v", 9).ok());
  ASSERT_TRUE(in.PipeInput("a", "v", 11).ok());  // stream time 11 < 10 + 2: still open
  EXPECT_TRUE(out.IsEmpty());
  ASSERT_TRUE(in.PipeInput("a", "v", 5).ok());   // in grace: counts
  ASSERT_TRUE(in.PipeInput("a", "v", 12).ok());  // 12 >= 12: [0, 10) closes
  auto first = out.ReadKeyValuesToList();
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].first, (Windowed<S>{"a", 0, 10}));
  EXPECT_EQ((*first)[0].second, 4);
  EXPECT_EQ((*first)[1].first, (Windowed<S>{"b", 0, 10}));
  EXPECT_EQ((*first)[1].second, 1);
  ASSERT_TRUE(in.PipeInput("a", "v", 13).ok());
  ASSERT_TRUE(in.PipeInput("a", "v", 3).ok());  // late: dropped, nothing re-emitted
  EXPECT_TRUE(out.IsEmpty());
  ASSERT_TRUE(in.PipeInput("c", "v", 30).ok());  // closes [10, 20)
  auto second = out.ReadKeyValuesToList();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].first, (Windowed<S>{"a", 10, 20}));
  EXPECT_EQ((*second)[0].second, 3);
}

// A crash after a closed window was emitted but before the commit: the emission may not have
// reached the output topic (the collector had not flushed it), and the input that closed the
// window is read again from the committed offset. The buffer's changelog must still hold the
// window then, so that it is emitted again (at least once); a tombstone logged at the emission
// would lose it for good. The removal is logged once the commit made the emission durable.
TEST(DslWindowTest, SuppressLogsAnEmittedWindowsRemovalOnlyAfterTheCommit) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(10, 0))
      .Count()
      .Suppress(Suppressed::UntilWindowCloses().WithName("buffer"))
      .ToStream()
      .To("final");
  TestDriverOptions options;
  options.commit_every_record = false;  // commits when the wall clock passes 30 s
  options.cache_max_bytes = 0;          // every count reaches the buffer at once
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  TestOutputTopic<Windowed<S>, int64_t> out(
      driver.get(), "final", internal::WindowedSerde(serdes::String()), serdes::Int64());
  const auto tombstones = [&] {
    int n = 0;
    for (const TestRecord& r : driver->Records("test-app-buffer-store-changelog")) {
      n += r.value.has_value() ? 0 : 1;
    }
    return n;
  };
  ASSERT_TRUE(in.PipeInput("a", "v", 1).ok());
  ASSERT_TRUE(driver->AdvanceWallClockTime(30000).ok());  // committed: [0, 10) is buffered
  ASSERT_TRUE(in.PipeInput("a", "v", 12).ok());           // closes [0, 10): emitted
  ASSERT_EQ(out.ReadKeyValuesToList()->size(), 1u);
  EXPECT_EQ(tombstones(), 0) << "the removal was logged before the emission was committed";

  // The crash; the record at 12 comes again from the committed offset.
  ASSERT_TRUE(driver->RestartTasks().ok());
  ASSERT_TRUE(in.PipeInput("a", "v", 12).ok());
  auto again = out.ReadKeyValuesToList();
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u) << "the window emitted before the crash was lost";
  EXPECT_EQ((*again)[0].first, (Windowed<S>{"a", 0, 10}));
  EXPECT_EQ((*again)[0].second, 1);

  // Committed now: the removal is logged, and a second crash emits nothing again.
  ASSERT_TRUE(driver->AdvanceWallClockTime(30000).ok());
  EXPECT_EQ(tombstones(), 1);
  ASSERT_TRUE(driver->RestartTasks().ok());
  ASSERT_TRUE(in.PipeInput("a", "v", 13).ok());
  EXPECT_TRUE(out.IsEmpty());
}

TEST(DslWindowTest, SuppressOnATableThatIsNotWindowedIsABuildError) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").GroupByKey().Count().Suppress(Suppressed::UntilWindowCloses());
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("windowed"), std::string::npos) << topology.status();
}

TEST(DslWindowTest, InvalidWindowsAreABuildError) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").GroupByKey().WindowedBy(TimeWindows::OfSizeWithNoGrace(0)).Count();
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("size 0"), std::string::npos) << topology.status();
}

}  // namespace
}  // namespace runnel::streams
