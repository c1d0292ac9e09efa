// The example topologies through the TopologyTestDriver, checked against simple independent
// computations of what they should produce. (tests/streams/examples_e2e_test.cc runs the example
// programs against a broker.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "streams/examples/example_topologies.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams::examples {
namespace {

using S = std::string;
using Json = nlohmann::json;

std::unique_ptr<TopologyTestDriver> Driver(absl::StatusOr<Topology> topology,
                                           std::map<S, int32_t> partitions = {}) {
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  TestDriverOptions options;
  options.topic_partitions = std::move(partitions);
  auto driver = TopologyTestDriver::Create(*topology, options);
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

TEST(ExamplesTest, SplitWordsLowerCasesAndSplitsOnNonAlphanumerics) {
  EXPECT_EQ(SplitWords("Hello, hello WORLD-wide 42x!"),
            (std::vector<S>{"hello", "hello", "world", "wide", "42x"}));
  EXPECT_TRUE(SplitWords("  ,;  ").empty());
}

TEST(ExamplesTest, WordCountMatchesACountOfTheSameWords) {
  auto driver = Driver(WordCountTopology("lines", "counts", StoreType::kInMemory), {{"lines", 3}});
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> lines(driver.get(), "lines", serdes::String(), serdes::String());
  const std::vector<S> words{"Kafka", "runnel", "stream", "STREAM", "log"};
  std::mt19937 random(7);
  std::map<S, int64_t> expected;
  for (int i = 0; i < 200; ++i) {
    S line;
    for (int w = 0; w < 5; ++w) {
      const S& word = words[random() % words.size()];
      line += word + (w % 2 ? ", " : " ");
      S lower = word;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      ++expected[lower];
    }
    ASSERT_TRUE(lines.PipeInput("line-" + std::to_string(i), line, i).ok());
  }
  TestOutputTopic<S, S> counts(driver.get(), "counts", serdes::String(), serdes::String());
  auto latest = counts.ReadKeyValuesToMap();
  ASSERT_TRUE(latest.ok());
  std::map<S, int64_t> got;
  for (const auto& [word, count] : *latest) got[word] = std::stoll(count);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(driver->Partitions("test-app-word-counts-repartition"), 3);
}

TEST(ExamplesTest, LogRouterSendsErrorLinesToHighPriorityUnchanged) {
  EXPECT_TRUE(HasErrorToken("ERROR disk full"));
  EXPECT_TRUE(HasErrorToken("disk: ERROR"));
  EXPECT_TRUE(HasErrorToken("[ERROR] x"));
  EXPECT_FALSE(HasErrorToken("ERRORS are fine"));
  EXPECT_FALSE(HasErrorToken("error in lower case"));
  EXPECT_FALSE(HasErrorToken("NOERROR"));
  auto driver = Driver(LogRouterTopology("logs", "high", "low"));
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> logs(driver.get(), "logs", serdes::String(), serdes::String());
  const std::vector<S> lines{"INFO start", "ERROR boom", "WARN slow", "x [ERROR] y", "ERRORS"};
  for (size_t i = 0; i < lines.size(); ++i) ASSERT_TRUE(logs.PipeInput("h", lines[i], 1).ok());
  TestOutputTopic<S, S> high(driver.get(), "high", serdes::String(), serdes::String());
  TestOutputTopic<S, S> low(driver.get(), "low", serdes::String(), serdes::String());
  auto h = high.ReadKeyValuesToList();
  auto l = low.ReadKeyValuesToList();
  ASSERT_TRUE(h.ok() && l.ok());
  EXPECT_EQ(*h, (std::vector<std::pair<S, S>>{{"h", "ERROR boom"}, {"h", "x [ERROR] y"}}));
  EXPECT_EQ(
      *l, (std::vector<std::pair<S, S>>{{"h", "INFO start"}, {"h", "WARN slow"}, {"h", "ERRORS"}}));
}

struct Trade {
  S symbol;
  double price;
  int64_t ts;
};

std::vector<Trade> RandomTrades(int n, int64_t span_ms, uint32_t seed) {
  std::mt19937 random(seed);
  const std::vector<S> symbols{"AAA", "BBB", "CCC", "DDD"};
  std::vector<Trade> trades;
  int64_t ts = 0;
  for (int i = 0; i < n; ++i) {
    ts += random() % (2 * span_ms / n + 1);
    trades.push_back({symbols[random() % symbols.size()], 10 + (random() % 9000) / 100.0, ts});
  }
  return trades;
}

TEST(ExamplesTest, StockStatsEmitsOneFinalRecordPerSymbolAndWindow) {
  constexpr int64_t kWindow = 1000;
  auto driver = Driver(StockStatsTopology(
      "trades", "stats",
      {.window_ms = kWindow, .grace_ms = 0, .late_topic = "late", .store = StoreType::kInMemory}));
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "trades", serdes::String(), serdes::String());
  const std::vector<Trade> trades = RandomTrades(400, 10 * kWindow, 11);
  struct Stats {
    double min = 1e300, max = -1e300, sum = 0;
    int64_t count = 0;
  };
  std::map<std::pair<S, int64_t>, Stats> expected;
  for (const Trade& t : trades) {
    char price[32];
    std::snprintf(price, sizeof(price), "%.2f", t.price);
    ASSERT_TRUE(in.PipeInput(t.symbol, price, t.ts).ok());
    Stats& s = expected[{t.symbol, t.ts / kWindow * kWindow}];
    const double p = std::stod(price);
    s.min = std::min(s.min, p);
    s.max = std::max(s.max, p);
    s.sum += p;
    ++s.count;
  }
  ASSERT_TRUE(in.PipeInput("ZZZ", "not-a-price", trades.back().ts).ok());  // dropped, logged
  // Close every window: a trade far later.
  ASSERT_TRUE(in.PipeInput("ZZZ", "1", trades.back().ts + 10 * kWindow).ok());
  TestOutputTopic<S, S> out(driver.get(), "stats", serdes::String(), serdes::String());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok());
  std::map<std::pair<S, int64_t>, Json> got;
  for (const auto& [symbol, value] : *records) {
    Json j = Json::parse(value);
    EXPECT_EQ(j["symbol"], symbol);
    EXPECT_EQ(j["window_end"].get<int64_t>() - j["window_start"].get<int64_t>(), kWindow);
    EXPECT_TRUE(got.emplace(std::make_pair(symbol, j["window_start"].get<int64_t>()), j).second)
        << "two results for " << symbol << " " << j["window_start"];
  }
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [key, s] : expected) {
    const Json& j = got[key];
    EXPECT_DOUBLE_EQ(j["min"].get<double>(), s.min);
    EXPECT_DOUBLE_EQ(j["max"].get<double>(), s.max);
    EXPECT_NEAR(j["avg"].get<double>(), s.sum / s.count, 1e-9);
    EXPECT_EQ(j["count"].get<int64_t>(), s.count);
  }
  TestOutputTopic<S, S> late(driver.get(), "late", serdes::String(), serdes::String());
  EXPECT_TRUE(late.IsEmpty()) << "the trades came in time order";
}

TEST(ExamplesTest, StockStatsDropsTradesLaterThanGraceAndWritesThemToTheLateTopic) {
  auto driver = Driver(StockStatsTopology(
      "trades", "stats",
      {.window_ms = 100, .grace_ms = 10, .late_topic = "late", .store = StoreType::kInMemory}));
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "trades", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("A", "10", 50).ok());
  ASSERT_TRUE(in.PipeInput("A", "20", 109).ok());
  ASSERT_TRUE(in.PipeInput("A", "30", 60).ok());   // 109 < 100 + 10: in grace
  ASSERT_TRUE(in.PipeInput("A", "40", 110).ok());  // closes [0, 100)
  ASSERT_TRUE(in.PipeInput("A", "50", 70).ok());   // late
  TestOutputTopic<S, S> out(driver.get(), "stats", serdes::String(), serdes::String());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  const Json j = Json::parse((*records)[0].second);
  EXPECT_EQ(j["count"], 2);
  EXPECT_DOUBLE_EQ(j["avg"].get<double>(), 20.0);
  TestOutputTopic<S, S> late(driver.get(), "late", serdes::String(), serdes::String());
  auto l = late.ReadKeyValuesToList();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::pair<S, S>>{{"A", "50"}}));
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
}

TEST(ExamplesTest, TopStocksRanksGainsPerWindowThroughOnePartition) {
  constexpr int64_t kWindow = 1000;
  auto driver =
      Driver(TopStocksTopology("trades", "top",
                               {.top = 3, .window_ms = kWindow, .store = StoreType::kInMemory}),
             {{"trades", 4}});
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->Partitions("test-app-gains-by-window-repartition"), 1);
  TestInputTopic<S, S> in(driver.get(), "trades", serdes::String(), serdes::String());
  const std::vector<Trade> trades = RandomTrades(600, 6 * kWindow, 5);
  std::map<int64_t, std::map<S, std::pair<Trade, Trade>>> spans;  // window -> symbol -> first, last
  for (const Trade& t : trades) {
    char price[32];
    std::snprintf(price, sizeof(price), "%.2f", t.price);
    ASSERT_TRUE(in.PipeInput(t.symbol, price, t.ts).ok());
    Trade parsed = t;
    parsed.price = std::stod(price);
    auto& span = spans[t.ts / kWindow * kWindow];
    auto it = span.find(t.symbol);
    if (it == span.end()) {
      span.emplace(t.symbol, std::make_pair(parsed, parsed));
    } else {
      it->second.second = parsed;  // in time order: the latest is the last
    }
  }
  // Trades after the last window close it on every partition.
  const int64_t end = trades.back().ts / kWindow * kWindow + kWindow;
  for (const int64_t ts : {end + 10}) {
    for (const S symbol : {"AAA", "BBB", "CCC", "DDD"})
      ASSERT_TRUE(in.PipeInput(symbol, "1", ts).ok());
  }

  TestOutputTopic<S, S> out(driver.get(), "top", serdes::String(), serdes::String());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok());
  std::map<int64_t, Json> got;  // the latest ranking of each window
  for (const auto& [key, value] : *records) {
    Json j = Json::parse(value);
    EXPECT_EQ(std::to_string(j["window_start"].get<int64_t>()), key);
    got[j["window_start"].get<int64_t>()] = j;
  }
  for (const auto& [window, by_symbol] : spans) {
    std::vector<std::pair<double, S>> ranked;
    for (const auto& [symbol, span] : by_symbol) {
      ranked.emplace_back((span.second.price - span.first.price) / span.first.price * 100, symbol);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    ranked.resize(std::min<size_t>(ranked.size(), 3));
    ASSERT_TRUE(got.contains(window)) << "no ranking for window " << window;
    const Json& top = got[window]["top"];
    ASSERT_EQ(top.size(), ranked.size()) << window;
    for (size_t i = 0; i < ranked.size(); ++i) {
      EXPECT_EQ(top[i]["symbol"], ranked[i].second) << window << " #" << i;
      EXPECT_NEAR(top[i]["gain_pct"].get<double>(), ranked[i].first, 1e-9);
    }
  }
}

// (symbol, gain_pct) of each ranking written to `out` since the last call, in order.
std::vector<std::pair<int64_t, std::vector<std::pair<S, double>>>> NewRankings(
    TestOutputTopic<S, S>& out) {
  std::vector<std::pair<int64_t, std::vector<std::pair<S, double>>>> rankings;
  auto records = out.ReadKeyValuesToList();
  EXPECT_TRUE(records.ok()) << records.status();
  for (const auto& [key, value] : records.value_or(std::vector<std::pair<S, S>>{})) {
    const Json j = Json::parse(value);
    EXPECT_EQ(key, std::to_string(j["window_start"].get<int64_t>()));
    std::vector<std::pair<S, double>> top;
    for (const Json& entry : j["top"]) {
      top.emplace_back(entry["symbol"].get<S>(), entry["gain_pct"].get<double>());
    }
    rankings.emplace_back(j["window_start"].get<int64_t>(), std::move(top));
  }
  return rankings;
}

std::vector<S> Symbols(const std::vector<std::pair<S, double>>& top) {
  std::vector<S> out;
  for (const auto& [symbol, gain] : top) out.push_back(symbol);
  return out;
}

// Issue 18 item 6: day N's list used to wait for day N + 2 (phase 2's grace of one window).
TEST(ExamplesTest, TopStocksListsADayRightAfterTheNextDaysFirstTradeOnOnePartition) {
  constexpr int64_t kDay = 1000;
  auto driver =
      Driver(TopStocksTopology("trades", "top",
                               {.top = 2, .window_ms = kDay, .store = StoreType::kInMemory}),
             {{"trades", 1}});
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "trades", serdes::String(), serdes::String());
  TestOutputTopic<S, S> out(driver.get(), "top", serdes::String(), serdes::String());
  for (const auto& [symbol, price, ts] :
       std::vector<std::tuple<S, S, int64_t>>{{"AAA", "10", 100},
                                              {"BBB", "10", 150},
                                              {"CCC", "10", 170},
                                              {"AAA", "11", 200},    // +10 %
                                              {"BBB", "12", 400},    // +20 %
                                              {"CCC", "9", 999}}) {  // -10 %
    ASSERT_TRUE(in.PipeInput(symbol, price, ts).ok());
  }
  EXPECT_TRUE(NewRankings(out).empty()) << "day 0 has not closed yet";
  ASSERT_TRUE(in.PipeInput("CCC", "9", kDay).ok());  // day 1's first trade closes day 0
  const auto rankings = NewRankings(out);
  ASSERT_EQ(rankings.size(), 1u);
  EXPECT_EQ(rankings[0].first, 0);
  EXPECT_EQ(Symbols(rankings[0].second), (std::vector<S>{"BBB", "AAA"}));
  EXPECT_NEAR(rankings[0].second[0].second, 20, 1e-9);
  EXPECT_NEAR(rankings[0].second[1].second, 10, 1e-9);
  ASSERT_TRUE(in.PipeInput("AAA", "12", kDay + 500).ok());
  EXPECT_TRUE(NewRankings(out).empty()) << "day 1 has not closed yet";
}

// With several input partitions each closes the day on its own: the list comes with the first
// and is updated with each other one's gains (a lagging partition's are added, not dropped); it
// is complete right after the last partition's first trade of the next day.
TEST(ExamplesTest, TopStocksListsADayAsEachInputPartitionClosesIt) {
  constexpr int64_t kDay = 1000;
  auto driver =
      Driver(TopStocksTopology("trades", "top",
                               {.top = 2, .window_ms = kDay, .store = StoreType::kInMemory}),
             {{"trades", 3}});
  ASSERT_NE(driver, nullptr);
  TestOutputTopic<S, S> out(driver.get(), "top", serdes::String(), serdes::String());
  auto trade = [&](int32_t partition, const S& symbol, const S& price, int64_t ts) {
    const absl::Status s = driver->PipeRaw("trades", symbol, price, ts, partition);
    EXPECT_TRUE(s.ok()) << s;
  };
  trade(0, "AAA", "10", 100);
  trade(1, "BBB", "10", 150);
  trade(2, "CCC", "10", 120);
  trade(0, "AAA", "11", 200);  // +10 %
  trade(1, "BBB", "12", 250);  // +20 %
  trade(2, "CCC", "15", 300);  // +50 %
  EXPECT_TRUE(NewRankings(out).empty());

  trade(1, "BBB", "1", kDay + 100);  // partition 1 is first into day 1
  auto rankings = NewRankings(out);
  ASSERT_EQ(rankings.size(), 1u);
  EXPECT_EQ(rankings[0].first, 0);
  EXPECT_EQ(Symbols(rankings[0].second), (std::vector<S>{"BBB"}));

  trade(0, "AAA", "1", kDay + 900);
  rankings = NewRankings(out);
  ASSERT_EQ(rankings.size(), 1u);
  EXPECT_EQ(Symbols(rankings[0].second), (std::vector<S>{"BBB", "AAA"}));

  // Partition 2 lags far behind the others' stream time, and its gain still counts.
  trade(2, "CCC", "1", kDay + 50);
  rankings = NewRankings(out);
  ASSERT_EQ(rankings.size(), 1u);
  EXPECT_EQ(rankings[0].first, 0);
  EXPECT_EQ(Symbols(rankings[0].second), (std::vector<S>{"CCC", "BBB"}));
  EXPECT_NEAR(rankings[0].second[0].second, 50, 1e-9);
  EXPECT_NEAR(rankings[0].second[1].second, 20, 1e-9);
}

TEST(ExamplesTest, TopStocksRefusesATopBelowOne) {
  auto topology = TopStocksTopology("in", "out", {.top = 0});
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("--top 0"), std::string::npos);
}

// The records of `out` not read yet as (key, value, timestamp); a null key reads "<null>".
using Got = std::tuple<S, S, int64_t>;
std::vector<Got> ReadAll(TestOutputTopic<S, S>& out) {
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<Got> got;
  if (!records.ok()) return got;
  for (auto& r : *records) {
    got.emplace_back(r.key_null ? "<null>" : r.key, r.value.value_or("<tombstone>"), r.timestamp);
  }
  return got;
}

TEST(ExamplesTest, EmbeddedJsonKeepsJsonAndQuotesEverythingElse) {
  EXPECT_EQ(EmbeddedJson(R"({"b": 1, "a": [1, 2.5]})"), R"({"b":1,"a":[1,2.5]})");
  EXPECT_EQ(EmbeddedJson("42"), "42");
  EXPECT_EQ(EmbeddedJson(R"("quoted")"), R"("quoted")");
  EXPECT_EQ(EmbeddedJson("true"), "true");
  EXPECT_EQ(EmbeddedJson("red shoes"), R"("red shoes")");
  EXPECT_EQ(EmbeddedJson(R"({"a":)"), R"("{\"a\":")");
  EXPECT_EQ(EmbeddedJson(""), R"("")");
  EXPECT_EQ(EmbeddedJson("caf\xff"), "\"caf\xef\xbf\xbd\"");  // invalid UTF-8 -> U+FFFD
}

TEST(ExamplesTest, ClickEnrichJoinsEachClickWithTheProfileOfThatMoment) {
  auto driver = Driver(ClickEnrichTopology("clicks", "profiles", "enriched", StoreType::kInMemory),
                       {{"clicks", 2}, {"profiles", 2}});
  ASSERT_NE(driver, nullptr);
  TestOutputTopic<S, S> enriched_out(driver.get(), "enriched", serdes::String(), serdes::String());
  TestInputTopic<S, S> clicks(driver.get(), "clicks", serdes::String(), serdes::String());
  TestInputTopic<S, S> profiles(driver.get(), "profiles", serdes::String(), serdes::String());
  ASSERT_TRUE(clicks.PipeInput("u1", "c0", 10).ok());  // no profile yet
  ASSERT_TRUE(profiles.PipeInput("u1", R"({"name":"Ann","tier":"gold"})", 20).ok());
  ASSERT_TRUE(clicks.PipeInput("u1", R"({"page": "/home"})", 30).ok());
  ASSERT_TRUE(profiles.PipeInput("u1", R"({"name":"Ann","tier":"platinum"})", 40).ok());
  ASSERT_TRUE(clicks.PipeInput("u1", "c2", 35).ok());  // older than the update: still sees it
  ASSERT_TRUE(clicks.PipeInput("u2", "c3", 50).ok());  // u2 has no profile
  ASSERT_TRUE(profiles.PipeInput("u2", "plain text", 60).ok());
  ASSERT_TRUE(clicks.PipeInput("u2", "7", 70).ok());
  ASSERT_TRUE(profiles.PipeTombstone("u1", 80).ok());  // u1's profile deleted
  ASSERT_TRUE(clicks.PipeInput("u1", "c4", 90).ok());
  ASSERT_TRUE(clicks.PipeValue("anonymous", 100).ok());  // no key: no user, no profile
  EXPECT_EQ(
      ReadAll(enriched_out),
      (std::vector<Got>{
          {"u1", R"({"user_id":"u1","click":"c0","profile":null})", 10},
          {"u1",
           R"({"user_id":"u1","click":{"page":"/home"},"profile":{"name":"Ann","tier":"gold"}})",
           30},
          {"u1", R"({"user_id":"u1","click":"c2","profile":{"name":"Ann","tier":"platinum"}})", 35},
          {"u2", R"({"user_id":"u2","click":"c3","profile":null})", 50},
          {"u2", R"({"user_id":"u2","click":7,"profile":"plain text"})", 70},
          {"u1", R"({"user_id":"u1","click":"c4","profile":null})", 90},
          {"<null>", R"({"user_id":null,"click":"anonymous","profile":null})", 100},
      }));
  auto store = driver->KeyValueStoreContents("profiles");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 1u) << "u2 only: u1's row was deleted";
  EXPECT_FALSE(driver->Records("test-app-profiles-changelog").empty());
}

TEST(ExamplesTest, SearchClickJoinPairsRecordsUpToTheWindowApartInEitherOrder) {
  auto driver = Driver(
      SearchClickJoinTopology("searches", "clicks", "pairs",
                              {.window_ms = 10, .grace_ms = 20, .store = StoreType::kInMemory}));
  ASSERT_NE(driver, nullptr);
  TestOutputTopic<S, S> pairs_out(driver.get(), "pairs", serdes::String(), serdes::String());
  TestInputTopic<S, S> searches(driver.get(), "searches", serdes::String(), serdes::String());
  TestInputTopic<S, S> clicks(driver.get(), "clicks", serdes::String(), serdes::String());
  const auto pair = [](const S& key, const S& query, const S& click, int64_t qts, int64_t cts) {
    return Got{key,
               absl::StrCat(R"({"key":")", key, R"(","query":)", query, R"(,"click":)", click,
                            R"(,"query_ts":)", qts, R"(,"click_ts":)", cts, "}"),
               std::max(qts, cts)};
  };
  ASSERT_TRUE(searches.PipeInput("u1", "shoes", 100).ok());
  ASSERT_TRUE(clicks.PipeInput("u1", "c1", 105).ok());
  ASSERT_TRUE(clicks.PipeInput("u1", R"({"pos":2})", 110).ok());  // exactly the window apart
  ASSERT_TRUE(clicks.PipeInput("u1", "c3", 111).ok());            // one ms too far
  EXPECT_EQ(ReadAll(pairs_out),
            (std::vector<Got>{pair("u1", R"("shoes")", R"("c1")", 100, 105),
                              pair("u1", R"("shoes")", R"({"pos":2})", 100, 110)}));
  // A later search joins every click within 10 ms of it, earlier ones included.
  ASSERT_TRUE(searches.PipeInput("u1", "boots", 115).ok());
  // Another user's records never join u1's.
  ASSERT_TRUE(searches.PipeInput("u2", "hats", 112).ok());
  ASSERT_TRUE(clicks.PipeInput("u2", "c9", 100).ok());  // 12 ms before: too far
  // Out of order, within the grace (stream time 115 <= 95 + 10 + 20): joins shoes, not boots.
  ASSERT_TRUE(clicks.PipeInput("u1", "c4", 95).ok());
  EXPECT_EQ(ReadAll(pairs_out),
            (std::vector<Got>{pair("u1", R"("boots")", R"("c1")", 115, 105),
                              pair("u1", R"("boots")", R"({"pos":2})", 115, 110),
                              pair("u1", R"("boots")", R"("c3")", 115, 111),
                              pair("u1", R"("shoes")", R"("c4")", 100, 95)}));
  // Past the grace: at stream time 200 a click at 99 (window closed at 99 + 10 + 20) is late and
  // dropped, though "shoes" at 100 is still in the store.
  ASSERT_TRUE(searches.PipeInput("u3", "later", 200).ok());
  ASSERT_TRUE(clicks.PipeInput("u1", "late", 99).ok());
  EXPECT_EQ(ReadAll(pairs_out), std::vector<Got>{});
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  EXPECT_FALSE(driver->Records("test-app-search-click-this-join-store-changelog").empty());
  EXPECT_FALSE(driver->Records("test-app-search-click-other-join-store-changelog").empty());
}

TEST(ExamplesTest, SessionsEmitsEachClosedSessionOnceAfterMerges) {
  auto driver = Driver(SessionsTopology(
      "events", "sessions", {.gap_ms = 10, .grace_ms = 5, .store = StoreType::kInMemory}));
  ASSERT_NE(driver, nullptr);
  TestOutputTopic<S, S> sessions_out(driver.get(), "sessions", serdes::String(), serdes::String());
  TestInputTopic<S, S> events(driver.get(), "events", serdes::String(), serdes::String());
  const auto session = [](const S& key, int64_t start, int64_t end, int64_t count) {
    return Got{key,
               absl::StrCat(R"({"key":")", key, R"(","start":)", start, R"(,"end":)", end,
                            R"(,"count":)", count, "}"),
               end};
  };
  ASSERT_TRUE(events.PipeInput("a", "x", 100).ok());
  ASSERT_TRUE(events.PipeInput("a", "x", 110).ok());  // exactly the gap: same session
  ASSERT_TRUE(events.PipeInput("a", "x", 125).ok());  // 15 later: a new session
  // Out of order (7 behind stream time, within the grace), within the gap of both: merges them.
  ASSERT_TRUE(events.PipeInput("a", "x", 118).ok());
  // Stream time 126 would close [100, 110] (110 + 10 + 5 + 1), but it was merged away.
  ASSERT_TRUE(events.PipeInput("b", "x", 126).ok());
  ASSERT_TRUE(events.PipeInput("c", "x", 140).ok());
  EXPECT_EQ(ReadAll(sessions_out), std::vector<Got>{});
  // Stream time 141 = 125 + 10 + 5 + 1: a's merged session closes.
  ASSERT_TRUE(events.PipeInput("c", "x", 141).ok());
  EXPECT_EQ(ReadAll(sessions_out), (std::vector<Got>{session("a", 100, 125, 4)}));
  // Would join a's closed session: late, dropped.
  ASSERT_TRUE(events.PipeInput("a", "x", 120).ok());
  EXPECT_EQ(driver->metrics().dropped_late_records, 1);
  ASSERT_TRUE(events.PipeInput("z", "x", 1000).ok());
  EXPECT_EQ(ReadAll(sessions_out),
            (std::vector<Got>{session("b", 126, 126, 1), session("c", 140, 141, 2)}));
}

}  // namespace
}  // namespace runnel::streams::examples
