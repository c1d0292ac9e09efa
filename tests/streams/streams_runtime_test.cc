// The Streams runtime in this process against a real runneld: configuration errors name the key,
// Start refuses missing source topics, internal topics of the wrong size and sources that are not
// co-partitioned, the state listener sees Kafka's lifecycle, records are processed and committed,
// and a record that cannot be deserialized stops the application in ERROR, naming where it is,
// without committing past it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "streams/streams.h"
#include "streams/streams_builder.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/group_broker_fixture.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::streams {

// The clock is borrowed for the application's whole life: a temporary one does not compile.
static_assert(std::is_constructible_v<Streams, const Topology&, StreamsConfig, ManualClock&>);
static_assert(!std::is_constructible_v<Streams, const Topology&, StreamsConfig, ManualClock>);
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;
using testing::WaitFor;
using S = std::string;

TEST(StreamsConfigTest, ErrorsNameTheKey) {
  auto unknown = StreamsConfig::FromProperties({{"application.id", "a"}, {"applicaton.id", "b"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("applicaton.id"), std::string::npos)
      << unknown.status();

  auto missing = StreamsConfig::FromProperties({{"bootstrap.servers", "127.0.0.1:1"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("application.id"), std::string::npos);

  auto bad_name = StreamsConfig::FromProperties({{"application.id", "a b"}});
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("'a b'"), std::string::npos) << bad_name.status();

  auto threads =
      StreamsConfig::FromProperties({{"application.id", "a"}, {"num.stream.threads", "0"}});
  ASSERT_FALSE(threads.ok());
  EXPECT_NE(threads.status().message().find("num.stream.threads"), std::string::npos);

  auto not_a_number =
      StreamsConfig::FromProperties({{"application.id", "a"}, {"commit.interval.ms", "soon"}});
  ASSERT_FALSE(not_a_number.ok());
  EXPECT_NE(not_a_number.status().message().find("commit.interval.ms"), std::string::npos);

  auto eos = StreamsConfig::FromProperties(
      {{"application.id", "a"}, {"processing.guarantee", "exactly_once_v2"}});
  ASSERT_FALSE(eos.ok());
  EXPECT_NE(eos.status().message().find("processing.guarantee"), std::string::npos);

  auto owned = StreamsConfig::FromProperties({{"application.id", "a"}, {"consumer.group.id", "x"}});
  ASSERT_FALSE(owned.ok());
  EXPECT_NE(owned.status().message().find("consumer.group.id"), std::string::npos);

  auto assignor = StreamsConfig::FromProperties(
      {{"application.id", "a"}, {"consumer.group.remote.assignor", "range"}});
  ASSERT_FALSE(assignor.ok());
  EXPECT_NE(assignor.status().message().find("consumer.group.remote.assignor"), std::string::npos);

  auto ok = StreamsConfig::FromProperties({{"application.id", "a"},
                                           {"num.stream.threads", "3"},
                                           {"consumer.max.poll.records", "100"},
                                           {"producer.linger.ms", "1"},
                                           {"cache.max.bytes.buffering", "1024"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->num_stream_threads, 3);
  EXPECT_EQ(ok->cache_max_bytes, 1024) << "Kafka's older name of statestore.cache.max.bytes";
  EXPECT_EQ(ok->consumer_properties.at("max.poll.records"), "100");
  EXPECT_EQ(ok->producer_properties.at("linger.ms"), "1");
}

TEST(StreamsLifecycleTest, StartAfterCloseIsRefused) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  auto config = StreamsConfig::FromProperties({{"application.id", "a"}});
  ASSERT_TRUE(config.ok()) << config.status();
  Streams streams(*topology, *config);
  streams.Close();
  EXPECT_EQ(streams.state(), Streams::State::kNotRunning);
  const absl::Status s = streams.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s;
}

class StreamsRuntimeTest : public testing::GroupBrokerFixture {
 protected:
  StreamsConfig Config(const std::string& app, int threads = 1) {
    auto config = StreamsConfig::FromProperties({{"application.id", app},
                                                 {"bootstrap.servers", broker_->address()},
                                                 {"num.stream.threads", std::to_string(threads)},
                                                 {"commit.interval.ms", "100"},
                                                 {"state.dir", dir_.Sub("state")}});
    EXPECT_TRUE(config.ok()) << config.status();
    return *config;
  }

  void Produce(const std::string& topic, const std::vector<std::pair<S, S>>& records) {
    auto producer = client::Producer::Create(
        client::Properties{{"bootstrap.servers", broker_->address()}, {"linger.ms", "1"}});
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::vector<std::future<absl::StatusOr<client::RecordMetadata>>> sent;
    for (const auto& [k, v] : records) {
      sent.push_back((*producer)->Send(client::ProducerRecord{
          .topic = topic, .partition = {}, .key = k, .value = v, .timestamp = -1, .headers = {}}));
    }
    for (auto& f : sent) ASSERT_TRUE(f.get().ok());
    (*producer)->Close();
  }

  // key -> latest value of everything in `topic` up to its end offsets now (bounded: 20 s).
  std::map<S, S> ReadToEnd(const std::string& topic) { return Read(topic, 0, /*to_end=*/true); }

  // key -> value of everything in `topic` (one partition's worth is enough here).
  std::map<S, S> ReadAll(const std::string& topic, size_t expect) {
    return Read(topic, expect, /*to_end=*/false);
  }

  // key -> latest value read from `topic`'s start, until `expect` keys are seen or, `to_end`,
  // until every partition is read to the end offset it had when the read began; at most 100 polls
  // of 200 ms.
  std::map<S, S> Read(const std::string& topic, size_t expect, bool to_end) {
    std::map<S, S> out;
    auto consumer = client::Consumer::Create(client::Properties{
        {"bootstrap.servers", broker_->address()}, {"auto.offset.reset", "earliest"}});
    if (!consumer.ok()) return out;
    auto d = admin_->DescribeTopic(topic);
    if (!d.ok()) return out;
    std::vector<client::TopicPartition> partitions;
    for (const auto& p : d->partitions) partitions.push_back({topic, p.partition});
    std::map<client::TopicPartition, int64_t> ends;
    if (to_end) {
      auto found = (*consumer)->EndOffsets(partitions);
      if (!found.ok()) return out;
      ends = *std::move(found);
    }
    if (!(*consumer)->Assign(partitions).ok()) return out;
    const auto done = [&] {
      if (!to_end) return out.size() >= expect;
      for (const auto& [tp, end] : ends) {
        auto position = (*consumer)->Position(tp);
        if (!position.ok() || *position < end) return false;
      }
      return true;
    };
    for (int i = 0; i < 100 && !done(); ++i) {
      auto records = (*consumer)->Poll(200);
      if (!records.ok()) break;
      for (const auto& r : *records) out[S(r.key.value_or(""))] = S(r.value.value_or(""));
    }
    (*consumer)->Close();
    return out;
  }
};

Topology Uppercase(const std::string& in, const std::string& out) {
  StreamsBuilder builder;
  builder.Stream<S, S>(in).MapValues([](const S& v) { return absl::AsciiStrToUpper(v); }).To(out);
  auto t = builder.Build();
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

TEST_F(StreamsRuntimeTest, AMissingSourceTopicFailsStartNamingIt) {
  Streams streams(Uppercase("nowhere", "out"), Config("app"));
  absl::Status s = streams.Start();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("source topic nowhere"), std::string::npos) << s;
}

TEST_F(StreamsRuntimeTest, AnInternalTopicOfTheWrongSizeIsRefused) {
  CreateTopic("lines", 3);
  CreateTopic("app-counts-changelog", 5);
  StreamsBuilder builder;
  builder.Stream<S, S>("lines").GroupByKey().Count(Materialized<S, int64_t>::As("counts"));
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  Streams streams(*topology, Config("app"));
  absl::Status s = streams.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("app-counts-changelog has 5 partitions, the topology needs 3"),
            std::string::npos)
      << s;
}

TEST_F(StreamsRuntimeTest, SourcesOfOneSubtopologyMustBeCoPartitioned) {
  CreateTopic("a", 2);
  CreateTopic("b", 3);
  StreamsBuilder builder;
  builder.Stream<S, S>(std::vector<std::string>{"a", "b"}).To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  Streams streams(*topology, Config("app"));
  absl::Status s = streams.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("a (2), b (3)"), std::string::npos) << s;
}

TEST_F(StreamsRuntimeTest, RunsThroughKafkasLifecycleAndCommitsWhatItProcessed) {
  CreateTopic("in", 4);
  CreateTopic("out", 4);
  Streams streams(Uppercase("in", "out"), Config("upper", 2));
  Mutex mu;
  std::vector<Streams::State> seen;
  streams.SetStateListener([&](Streams::State now, Streams::State) {
    MutexLock lock(&mu);
    seen.push_back(now);
  });
  ASSERT_TRUE(streams.Start().ok());
  EXPECT_FALSE(streams.Start().ok()) << "a second Start is refused";
  ASSERT_TRUE(
      WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
  std::vector<std::pair<S, S>> records;
  std::map<S, S> expected;
  for (int i = 0; i < 200; ++i) {
    records.emplace_back("k" + std::to_string(i), "value " + std::to_string(i));
    expected["k" + std::to_string(i)] = "VALUE " + std::to_string(i);
  }
  Produce("in", records);
  EXPECT_EQ(ReadAll("out", expected.size()), expected);
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 200; }, milliseconds(10000)))
      << streams.metrics().processed;
  EXPECT_EQ(streams.metrics().active_tasks, (std::vector<std::string>{"0_0", "0_1", "0_2", "0_3"}));
  streams.Close();
  EXPECT_EQ(streams.state(), Streams::State::kNotRunning);
  // Close committed everything and left the group: no member, no lag.
  auto rows = admin_->DescribeGroup("upper");
  ASSERT_TRUE(rows.ok()) << rows.status();
  int64_t committed = 0;
  for (const client::GroupPartition& row : *rows) {
    EXPECT_EQ(row.member_id, "");
    if (row.topic == "in") {
      EXPECT_EQ(row.committed == -1 ? 0 : row.committed, row.end_offset) << row.partition;
      committed += std::max<int64_t>(row.committed, 0);
    }
  }
  EXPECT_EQ(committed, 200);
  MutexLock lock(&mu);
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen.front(), Streams::State::kRebalancing);
  EXPECT_NE(std::find(seen.begin(), seen.end(), Streams::State::kRunning), seen.end());
  EXPECT_EQ(seen[seen.size() - 2], Streams::State::kPendingShutdown);
  EXPECT_EQ(seen.back(), Streams::State::kNotRunning);
}

// commit.interval.ms is timed by the Clock given to Streams (Kafka Streams' Time): while a
// ManualClock stands short of the interval nothing is committed however long processing takes in
// real time, and the commit comes once the clock reaches it, to the millisecond.
TEST_F(StreamsRuntimeTest, CommitsWhenItsClockPassesCommitIntervalMs) {
  CreateTopic("in", 1);
  CreateTopic("out", 1);
  ManualClock clock;
  StreamsConfig config = Config("clocked");
  config.commit_interval_ms = 30000;
  Streams streams(Uppercase("in", "out"), config, clock);
  ASSERT_TRUE(streams.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
  Produce("in", {{"a", "x"}, {"b", "y"}});
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 2; }, milliseconds(10000)));
  clock.AdvanceMs(config.commit_interval_ms - 1);
  Produce("in", {{"c", "z"}});
  // A thread's round processes, then looks at the clock for a commit, then publishes its metrics:
  // the round that shows "c" processed saw the clock 1 ms short of the interval.
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 3; }, milliseconds(10000)));
  EXPECT_EQ(streams.metrics().commits, 0) << "committed before commit.interval.ms passed";
  clock.AdvanceMs(1);
  // The thread polls every 100 ms of real time (its consumer keeps the real clock); bounded at
  // 10 s.
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().commits == 1; }, milliseconds(10000)))
      << streams.metrics().commits;
  auto rows = admin_->DescribeGroup("clocked");
  ASSERT_TRUE(rows.ok()) << rows.status();
  bool found = false;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic != "in") continue;
    found = true;
    EXPECT_EQ(row.committed, 3) << "everything processed is committed";
  }
  EXPECT_TRUE(found);
  streams.Close();
}

// idle-in -> per key, counts in tumbling windows of 1 s without grace, suppressed until they close
// -> idle-out (key -> count).
Topology IdleWindowCounts() {
  StreamsBuilder builder;
  builder.Stream<S, S>("idle-in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(1000))
      .Count(Materialized<S, int64_t>::As("idle-counts").WithStoreType(StoreType::kInMemory))
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .Map([](const Windowed<S>& k, int64_t v) { return std::make_pair(k.key, std::to_string(v)); })
      .To("idle-out");
  auto t = builder.Build();
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// window.idle.close.ms in the runtime: once the consumer has read the input to its end, an idle
// task's stream time follows the (application's) wall clock and closes a suppressed window; the
// consumer's fetches, on the real clock, tell the task how far its input is read.
TEST_F(StreamsRuntimeTest, AnIdleInputsSuppressedWindowClosesOnTheWallClock) {
  CreateTopic("idle-in", 1);
  CreateTopic("idle-out", 1);
  const Topology topology = IdleWindowCounts();
  ManualClock clock;
  StreamsConfig config = Config("idle");
  config.window_idle_close_ms = 1000;
  Streams streams(topology, config, clock);
  ASSERT_TRUE(streams.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
  Produce("idle-in", {{"a", "x"}, {"a", "y"}});
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 2; }, milliseconds(10000)));
  // Idle for 10 s of the application's clock: stream time passes the window's end (its input was
  // read to the end by the consumer's last fetch, at most fetch.max.wait.ms of real time ago).
  clock.AdvanceMs(10000);
  EXPECT_EQ(ReadAll("idle-out", 1), (std::map<S, S>{{"a", "2"}}));
  streams.Close();
}

// The stream time an idle advance reached is committed with the offsets and taken up again by the
// next instance: a record for a window the advance closed is late after a restart too. (A restart
// began without a stream time: the record opened the window again and suppress emitted a second
// result for it.)
TEST_F(StreamsRuntimeTest, AnIdleAdvancedStreamTimeOutlivesARestart) {
  CreateTopic("idle-in", 1);
  CreateTopic("idle-out", 1);
  const Topology topology = IdleWindowCounts();
  StreamsConfig config = Config("idle-restart");
  config.window_idle_close_ms = 1000;
  const int64_t t0 = Clock::Real().NowMs();
  auto produce_at = [&](int64_t timestamp) {
    auto producer =
        client::Producer::Create(client::Properties{{"bootstrap.servers", broker_->address()}});
    ASSERT_TRUE(producer.ok()) << producer.status();
    auto sent = (*producer)->Send(client::ProducerRecord{.topic = "idle-in",
                                                         .partition = {},
                                                         .key = S("a"),
                                                         .value = S("x"),
                                                         .timestamp = timestamp,
                                                         .headers = {}});
    ASSERT_TRUE(sent.get().ok());
    (*producer)->Close();
  };
  {
    ManualClock clock;
    Streams streams(topology, config, clock);
    ASSERT_TRUE(streams.Start().ok());
    ASSERT_TRUE(
        WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
    produce_at(t0);
    ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 1; }, milliseconds(10000)));
    const int64_t commits = streams.metrics().commits;
    clock.AdvanceMs(10000);  // idle: stream time passes the window's end, and a commit is due
    EXPECT_EQ(ReadAll("idle-out", 1), (std::map<S, S>{{"a", "1"}}));
    ASSERT_TRUE(WaitFor([&] { return streams.metrics().commits > commits; }, milliseconds(10000)));
    streams.Close();
  }
  produce_at(t0 + 1);  // the window the idle advance closed
  ManualClock clock;
  Streams streams(topology, config, clock);
  ASSERT_TRUE(streams.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return streams.metrics().dropped_late_records == 1; }, milliseconds(20000)))
      << "processed " << streams.metrics().processed << ", late "
      << streams.metrics().dropped_late_records;
  streams.Close();
}

// A changelog record written after the last commit (by an instance that died before committing:
// its input is processed again from the committed offsets) is not restored: the store comes back
// in its committed state, and the record's key is written back to its committed value, so a
// later restore (after more commits) does not find it either. (Restored to their ends, two stores
// of a task came back out of step after a kill between their changelog writes — a suppressed
// session emitted as final while it went on — and counts counted an event twice.)
TEST_F(StreamsRuntimeTest, AChangelogRecordWrittenAfterTheLastCommitIsNotRestored) {
  CreateTopic("words", 1);
  CreateTopic("word-counts", 1);
  StreamsBuilder builder;
  builder.Stream<S, S>("words")
      .GroupBy([](const S&, const S& v) { return v; })
      .Count(Materialized<S, int64_t>::As("counts").WithStoreType(StoreType::kInMemory))
      .ToStream()
      .MapValues([](int64_t n) { return std::to_string(n); })
      .To("word-counts");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  const StreamsConfig config = Config("uncommitted");
  // The latest count of `word` in the output, once it is one of `wanted` (bounded: 20 s).
  const auto count_of = [&](const S& word, const std::set<S>& wanted) {
    S count;
    WaitFor(
        [&] {
          count = ReadToEnd("word-counts")[word];
          return wanted.contains(count);
        },
        milliseconds(20000));
    return count;
  };
  // Runs an instance that counts `words` (each read twice: from the input and the repartition
  // topic) and closes it, which commits.
  const auto run = [&](const std::vector<std::pair<S, S>>& words) {
    Streams streams(*topology, config);
    ASSERT_TRUE(streams.Start().ok());
    Produce("words", words);
    const int64_t want = 2 * static_cast<int64_t>(words.size());
    ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == want; }, milliseconds(20000)))
        << streams.metrics().processed << " of " << want;
    streams.Close();
  };
  run({{"1", "a"}, {"2", "a"}, {"3", "b"}});
  ASSERT_EQ(count_of("a", {"2"}), "2");
  // What a dead instance might have left: a count of "b" whose input was never committed (a
  // timestamped store value, docs/FORMAT.md section 22: timestamp, then the count).
  {
    auto producer =
        client::Producer::Create(client::Properties{{"bootstrap.servers", broker_->address()}});
    ASSERT_TRUE(producer.ok()) << producer.status();
    auto sent = (*producer)->Send(client::ProducerRecord{
        .topic = "uncommitted-counts-changelog",
        .partition = 0,
        .key = S("b"),
        .value = serdes::Int64().serialize(0) + serdes::Int64().serialize(99),
        .timestamp = -1,
        .headers = {}});
    ASSERT_TRUE(sent.get().ok());
    (*producer)->Close();
  }
  run({{"4", "a"}});  // restores "b" as committed, writes it back, commits past the record
  EXPECT_EQ(count_of("a", {"3"}), "3");
  run({{"5", "b"}});  // restores to that commit: "b" is 1 there
  EXPECT_EQ(count_of("b", {"2", "100"}), "2");
}

// A thread stuck in processing past max.poll.interval.ms while the group rebalances is removed by
// the coordinator (it did not give up a revoked partition in time); its next commit is refused.
// As Kafka Streams, it closes its tasks, rejoins and carries on, rather than dying.
TEST_F(StreamsRuntimeTest, AThreadFencedWhileProcessingStalledRejoinsAndLosesNothing) {
  CreateTopic("in", 2);
  CreateTopic("out", 2);
  std::atomic<bool> stalled{false};
  std::atomic<bool> release{false};
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .MapValues([&](const S& v) {
        if (v == "stall" && !stalled.exchange(true)) {
          for (int i = 0; i < 400 && !release; ++i) std::this_thread::sleep_for(milliseconds(50));
        }
        return absl::AsciiStrToUpper(v);
      })
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  StreamsConfig a_config = Config("fenced");
  a_config.consumer_properties["max.poll.interval.ms"] = "1000";
  Streams a(*topology, a_config);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return a.state() == Streams::State::kRunning; }, milliseconds(20000)));
  Produce("in", {{"k0", "stall"}});
  ASSERT_TRUE(WaitFor([&] { return stalled.load(); }, milliseconds(10000)));

  // b joins while a is stuck: a is asked for a partition, cannot answer within 1 s and is removed,
  // so b gets both. Only then does a's processing go on (it stalls 20 s at most).
  StreamsConfig b_config = Config("fenced");
  b_config.state_dir = dir_.Sub("state-b");
  Streams b(*topology, b_config);
  ASSERT_TRUE(b.Start().ok());
  const bool b_took_all =
      WaitFor([&] { return b.metrics().active_tasks.size() == 2; }, milliseconds(15000));
  release = true;
  ASSERT_TRUE(b_took_all) << "a was not removed from the group while it stalled";
  ASSERT_TRUE(WaitFor([&] { return a.metrics().rejoins >= 1; }, milliseconds(20000)))
      << "a did not rejoin; its state is " << static_cast<int>(a.state()) << ": " << a.error();
  // a rejoined and got a task back from b.
  ASSERT_TRUE(WaitFor(
      [&] {
        return a.state() == Streams::State::kRunning && b.state() == Streams::State::kRunning &&
               a.metrics().active_tasks.size() == 1 && b.metrics().active_tasks.size() == 1;
      },
      milliseconds(20000)))
      << static_cast<int>(a.state()) << " " << a.error() << " / " << static_cast<int>(b.state());

  std::vector<std::pair<S, S>> records;
  std::map<S, S> expected{{"k0", "STALL"}};
  for (int i = 1; i <= 100; ++i) {
    records.emplace_back("k" + std::to_string(i), "v" + std::to_string(i));
    expected["k" + std::to_string(i)] = "V" + std::to_string(i);
  }
  Produce("in", records);
  EXPECT_EQ(ReadAll("out", expected.size()), expected);
  EXPECT_NE(a.state(), Streams::State::kError) << a.error();
  a.Close();
  b.Close();
  EXPECT_TRUE(a.error().ok()) << a.error();
  EXPECT_TRUE(b.error().ok()) << b.error();
}

TEST_F(StreamsRuntimeTest, AnUndecodableRecordStopsTheApplicationWithoutCommittingPastIt) {
  CreateTopic("numbers", 1);
  StreamsBuilder builder;
  builder.Stream<S, int64_t>("numbers").MapValues([](const int64_t& n) { return n * 2; }).To("x");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  Streams streams(*topology, Config("doubler"));
  ASSERT_TRUE(streams.Start().ok());
  Produce("numbers", {{"k", std::string(8, '\0')}, {"k", "abc"}});
  ASSERT_TRUE(
      WaitFor([&] { return streams.state() == Streams::State::kError; }, milliseconds(20000)))
      << StateName(streams.state());
  const absl::Status error = streams.error();
  EXPECT_NE(error.message().find("numbers-0@1"), std::string::npos) << error;
  EXPECT_NE(error.message().find("expected 8 bytes"), std::string::npos) << error;
  streams.Close();
  EXPECT_EQ(streams.state(), Streams::State::kError);
  // NotFound: nothing committed at all (the first commit comes after 100 ms, the failure may be
  // earlier).
  auto rows = admin_->DescribeGroup("doubler");
  ASSERT_TRUE(rows.ok() || absl::IsNotFound(rows.status())) << rows.status();
  for (const client::GroupPartition& row : rows.value_or(std::vector<client::GroupPartition>{})) {
    if (row.topic == "numbers") {
      EXPECT_LE(row.committed, 1) << "committed past the bad record";
    }
  }
}

// Committed offset of partition 0 of `topic` for group `app`; -1 when none.
int64_t Committed(client::Admin* admin, const S& app, const S& topic) {
  auto rows = admin->DescribeGroup(app);
  if (!rows.ok()) return -1;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic == topic && row.partition == 0) return row.committed;
  }
  return -1;
}

TEST_F(StreamsRuntimeTest, LogAndContinueSkipsAPoisonRecordCountsItAndDoesNotSeeItAfterARestart) {
  CreateTopic("numbers", 1);
  CreateTopic("doubled", 1);
  StreamsBuilder builder;
  builder.Stream<S, int64_t>("numbers")
      .MapValues([](const int64_t& n) { return std::to_string(n * 2); })
      .To("doubled");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  StreamsConfig config = Config("skipper");
  auto handlers = StreamsConfig::FromProperties(
      {{"application.id", "skipper"},
       {"default.deserialization.exception.handler", "LogAndContinueExceptionHandler"}});
  ASSERT_TRUE(handlers.ok()) << handlers.status();
  config.default_deserialization_exception_handler =
      handlers->default_deserialization_exception_handler;
  const S one = serdes::Int64().serialize(1);
  {
    Streams streams(*topology, config);
    ASSERT_TRUE(streams.Start().ok());
    // The poison record (3 bytes for an Int64 serde) sits between two good ones.
    Produce("numbers", {{"a", one}, {"b", "abc"}, {"c", serdes::Int64().serialize(21)}});
    EXPECT_EQ(ReadAll("doubled", 2), (std::map<S, S>{{"a", "2"}, {"c", "42"}}));
    ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 3; }, milliseconds(10000)));
    EXPECT_EQ(streams.metrics().dropped_records, 1);
    EXPECT_NE(streams.state(), Streams::State::kError) << streams.error();
    streams.Close();
    EXPECT_TRUE(streams.error().ok()) << streams.error();
  }
  EXPECT_EQ(Committed(admin_.get(), "skipper", "numbers"), 3) << "not committed past the poison";
  // A restart resumes after the poison record: it neither fails nor counts it again.
  Streams again(*topology, config);
  ASSERT_TRUE(again.Start().ok());
  Produce("numbers", {{"d", serdes::Int64().serialize(5)}});
  EXPECT_EQ(ReadAll("doubled", 3), (std::map<S, S>{{"a", "2"}, {"c", "42"}, {"d", "10"}}));
  ASSERT_TRUE(WaitFor([&] { return again.metrics().processed == 1; }, milliseconds(10000)))
      << again.metrics().processed;
  EXPECT_EQ(again.metrics().dropped_records, 0);
  again.Close();
  EXPECT_EQ(Committed(admin_.get(), "skipper", "numbers"), 4);
}

TEST_F(StreamsRuntimeTest, ARecordTheProducerRefusesFailsTheAppOrWithAlwaysContinueIsDropped) {
  CreateTopic("words", 1);
  CreateTopic("echo", 1);
  StreamsBuilder builder;
  builder.Stream<S, S>("words").To("echo");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  StreamsConfig config = Config("echoer");
  config.producer_properties["max.request.size"] = "200";
  Produce("words", {{"a", "small"}, {"b", S(500, 'x')}, {"c", "after"}});
  {
    Streams failing(*topology, config);
    ASSERT_TRUE(failing.Start().ok());
    ASSERT_TRUE(
        WaitFor([&] { return failing.state() == Streams::State::kError; }, milliseconds(20000)))
        << StateName(failing.state());
    EXPECT_NE(failing.error().message().find("larger than max.request.size"), std::string::npos)
        << failing.error();
    failing.Close();
  }
  EXPECT_LE(Committed(admin_.get(), "echoer", "words"), 1) << "committed past the refused record";

  config.default_production_exception_handler = ProductionHandlerName::kAlwaysContinue;
  Streams streams(*topology, config);
  ASSERT_TRUE(streams.Start().ok());
  EXPECT_EQ(ReadAll("echo", 2), (std::map<S, S>{{"a", "small"}, {"c", "after"}}));
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().dropped_records == 1; }, milliseconds(10000)))
      << streams.metrics().dropped_records;
  streams.Close();
  EXPECT_TRUE(streams.error().ok()) << streams.error();
  EXPECT_EQ(Committed(admin_.get(), "echoer", "words"), 3);
}

}  // namespace
}  // namespace runnel::streams
