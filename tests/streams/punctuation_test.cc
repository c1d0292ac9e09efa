// Punctuations (streams/punctuation.h) on stream time and on wall-clock time with Kafka Streams'
// rules, cancelling, bad intervals, and window.idle.close.ms, which advances an idle task's stream
// time on the wall clock so that suppressed windows and join windows still close.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "streams/processor.h"
#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams {
namespace {

using S = std::string;

// Schedules one punctuation in Init; each firing forwards ("tick", <time it got>) with that time
// as its timestamp. With `cancel_after`, the punctuator cancels itself after that many firings.
class Ticker : public Processor<S, S, S, int64_t> {
 public:
  Ticker(int64_t interval, PunctuationType type, int cancel_after)
      : interval_(interval), type_(type), cancel_after_(cancel_after) {}
  absl::Status Init(ProcessorContext<S, int64_t>& context) override {
    context_ = &context;
    ASSIGN_OR_RETURN(Cancellable c, context.Schedule(interval_, type_, [this](int64_t t) {
      RETURN_IF_ERROR(context_->Forward(Record<S, int64_t>{"tick", t, t}));
      if (++fired_ == cancel_after_) cancellable_->Cancel();
      return absl::OkStatus();
    }));
    cancellable_.emplace(c);
    return absl::OkStatus();
  }
  absl::Status Process(const Record<S, S>&) override { return absl::OkStatus(); }

 private:
  int64_t interval_;
  PunctuationType type_;
  int cancel_after_;
  int fired_ = 0;
  ProcessorContext<S, int64_t>* context_ = nullptr;
  std::optional<Cancellable> cancellable_;
};

absl::StatusOr<std::unique_ptr<TopologyTestDriver>> TickerDriver(int64_t interval,
                                                                 PunctuationType type,
                                                                 int cancel_after = -1) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .Process([=] { return std::make_unique<Ticker>(interval, type, cancel_after); })
      .To("ticks");
  auto topology = builder.Build();
  if (!topology.ok()) return topology.status();
  TestDriverOptions options;
  options.initial_wall_clock_ms = 1000;
  return TopologyTestDriver::Create(*topology, options);
}

using Out = TestOutputTopic<S, int64_t>;
Out TicksTopic(TopologyTestDriver* driver) {
  return Out(driver, "ticks", serdes::String(), serdes::Int64());
}

// The ticks since the last call.
std::vector<int64_t> Ticks(Out& out) {
  std::vector<int64_t> got;
  auto records = out.ReadKeyValuesToList();
  EXPECT_TRUE(records.ok()) << records.status();
  if (records.ok()) {
    for (auto& [key, t] : *records) got.push_back(t);
  }
  return got;
}

TEST(PunctuationTest, StreamTimePunctuationFiresOncePerAdvancePastABoundaryWithTheStreamTime) {
  auto driver = TickerDriver(10, PunctuationType::kStreamTime);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out ticks = TicksTopic(d);
  // Nothing before the first record: stream time is unknown; the wall clock never fires it.
  ASSERT_TRUE(d->AdvanceWallClockTime(100000).ok());
  EXPECT_TRUE(d->Records("ticks").empty());
  // Aligned to 0: the first record fires it.
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 3).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{3}));
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 9).ok());
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 2).ok());  // out of order: stream time stays 9
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{}));
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 10).ok());  // the boundary itself
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{10}));
  // 20 and 30 skipped: one punctuation, with the stream time; the next boundary is 40.
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 35).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{35}));
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 39).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{}));
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 40).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{40}));
}

TEST(PunctuationTest, WallClockPunctuationFiresWithoutRecordsOncePerPassWithTheWallClockTime) {
  auto driver = TickerDriver(100, PunctuationType::kWallClockTime);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out ticks = TicksTopic(d);
  // Scheduled at wall-clock 1000: first due at 1100. Records do not fire it.
  ASSERT_TRUE(d->PipeRaw("in", "k", "v", 5000).ok());
  ASSERT_TRUE(d->AdvanceWallClockTime(99).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{}));
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{1100}));
  // Three intervals in one move: once, at 1350; the next is due at 1400.
  ASSERT_TRUE(d->AdvanceWallClockTime(250).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{1350}));
  ASSERT_TRUE(d->AdvanceWallClockTime(49).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{}));
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{1400}));
}

TEST(PunctuationTest, APunctuatorCanCancelItself) {
  auto driver = TickerDriver(10, PunctuationType::kWallClockTime, 2);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out ticks = TicksTopic(d);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(d->AdvanceWallClockTime(10).ok());
  EXPECT_EQ(Ticks(ticks), (std::vector<int64_t>{1010, 1020}));
}

TEST(PunctuationTest, ANonPositiveIntervalIsAnErrorNamingTheProcessorAndTheInterval) {
  for (int64_t interval : {0, -5}) {
    auto driver = TickerDriver(interval, PunctuationType::kStreamTime);
    ASSERT_FALSE(driver.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(driver.status())) << driver.status();
    EXPECT_NE(driver.status().message().find(absl::StrCat("KSTREAM-PROCESSOR-0000000001: "
                                                          "punctuation interval ",
                                                          interval, " ms; the smallest is 1 ms")),
              std::string::npos)
        << driver.status();
  }
}

TEST(PunctuationTest, APunctuatorErrorFailsTheCallThatRanIt) {
  class Failing : public Processor<S, S, S, S> {
   public:
    absl::Status Init(ProcessorContext<S, S>& context) override {
      return context
          .Schedule(5, PunctuationType::kWallClockTime,
                    [](int64_t t) { return absl::InternalError(absl::StrCat("boom at ", t)); })
          .status();
    }
    absl::Status Process(const Record<S, S>&) override { return absl::OkStatus(); }
  };
  StreamsBuilder builder;
  builder.Stream<S, S>("in").Process([] { return std::make_unique<Failing>(); }, {}, "failing");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  auto driver = TopologyTestDriver::Create(*topology);
  ASSERT_TRUE(driver.ok()) << driver.status();
  absl::Status s = (*driver)->AdvanceWallClockTime(7);
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  EXPECT_NE(s.message().find("failing: punctuation at 7"), std::string::npos) << s;
  EXPECT_NE(s.message().find("boom at 7"), std::string::npos) << s;
}

// Tumbling windows of 10 ms, no grace, counted and suppressed until they close -> "out".
absl::StatusOr<std::unique_ptr<TopologyTestDriver>> SuppressedCount(
    int64_t idle_close_ms, std::function<int64_t()> input_caught_up_at_ms = nullptr) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(10))
      .Count(Materialized<S, int64_t>::As("counts").WithStoreType(StoreType::kInMemory))
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .Map([](const Windowed<S>& k, int64_t v) {
        return std::make_pair(absl::StrCat(k.key, "@", k.start), v);
      })
      .To("out", Produced<S, int64_t>::With(serdes::String(), serdes::Int64()));
  auto topology = builder.Build();
  if (!topology.ok()) return topology.status();
  TestDriverOptions options;
  options.window_idle_close_ms = idle_close_ms;
  options.input_caught_up_at_ms = std::move(input_caught_up_at_ms);
  return TopologyTestDriver::Create(*topology, options);
}

// The output since the last call: (key, count, timestamp).
std::vector<std::tuple<S, int64_t, int64_t>> ReadOut(Out& out) {
  std::vector<std::tuple<S, int64_t, int64_t>> got;
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  if (records.ok()) {
    for (auto& r : *records) got.emplace_back(r.key, r.value.value_or(-1), r.timestamp);
  }
  return got;
}

TEST(IdleCloseTest, OffByDefaultAWindowWaitsForStreamTimeHoweverLongTheWallClockRuns) {
  auto driver = SuppressedCount(0);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out out(d, "out", serdes::String(), serdes::Int64());
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 5).ok());
  ASSERT_TRUE(d->AdvanceWallClockTime(10'000'000).ok());
  EXPECT_TRUE(ReadOut(out).empty());
}

TEST(IdleCloseTest, AnIdleTasksStreamTimeFollowsTheWallClockAndClosesSuppressedWindows) {
  auto driver = SuppressedCount(1000);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out out(d, "out", serdes::String(), serdes::Int64());
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 5).ok());  // stream time 5 at wall clock 0
  ASSERT_TRUE(d->AdvanceWallClockTime(600).ok());
  // Advances stream time to 6 at wall clock 600: the idle time starts again.
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 6).ok());
  ASSERT_TRUE(d->PipeRaw("in", "b", "x", 3).ok());  // does not advance it
  ASSERT_TRUE(d->AdvanceWallClockTime(999).ok());   // idle for 999 ms
  EXPECT_TRUE(ReadOut(out).empty());
  // Idle for 1000 ms: stream time becomes 6 + 1000, past [0, 10)'s end: both keys' results.
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());
  EXPECT_EQ(ReadOut(out),
            (std::vector<std::tuple<S, int64_t, int64_t>>{{"a@0", 2, 6}, {"b@0", 1, 3}}));
  // The window has closed: a record for it is late, and nothing is emitted twice.
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 9).ok());
  EXPECT_EQ(d->metrics().dropped_late_records, 1);
  ASSERT_TRUE(d->AdvanceWallClockTime(5000).ok());
  EXPECT_TRUE(ReadOut(out).empty());
  // Stream time went on with the wall clock (6 + 6000 = 6006 ms): a record at 5995 is in a window
  // that has closed; one at 7000 advances stream time and closes its window once idle again.
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 5995).ok());
  EXPECT_EQ(d->metrics().dropped_late_records, 2);
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 7000).ok());
  ASSERT_TRUE(d->AdvanceWallClockTime(999).ok());
  EXPECT_TRUE(ReadOut(out).empty());
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());  // stream time 7000 + 1000
  EXPECT_EQ(ReadOut(out), (std::vector<std::tuple<S, int64_t, int64_t>>{{"a@7000", 1, 7000}}));
}

// Idle is the input's idleness, not the task's: while the application has not read its input to
// the end (paused, restoring, a failover), stream time follows the wall clock only up to when it
// last had. (It followed the wall clock regardless: after a pause longer than the idle close, the
// records that arrived meanwhile were late once read.)
TEST(IdleCloseTest, StreamTimeFollowsTheWallClockOnlyAsFarAsTheInputWasRead) {
  int64_t caught_up_at = 0;
  auto driver = SuppressedCount(1000, [&] { return caught_up_at; });
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Out out(d, "out", serdes::String(), serdes::Int64());
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 5).ok());  // stream time 5 at wall clock 0
  // The application stops reading at wall clock 0 (caught up then) for 60 s.
  caught_up_at = -1;
  ASSERT_TRUE(d->AdvanceWallClockTime(60'000).ok());
  EXPECT_TRUE(ReadOut(out).empty()) << "records may be waiting: not idle";
  // It reads again and finds it had read everything as of wall clock 500: idle for only 500 ms.
  caught_up_at = 500;
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());
  EXPECT_TRUE(ReadOut(out).empty());
  // A record that arrived during the pause is on time: stream time did not run ahead.
  ASSERT_TRUE(d->PipeRaw("in", "a", "x", 8).ok());
  EXPECT_EQ(d->metrics().dropped_late_records, 0);
  // Read to the end as of now (stream time 8 since wall clock 60,001): idle for 1000 ms closes
  // the window, stream time 8 + 1000.
  caught_up_at = 61'001;
  ASSERT_TRUE(d->AdvanceWallClockTime(1000).ok());
  EXPECT_EQ(ReadOut(out), (std::vector<std::tuple<S, int64_t, int64_t>>{{"a@0", 2, 8}}));
}

TEST(IdleCloseTest, ANegativeIdleCloseIsAnOptionsError) {
  auto driver = SuppressedCount(-1);
  ASSERT_FALSE(driver.ok());
  EXPECT_NE(driver.status().message().find("window_idle_close_ms is -1"), std::string::npos)
      << driver.status();
}

TEST(IdleCloseTest, AnIdleOuterJoinEmitsItsUnmatchedRecords) {
  StreamsBuilder builder;
  KStream<S, S> left = builder.Stream<S, S>("left");
  KStream<S, S> right = builder.Stream<S, S>("right");
  left.OuterJoin(
          right,
          [](const std::optional<S>& l, const std::optional<S>& r) {
            return l.value_or("-") + "+" + r.value_or("-");
          },
          JoinWindows::OfTimeDifferenceAndGrace(10, 5),
          StreamJoined<S, S, S>::As("j").WithStoreType(StoreType::kInMemory))
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  TestDriverOptions options;
  options.window_idle_close_ms = 100;
  auto driver = TopologyTestDriver::Create(*topology, options);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();

  ASSERT_TRUE(d->PipeRaw("left", "k", "l1", 50).ok());
  ASSERT_TRUE(d->AdvanceWallClockTime(99).ok());
  EXPECT_TRUE(d->Records("out").empty());
  // Stream time 50 + 100 > 50 + 10 + 5: the left record's window has closed.
  ASSERT_TRUE(d->AdvanceWallClockTime(1).ok());
  TestOutputTopic<S, S> out(d, "out", serdes::String(), serdes::String());
  EXPECT_EQ(*out.ReadKeyValuesToList(), (std::vector<std::pair<S, S>>{{"k", "l1+-"}}));
}

}  // namespace
}  // namespace runnel::streams
