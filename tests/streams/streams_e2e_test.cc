// The example applications (streams/examples/) as processes against a real runneld: generated
// input goes in with a client::Producer, the output topics are read back and compared with a
// computation written here independently of the topologies. Also: an instance killed with SIGKILL
// mid-stream and restarted on a fresh state dir restores its stores from the changelogs and the
// final results still hold; two instances with one application id split the tasks, and when one
// closes the other takes them all. The join examples and sessions: join_examples_e2e_test.cc and
// sessions_e2e_test.cc.
#include "tests/streams/examples_e2e_fixture.h"

namespace runnel::streams_e2e {
namespace {

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

}  // namespace
}  // namespace runnel::streams_e2e
