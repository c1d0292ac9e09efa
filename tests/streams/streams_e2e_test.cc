// The example applications (streams/examples/) as processes against a real runneld: generated
// input goes in with a client::Producer, the output topics are read back and compared with a
// computation written here independently of the topologies. Also: an instance killed with SIGKILL
// mid-stream and restarted on a fresh state dir restores its stores from the changelogs and the
// final results still hold; two instances with one application id split the tasks, and when one
// closes the other takes them all; click-enrich, search-click-join (also killed mid-stream and
// restarted from its join stores' changelogs) and sessions (also killed mid-stream and restarted
// from its session store's and suppression buffer's changelogs) against inputs whose expected
// output is computed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/group_broker_fixture.h"
#include "tests/storage/storage_test_util.h"
#include "tests/streams/streams_e2e_util.h"

namespace runnel {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using testing::BrokerProcess;
using testing::ChildProcess;
using testing::Out;
using testing::ReadFile;
using testing::Rec;
using testing::WaitFor;
using testing::WordLines;

constexpr int64_t kMinute = 60000;

// Sums "task T created, N records restored" over an application's log.
int64_t RestoredRecords(const std::string& log) {
  int64_t sum = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(" created, ");
    if (at == absl::string_view::npos) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(at + 10), ' ');
    int64_t n = 0;
    if (!words.empty() && absl::SimpleAtoi(words[0], &n)) sum += n;
  }
  return sum;
}

class StreamsE2eTest : public testing::GroupBrokerFixture {
 protected:
  void Produce(const std::string& topic, const std::vector<Rec>& records) {
    testing::Produce({{"bootstrap.servers", broker_->address()}}, topic, records);
  }

  // Everything in `topic` now, in offset order per partition.
  std::vector<Out> ReadAll(const std::string& topic) {
    return testing::ReadAll(*admin_, {{"bootstrap.servers", broker_->address()}}, topic);
  }

  // Whether the group `app` has committed every partition of `topics` up to its end.
  bool CaughtUp(const std::string& app, const std::set<std::string>& topics) {
    auto rows = admin_->DescribeGroup(app);
    if (!rows.ok()) return false;
    std::set<std::string> seen;
    for (const client::GroupPartition& row : *rows) {
      if (!topics.contains(row.topic)) continue;
      seen.insert(row.topic);
      if (row.end_offset > 0 && row.committed != row.end_offset) return false;
    }
    return seen == topics;
  }

  // Partitions owned per member of group `app` (members that own nothing are not listed).
  std::map<std::string, std::set<std::string>> Owners(const std::string& app) {
    std::map<std::string, std::set<std::string>> out;
    auto rows = admin_->DescribeGroup(app);
    if (!rows.ok()) return out;
    for (const client::GroupPartition& row : *rows) {
      if (!row.member_id.empty()) {
        out[row.member_id].insert(absl::StrCat(row.topic, "-", row.partition));
      }
    }
    return out;
  }

  // Starts build/bin/`program` with the common flags and `args`; stderr to <dir>/<log>.
  bool StartApp(ChildProcess& child, const std::string& program, const std::string& app,
                const std::string& state_dir, const std::string& log,
                const std::vector<std::string>& args) {
    return testing::StartApp(child, broker_->address(), program, app, dir_.Sub(state_dir),
                             dir_.Sub(log), args);
  }

  std::string Log(const std::string& log) { return ReadFile(dir_.Sub(log)); }

  // Tasks moving between stream threads with their state (docs/BENCHMARKS.md once listed
  // search-click-join not finishing and sessions emitting fewer sessions on two threads; the
  // bench's input was being deleted by retention.ms, but the hand-over itself was not tested):
  // instance A of `program` with two threads and `args` runs parts[0] of the input (`produce(0)`)
  // until group `app` has committed `topics` to their end; instance B, two threads too, joins
  // and takes tasks over while parts 1 to 10 go in 100 ms apart; A closes (a clean hand-over: its
  // tasks commit and close) and B takes every task, restoring the stores from the changelogs;
  // parts 11 to 20 go in. Returns B's log once the group has caught up and `enough()`; B is
  // stopped and must exit 0. Within one instance the second thread takes its tasks before the
  // first has processed anything, which is why two instances.
  std::string RunHandedOverBetweenThreads(const std::string& program, const std::string& app,
                                          std::vector<std::string> args,
                                          const std::set<std::string>& topics,
                                          const std::function<void(int)>& produce,
                                          const std::function<bool()>& enough) {
    args.insert(args.end(), {"--threads", "2"});
    produce(0);
    ChildProcess a, b;
    EXPECT_TRUE(StartApp(a, program, app, "state-a", "a.log", args));
    EXPECT_TRUE(WaitFor([&] { return CaughtUp(app, topics); }, milliseconds(30000)))
        << Log("a.log");
    EXPECT_TRUE(StartApp(b, program, app, "state-b", "b.log", args));
    for (int part = 1; part <= 10; ++part) {
      produce(part);
      std::this_thread::sleep_for(milliseconds(100));
    }
    const std::optional<int> a_status = a.SignalAndWait(SIGTERM, milliseconds(10000));
    EXPECT_TRUE(a_status.has_value() && WIFEXITED(*a_status) && WEXITSTATUS(*a_status) == 0)
        << testing::DescribeStatus(a_status) << "\n"
        << Log("a.log");
    for (int part = 11; part <= 20; ++part) {
      produce(part);
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_TRUE(WaitFor([&] { return CaughtUp(app, topics) && enough(); }, milliseconds(30000),
                        milliseconds(300)))
        << "A:\n"
        << Log("a.log") << "B:\n"
        << Log("b.log");
    const std::string b_log = Log("b.log");
    const std::optional<int> b_status = b.SignalAndWait(SIGTERM, milliseconds(10000));
    EXPECT_TRUE(b_status.has_value() && WIFEXITED(*b_status) && WEXITSTATUS(*b_status) == 0)
        << testing::DescribeStatus(b_status) << "\n"
        << Log("b.log");
    // The hand-over carried state: some task B created restored records from a changelog.
    EXPECT_GT(RestoredRecords(b_log), 0) << b_log;
    return b_log;
  }

  // Waits (up to 60 s) until the latest count per word in "word-counts" is `expected`, checking
  // that each word's counts only rise; `log` is shown when they do not get there.
  void ExpectCounts(const std::map<std::string, int64_t>& expected, const std::string& log) {
    testing::ExpectCounts(*admin_, {{"bootstrap.servers", broker_->address()}}, expected,
                          [&] { return Log(log); });
  }
};

TEST_F(StreamsE2eTest, WordCountCountsEveryWordOnTwoThreads) {
  CreateTopic("lines", 3);
  CreateTopic("word-counts", 3);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "wordcount", "wc", "state", "wc.log",
                       {"--input", "lines", "--output", "word-counts", "--threads", "2"}));
  std::map<std::string, int64_t> expected;
  Produce("lines", WordLines(3000, 7, &expected));
  ExpectCounts(expected, "wc.log");
  // Every word is counted on the partition its key hashes to, by one task: the repartition topic
  // is named after the Grouped name and has the input's partition count.
  auto repartition = admin_->DescribeTopic("wc-word-counts-repartition");
  ASSERT_TRUE(repartition.ok()) << repartition.status();
  EXPECT_EQ(repartition->partitions.size(), 3u);
  auto changelog = admin_->DescribeTopic("wc-word-counts-changelog");
  ASSERT_TRUE(changelog.ok()) << changelog.status();
  EXPECT_EQ(changelog->partitions.size(), 3u);
  EXPECT_EQ(changelog->configs.at("cleanup.policy").first, "compact");
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("wc.log");
}

TEST_F(StreamsE2eTest, BadFlagsAndAMissingInputTopicAreClearErrors) {
  const std::string bin = std::string(RUNNEL_BIN_DIR) + "/";
  auto r = testing::RunCommand(bin + "wordcount --input a --output b");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--application-id"), std::string::npos) << r.out;
  r = testing::RunCommand(bin + "stock-stats --application-id s --input a --output b --store disk");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--store"), std::string::npos) << r.out;
  r = testing::RunCommand(bin + "top-stocks --application-id t --input a --output b --top 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--top: Value 0 not in range"), std::string::npos) << r.out;
  r = testing::RunCommand(bin + "sessions --application-id s --input a --output b --gap-ms 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--gap-ms: Value 0 not in range"), std::string::npos) << r.out;
  r = testing::RunCommand(bin + "search-click-join --application-id j --searches a --output b");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--clicks is required"), std::string::npos) << r.out;
  r = testing::RunCommand(bin + "click-enrich --application-id e --clicks a --profiles p");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("--output is required"), std::string::npos) << r.out;
  // A missing input topic: a clear error and exit 1, not a process that waits forever.
  r = testing::RunCommand(bin + "wordcount --brokers " + broker_->address() +
                          " --application-id wc --state-dir " + dir_.Sub("s") +
                          " --input no-such-topic --output out");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("error: source topic no-such-topic of application wc does not exist"),
            std::string::npos)
      << r.out;
}

TEST_F(StreamsE2eTest, LogRouterSendsErrorLinesToHighPriority) {
  CreateTopic("logs", 2);
  CreateTopic("alerts", 2);
  CreateTopic("routine", 2);
  ChildProcess app;
  ASSERT_TRUE(
      StartApp(app, "log-router", "router", "state", "router.log",
               {"--input", "logs", "--high-priority", "alerts", "--low-priority", "routine"}));
  // Lines with the token ERROR (alone, at either end, in brackets, before '_', which is not a
  // letter or digit) and lines with look-alikes.
  static const std::vector<std::string> kShapes = {
      "ERROR disk full",     "[ERROR] timeout",   "retrying after ERROR",
      "ERRORS are plural",   "error lower case",  "xERROR glued",
      "INFO all fine",       "WARN ERROR_CODE=7", "ERROR",
      "2026-12-02 ERROR: x", "DEBUG ERRORx",      "TERROR is a word"};
  std::vector<Rec> lines;
  std::multiset<std::string> high, low;
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const std::string line = absl::StrCat(kShapes[rng() % kShapes.size()], " #", i);
    bool token = false;
    for (absl::string_view t :
         absl::StrSplit(line, absl::ByAnyChar(" []:=#-_"), absl::SkipEmpty())) {
      token |= t == "ERROR";
    }
    (token ? high : low).insert(line);
    lines.push_back(Rec{absl::StrCat("host-", i % 5), line, 5000 + i, std::nullopt});
  }
  Produce("logs", lines);
  std::multiset<std::string> got_high, got_low;
  EXPECT_TRUE(WaitFor(
      [&] {
        got_high.clear();
        got_low.clear();
        for (const Out& o : ReadAll("alerts")) got_high.insert(o.value);
        for (const Out& o : ReadAll("routine")) got_low.insert(o.value);
        return got_high.size() + got_low.size() >= lines.size();
      },
      milliseconds(60000), milliseconds(500)))
      << Log("router.log");
  EXPECT_EQ(got_high, high);
  EXPECT_EQ(got_low, low);
  EXPECT_GT(high.size(), 100u);
  EXPECT_GT(low.size(), 100u);
}

// Trades for stock-stats / top-stocks and what the two should make of them.
struct Trade {
  std::string symbol;
  double price = 0;
  int64_t ts = 0;
  int32_t partition = 0;
};

struct WindowStats {
  double min = 0, max = 0, sum = 0;
  int64_t count = 0;
};

// Per (symbol, window start) the stats of the trades stock-stats accepts, and the trades it drops
// as late: a window [s, s+size) accepts a trade while its partition's stream time (the largest
// timestamp so far, this trade's included) is < s + size + grace.
void ExpectedStats(const std::vector<Trade>& trades, int64_t size, int64_t grace,
                   std::map<std::pair<std::string, int64_t>, WindowStats>* stats,
                   std::multiset<std::string>* late) {
  std::map<int32_t, int64_t> stream_time;
  for (const Trade& t : trades) {
    auto [it, inserted] = stream_time.try_emplace(t.partition, t.ts);
    it->second = std::max(it->second, t.ts);
    const int64_t start = t.ts - t.ts % size;
    if (it->second >= start + size + grace) {
      late->insert(absl::StrFormat("%s %.2f", t.symbol, t.price));
      continue;
    }
    WindowStats& w = (*stats)[{t.symbol, start}];
    if (w.count == 0) {
      w.min = w.max = t.price;
    } else {
      w.min = std::min(w.min, t.price);
      w.max = std::max(w.max, t.price);
    }
    w.sum += t.price;
    ++w.count;
  }
}

// `symbols` symbols on `partitions` partitions (symbol i on partition i % partitions) trading
// over `windows` one-minute windows, mostly in time order with some trades a little (within a
// 5 s grace) or a lot (past it) behind.
std::vector<Trade> Trades(int symbols, int32_t partitions, int windows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Trade> out;
  const int64_t base = 1'700'000'000'000 - 1'700'000'000'000 % kMinute;
  int64_t now = base;
  for (int step = 0; step < windows * 60; ++step) {
    now += 1000;
    const int s = static_cast<int>(rng() % symbols);
    int64_t ts = now;
    const uint32_t lateness = rng() % 20;
    if (lateness == 0) ts -= 3000;   // within the grace
    if (lateness == 1) ts -= 20000;  // past it when the window has ended
    const double price = static_cast<double>(1000 + rng() % 9000) / 100;
    out.push_back(Trade{absl::StrCat("SYM", s), price, ts, s % partitions});
  }
  // One trade per partition far ahead closes every window above (theirs are left open).
  for (int32_t p = 0; p < partitions; ++p) {
    out.push_back(Trade{absl::StrCat("SYM", p), 50, now + 10 * kMinute, p});
  }
  return out;
}

std::vector<Rec> TradeRecords(const std::vector<Trade>& trades, size_t from, size_t to) {
  std::vector<Rec> out;
  for (size_t i = from; i < to && i < trades.size(); ++i) {
    const Trade& t = trades[i];
    out.push_back(Rec{t.symbol, absl::StrFormat("%.2f", t.price), t.ts, t.partition});
  }
  return out;
}

// The start of the window of the closing trades (Trades puts them last): every window before it
// has closed.
int64_t ClosingStart(const std::vector<Trade>& trades) {
  return trades.back().ts - trades.back().ts % kMinute;
}

// How many windows of `expected` start before `closing_start`: the results stock-stats emits.
size_t WindowsBefore(const std::map<std::pair<std::string, int64_t>, WindowStats>& expected,
                     int64_t closing_start) {
  size_t n = 0;
  for (const auto& [at, w] : expected) n += at.second < closing_start ? 1 : 0;
  return n;
}

// Checks stock-stats' output against `expected` (the windows before the closing trades). With
// `extra_counts` > 0 (a run with a crash), a window's count may exceed the expected one by the
// records processed again after the crash, in all at most extra_counts; min and max are exact
// either way. Returns the counted duplicates.
int64_t CheckStats(const std::vector<Out>& output,
                   const std::map<std::pair<std::string, int64_t>, WindowStats>& expected,
                   int64_t closing_start, int64_t extra_counts) {
  std::map<std::pair<std::string, int64_t>, Json> got;
  for (const Out& o : output) {
    Json j = Json::parse(o.value, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << o.value;
    if (j.is_discarded()) continue;
    EXPECT_EQ(j["symbol"].get<std::string>(), o.key);
    const std::pair<std::string, int64_t> at{o.key, j["window_start"].get<int64_t>()};
    if (extra_counts == 0) {
      EXPECT_FALSE(got.contains(at)) << "window " << at.first << "@" << at.second << " twice";
    }
    got[at] = j;  // after a crash a re-emitted window counts with its latest value
  }
  int64_t over = 0;
  size_t compared = 0;
  for (const auto& [at, w] : expected) {
    if (at.second >= closing_start) continue;
    ++compared;
    auto it = got.find(at);
    if (it == got.end()) {
      ADD_FAILURE() << "no result for " << at.first << "@" << at.second;
      continue;
    }
    const Json& j = it->second;
    EXPECT_EQ(j["window_end"].get<int64_t>(), at.second + kMinute);
    EXPECT_DOUBLE_EQ(j["min"].get<double>(), w.min) << at.first << "@" << at.second;
    EXPECT_DOUBLE_EQ(j["max"].get<double>(), w.max) << at.first << "@" << at.second;
    const int64_t count = j["count"].get<int64_t>();
    if (extra_counts == 0) {
      EXPECT_EQ(count, w.count) << at.first << "@" << at.second;
      EXPECT_NEAR(j["avg"].get<double>(), w.sum / static_cast<double>(w.count), 1e-9);
    } else {
      EXPECT_GE(count, w.count) << at.first << "@" << at.second;
      over += count - w.count;
    }
  }
  size_t closed = 0;
  for (const auto& [at, j] : got) closed += at.second < closing_start ? 1 : 0;
  EXPECT_EQ(closed, compared) << "results for windows that had no accepted trade";
  EXPECT_LE(over, extra_counts);
  return over;
}

TEST_F(StreamsE2eTest, StockStatsEmitsOneFinalResultPerWindowAndRoutesLateTrades) {
  CreateTopic("trades", 2);
  CreateTopic("stats", 2);
  CreateTopic("late", 1);
  const std::vector<Trade> trades = Trades(5, 2, 8, 3);
  std::map<std::pair<std::string, int64_t>, WindowStats> expected;
  std::multiset<std::string> expected_late;
  ExpectedStats(trades, kMinute, 5000, &expected, &expected_late);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "stock-stats", "stats-app", "state", "stats.log",
                       {"--input", "trades", "--output", "stats", "--window-ms", "60000",
                        "--grace-ms", "5000", "--late-topic", "late", "--store", "in-memory"}));
  Produce("trades", TradeRecords(trades, 0, trades.size()));
  const int64_t closing_start = ClosingStart(trades);
  const size_t want = WindowsBefore(expected, closing_start);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("stats");
        return output.size() >= want && CaughtUp("stats-app", {"trades"});
      },
      milliseconds(60000), milliseconds(500)))
      << output.size() << " of " << want << " results\n"
      << Log("stats.log");
  CheckStats(output, expected, closing_start, 0);
  std::multiset<std::string> late;
  for (const Out& o : ReadAll("late")) late.insert(absl::StrCat(o.key, " ", o.value));
  EXPECT_EQ(late, expected_late);
  EXPECT_GE(expected_late.size(), 3u) << "the input has too few late trades to test them";
}

TEST_F(StreamsE2eTest, TopStocksRanksEachWindowsGainsThroughOnePartition) {
  CreateTopic("trades", 1);
  CreateTopic("top", 1);
  // Trades in time order (top-stocks has no grace in phase 1).
  std::mt19937 rng(5);
  const int64_t base = 1'700'000'040'000 - 1'700'000'040'000 % kMinute;
  std::vector<Trade> trades;
  constexpr int kWindows = 5;
  for (int w = 0; w < kWindows; ++w) {
    for (int i = 0; i < 59; ++i) {
      const int s = static_cast<int>(rng() % 7);
      trades.push_back(Trade{absl::StrCat("S", s), static_cast<double>(100 + rng() % 900) / 10,
                             base + w * kMinute + i * 1000, 0});
    }
  }
  // Per window: first and last price per symbol -> gain; ranked by gain, ties by symbol.
  std::map<int64_t, std::vector<std::pair<double, std::string>>> expected;
  {
    std::map<std::pair<int64_t, std::string>, std::pair<double, double>> span;
    for (const Trade& t : trades) {
      const int64_t start = t.ts - t.ts % kMinute;
      auto [it, inserted] = span.try_emplace({start, t.symbol}, t.price, t.price);
      it->second.second = t.price;
    }
    for (const auto& [at, fl] : span) {
      expected[at.first].emplace_back((fl.second - fl.first) / fl.first * 100, at.second);
    }
    for (auto& [start, ranked] : expected) {
      std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      if (ranked.size() > 3) ranked.resize(3);
    }
  }
  // A closing trade: the first of a later window closes the last one.
  const int64_t end = base + kWindows * kMinute;
  trades.push_back(Trade{"S0", 10, end + 3 * kMinute, 0});
  ChildProcess app;
  ASSERT_TRUE(
      StartApp(app, "top-stocks", "top-app", "state", "top.log",
               {"--input", "trades", "--output", "top", "--window-ms", "60000", "--top", "3"}));
  Produce("trades", TradeRecords(trades, 0, trades.size()));
  // The output is a table's changes: a window may be ranked again (updated) when a commit split
  // its gains; the latest ranking per window is the one to check.
  std::map<int64_t, Json> latest;
  auto read = [&] {
    latest.clear();
    for (const Out& o : ReadAll("top")) {
      Json j = Json::parse(o.value, nullptr, false);
      if (j.is_discarded() || !j.contains("window_start")) {
        ADD_FAILURE() << "not a ranking: " << o.value;
        return false;
      }
      const int64_t start = j["window_start"].get<int64_t>();
      EXPECT_EQ(o.key, std::to_string(start));
      latest[start] = std::move(j);
    }
    for (const auto& [start, ranked] : expected) {
      auto it = latest.find(start);
      if (it == latest.end() || it->second["top"].size() != ranked.size()) return false;
      for (size_t i = 0; i < ranked.size(); ++i) {
        if (it->second["top"][i]["symbol"].get<std::string>() != ranked[i].second) return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(WaitFor(read, milliseconds(60000), milliseconds(500)))
      << latest.size() << " of " << expected.size() << " windows ranked as expected\n"
      << Log("top.log");
  auto repartition = admin_->DescribeTopic("top-app-gains-by-window-repartition");
  ASSERT_TRUE(repartition.ok()) << repartition.status();
  EXPECT_EQ(repartition->partitions.size(), 1u);
  for (const auto& [start, j] : latest) {
    auto it = expected.find(start);
    if (it == expected.end()) {
      ADD_FAILURE() << "ranking for a window without trades or not closed: " << start;
      continue;
    }
    ASSERT_EQ(j["top"].size(), it->second.size()) << j.dump();
    for (size_t i = 0; i < it->second.size(); ++i) {
      EXPECT_EQ(j["top"][i]["symbol"].get<std::string>(), it->second[i].second) << j.dump();
      EXPECT_NEAR(j["top"][i]["gain_pct"].get<double>(), it->second[i].first, 1e-9) << j.dump();
    }
  }
  for (const auto& [start, ranked] : expected) {
    EXPECT_TRUE(latest.contains(start)) << "no ranking for window " << start;
  }
}

// The records an application had read but not committed when it was killed: an upper bound on
// what it processes twice.
int64_t Uncommitted(client::Admin& admin, const std::string& app, const std::string& topic) {
  auto rows = admin.DescribeGroup(app);
  if (!rows.ok()) return 0;
  int64_t n = 0;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic == topic) n += row.end_offset - std::max<int64_t>(row.committed, 0);
  }
  return n;
}

TEST_F(StreamsE2eTest, KilledInstanceRestartsFromChangelogsAndResultsHold) {
  CreateTopic("trades", 2);
  CreateTopic("stats", 2);
  const std::vector<Trade> trades = Trades(6, 2, 12, 9);
  std::map<std::pair<std::string, int64_t>, WindowStats> expected;
  std::multiset<std::string> late;
  ExpectedStats(trades, kMinute, 5000, &expected, &late);
  const std::vector<std::string> args = {"--input",     "trades", "--output",   "stats",
                                         "--window-ms", "60000",  "--grace-ms", "5000"};
  const size_t half = trades.size() / 2;
  ChildProcess first;
  ASSERT_TRUE(StartApp(first, "stock-stats", "stats-app", "state-1", "first.log", args));
  Produce("trades", TradeRecords(trades, 0, half));
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("stats-app", {"trades"}); }, milliseconds(30000)))
      << Log("first.log");
  // Mid-stream: the rest goes in 20 trades every 20 ms while the instance is killed half-way.
  std::atomic<bool> producing{true};
  std::thread paced([&] {
    for (size_t from = half; from < trades.size(); from += 20) {
      Produce("trades", TradeRecords(trades, from, from + 20));
      std::this_thread::sleep_for(milliseconds(20));
    }
    producing = false;
  });
  std::this_thread::sleep_for(milliseconds(400));
  const std::optional<int> killed = first.SignalAndWait(SIGKILL, milliseconds(5000));
  ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << testing::DescribeStatus(killed);
  const int64_t uncommitted = Uncommitted(*admin_, "stats-app", "trades");
  std::cout << "[ measured ] killed with " << uncommitted << " trades produced but not committed"
            << (producing ? ", input still coming" : ", input complete (the kill came late)")
            << "\n";

  // A fresh state dir: everything the new instance knows comes from the changelogs. Its group
  // membership waits for the killed member's session to time out.
  ChildProcess second;
  ASSERT_TRUE(StartApp(second, "stock-stats", "stats-app", "state-2", "second.log", args));
  paced.join();
  const int64_t closing_start = ClosingStart(trades);
  const size_t want = WindowsBefore(expected, closing_start);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("stats");
        std::set<std::pair<std::string, int64_t>> windows;
        for (const Out& o : output) {
          Json j = Json::parse(o.value, nullptr, false);
          if (!j.is_discarded()) windows.insert({o.key, j["window_start"].get<int64_t>()});
        }
        return windows.size() >= want && CaughtUp("stats-app", {"trades"});
      },
      milliseconds(60000), milliseconds(500)))
      << Log("first.log") << "\n---\n"
      << Log("second.log");
  const int64_t over = CheckStats(output, expected, closing_start, uncommitted);
  const int64_t restored = RestoredRecords(Log("second.log"));
  std::cout << "[ measured ] restored " << restored << " changelog records; " << over
            << " trade(s) counted twice (at-least-once, bound " << uncommitted << ")\n";
  EXPECT_GT(restored, 0) << "the restarted instance restored nothing\n" << Log("second.log");
}

// The record count of the last "<app>: processed N, tasks ..." progress line of a log.
int64_t LastProcessed(const std::string& log) {
  int64_t last = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(": processed ");
    if (at == absl::string_view::npos) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(at + 12), ',');
    if (!words.empty()) (void)absl::SimpleAtoi(words[0], &last);
  }
  return last;
}

TEST_F(StreamsE2eTest, TwoInstancesSplitTheTasksAndOneTakesAllWhenTheOtherCloses) {
  CreateTopic("lines", 4);
  CreateTopic("word-counts", 4);
  const std::vector<std::string> args = {"--input", "lines", "--output", "word-counts"};
  std::map<std::string, int64_t> expected;
  const std::vector<Rec> lines = WordLines(4000, 21, &expected);
  const std::vector<Rec> first_half(lines.begin(), lines.begin() + 2000);
  const std::vector<Rec> second_half(lines.begin() + 2000, lines.end());

  ChildProcess a, b;
  ASSERT_TRUE(StartApp(a, "wordcount", "wc2", "state-a", "a.log", args));
  // A alone owns all 8 partitions (4 of lines, 4 of the repartition topic).
  std::map<std::string, std::set<std::string>> owners;
  ASSERT_TRUE(WaitFor(
      [&] {
        owners = Owners("wc2");
        return owners.size() == 1 && owners.begin()->second.size() == 8;
      },
      milliseconds(30000)))
      << Log("a.log");
  const std::string member_a = owners.begin()->first;
  ASSERT_TRUE(StartApp(b, "wordcount", "wc2", "state-b", "b.log", args));
  ASSERT_TRUE(WaitFor(
      [&] {
        owners = Owners("wc2");
        return owners.size() == 2 && owners.begin()->second.size() == 4 &&
               owners.rbegin()->second.size() == 4;
      },
      milliseconds(30000)))
      << Log("a.log") << "\n---\n"
      << Log("b.log");
  EXPECT_TRUE(owners.contains(member_a)) << "A lost its membership when B joined";
  Produce("lines", first_half);
  ASSERT_TRUE(WaitFor(
      [&] {
        return CaughtUp("wc2", {"lines", "wc2-word-counts-repartition"});
      },
      milliseconds(60000)))
      << Log("a.log") << "\n---\n"
      << Log("b.log");
  // Both did part of the work (their progress lines, every 500 ms, say how much).
  EXPECT_TRUE(WaitFor([&] { return LastProcessed(Log("a.log")) > 0; }, milliseconds(5000)))
      << Log("a.log");
  EXPECT_TRUE(WaitFor([&] { return LastProcessed(Log("b.log")) > 0; }, milliseconds(5000)))
      << Log("b.log");

  // B closes: it commits and leaves at once, A takes its tasks (restoring their stores) and
  // the counts go on from where B left them.
  const std::optional<int> closed = b.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(closed.has_value() && WIFEXITED(*closed) && WEXITSTATUS(*closed) == 0)
      << testing::DescribeStatus(closed) << "\n"
      << Log("b.log");
  ASSERT_TRUE(WaitFor(
      [&] {
        owners = Owners("wc2");
        return owners.size() == 1 && owners.contains(member_a) && owners[member_a].size() == 8;
      },
      milliseconds(kSessionTimeoutMs)))
      << "A did not get B's partitions before B's session would have timed out\n"
      << Log("a.log");
  Produce("lines", second_half);
  // Clean hand-overs commit before they move a task: nothing is counted twice.
  ExpectCounts(expected, "a.log");
  EXPECT_GT(RestoredRecords(Log("a.log")), 0) << "A restored nothing of B's stores";
}

// --- click-enrich, search-click-join, sessions -------------------------------------------------

// The JSON text the README says these examples embed a value as, for the two shapes the tests
// produce: a JSON object written compactly stays as it is, any other text becomes a JSON string
// (the tests' plain values need no escaping).
std::string Embedded(const std::string& value) {
  return value.starts_with("{") ? value : absl::StrCat("\"", value, "\"");
}

// An output record as compared: key, value, timestamp.
using KeyValueTs = std::tuple<std::string, std::string, int64_t>;

std::multiset<KeyValueTs> AsMultiset(const std::vector<Out>& output) {
  std::multiset<KeyValueTs> out;
  for (const Out& o : output) out.emplace(o.key, o.value, o.timestamp);
  return out;
}

// Lists the differences between two multisets of output records (at most 20).
std::string Diff(const std::multiset<KeyValueTs>& got, const std::multiset<KeyValueTs>& want) {
  std::string out;
  int shown = 0;
  for (const KeyValueTs& w : want) {
    if (got.count(w) != want.count(w) && shown++ < 20) {
      absl::StrAppend(&out, "  want x", want.count(w), " got x", got.count(w), ": ", std::get<0>(w),
                      " ", std::get<1>(w), " @", std::get<2>(w), "\n");
    }
  }
  for (const KeyValueTs& g : got) {
    if (!want.contains(g) && shown++ < 20) {
      absl::StrAppend(&out, "  unexpected: ", std::get<0>(g), " ", std::get<1>(g), " @",
                      std::get<2>(g), "\n");
    }
  }
  return out;
}

TEST_F(StreamsE2eTest, ClickEnrichJoinsEachClickWithTheProfileItsUserHadThen) {
  CreateTopic("clicks", 2);
  ASSERT_TRUE(
      admin_
          ->CreateTopic(
              {.name = "profiles", .partitions = 2, .configs = {{"cleanup.policy", "compact"}}})
          .ok());
  CreateTopic("enriched", 2);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "click-enrich", "enrich", "state", "enrich.log",
                       {"--clicks", "clicks", "--profiles", "profiles", "--output", "enriched"}));
  std::mt19937 rng(17);
  std::map<std::string, std::string> profile;  // user -> the latest profile, as produced
  std::multiset<KeyValueTs> expected;
  int64_t ts = 1'700'000'000'000;
  // Profiles for some users; then clicks; then new profiles (updates and first ones); clicks.
  // Each batch is processed before the next goes in, so which profile a click sees is known.
  const auto profiles = [&](int version, int every) {
    std::vector<Rec> records;
    for (int u = 0; u < 20; u += every) {
      const std::string user = absl::StrCat("u", u);
      profile[user] = absl::StrCat(R"({"name":"user )", u, R"(","version":)", version, "}");
      records.push_back(Rec{user, profile[user], ts++, std::nullopt});
    }
    Produce("profiles", records);
  };
  const auto clicks = [&](int n) {
    std::vector<Rec> records;
    for (int i = 0; i < n; ++i) {
      const std::string user = absl::StrCat("u", rng() % 20);
      const std::string click =
          rng() % 2 ? absl::StrCat("click ", i)
                    : absl::StrCat(R"({"page":"/p/)", i, R"(","pos":)", rng() % 10, "}");
      auto it = profile.find(user);
      expected.emplace(
          user,
          absl::StrCat(R"({"user_id":")", user, R"(","click":)", Embedded(click), R"(,"profile":)",
                       it == profile.end() ? "null" : it->second, "}"),
          ts);
      records.push_back(Rec{user, click, ts++, std::nullopt});
    }
    Produce("clicks", records);
  };
  const auto caught_up = [&](const std::set<std::string>& topics) {
    ASSERT_TRUE(WaitFor([&] { return CaughtUp("enrich", topics); }, milliseconds(30000)))
        << Log("enrich.log");
  };
  profiles(1, 2);  // u0, u2, ...
  caught_up({"profiles"});
  clicks(300);
  caught_up({"profiles", "clicks"});
  profiles(2, 3);  // u0, u3, u6, ...: some updated, some new
  caught_up({"profiles", "clicks"});
  clicks(300);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("enriched");
        return output.size() >= expected.size() && CaughtUp("enrich", {"profiles", "clicks"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("enrich.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("enrich.log");
}

// Searches and clicks of 10 users, one record every 100 ms on average with up to 1 s of
// disorder (timestamps are multiples of 50 ms), alternately from the two topics at random; values:
// queries as plain text, clicks as plain text or a JSON object.
struct SearchOrClick {
  bool search = false;
  std::string user;
  std::string value;
  int64_t ts = 0;
};

std::vector<SearchOrClick> SearchesAndClicks(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<SearchOrClick> out;
  const int64_t base = 1'700'000'000'000;
  for (int i = 0; i < n; ++i) {
    SearchOrClick e;
    e.search = rng() % 2 == 0;
    e.user = absl::StrCat("user-", rng() % 10);
    // Multiples of 50 ms, so that many pairs are exactly the window apart or just over it.
    e.ts = base + i * 100 - 50 * static_cast<int64_t>(rng() % 20);
    e.value = e.search
                  ? absl::StrCat("query ", i)
                  : (rng() % 2 ? absl::StrCat("click ", i) : absl::StrCat(R"({"item":)", i, "}"));
    out.push_back(e);
  }
  return out;
}

// What search-click-join makes of `events` with window `window` when nothing is late: every
// (search, click) of one user at most `window` ms apart.
std::multiset<KeyValueTs> ExpectedPairs(const std::vector<SearchOrClick>& events, int64_t window) {
  std::multiset<KeyValueTs> out;
  for (const SearchOrClick& s : events) {
    if (!s.search) continue;
    for (const SearchOrClick& c : events) {
      if (c.search || c.user != s.user || std::abs(c.ts - s.ts) > window) continue;
      out.emplace(
          s.user,
          absl::StrCat(R"({"key":")", s.user, R"(","query":)", Embedded(s.value), R"(,"click":)",
                       Embedded(c.value), R"(,"query_ts":)", s.ts, R"(,"click_ts":)", c.ts, "}"),
          std::max(s.ts, c.ts));
    }
  }
  return out;
}

void SplitEvents(const std::vector<SearchOrClick>& events, size_t from, size_t to,
                 std::vector<Rec>* searches, std::vector<Rec>* clicks) {
  for (size_t i = from; i < to && i < events.size(); ++i) {
    const SearchOrClick& e = events[i];
    (e.search ? searches : clicks)->push_back(Rec{e.user, e.value, e.ts, std::nullopt});
  }
}

// The grace the search-click-join tests run with: longer than their input spans, so no record is
// late whatever order the two topics are read in, and the expected pairs are all pairs.
const std::vector<std::string> kSearchClickArgs = {
    "--searches", "searches",    "--clicks", "clicks",     "--output",
    "pairs",      "--window-ms", "2000",     "--grace-ms", "3600000"};

TEST_F(StreamsE2eTest, SearchClickJoinPairsEverySearchAndClickWithinTheWindow) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(1500, 4);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "search-click-join", "join", "state", "join.log", kSearchClickArgs));
  std::vector<Rec> searches, clicks;
  SplitEvents(events, 0, events.size(), &searches, &clicks);
  Produce("searches", searches);
  Produce("clicks", clicks);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("pairs");
        return output.size() >= expected.size() && CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("join.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 500u) << "too few pairs to test the join";
  int at_the_bound = 0;  // pairs exactly the window apart: the bound is inclusive
  for (const SearchOrClick& s : events) {
    for (const SearchOrClick& c : events) {
      at_the_bound += s.search && !c.search && s.user == c.user && c.ts - s.ts == 2000 ? 1 : 0;
    }
  }
  EXPECT_GT(at_the_bound, 10);
  const std::optional<int> status = app.SignalAndWait(SIGINT, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("join.log");
}

TEST_F(StreamsE2eTest, SearchClickJoinHandedOverBetweenThreadsPairsEverySearchAndClickOnce) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(4000, 5);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  // Part 0 is the first half; parts 1 to 20 the rest, in equal slices.
  const auto produce = [&](int part) {
    const size_t half = events.size() / 2, step = (events.size() - half + 19) / 20;
    const size_t from = part == 0 ? 0 : half + (part - 1) * step;
    const size_t to = part == 0 ? half : std::min(events.size(), from + step);
    std::vector<Rec> searches, clicks;
    SplitEvents(events, from, to, &searches, &clicks);
    if (!searches.empty()) Produce("searches", searches);
    if (!clicks.empty()) Produce("clicks", clicks);
  };
  std::vector<Out> output;
  RunHandedOverBetweenThreads("search-click-join", "join-moved", kSearchClickArgs,
                              {"searches", "clicks"}, produce, [&] {
                                output = ReadAll("pairs");
                                return output.size() >= expected.size();
                              });
  // Clean hand-overs commit first: nothing is processed twice, so every pair is there once.
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 1000u) << "too few pairs to test the join";
}

TEST_F(StreamsE2eTest, SearchClickJoinKilledMidStreamRestoresItsJoinStoresAndMissesNoPair) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(3000, 8);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  const size_t half = events.size() / 2;
  ChildProcess first;
  ASSERT_TRUE(
      StartApp(first, "search-click-join", "join", "state-1", "first.log", kSearchClickArgs));
  {
    std::vector<Rec> searches, clicks;
    SplitEvents(events, 0, half, &searches, &clicks);
    Produce("searches", searches);
    Produce("clicks", clicks);
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(30000)))
      << Log("first.log");
  // The rest goes in 30 events every 20 ms while the instance is killed part-way.
  std::atomic<bool> producing{true};
  std::thread paced([&] {
    for (size_t from = half; from < events.size(); from += 30) {
      std::vector<Rec> searches, clicks;
      SplitEvents(events, from, from + 30, &searches, &clicks);
      Produce("searches", searches);
      Produce("clicks", clicks);
      std::this_thread::sleep_for(milliseconds(20));
    }
    producing = false;
  });
  std::this_thread::sleep_for(milliseconds(400));
  const std::optional<int> killed = first.SignalAndWait(SIGKILL, milliseconds(5000));
  ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << testing::DescribeStatus(killed);
  const int64_t uncommitted =
      Uncommitted(*admin_, "join", "searches") + Uncommitted(*admin_, "join", "clicks");
  std::cout << "[ measured ] killed with " << uncommitted << " events produced but not committed"
            << (producing ? ", input still coming" : ", input complete (the kill came late)")
            << "\n";
  // A fresh state dir: the searches and clicks the first instance saw come back only from the
  // join stores' changelogs, and the pairs they make with later records need them.
  ChildProcess second;
  ASSERT_TRUE(
      StartApp(second, "search-click-join", "join", "state-2", "second.log", kSearchClickArgs));
  paced.join();
  const std::set<KeyValueTs> want(expected.begin(), expected.end());
  std::vector<Out> output;
  std::set<KeyValueTs> got;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("pairs");
        got.clear();
        for (const Out& o : output) got.emplace(o.key, o.value, o.timestamp);
        return got.size() >= want.size() && CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(40000), milliseconds(300)))
      << got.size() << " of " << want.size() << " pairs\n"
      << Log("first.log") << "\n---\n"
      << Log("second.log");
  // At least once: a record processed again after the crash joins its partners again, so
  // pairs may repeat; none may be missing or wrong.
  const std::multiset<KeyValueTs> distinct_got(got.begin(), got.end());
  const std::multiset<KeyValueTs> distinct_want(want.begin(), want.end());
  EXPECT_EQ(distinct_got, distinct_want) << Diff(distinct_got, distinct_want);
  const int64_t restored = RestoredRecords(Log("second.log"));
  std::cout << "[ measured ] restored " << restored << " changelog records; "
            << output.size() - want.size() << " pair(s) emitted twice (at-least-once)\n";
  EXPECT_GT(restored, 0) << "the restarted instance restored nothing\n" << Log("second.log");
  const std::optional<int> status = second.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("second.log");
}

// Input for sessions: 8 keys, 3 of them active at a time (the active set changes every 2 s, so a
// key's sessions end), one event every 50 ms for `steps` steps, one in five up to `max_behind` ms
// (a multiple of 50) behind, all at multiples of 50 ms (so that many are exactly 300 ms apart);
// key i on partition i % 2. With `long_sessions`, every second event goes instead, in order, to
// "long-0" (partition 0) or "long-1" (partition 1) in turn, so each has one every 200 ms, except
// in steps [1500, 1520) and [3500, 3520): sessions of ~75 s with a 300 ms gap. Then one event per
// partition 100 s ahead, which closes every session before it.
std::vector<Rec> SessionEvents(int steps, uint32_t seed, int64_t max_behind, bool long_sessions) {
  std::mt19937 rng(seed);
  int64_t now = 1'700'000'000'000;
  std::vector<Rec> events;
  std::vector<int> active{0, 1, 2};
  for (int step = 0; step < steps; ++step) {
    now += 50;
    if (step % 40 == 0) {
      for (int& k : active) k = static_cast<int>(rng() % 8);
    }
    const bool paused = (step >= 1500 && step < 1520) || (step >= 3500 && step < 3520);
    if (long_sessions && step % 2 == 0 && !paused) {
      const int32_t p = (step / 2) % 2;
      events.push_back(Rec{absl::StrCat("long-", p), "e", now, p});
      continue;
    }
    const int k = active[rng() % active.size()];
    const int64_t ts =
        rng() % 5 == 0 ? now - 50 * static_cast<int64_t>(rng() % (max_behind / 50 + 1)) : now;
    events.push_back(Rec{absl::StrCat("k", k), "e", ts, k % 2});
  }
  for (int32_t p = 0; p < 2; ++p) {
    events.push_back(Rec{absl::StrCat("closer-", p), "e", now + 100'000, p});
  }
  return events;
}

// A session as sessions emits it: key, start, end.
using SessionId = std::tuple<std::string, int64_t, int64_t>;

std::string SessionJson(const SessionId& s, int64_t count) {
  return absl::StrCat(R"({"key":")", std::get<0>(s), R"(","start":)", std::get<1>(s), R"(,"end":)",
                      std::get<2>(s), R"(,"count":)", count, "}");
}

// What sessions makes of `events` (none of them more than `grace` behind its partition's stream
// time, so none is late), computed apart from the topology: per key, the sorted timestamps split
// where two are more than `gap` apart; a session is emitted (with the number of its events) once
// its partition's stream time (here the largest timestamp) reaches end + gap + grace + 1. Counts
// the keys whose events are out of order and the neighbours exactly `gap` apart (one session:
// the bound is inclusive).
std::map<SessionId, int64_t> ExpectedSessions(const std::vector<Rec>& events, int64_t gap,
                                              int64_t grace, int* keys_out_of_order,
                                              int* gap_apart) {
  std::map<std::string, std::vector<int64_t>> times;
  std::map<int32_t, int64_t> stream_time;
  std::map<std::string, int32_t> partition_of;
  for (const Rec& e : events) {
    times[*e.key].push_back(e.timestamp);
    stream_time[*e.partition] = std::max(stream_time[*e.partition], e.timestamp);
    EXPECT_GE(e.timestamp + grace, stream_time[*e.partition]) << "a late event in the input";
    partition_of[*e.key] = *e.partition;
  }
  std::map<SessionId, int64_t> expected;
  for (auto& [key, ts] : times) {
    std::vector<int64_t> arrival = ts;
    std::sort(ts.begin(), ts.end());
    *keys_out_of_order += arrival != ts ? 1 : 0;
    size_t first = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i < ts.size() && ts[i] - ts[i - 1] <= gap) {
        *gap_apart += ts[i] - ts[i - 1] == gap ? 1 : 0;
        continue;
      }
      if (ts[i - 1] + gap + grace + 1 <= stream_time[partition_of[key]]) {
        expected[{key, ts[first], ts[i - 1]}] = static_cast<int64_t>(i - first);
      }
      first = i;
    }
  }
  return expected;
}

std::multiset<KeyValueTs> SessionRecords(const std::map<SessionId, int64_t>& sessions) {
  std::multiset<KeyValueTs> out;
  for (const auto& [s, count] : sessions) {
    out.emplace(std::get<0>(s), SessionJson(s, count), std::get<2>(s));
  }
  return out;
}

TEST_F(StreamsE2eTest, SessionsEmitsEveryClosedSessionOnceWithItsCount) {
  CreateTopic("events", 2);
  CreateTopic("sessions", 2);
  constexpr int64_t kGap = 300, kGrace = 500;
  const std::vector<Rec> events = SessionEvents(2000, 23, kGrace, /*long_sessions=*/false);
  int keys_out_of_order = 0, gap_apart = 0;
  const std::multiset<KeyValueTs> expected =
      SessionRecords(ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart));
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "sessions", "sess", "state", "sessions.log",
                       {"--input", "events", "--output", "sessions", "--gap-ms",
                        std::to_string(kGap), "--grace-ms", std::to_string(kGrace)}));
  Produce("events", events);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("sessions");
        return output.size() >= expected.size() && CaughtUp("sess", {"events"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("sessions.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 50u) << "too few sessions to test";
  EXPECT_GT(keys_out_of_order, 0) << "no out-of-order event in the input";
  EXPECT_GT(gap_apart, 10) << "too few events exactly the gap apart";
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("sessions.log");
}

TEST_F(StreamsE2eTest, SessionsHandedOverBetweenThreadsEmitsEveryClosedSessionOnce) {
  CreateTopic("events", 2);
  CreateTopic("sessions", 2);
  constexpr int64_t kGap = 300, kGrace = 500;
  const std::vector<Rec> events = SessionEvents(4000, 29, kGrace, /*long_sessions=*/true);
  int keys_out_of_order = 0, gap_apart = 0;
  const std::multiset<KeyValueTs> expected =
      SessionRecords(ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart));
  // Part 0 is the first half; parts 1 to 20 the rest, in equal slices. The long sessions
  // (SessionEvents) run across every hand-over.
  const auto produce = [&](int part) {
    const size_t half = events.size() / 2, step = (events.size() - half + 19) / 20;
    const size_t from = part == 0 ? 0 : half + (part - 1) * step;
    const size_t to = part == 0 ? half : std::min(events.size(), from + step);
    if (from < to) Produce("events", std::vector<Rec>(events.begin() + from, events.begin() + to));
  };
  std::vector<Out> output;
  RunHandedOverBetweenThreads("sessions", "sess-moved",
                              {"--input", "events", "--output", "sessions", "--gap-ms",
                               std::to_string(kGap), "--grace-ms", std::to_string(kGrace)},
                              {"events"}, produce, [&] {
                                output = ReadAll("sessions");
                                return output.size() >= expected.size();
                              });
  // Clean hand-overs commit first: nothing is processed twice, so every session is there once,
  // with its count.
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 100u) << "too few sessions to test";
}

// Per partition of `topic`: the offset group `app` has committed (0 for none) and the
// partition's end offset, as the group's description gives them now.
std::map<int32_t, std::pair<int64_t, int64_t>> CommittedAndEnd(client::Admin& admin,
                                                               const std::string& app,
                                                               const std::string& topic) {
  std::map<int32_t, std::pair<int64_t, int64_t>> out;
  auto rows = admin.DescribeGroup(app);
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok()) return out;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic == topic) {
      out[row.partition] = {std::max<int64_t>(row.committed, 0), row.end_offset};
    }
  }
  return out;
}

// sessions killed with SIGKILL part-way through its input and started again (same application
// id) on a fresh state dir or on the killed instance's (which, without a checkpoint, the runtime
// wipes too): either way the session store and the suppression buffer come back from their
// changelogs. Input: SessionEvents(4000, ..., long_sessions), gap 300 ms, grace 500 ms. The
// first half goes in and is committed. Mid-stream, the next quarter goes in 40 events every
// 20 ms and the instance is killed once it has committed 200 of them; the last quarter goes in
// after the kill. Otherwise it is killed with everything committed and the rest goes in after
// the restart.//
// What is checked, against ExpectedSessions computed from the input here. The runtime is
// at-least-once: the events between the group's committed offset and the partition's end at the
// kill (`replayed`; an event's offset is its place in the order the test produced its partition)
// may be processed twice, before the kill (their effect is in the restored stores) and again
// after. Such an event counts twice in its session and may make the session be emitted twice
// (its removal from the suppression buffer was not committed, or the replay puts it back). So:
//   - every expected session (key, start, end) is emitted, and each emission of it counts from
//     its number of events up to that plus the replayed events in it;
//   - any other emission lies inside an expected session of its key, starts and ends at replayed
//     events of that key and counts at most the replayed events between them (a session rebuilt
//     from replays alone, had the restored one already been dropped as expired);
//   - with nothing replayed, the output is exactly the expected sessions, each once.
// Sessions open at the kill (events before the committed offset and events produced after the
// kill: the long ones) must exist: such a session is emitted with its true start and count only
// if its first part came back from the changelogs; without the restore it would be missing and a
// shorter session, not made of replayed events only, would take its place.
class SessionsKillE2eTest : public StreamsE2eTest {
 protected:
  void Run(bool wipe_state, bool mid_stream) {
    CreateTopic("events", 2);
    CreateTopic("sessions", 2);
    constexpr int64_t kGap = 300, kGrace = 500;
    const std::vector<std::string> args = {"--input",    "events",
                                           "--output",   "sessions",
                                           "--gap-ms",   std::to_string(kGap),
                                           "--grace-ms", std::to_string(kGrace)};
    const std::vector<Rec> events = SessionEvents(4000, 31, kGrace, /*long_sessions=*/true);
    int keys_out_of_order = 0, gap_apart = 0;
    const std::map<SessionId, int64_t> expected =
        ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart);
    ASSERT_GT(expected.size(), 100u) << "too few sessions to test";
    std::vector<int64_t> offsets;
    std::map<int32_t, int64_t> produced;
    for (const Rec& e : events) offsets.push_back(produced[*e.partition]++);

    // The first part ends mid-way through an active set of keys (which change every 40 events),
    // so that sessions are open at its end.
    const size_t half = events.size() / 2 + 20;
    const size_t three_quarters = events.size() * 3 / 4;
    ChildProcess first;
    ASSERT_TRUE(StartApp(first, "sessions", "sess", "state-1", "first.log", args));
    Produce("events", std::vector<Rec>(events.begin(), events.begin() + half));
    ASSERT_TRUE(WaitFor([&] { return CaughtUp("sess", {"events"}); }, milliseconds(30000)))
        << Log("first.log");
    const auto committed_total = [&] {
      int64_t n = 0;
      for (const auto& [p, offsets] : CommittedAndEnd(*admin_, "sess", "events")) {
        n += offsets.first;
      }
      return n;
    };
    // Mid-stream: the events up to three quarters go in, 40 every 20 ms, and the instance is
    // killed once it has committed 200 of them; the rest goes in only after the kill, 40 every
    // 20 ms while the second instance starts. Without `mid_stream` it is killed first.
    std::atomic<bool> killed_yet{false};
    std::atomic<bool> producing{mid_stream};
    std::thread paced;
    const auto pace = [&](size_t from, size_t to) {
      for (; from < to; from += 40) {
        Produce("events",
                std::vector<Rec>(events.begin() + from, events.begin() + std::min(to, from + 40)));
        std::this_thread::sleep_for(milliseconds(20));
      }
    };
    if (mid_stream) {
      paced = std::thread([&] {
        pace(half, three_quarters);
        producing = false;
        WaitFor([&] { return killed_yet.load(); }, milliseconds(60000));
        pace(three_quarters, events.size());
      });
      EXPECT_TRUE(WaitFor([&] { return committed_total() >= static_cast<int64_t>(half) + 200; },
                          milliseconds(30000), milliseconds(10)))
          << Log("first.log");
    }
    const std::optional<int> killed = first.SignalAndWait(SIGKILL, milliseconds(5000));
    killed_yet = true;
    const auto at_kill = CommittedAndEnd(*admin_, "sess", "events");
    const bool input_coming = producing;
    ChildProcess second;
    const bool started = StartApp(second, "sessions", "sess", wipe_state ? "state-2" : "state-1",
                                  "second.log", args);
    if (paced.joinable()) paced.join();
    ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << testing::DescribeStatus(killed);
    ASSERT_TRUE(started);
    if (!mid_stream) pace(half, events.size());
    std::vector<bool> replayed(events.size());
    int64_t replays = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      auto it = at_kill.find(*events[i].partition);
      ASSERT_TRUE(it != at_kill.end())
          << "no committed offset for partition " << *events[i].partition;
      replayed[i] = offsets[i] >= it->second.first && offsets[i] < it->second.second;
      replays += replayed[i] ? 1 : 0;
    }
    std::cout << "[ measured ] killed with " << replays << " events read but not committed"
              << (input_coming ? ", input still coming" : "") << "; committed/end offsets";
    for (const auto& [p, offsets] : at_kill) {
      std::cout << " " << p << ":" << offsets.first << "/" << offsets.second;
    }
    std::cout << " (first half: " << half << " events)\n";

    // Events of `key` with timestamps in [start, end]: all of them and the replayed ones;
    // whether one is at `start` and one at `end` among the replayed ones.
    struct Within {
      int64_t all = 0, replayed = 0;
      bool replayed_start = false, replayed_end = false;
    };
    const auto within = [&](const SessionId& s) {
      Within w;
      for (size_t i = 0; i < events.size(); ++i) {
        const Rec& e = events[i];
        if (*e.key != std::get<0>(s) || e.timestamp < std::get<1>(s) ||
            e.timestamp > std::get<2>(s)) {
          continue;
        }
        ++w.all;
        if (!replayed[i]) continue;
        ++w.replayed;
        w.replayed_start |= e.timestamp == std::get<1>(s);
        w.replayed_end |= e.timestamp == std::get<2>(s);
      }
      return w;
    };
    int open_at_kill = 0;
    for (const auto& [s, count] : expected) {
      bool before = false, after = false;
      for (size_t i = 0; i < events.size(); ++i) {
        const Rec& e = events[i];
        if (*e.key != std::get<0>(s) || e.timestamp < std::get<1>(s) ||
            e.timestamp > std::get<2>(s)) {
          continue;
        }
        before |= offsets[i] < at_kill.at(*e.partition).first;
        after |= offsets[i] >= at_kill.at(*e.partition).second;
      }
      open_at_kill += before && after ? 1 : 0;
    }
    EXPECT_GT(open_at_kill, 0) << "no session was open at the kill";

    std::vector<Out> output;
    std::map<SessionId, std::vector<int64_t>> emitted;  // the counts of each emission
    const auto all_emitted = [&] {
      output = ReadAll("sessions");
      emitted.clear();
      for (const Out& o : output) {
        Json j = Json::parse(o.value, nullptr, false);
        if (j.is_discarded() || !j.contains("count")) {
          ADD_FAILURE() << "not a session: " << o.value;
          continue;
        }
        emitted[{j["key"].get<std::string>(), j["start"].get<int64_t>(), j["end"].get<int64_t>()}]
            .push_back(j["count"].get<int64_t>());
      }
      for (const auto& [s, count] : expected) {
        if (!emitted.contains(s)) return false;
      }
      return CaughtUp("sess", {"events"});
    };
    EXPECT_TRUE(WaitFor(all_emitted, milliseconds(60000), milliseconds(500)))
        << Log("first.log") << "\n---\n"
        << Log("second.log");
    int64_t counted_twice = 0, emitted_twice = 0, rebuilt = 0;
    for (const auto& [s, count] : expected) {
      auto it = emitted.find(s);
      if (it == emitted.end()) {
        ADD_FAILURE() << "session not emitted: " << SessionJson(s, count);
        continue;
      }
      const int64_t replayed_in = within(s).replayed;
      for (const int64_t c : it->second) {
        EXPECT_TRUE(c >= count && c <= count + replayed_in)
            << SessionJson(s, c) << ": expected a count of " << count << " (+ up to " << replayed_in
            << " replayed)";
        counted_twice += c - count;
      }
      emitted_twice += static_cast<int64_t>(it->second.size()) - 1;
    }
    for (const auto& [s, counts] : emitted) {
      if (expected.contains(s)) continue;
      ++rebuilt;
      bool inside = false;
      for (auto e = expected.lower_bound({std::get<0>(s), INT64_MIN, INT64_MIN});
           e != expected.end() && std::get<0>(e->first) == std::get<0>(s); ++e) {
        inside |=
            std::get<1>(e->first) <= std::get<1>(s) && std::get<2>(s) <= std::get<2>(e->first);
      }
      const Within w = within(s);
      for (const int64_t c : counts) {
        EXPECT_TRUE(inside && w.replayed_start && w.replayed_end && c <= w.replayed)
            << "unexpected session " << SessionJson(s, c) << " (" << w.replayed
            << " replayed events in it)";
      }
    }
    if (replays == 0) {
      const std::multiset<KeyValueTs> got = AsMultiset(output);
      const std::multiset<KeyValueTs> want = SessionRecords(expected);
      EXPECT_EQ(got, want) << Diff(got, want);
    }
    const int64_t restored = RestoredRecords(Log("second.log"));
    std::cout << "[ measured ] " << expected.size() << " sessions, " << open_at_kill
              << " open at the kill; restored " << restored << " changelog records; "
              << emitted_twice << " emitted again, " << counted_twice << " event(s) counted twice, "
              << rebuilt << " rebuilt from replays\n";
    EXPECT_GT(restored, 0) << "the restarted instance restored nothing\n" << Log("second.log");
    const std::optional<int> status = second.SignalAndWait(SIGTERM, milliseconds(10000));
    ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << testing::DescribeStatus(status) << "\n"
        << Log("second.log");
  }
};

TEST_F(SessionsKillE2eTest, KilledMidStreamRestoresSessionsFromTheChangelogsOnAFreshStateDir) {
  Run(/*wipe_state=*/true, /*mid_stream=*/true);
}

TEST_F(SessionsKillE2eTest, KilledMidStreamRestartsOnItsOwnStateDir) {
  Run(/*wipe_state=*/false, /*mid_stream=*/true);
}

TEST_F(SessionsKillE2eTest, KilledWithEverythingCommittedEmitsEverySessionExactlyOnce) {
  Run(/*wipe_state=*/true, /*mid_stream=*/false);
}

}  // namespace
}  // namespace runnel
