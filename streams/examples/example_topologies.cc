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
// Output JSON keeps its keys in the order written (and an embedded object's in its own order).
using OrderedJson = nlohmann::ordered_json;

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

OrderedJson Embedded(std::string_view value) {
  OrderedJson parsed = OrderedJson::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return OrderedJson(std::string(value));
  return parsed;
}

// Compact JSON text; invalid UTF-8 in a string is replaced, never an exception.
std::string Dump(const OrderedJson& json) {
  return json.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// Ranking order of (gain, symbol): the larger gain first, ties by symbol.
bool Better(const std::pair<double, S>& a, const std::pair<double, S>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}

// The key of the lowest-ranked entry of {symbol: gain}, which must not be empty.
std::string Worst(const Json& best) {
  std::pair<double, S> worst{0, ""};
  bool first = true;
  for (const auto& [symbol, gain] : best.items()) {
    std::pair<double, S> entry{gain.get<double>(), symbol};
    if (first || Better(worst, entry)) worst = std::move(entry);
    first = false;
  }
  return worst.second;
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
      // Kafka Streams' top-N pattern: a table keyed by window start holding the window's best N
      // gains so far. Each phase-1 result is final for its symbol, so the list changes only when
      // an input partition closes the window; a lagging partition's results update it rather
      // than being dropped. At-least-once may deliver a symbol's result twice: it replaces
      // itself.
      .Aggregate([] { return Json::object(); },
                 [top = options.top](const S&, const Json& gain, Json best) {
                   best[gain["symbol"].get<S>()] = gain["gain_pct"];
                   if (best.size() > static_cast<size_t>(top)) best.erase(Worst(best));
                   return best;
                 },
                 Materialized<S, Json>::As("top-gains"))
      .ToStream()
      .Map([](const S& window_start, const Json& best) {
        std::vector<std::pair<double, S>> ranked;
        for (const auto& [symbol, gain] : best.items())
          ranked.emplace_back(gain.get<double>(), symbol);
        std::sort(ranked.begin(), ranked.end(), Better);
        Json list = Json::array();
        for (const auto& [gain, symbol] : ranked)
          list.push_back({{"symbol", symbol}, {"gain_pct", gain}});
        const int64_t start = std::stoll(window_start);
        return std::make_pair(window_start, Json{{"window_start", start}, {"top", list}}.dump());
      })
      .To(output);
  return builder.Build();
}

std::string EmbeddedJson(std::string_view value) { return Dump(Embedded(value)); }

absl::StatusOr<Topology> ClickEnrichTopology(const std::string& clicks, const std::string& profiles,
                                             const std::string& output, StoreType store) {
  StreamsBuilder builder(store);
  KTable<S, S> by_user = builder.Table<S, S>(profiles, {}, Materialized<S, S>::As("profiles"));
  builder.Stream<S, S>(clicks)
      .LeftJoin(by_user,
                [](const S& click, const std::optional<S>& profile) {
                  return std::make_pair(Embedded(click), profile.has_value()
                                                             ? Embedded(*profile)
                                                             : OrderedJson(nullptr));
                })
      // The key as the record has it: a click without a key has a null user id.
      .ProcessValues([](const Record<S, std::pair<OrderedJson, OrderedJson>>& r) {
        OrderedJson out{{"user_id", r.key_null ? OrderedJson(nullptr) : OrderedJson(r.key)}};
        out["click"] = r.value.first;
        out["profile"] = r.value.second;
        return Dump(out);
      })
      .To(output);
  return builder.Build();
}

absl::StatusOr<Topology> SearchClickJoinTopology(const std::string& searches,
                                                 const std::string& clicks,
                                                 const std::string& output,
                                                 const SearchClickJoinOptions& options) {
  StreamsBuilder builder(options.store);
  // The joiner sees values only: each side carries its record's timestamp in its value (the
  // join stores hold {"ts":ms,"v":the value as it came}).
  const auto stamped = [](const Record<S, S>& r) {
    return Json{{"ts", r.timestamp}, {"v", r.value}};
  };
  KStream<S, Json> search_stream = builder.Stream<S, S>(searches).ProcessValues(stamped);
  KStream<S, Json> click_stream = builder.Stream<S, S>(clicks).ProcessValues(stamped);
  search_stream
      .Join(
          click_stream,
          [](const S& user, const Json& search, const Json& click) {
            OrderedJson out{{"key", user}};
            out["query"] = Embedded(search["v"].get<S>());
            out["click"] = Embedded(click["v"].get<S>());
            out["query_ts"] = search["ts"].get<int64_t>();
            out["click_ts"] = click["ts"].get<int64_t>();
            return Dump(out);
          },
          JoinWindows::OfTimeDifferenceAndGrace(options.window_ms, options.grace_ms),
          StreamJoined<S, Json, Json>::As("search-click"))
      .To(output);
  return builder.Build();
}

absl::StatusOr<Topology> SessionsTopology(const std::string& input, const std::string& output,
                                          const SessionsOptions& options) {
  StreamsBuilder builder(options.store);
  builder.Stream<S, S>(input)
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(options.gap_ms, options.grace_ms))
      .Count(Materialized<S, int64_t>::As("sessions"))
      .Suppress(Suppressed::UntilWindowCloses().WithName("closed-sessions"))
      .ToStream()
      .Map([](const Windowed<S>& session, const int64_t& count) {
        OrderedJson out{{"key", session.key}};
        out["start"] = session.start;
        out["end"] = session.end;
        out["count"] = count;
        return std::make_pair(session.key, Dump(out));
      })
      .To(output);
  return builder.Build();
}

}  // namespace runnel::streams::examples
