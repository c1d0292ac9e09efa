// Sliding windows (Kafka Streams' SlidingWindows): which windows a record creates and updates,
// out-of-order records, inclusive bounds, grace, and suppress(untilWindowCloses), through the
// driver. Each expected window was worked out record by record from Kafka Streams'
// KStreamSlidingWindowAggregate rule and checked against the brute-force definition (a window
// [s, s + d] holds the records with s <= t <= s + d).
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
template <typename V>
using Windows = std::map<std::tuple<S, int64_t, int64_t>, V>;

using testing::Driver;

// The latest value of each window written to `topic`, by (key, start, end).
template <typename V>
Windows<V> Latest(TopologyTestDriver* driver, const S& topic, Serde<V> value_serde) {
  TestOutputTopic<Windowed<S>, V> out(driver, topic, internal::WindowedSerde(serdes::String()),
                                      value_serde);
  auto records = out.ReadKeyValuesToList();
  EXPECT_TRUE(records.ok()) << records.status();
  Windows<V> latest;
  if (!records.ok()) return latest;
  for (auto& [w, v] : *records) latest[{w.key, w.start, w.end}] = v;
  return latest;
}

void Pipe(TopologyTestDriver* driver, const std::vector<std::pair<S, int64_t>>& records) {
  TestInputTopic<S, S> in(driver, "in", serdes::String(), serdes::String());
  for (const auto& [key, ts] : records) ASSERT_TRUE(in.PipeInput(key, "v", ts).ok()) << ts;
}

std::unique_ptr<TopologyTestDriver> SlidingCount(int64_t difference, int64_t grace) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SlidingWindows::OfTimeDifferenceAndGrace(difference, grace))
      .LateRecordsTo("late")
      .Count(Materialized<S, int64_t>::As("sliding"))
      .ToStream()
      .To("out");
  return Driver(builder);
}

TEST(DslSlidingWindowTest, EachRecordCreatesItsLeftWindowAndTheRightWindowsThatHoldRecords) {
  auto driver = SlidingCount(10, 100);
  ASSERT_NE(driver, nullptr);
  // 20: left window [10, 20]. 25: left [15, 25] (seeded with 20), and 20's right window
  // [21, 31]. 15, out of order: updates [10, 20] and [15, 25], creates its left [5, 15] and its
  // right [16, 26] (copied from [15, 25] before 15 was added: {20, 25}). 40: only its left window;
  // 25's right window [26, 36] would be empty.
  Pipe(driver.get(), {{"a", 20}, {"a", 25}, {"a", 15}, {"a", 40}});
  EXPECT_EQ(Latest(driver.get(), "out", serdes::Int64()), (Windows<int64_t>{{{"a", 5, 15}, 1},
                                                                            {{"a", 10, 20}, 2},
                                                                            {{"a", 15, 25}, 3},
                                                                            {{"a", 16, 26}, 2},
                                                                            {{"a", 21, 31}, 1},
                                                                            {{"a", 30, 40}, 1}}));
  auto store = driver->WindowStoreContents("sliding");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 6u);
  EXPECT_EQ(driver->metrics().dropped_late_records, 0);
}

TEST(DslSlidingWindowTest, BothBoundsAreInclusive) {
  auto driver = SlidingCount(10, 100);
  ASSERT_NE(driver, nullptr);
  // 100 and 110 are exactly the time difference apart: [100, 110] holds both.
  Pipe(driver.get(), {{"a", 100}, {"a", 110}});
  EXPECT_EQ(Latest(driver.get(), "out", serdes::Int64()),
            (Windows<int64_t>{{{"a", 90, 100}, 1}, {{"a", 100, 110}, 2}, {{"a", 101, 111}, 1}}));
}

TEST(DslSlidingWindowTest, RecordsBeforeTheTimeDifferenceShareTheWindowFromZero) {
  auto driver = SlidingCount(10, 100);
  ASSERT_NE(driver, nullptr);
  // Left windows would start below 0: both records go into [0, 10]; 3's right window [4, 14]
  // holds 8.
  Pipe(driver.get(), {{"a", 3}, {"a", 8}});
  EXPECT_EQ(Latest(driver.get(), "out", serdes::Int64()),
            (Windows<int64_t>{{{"a", 0, 10}, 2}, {{"a", 4, 14}, 1}}));
}

// Kafka Streams' rule (KStreamSlidingWindowAggregate, 3.x): close = stream time - grace; a window
// [s, e] is updated while e >= close, so at stream time exactly e + grace it still accepts a
// record and at e + grace + 1 it is late; a record is dropped whole once t + 1 + d <= close.
TEST(DslSlidingWindowTest, AWindowAcceptsRecordsUntilStreamTimePassesEndPlusGrace) {
  auto driver = SlidingCount(10, 5);
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), {{"a", 20}, {"b", 25}});
  // Stream time 25 == 20 + 5: [10, 20] takes 15; 15's own left window [5, 15] has closed.
  Pipe(driver.get(), {{"a", 15}});
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  Pipe(driver.get(), {{"b", 26}});
  // Stream time 26: [10, 20] has closed and so has 16's left window [6, 16]; [16, 26] (15's right
  // window) still takes it, and 16's right window [17, 27] is created.
  Pipe(driver.get(), {{"a", 16}});
  EXPECT_EQ(driver->metrics().dropped_late_records, 3);
  // 5 + 1 + 10 <= 26 - 5: even 5's right window has closed; dropped whole.
  Pipe(driver.get(), {{"a", 5}});
  EXPECT_EQ(driver->metrics().dropped_late_records, 4);
  EXPECT_EQ(Latest(driver.get(), "out", serdes::Int64()), (Windows<int64_t>{{{"a", 10, 20}, 2},
                                                                            {{"a", 16, 26}, 2},
                                                                            {{"a", 17, 27}, 1},
                                                                            {{"b", 15, 25}, 1},
                                                                            {{"b", 16, 26}, 2},
                                                                            {{"b", 26, 36}, 1}}));
  // A record late for any of its windows is also written to the late-records topic.
  TestOutputTopic<S, S> late(driver.get(), "late", serdes::String(), serdes::String());
  auto records = late.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  std::vector<int64_t> late_timestamps;
  for (const auto& r : *records) late_timestamps.push_back(r.timestamp);
  EXPECT_EQ(late_timestamps, (std::vector<int64_t>{15, 16, 5}));
}

TEST(DslSlidingWindowTest, AggregateSeedsNewWindowsWithTheRecordsAlreadyInThem) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SlidingWindows::OfTimeDifferenceWithNoGrace(10))
      .Aggregate([] { return S(); }, [](const S&, const S& v, const S& agg) { return agg + v; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 20).ok());
  ASSERT_TRUE(in.PipeInput("a", "y", 25).ok());
  ASSERT_TRUE(in.PipeInput("a", "z", 15).ok());  // stream time 25, close 25: [5, 15] is late
  EXPECT_EQ(Latest(driver.get(), "out", serdes::String()), (Windows<S>{{{"a", 10, 20}, "x"},
                                                                       {{"a", 15, 25}, "xyz"},
                                                                       {{"a", 16, 26}, "xy"},
                                                                       {{"a", 21, 31}, "y"}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 2);  // [5, 15] and [10, 20]
}

TEST(DslSlidingWindowTest, ReduceCombinesTheValuesOfEachWindow) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SlidingWindows::OfTimeDifferenceAndGrace(10, 100))
      .Reduce([](const S& agg, const S& v) { return agg + "+" + v; })
      .ToStream()
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "x", 20).ok());
  ASSERT_TRUE(in.PipeInput("a", "y", 25).ok());
  ASSERT_TRUE(in.PipeInput("a", "z", 15).ok());
  EXPECT_EQ(Latest(driver.get(), "out", serdes::String()), (Windows<S>{{{"a", 5, 15}, "z"},
                                                                       {{"a", 10, 20}, "x+z"},
                                                                       {{"a", 15, 25}, "x+y+z"},
                                                                       {{"a", 16, 26}, "x+y"},
                                                                       {{"a", 21, 31}, "y"}}));
}

TEST(DslSlidingWindowTest, SuppressEmitsEachWindowOnceWhenItCanTakeNoMoreRecords) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SlidingWindows::OfTimeDifferenceAndGrace(10, 5))
      .Count()
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .To("final");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  TestOutputTopic<Windowed<S>, int64_t> out(
      driver.get(), "final", internal::WindowedSerde(serdes::String()), serdes::Int64());
  auto read = [&out] {
    std::vector<std::pair<std::tuple<S, int64_t, int64_t>, int64_t>> got;
    auto records = out.ReadKeyValuesToList();
    EXPECT_TRUE(records.ok());
    if (records.ok()) {
      for (auto& [w, c] : *records) got.push_back({{w.key, w.start, w.end}, c});
    }
    return got;
  };
  using Got = std::vector<std::pair<std::tuple<S, int64_t, int64_t>, int64_t>>;
  // Stream time 15 == 10 + 5: [0, 10] still takes 8, so it is not final yet.
  Pipe(driver.get(), {{"a", 10}, {"b", 15}, {"a", 8}});
  EXPECT_TRUE(out.IsEmpty());
  Pipe(driver.get(), {{"b", 16}});  // [0, 10] can take no more
  EXPECT_EQ(read(), (Got{{{"a", 0, 10}, 2}}));
  Pipe(driver.get(), {{"a", 9}});  // late for [0, 10]: nothing emitted again
  EXPECT_TRUE(out.IsEmpty());
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  Pipe(driver.get(), {{"c", 40}});  // closes every window ending by 34, in end order
  EXPECT_EQ(read(), (Got{{{"b", 5, 15}, 1},
                         {{"b", 6, 16}, 2},
                         {{"a", 9, 19}, 2},
                         {{"a", 10, 20}, 1},
                         {{"b", 16, 26}, 1}}));
}

TEST(DslSlidingWindowTest, InvalidSlidingWindowsAreABuildError) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(SlidingWindows::OfTimeDifferenceWithNoGrace(0))
      .Count();
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("time difference 0"), std::string::npos)
      << topology.status();
}

}  // namespace
}  // namespace runnel::streams
