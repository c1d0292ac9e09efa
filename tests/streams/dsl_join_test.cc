// Joins through the driver: windowed KStream-KStream joins (inner, left, outer) with window
// edges, out-of-order and late records and the rule that a left or outer join emits an unmatched
// record only once its window has closed, and never one that is later joined; KStream-KTable
// joins with table updates and tombstones; co-partitioning checked when the driver (like the
// runtime) plans partitions; join state restored from the changelogs. Every expected output was
// worked out record by record from the rules in streams/internal/join_processors.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"
#include "tests/streams/driver_test_util.h"

namespace runnel::streams {
namespace {

using S = std::string;
// (key, value, timestamp) of an output record; key "<null>" for a record without a key.
using Out = std::tuple<S, S, int64_t>;

using testing::Driver;

// Reads "out" from where the last Read stopped.
class Output {
 public:
  explicit Output(TopologyTestDriver* driver)
      : topic_(driver, "out", serdes::String(), serdes::String()) {}
  std::vector<Out> Read() {
    auto records = topic_.ReadRecordsToList();
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<Out> all;
    if (!records.ok()) return all;
    for (auto& r : *records) {
      all.emplace_back(r.key_null ? "<null>" : r.key, r.value.value_or("<tombstone>"), r.timestamp);
    }
    return all;
  }

 private:
  TestOutputTopic<S, S> topic_;
};

S Or(const std::optional<S>& v) { return v.value_or("null"); }

void Pipe(TopologyTestDriver* driver, const S& topic, const S& key, const S& value, int64_t ts) {
  ASSERT_TRUE(driver->PipeRaw(topic, key, value, ts).ok()) << topic << " " << key << "@" << ts;
}

// left.Join(right) (or LeftJoin / OuterJoin) -> "out", values joined as "<left>+<right>".
enum class Kind { kInner, kLeft, kOuter };
std::unique_ptr<TopologyTestDriver> StreamJoin(Kind kind, const JoinWindows& windows,
                                               StreamJoined<S, S, S> joined = {},
                                               TestDriverOptions options = {}) {
  StreamsBuilder builder;
  KStream<S, S> left = builder.Stream<S, S>("left");
  KStream<S, S> right = builder.Stream<S, S>("right");
  switch (kind) {
    case Kind::kInner:
      left.Join(
              right, [](const S& l, const S& r) { return l + "+" + r; }, windows, joined)
          .To("out");
      break;
    case Kind::kLeft:
      left.LeftJoin(
              right, [](const S& l, const std::optional<S>& r) { return l + "+" + Or(r); }, windows,
              joined)
          .To("out");
      break;
    case Kind::kOuter:
      left.OuterJoin(
              right,
              [](const std::optional<S>& l, const std::optional<S>& r) {
                return Or(l) + "+" + Or(r);
              },
              windows, joined)
          .To("out");
      break;
  }
  return Driver(builder, std::move(options));
}

TEST(DslJoinTest, InnerJoinPairsRecordsUpToTheTimeDifferenceBothWaysAndNoFurther) {
  auto driver = StreamJoin(Kind::kInner, JoinWindows::OfTimeDifferenceAndGrace(10, 100));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "L0", 100);
  Pipe(driver.get(), "right", "a", "R1", 110);  // exactly at the upper edge: joins
  Pipe(driver.get(), "right", "a", "R2", 111);  // one past it: does not
  Pipe(driver.get(), "right", "a", "R3", 90);   // out of order, exactly at the lower edge
  Pipe(driver.get(), "right", "a", "R4", 89);   // one below it
  Pipe(driver.get(), "right", "b", "Rb", 100);  // another key
  Pipe(driver.get(), "left", "a", "L5", 101);   // window [91, 111]: R1 and R2
  EXPECT_EQ(
      out.Read(),
      (std::vector<Out>{
          {"a", "L0+R1", 110}, {"a", "L0+R3", 100}, {"a", "L5+R1", 110}, {"a", "L5+R2", 111}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 0);
}

TEST(DslJoinTest, BeforeAndAfterBoundTheJoinWindowOnEachSide) {
  // A right record joins a left one at t when t <= t' <= t + 20.
  auto driver = StreamJoin(Kind::kInner, JoinWindows::OfTimeDifferenceAndGrace(0, 100).After(20));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A", 100);
  Pipe(driver.get(), "right", "a", "X", 99);
  Pipe(driver.get(), "right", "a", "Y", 120);
  Pipe(driver.get(), "right", "a", "Z", 121);
  Pipe(driver.get(), "right", "a", "W", 100);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+Y", 120}, {"a", "A+W", 100}}));
}

TEST(DslJoinTest, DuplicateKeyAndTimestampRecordsAllJoin) {
  auto driver = StreamJoin(Kind::kInner, JoinWindows::OfTimeDifferenceWithNoGrace(5));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A1", 100);
  Pipe(driver.get(), "left", "a", "A2", 100);
  Pipe(driver.get(), "right", "a", "X", 102);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A1+X", 102}, {"a", "A2+X", 102}}));
}

// An inner join pairs every two records within the window that are both admitted, even when one
// of them has closed its own window meanwhile (as Kafka Streams does; only a partner on an outer
// side, which was emitted unmatched, is skipped: the LeftJoin/OuterJoin tests).
TEST(DslJoinTest, LateRecordsAreDroppedAndAnInnerJoinPairsWhatIsAdmitted) {
  // Grace 5: a left record at t is admitted while stream time <= t + 10 + 5.
  auto driver = StreamJoin(Kind::kInner, JoinWindows::OfTimeDifferenceAndGrace(10, 5));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A", 100);
  Pipe(driver.get(), "right", "z", "Z", 120);  // stream time 120
  Pipe(driver.get(), "right", "a", "X", 95);   // 95 + 15 < 120: late
  Pipe(driver.get(), "right", "a", "Y", 106);  // admitted (106 + 15 > 120); joins A
  Pipe(driver.get(), "left", "a", "B", 111);   // joins Y
  Pipe(driver.get(), "left", "a", "C", 105);   // 105 + 15 == 120: still admitted; joins Y
  Pipe(driver.get(), "left", "a", "D", 104);   // 104 + 15 < 120: late
  EXPECT_EQ(out.Read(),
            (std::vector<Out>{{"a", "A+Y", 106}, {"a", "B+Y", 111}, {"a", "C+Y", 106}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 2);
}

// Beyond Kafka Streams: StreamJoined::WithLateRecordsTo writes each side's late records to its
// own topic (with that side's serdes); admitted records do not go there.
TEST(DslJoinTest, LateRecordsOfEachSideAreWrittenToThatSidesLateRecordsTopic) {
  for (Kind kind : {Kind::kInner, Kind::kLeft, Kind::kOuter}) {
    auto driver =
        StreamJoin(kind, JoinWindows::OfTimeDifferenceAndGrace(10, 5),
                   StreamJoined<S, S, S>::As("j").WithLateRecordsTo("late-left", "late-right"));
    ASSERT_NE(driver, nullptr);
    Pipe(driver.get(), "left", "a", "A", 100);
    Pipe(driver.get(), "right", "z", "Z", 120);  // stream time 120
    Pipe(driver.get(), "right", "a", "X", 95);   // 95 + 15 < 120: late
    Pipe(driver.get(), "right", "a", "Y", 106);  // admitted
    Pipe(driver.get(), "left", "a", "C", 105);   // 105 + 15 == 120: admitted
    Pipe(driver.get(), "left", "b", "D", 104);   // 104 + 15 < 120: late
    EXPECT_EQ(driver->metrics().dropped_late_records, 2);
    auto read = [&](const S& topic) {
      TestOutputTopic<S, S> t(driver.get(), topic, serdes::String(), serdes::String());
      std::vector<Out> got;
      auto records = t.ReadRecordsToList();
      EXPECT_TRUE(records.ok()) << records.status();
      if (!records.ok()) return got;
      for (auto& r : *records) got.push_back({r.key, r.value.value_or("<null>"), r.timestamp});
      return got;
    };
    EXPECT_EQ(read("late-left"), (std::vector<Out>{{"b", "D", 104}})) << static_cast<int>(kind);
    EXPECT_EQ(read("late-right"), (std::vector<Out>{{"a", "X", 95}})) << static_cast<int>(kind);
  }
}

TEST(DslJoinTest, LeftJoinEmitsUnmatchedRecordsOnlyAfterTheirWindowClosesAndNeverAJoinedOne) {
  auto driver = StreamJoin(Kind::kLeft, JoinWindows::OfTimeDifferenceAndGrace(10, 5));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A", 100);   // waits: closes once stream time > 115
  Pipe(driver.get(), "left", "b", "B", 105);   // waits: closes once stream time > 120
  Pipe(driver.get(), "right", "a", "X", 108);  // joins A, which then no longer waits
  Pipe(driver.get(), "right", "c", "Y", 112);  // a right record alone emits nothing
  Pipe(driver.get(), "left", "c", "C", 114);   // joins Y
  Pipe(driver.get(), "right", "z", "Z", 120);  // stream time 120: B's window is still open
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+X", 108}, {"c", "C+Y", 114}}));
  Pipe(driver.get(), "left", "d", "D", 121);  // stream time 121: B is emitted unmatched
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"b", "B+null", 105}}));
  // Out of order but admitted (110 + 10 + 5 >= 121); B's window closed, so it is not joined:
  // B was emitted unmatched and stays so.
  Pipe(driver.get(), "right", "b", "late", 110);
  Pipe(driver.get(), "right", "a", "X2", 95);  // 95 + 15 < 121: late
  EXPECT_EQ(out.Read(), (std::vector<Out>{}));
  Pipe(driver.get(), "left", "e", "E", 200);  // closes D's window
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"d", "D+null", 121}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
}

TEST(DslJoinTest, OuterJoinEmitsUnmatchedRecordsOfBothSidesInTimestampOrder) {
  auto driver = StreamJoin(Kind::kOuter, JoinWindows::OfTimeDifferenceWithNoGrace(10));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A", 100);   // waits until stream time > 110
  Pipe(driver.get(), "right", "b", "B", 103);  // waits until stream time > 113
  Pipe(driver.get(), "right", "a", "X", 105);  // joins A
  Pipe(driver.get(), "left", "c", "C", 110);   // waits until > 120
  Pipe(driver.get(), "left", "d", "D", 111);   // waits until > 121
  Pipe(driver.get(), "right", "e", "E", 114);  // 114 > 113: B is emitted; E waits until > 124
  Pipe(driver.get(), "left", "c", "C2", 121);  // C is emitted; D (closes at 121) is not yet
  Pipe(driver.get(), "right", "f", "F", 122);  // D is emitted
  EXPECT_EQ(
      out.Read(),
      (std::vector<Out>{
          {"a", "A+X", 105}, {"b", "null+B", 103}, {"c", "C+null", 110}, {"d", "D+null", 111}}));
  Pipe(driver.get(), "right", "x", "x", 200);  // closes every window: by timestamp, left first
  EXPECT_EQ(out.Read(),
            (std::vector<Out>{{"e", "null+E", 114}, {"c", "C2+null", 121}, {"f", "null+F", 122}}));
}

TEST(DslJoinTest, AnAsymmetricWindowClosesEachSideAfterItsOwnLookahead) {
  // before 0, after 10: a left record at t waits until stream time > t + 10, a right one at t'
  // until stream time > t' + 0.
  auto driver = StreamJoin(Kind::kOuter, JoinWindows::OfTimeDifferenceWithNoGrace(0).After(10));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "A", 100);
  Pipe(driver.get(), "right", "b", "B", 100);
  EXPECT_EQ(out.Read(), (std::vector<Out>{}));
  Pipe(driver.get(), "right", "z", "Z", 101);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"b", "null+B", 100}}));
  Pipe(driver.get(), "left", "y", "Y", 110);  // A's window closes at 110: still waits
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"z", "null+Z", 101}}));
  Pipe(driver.get(), "left", "x", "X", 111);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+null", 100}}));
}

TEST(DslJoinTest, AStreamJoinedWithItselfPairsEachRecordWithItselfAndTheOthers) {
  // As in Kafka Streams: the left side runs first, then the right side finds the record itself
  // in the left store.
  StreamsBuilder builder;
  KStream<S, S> in = builder.Stream<S, S>("left");
  in.Join(
        in, [](const S& l, const S& r) { return l + "+" + r; },
        JoinWindows::OfTimeDifferenceWithNoGrace(10))
      .To("out");
  auto driver = Driver(builder);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  Pipe(driver.get(), "left", "a", "v", 100);
  Pipe(driver.get(), "left", "a", "w", 105);
  EXPECT_EQ(out.Read(),
            (std::vector<Out>{
                {"a", "v+v", 100}, {"a", "w+v", 105}, {"a", "v+w", 105}, {"a", "w+w", 105}}));
}

TEST(DslJoinTest, NullKeysAndValuesInStreamJoins) {
  // Left join: a keyless left record is emitted at once, unmatched (KIP-962); a keyless right
  // record and any tombstone are dropped and counted.
  auto driver = StreamJoin(Kind::kLeft, JoinWindows::OfTimeDifferenceWithNoGrace(10));
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  ASSERT_TRUE(driver->PipeRaw("left", std::nullopt, "K", 100).ok());
  ASSERT_TRUE(driver->PipeRaw("right", std::nullopt, "R", 100).ok());
  ASSERT_TRUE(driver->PipeRaw("left", "a", std::nullopt, 100).ok());
  ASSERT_TRUE(driver->PipeRaw("right", "a", std::nullopt, 100).ok());
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"<null>", "K+null", 100}}));
  EXPECT_EQ(driver->metrics().dropped_records, 3);
}

TEST(DslJoinTest, JoinStateIsRestoredFromTheChangelogs) {
  for (StoreType type : {StoreType::kRocksDb, StoreType::kInMemory}) {
    SCOPED_TRACE(type == StoreType::kRocksDb ? "rocksdb" : "in memory");
    auto driver = StreamJoin(Kind::kLeft, JoinWindows::OfTimeDifferenceWithNoGrace(10),
                             StreamJoined<S, S, S>::As("j").WithStoreType(type));
    ASSERT_NE(driver, nullptr);
    Output out(driver.get());
    Pipe(driver.get(), "left", "a", "A", 100);
    Pipe(driver.get(), "left", "b", "B", 100);
    Pipe(driver.get(), "right", "z", "Z", 105);
    EXPECT_EQ(driver->Records("test-app-j-this-join-store-changelog").size(), 2u);
    EXPECT_EQ(driver->Records("test-app-j-other-join-store-changelog").size(), 1u);
    EXPECT_EQ(driver->Records("test-app-j-outer-shared-join-store-changelog").size(), 2u);
    ASSERT_TRUE(driver->RestartTasks().ok());
    // Stream time is back at 105 (the latest record in the stores): 94 + 10 < 105 is late.
    Pipe(driver.get(), "left", "e", "E", 94);
    EXPECT_EQ(driver->metrics().dropped_late_records, 1);
    Pipe(driver.get(), "right", "a", "X", 108);  // A came back from the left store
    Pipe(driver.get(), "left", "c", "C", 111);   // B came back from the outer store: emitted
    EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+X", 108}, {"b", "B+null", 100}}));
  }
}

// As SuppressLogsAnEmittedWindowsRemovalOnlyAfterTheCommit (dsl_window_test.cc) for the records
// a left join emits unmatched when their window closes: a crash before the commit must find them
// still waiting in the restored outer store, so that the replayed input emits them again.
TEST(DslJoinTest, AnUnmatchedRecordsRemovalIsLoggedOnlyAfterTheCommit) {
  TestDriverOptions options;
  options.commit_every_record = false;  // commits when the wall clock passes 30 s
  auto driver = StreamJoin(Kind::kLeft, JoinWindows::OfTimeDifferenceWithNoGrace(10),
                           StreamJoined<S, S, S>::As("j"), options);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  const auto tombstones = [&] {
    int n = 0;
    for (const TestRecord& r : driver->Records("test-app-j-outer-shared-join-store-changelog")) {
      n += r.value.has_value() ? 0 : 1;
    }
    return n;
  };
  Pipe(driver.get(), "left", "a", "A", 100);
  ASSERT_TRUE(driver->AdvanceWallClockTime(30000).ok());  // committed: A waits
  Pipe(driver.get(), "left", "c", "C", 111);              // A's window closed: emitted
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+null", 100}}));
  EXPECT_EQ(tombstones(), 0) << "the removal was logged before the emission was committed";

  // The crash; the record at 111 comes again from the committed offset.
  ASSERT_TRUE(driver->RestartTasks().ok());
  Pipe(driver.get(), "left", "c", "C", 111);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "A+null", 100}}))
      << "the record emitted before the crash was lost";

  // Committed now: the removal is logged, and a second crash emits nothing again.
  ASSERT_TRUE(driver->AdvanceWallClockTime(30000).ok());
  EXPECT_EQ(tombstones(), 1);
  ASSERT_TRUE(driver->RestartTasks().ok());
  Pipe(driver.get(), "left", "d", "D", 112);
  EXPECT_EQ(out.Read(), (std::vector<Out>{}));
}

TEST(DslJoinTest, JoinStoreValueListsAndOuterKeysHaveTheDocumentedLayout) {
  // docs/FORMAT.md section 22, "Join stores": the bytes written by hand.
  std::string list;
  internal::AppendJoinValue(&list, "A");
  internal::AppendJoinValue(&list, "BC");
  EXPECT_EQ(list, std::string("\0\0\0\x01"
                              "A"
                              "\0\0\0\x02"
                              "BC",
                              11));
  auto values = internal::SplitJoinValues(list);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(*values, (std::vector<std::string_view>{"A", "BC"}));
  EXPECT_EQ(internal::SplitJoinValues(list.substr(0, 10)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(internal::SplitJoinValues(list.substr(0, 7)).status().code(),
            absl::StatusCode::kDataLoss);

  const std::string key = internal::OuterJoinKey(5, false, "k");
  EXPECT_EQ(key, std::string("\x80\0\0\0\0\0\0\x05\x01k", 10));
  auto parts = internal::SplitOuterJoinKey(key);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->timestamp, 5);
  EXPECT_FALSE(parts->left);
  EXPECT_EQ(parts->key, "k");
  EXPECT_LT(internal::OuterJoinKey(5, true, "z"), internal::OuterJoinKey(5, false, "a"));
  EXPECT_LT(internal::OuterJoinKey(5, false, "z"), internal::OuterJoinKey(6, true, "a"));
  EXPECT_EQ(
      internal::SplitOuterJoinKey(std::string("\x80\0\0\0\0\0\0\x05\x02k", 10)).status().code(),
      absl::StatusCode::kDataLoss);

  // What a join writes to its changelogs.
  auto driver = StreamJoin(Kind::kLeft, JoinWindows::OfTimeDifferenceWithNoGrace(10),
                           StreamJoined<S, S, S>::As("j").WithStoreType(StoreType::kInMemory));
  ASSERT_NE(driver, nullptr);
  Pipe(driver.get(), "left", "a", "A", 5);
  Pipe(driver.get(), "left", "a", "BC", 5);
  const std::vector<TestRecord>& window = driver->Records("test-app-j-this-join-store-changelog");
  ASSERT_EQ(window.size(), 2u);
  EXPECT_EQ(window[1].key, WindowedKey("a", 5));
  EXPECT_EQ(window[1].value, list);
  const std::vector<TestRecord>& outer =
      driver->Records("test-app-j-outer-shared-join-store-changelog");
  ASSERT_EQ(outer.size(), 2u);
  EXPECT_EQ(outer[1].key, internal::OuterJoinKey(5, true, "a"));
  EXPECT_EQ(outer[1].value, list);
  Pipe(driver.get(), "right", "a", "X", 6);  // joins both: the waiting entry is deleted
  ASSERT_EQ(outer.size(), 3u);
  EXPECT_EQ(outer[2].key, internal::OuterJoinKey(5, true, "a"));
  EXPECT_EQ(outer[2].value, std::nullopt);
  Pipe(driver.get(), "right", "a", "Y", 7);  // joins both again: nothing left to delete
  EXPECT_EQ(outer.size(), 3u);
}

TEST(DslJoinTest, InvalidJoinWindowsFailTheBuild) {
  StreamsBuilder builder;
  builder.Stream<S, S>("left")
      .Join(
          builder.Stream<S, S>("right"), [](const S& l, const S& r) { return l + r; },
          JoinWindows::OfTimeDifferenceWithNoGrace(5).Before(-6))
      .To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_EQ(topology.status().message(),
            "invalid join windows: before -6 ms, after 5 ms, grace 0 ms (need before + after >= "
            "0, grace >= 0)");
}

// stream "clicks" joined with table "users" -> "out", values "<click>/<user>".
std::unique_ptr<TopologyTestDriver> TableJoin(bool left) {
  StreamsBuilder builder;
  KTable<S, S> users = builder.Table<S, S>("users");
  KStream<S, S> clicks = builder.Stream<S, S>("clicks");
  if (left) {
    clicks
        .LeftJoin(users, [](const S& click,
                            const std::optional<S>& user) { return click + "/" + Or(user); })
        .To("out");
  } else {
    clicks.Join(users, [](const S& click, const S& user) { return click + "/" + user; }).To("out");
  }
  return Driver(builder);
}

void PipeTableScenario(TopologyTestDriver* driver) {
  Pipe(driver, "clicks", "a", "c1", 10);  // no row yet
  Pipe(driver, "users", "a", "alice", 5);
  Pipe(driver, "clicks", "a", "c2", 20);
  Pipe(driver, "users", "a", "alice2", 25);  // an update emits nothing
  Pipe(driver, "clicks", "a", "c3", 30);
  ASSERT_TRUE(driver->PipeRaw("users", "a", std::nullopt, 35).ok());  // deletes the row
  Pipe(driver, "clicks", "a", "c4", 40);
  ASSERT_TRUE(driver->PipeRaw("clicks", std::nullopt, "c5", 50).ok());  // no key
  ASSERT_TRUE(driver->PipeRaw("clicks", "a", std::nullopt, 60).ok());   // no value
}

TEST(DslJoinTest, StreamTableInnerJoinUsesTheRowAtProcessingTime) {
  auto driver = TableJoin(false);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  PipeTableScenario(driver.get());
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "c2/alice", 20}, {"a", "c3/alice2", 30}}));
  EXPECT_EQ(driver->metrics().dropped_records, 2);  // the keyless and the valueless click
}

TEST(DslJoinTest, StreamTableLeftJoinKeepsRecordsWithoutARow) {
  auto driver = TableJoin(true);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  PipeTableScenario(driver.get());
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"a", "c1/null", 10},
                                          {"a", "c2/alice", 20},
                                          {"a", "c3/alice2", 30},
                                          {"a", "c4/null", 40},
                                          {"<null>", "c5/null", 50}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);  // the valueless click
}

TEST(DslJoinTest, JoiningTopicsWithDifferentPartitionCountsFailsNamingBoth) {
  StreamsBuilder builder;
  builder.Stream<S, S>("left")
      .Join(
          builder.Stream<S, S>("right"), [](const S& l, const S& r) { return l + r; },
          JoinWindows::OfTimeDifferenceWithNoGrace(5))
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  TestDriverOptions options;
  options.topic_partitions = {{"left", 3}, {"right", 2}};
  auto driver = TopologyTestDriver::Create(*topology, options);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(driver.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(driver.status().message(),
            "topics left (3 partitions) and right (2 partitions) are joined but not "
            "co-partitioned: the two sides of a join need the same number of partitions "
            "(repartition one side, e.g. with KStream::Repartition)");
}

TEST(DslJoinTest, StreamTableJoinChecksCoPartitioningToo) {
  StreamsBuilder builder;
  builder.Stream<S, S>("clicks")
      .Join(builder.Table<S, S>("users"), [](const S& c, const S& u) { return c + u; })
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  TestDriverOptions options;
  options.topic_partitions = {{"clicks", 4}, {"users", 1}};
  auto driver = TopologyTestDriver::Create(*topology, options);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(driver.status().message(),
            "topics clicks (4 partitions) and users (1 partitions) are joined but not "
            "co-partitioned: the two sides of a join need the same number of partitions "
            "(repartition one side, e.g. with KStream::Repartition)");
}

TEST(DslJoinTest, ARepartitionedSideTakesTheOtherSidesPartitionCount) {
  // Explicitly (Repartition) on the left, implicitly (after a key change) on the right.
  StreamsBuilder builder;
  KStream<S, S> left = builder.Stream<S, S>("left").Repartition(Repartitioned<S, S>::As("by-key"));
  KStream<S, S> right = builder.Stream<S, S>("right").SelectKey(
      [](const S&, const S& v) { return v.substr(0, 1); }, "rekey");
  left.Join(
          right, [](const S& l, const S& r) { return l + "+" + r; },
          JoinWindows::OfTimeDifferenceWithNoGrace(10))
      .To("out");
  TestDriverOptions options;
  options.topic_partitions = {{"left", 3}, {"right", 5}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  // Neither side has a user topic left in the join: the group takes its largest count, 5.
  EXPECT_EQ(driver->Partitions("test-app-by-key-repartition"), 5);
  EXPECT_EQ(driver->Partitions("test-app-rekey-repartition"), 5);
  for (const S key : {"a", "b", "c", "d"}) {
    Pipe(driver.get(), "left", key, "L" + key, 100);
    Pipe(driver.get(), "right", "x", key + "R", 101);  // rekeyed to `key`
  }
  std::vector<Out> all = out.Read();
  std::sort(all.begin(), all.end());
  std::vector<Out> expected;
  for (const S key : {"a", "b", "c", "d"}) {
    expected.emplace_back(key, "L" + key + "+" + key + "R", 101);
  }
  EXPECT_EQ(all, expected);
}

TEST(DslJoinTest, AKeyChangeBeforeAJoinWithAUserTopicRepartitionsToItsCount) {
  StreamsBuilder builder;
  builder.Stream<S, S>("clicks")
      .SelectKey([](const S&, const S& v) { return v.substr(0, 1); }, "rekey")
      .LeftJoin(builder.Table<S, S>("users"),
                [](const S& c, const std::optional<S>& u) { return c + "/" + Or(u); })
      .To("out");
  TestDriverOptions options;
  options.topic_partitions = {{"clicks", 1}, {"users", 3}};
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  Output out(driver.get());
  EXPECT_EQ(driver->Partitions("test-app-rekey-repartition"), 3);
  Pipe(driver.get(), "users", "b", "bob", 1);
  Pipe(driver.get(), "clicks", "x", "b-click", 2);
  Pipe(driver.get(), "clicks", "x", "c-click", 3);
  EXPECT_EQ(out.Read(), (std::vector<Out>{{"b", "b-click/bob", 2}, {"c", "c-click/null", 3}}));
}

}  // namespace
}  // namespace runnel::streams
