// The example topologies through the TopologyTestDriver, checked against simple independent
// computations of what they should produce. (tests/streams/examples_e2e_test.cc runs the example
// programs against a broker.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

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
  // Phase 2 ranks window W once a phase-1 result from W's end + one window length or later
  // arrives: a window that late must have closed in phase 1, so trades two windows on.
  const int64_t end = trades.back().ts / kWindow * kWindow + kWindow;
  for (const int64_t ts : {end + 10, end + kWindow + 10, end + 3 * kWindow}) {
    for (const S symbol : {"AAA", "BBB", "CCC", "DDD"})
      ASSERT_TRUE(in.PipeInput(symbol, "1", ts).ok());
  }

  TestOutputTopic<S, S> out(driver.get(), "top", serdes::String(), serdes::String());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok());
  std::map<int64_t, Json> got;
  for (const auto& [key, value] : *records) {
    Json j = Json::parse(value);
    EXPECT_EQ(std::to_string(j["window_start"].get<int64_t>()), key);
    EXPECT_TRUE(got.emplace(j["window_start"].get<int64_t>(), j).second)
        << "two results for " << key;
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

TEST(ExamplesTest, TopStocksRefusesATopBelowOne) {
  auto topology = TopStocksTopology("in", "out", {.top = 0});
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("--top 0"), std::string::npos);
}

}  // namespace
}  // namespace runnel::streams::examples
