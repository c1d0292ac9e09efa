// The topologies of the example applications (streams/examples/README.md), apart from their
// main()s so that tests can run them through the TopologyTestDriver as well as a broker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "streams/options.h"
#include "streams/topology.h"

namespace runnel::streams::examples {

// wordcount: lines in; per word (lower-cased, split on non-alphanumerics) its running count as a
// decimal string, keyed by the word. The grouping repartitions through
// "<application.id>-word-counts-repartition"; counts live in store "word-counts".
absl::StatusOr<Topology> WordCountTopology(const std::string& input, const std::string& output,
                                           StoreType store = StoreType::kRocksDb);
// The words of a line as wordcount splits them.
std::vector<std::string> SplitWords(std::string_view line);

// log-router: values holding the token ERROR (a whole word: bounded by non-alphanumerics or
// the ends) go to `high`, the rest to `low`, unchanged.
absl::StatusOr<Topology> LogRouterTopology(const std::string& input, const std::string& high,
                                           const std::string& low);
bool HasErrorToken(std::string_view value);

struct StockStatsOptions {
  int64_t window_ms = 86'400'000;
  int64_t grace_ms = 0;
  std::string late_topic;  // empty: late trades are only dropped and counted
  StoreType store = StoreType::kRocksDb;
};
// stock-stats: key = symbol, value = price (decimal text), timestamp = trade time. One final
// record per symbol per tumbling window, when it closes: key = symbol, value =
// {"symbol":S,"window_start":ms,"window_end":ms,"min":x,"max":x,"avg":x,"count":n}. Trades whose
// price does not parse are dropped and logged.
absl::StatusOr<Topology> StockStatsTopology(const std::string& input, const std::string& output,
                                            const StockStatsOptions& options);

struct TopStocksOptions {
  int32_t top = 10;
  int64_t window_ms = 86'400'000;
  StoreType store = StoreType::kRocksDb;
};
// top-stocks: phase 1 computes per symbol per window the gain in percent from the first to the
// last price (by timestamp) and emits it when the window closes on its input partition; phase 2
// regroups the gains by window through the single-partition repartition topic
// "<application.id>-gains-by-window-repartition" into a table keyed by window start that holds
// the window's best `top` gains (store "top-gains", Kafka Streams' top-N pattern), and writes the
// table's changes: key = window_start (decimal), value =
// {"window_start":ms,"top":[{"symbol":S,"gain_pct":x},...]}, best gain first, ties by symbol.
// A window's list is written as soon as the first input partition's stream time passes its end
// (its first trade of a later window) and written again, updated, as each other partition's
// results arrive; the latest record per key is the ranking (read the topic as a table). With one
// input partition that is one list per window (per commit: record caches merge the updates), out
// right after the first trade of the next window.
absl::StatusOr<Topology> TopStocksTopology(const std::string& input, const std::string& output,
                                           const TopStocksOptions& options);

// How click-enrich and search-click-join put an input value into their JSON output (returned
// here as JSON text): a value that parses as JSON (an object, array, number, string in quotes,
// true, false or null) is embedded as that JSON, re-serialized compactly with its object keys in
// their order; any other value is embedded as a JSON string. Invalid UTF-8 becomes U+FFFD.
std::string EmbeddedJson(std::string_view value);

// click-enrich: clicks keyed by user id, LEFT-joined with the latest profile of that user (a
// KTable over the profiles topic, store "profiles"). One record per click: key = user id, value =
// {"user_id":U,"click":C,"profile":P}, C and P embedded as above, P null when the user has no
// profile when the click is processed (a click without a key: "user_id":null, "profile":null).
// Profile updates emit nothing. The two topics must be co-partitioned.
absl::StatusOr<Topology> ClickEnrichTopology(const std::string& clicks, const std::string& profiles,
                                             const std::string& output,
                                             StoreType store = StoreType::kRocksDb);

struct SearchClickJoinOptions {
  int64_t window_ms = 5000;
  // How long after a record's window has closed (stream time > its timestamp + window) an
  // out-of-order record may still join it. The runtime reads the two topics in poll order, not
  // by timestamp, so one side may run ahead of the other by up to this much.
  int64_t grace_ms = 60'000;
  StoreType store = StoreType::kRocksDb;
};
// search-click-join: searches and clicks, both keyed by user id (co-partitioned), inner-joined
// with JoinWindows::OfTimeDifferenceAndGrace(window_ms, grace_ms): a search at ts and a click at
// tc of the same key join when |ts - tc| <= window_ms. One record per pair: key = user id,
// timestamp max(ts, tc), value = {"key":K,"query":Q,"click":C,"query_ts":ts,"click_ts":tc}, Q and
// C embedded as above. Join stores "search-click-this-join-store" (searches) and
// "search-click-other-join-store" (clicks), each changelogged. A record later than its window
// plus the grace is dropped and counted.
absl::StatusOr<Topology> SearchClickJoinTopology(const std::string& searches,
                                                 const std::string& clicks,
                                                 const std::string& output,
                                                 const SearchClickJoinOptions& options);

struct SessionsOptions {
  int64_t gap_ms = 300'000;
  int64_t grace_ms = 0;
  StoreType store = StoreType::kRocksDb;
};
// sessions: per key, sessions of activity (SessionWindows with inactivity gap gap_ms and grace
// grace_ms: records at most gap_ms apart belong to one session; a record bridging two sessions
// merges them), counted (store "sessions") and suppressed until the session closes (stream
// time >= end + gap + grace + 1). One record per closed session: key = the key, timestamp = the
// session's end, value = {"key":K,"start":ms,"end":ms,"count":N} (start and end: the first and
// the last record's timestamps, both inclusive). A record that would join a closed session is
// late: dropped and counted.
absl::StatusOr<Topology> SessionsTopology(const std::string& input, const std::string& output,
                                          const SessionsOptions& options);

}  // namespace runnel::streams::examples
