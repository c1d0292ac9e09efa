#include "streams/examples/example_topologies.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "nlohmann/json.hpp"
#include "streams/json_serde.h"
#include "streams/streams_builder.h"

namespace runnel::streams::examples {

using S = std::string;
using Json = nlohmann::json;

namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A price as decimal text: finite and positive, else nullopt.
std::optional<double> ParsePrice(std::string_view text) {
  double price = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, price);
  if (ec != std::errc() || ptr != end || !std::isfinite(price) || price <= 0) return std::nullopt;
  return price;
}

// Keeps trades whose price parses; logs the others.
KStream<S, S> ValidTrades(StreamsBuilder& builder, const std::string& input) {
  return builder.Stream<S, S>(input).Filter([](const S& symbol, const S& price) {
    if (ParsePrice(price).has_value()) return true;
    logging::Get("streams")->warn("trade of '{}' has price '{}', not a positive number; dropped",
                                  symbol, price);
    return false;
  });
}

}  // namespace

std::vector<std::string> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  for (char c : line) {
    if (IsWordChar(c)) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.push_back(std::exchange(word, ""));
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

absl::StatusOr<Topology> WordCountTopology(const std::string& input, const std::string& output,
                                           StoreType store) {
  StreamsBuilder builder(store);
  builder.Stream<S, S>(input)
      .FlatMapValues([](const S& line) { return SplitWords(line); })
      .GroupBy([](const S&, const S& word) { return word; }, Grouped<S, S>::As("word-counts"))
      .Count(Materialized<S, int64_t>::As("word-counts"))
      .ToStream()
      .MapValues([](const int64_t& count) { return std::to_string(count); })
      .To(output);
  return builder.Build();
}

bool HasErrorToken(std::string_view value) {
  for (size_t at = value.find("ERROR"); at != std::string_view::npos;
       at = value.find("ERROR", at + 1)) {
    const bool starts = at == 0 || !IsWordChar(value[at - 1]);
    const bool ends = at + 5 == value.size() || !IsWordChar(value[at + 5]);
    if (starts && ends) return true;
  }
  return false;
}

absl::StatusOr<Topology> LogRouterTopology(const std::string& input, const std::string& high,
                                           const std::string& low) {
  StreamsBuilder builder;
  auto branches = builder.Stream<S, S>(input)
                      .Split("log-")
                      .Branch([](const S&, const S& v) { return HasErrorToken(v); }, "high")
                      .DefaultBranch("low");
  branches.at("log-high").To(high);
  branches.at("log-low").To(low);
  return builder.Build();
}

absl::StatusOr<Topology> StockStatsTopology(const std::string& input, const std::string& output,
                                            const StockStatsOptions& options) {
  StreamsBuilder builder(options.store);
  auto windowed = ValidTrades(builder, input)
                      .GroupByKey()
                      .WindowedBy(TimeWindows::OfSizeAndGrace(options.window_ms, options.grace_ms));
  if (!options.late_topic.empty()) windowed = windowed.LateRecordsTo(options.late_topic);
  windowed
      .Aggregate([] { return Json::object(); },
                 [](const S&, const S& text, Json stats) {
                   const double price = *ParsePrice(text);
                   if (stats.empty())
                     return Json{{"min", price}, {"max", price}, {"sum", price}, {"count", 1}};
                   stats["min"] = std::min(stats["min"].get<double>(), price);
                   stats["max"] = std::max(stats["max"].get<double>(), price);
                   stats["sum"] = stats["sum"].get<double>() + price;
                   stats["count"] = stats["count"].get<int64_t>() + 1;
                   return stats;
                 },
                 Materialized<S, Json>::As("stock-stats"))
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .Map([](const Windowed<S>& w, const Json& stats) {
        const int64_t count = stats["count"].get<int64_t>();
        Json out{
            {"symbol", w.key},     {"window_start", w.start},
            {"window_end", w.end}, {"min", stats["min"]},
            {"max", stats["max"]}, {"avg", stats["sum"].get<double>() / static_cast<double>(count)},
            {"count", count}};
        return std::make_pair(w.key, out.dump());
      })
      .To(output);
  return builder.Build();
}

absl::StatusOr<Topology> TopStocksTopology(const std::string& input, const std::string& output,
                                           const TopStocksOptions& options) {
  if (options.top < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--top ", options.top, " must be at least 1"));
  }
  StreamsBuilder builder(options.store);
  // Phase 1: per symbol and window, the first and the last price by trade time.
  ValidTrades(builder, input)
      .ProcessValues([](const Record<S, S>& r) {
        return Json{{"ts", r.timestamp}, {"price", *ParsePrice(r.value)}};
      })
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(options.window_ms))
      .Aggregate([] { return Json::object(); },
                 [](const S&, const Json& trade, Json span) {
                   const int64_t ts = trade["ts"].get<int64_t>();
                   if (span.empty() || ts < span["first_ts"].get<int64_t>()) {
                     span["first_ts"] = ts;
                     span["first"] = trade["price"];
                   }
                   if (!span.contains("last_ts") || ts >= span["last_ts"].get<int64_t>()) {
                     span["last_ts"] = ts;
                     span["last"] = trade["price"];
                   }
                   return span;
                 },
                 Materialized<S, Json>::As("price-spans"))
      .Suppress(Suppressed::UntilWindowCloses().WithName("final-price-spans"))
      .ToStream()
      // Phase 2: every symbol's gain of a window, on one partition keyed by the window start.
      .Map([](const Windowed<S>& w, const Json& span) {
        const double first = span["first"].get<double>();
        const double last = span["last"].get<double>();
        return std::make_pair(std::to_string(w.start),
                              Json{{"symbol", w.key}, {"gain_pct", (last - first) / first * 100}});
      })
      .GroupByKey(Grouped<S, Json>::As("gains-by-window").WithNumberOfPartitions(1))
      .WindowedBy(TimeWindows::OfSizeAndGrace(options.window_ms, options.window_ms))
      .Aggregate([] { return Json::object(); },
                 [](const S&, const Json& gain, Json gains) {
                   gains[gain["symbol"].get<S>()] = gain["gain_pct"];
                   return gains;
                 },
                 Materialized<S, Json>::As("gains"))
      .Suppress(Suppressed::UntilWindowCloses().WithName("final-gains"))
      .ToStream()
      .Map([top = options.top](const Windowed<S>& w, const Json& gains) {
        std::vector<std::pair<double, S>> ranked;
        for (const auto& [symbol, gain] : gains.items())
          ranked.emplace_back(gain.get<double>(), symbol);
        std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
          return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
        if (ranked.size() > static_cast<size_t>(top)) ranked.resize(top);
        Json list = Json::array();
        for (const auto& [gain, symbol] : ranked)
          list.push_back({{"symbol", symbol}, {"gain_pct", gain}});
        const int64_t start = std::stoll(w.key);
        return std::make_pair(std::to_string(start),
                              Json{{"window_start", start}, {"top", list}}.dump());
      })
      .To(output);
  return builder.Build();
}

}  // namespace runnel::streams::examples
