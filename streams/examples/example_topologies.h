// The topologies of the example applications (streams/examples/README.md), apart from their
// main()s so that tests can run them through the TopologyTestDriver as well as a broker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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
// last price (by timestamp) and emits it when the window closes; phase 2 regroups the gains by
// window through the single-partition repartition topic
// "<application.id>-gains-by-window-repartition" and emits one record per window: key =
// window_start (decimal), value = {"window_start":ms,"top":[{"symbol":S,"gain_pct":x},...]},
// best gain first, ties by symbol. Phase 2 keeps a window open for one more window length (its
// grace), so that phase-1 results of input partitions that lag behind still count: window W's
// ranking comes out once a phase-1 result of window W + 2 (a window starting at least one window
// length after W's end) has been emitted, i.e. once stream time passed the end of W + 2.
absl::StatusOr<Topology> TopStocksTopology(const std::string& input, const std::string& output,
                                           const TopStocksOptions& options);

}  // namespace runnel::streams::examples
