// stock-stats: per symbol and window, min/max/avg/count of trade prices. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("stock-stats: per-symbol price statistics per tumbling window");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string input, output;
  StockStatsOptions options;
  app.add_option("--input", input, "topic of trades: key symbol, value price, timestamp = time")
      ->required();
  app.add_option("--output", output, "topic of one JSON record per symbol and window")->required();
  app.add_option("--window-ms", options.window_ms, "window size")
      ->check(CLI::Range(int64_t{1}, INT64_MAX / 4));
  app.add_option("--grace-ms", options.grace_ms, "how late a trade may come")
      ->check(CLI::Range(int64_t{0}, INT64_MAX / 4));
  app.add_option("--late-topic", options.late_topic, "topic for trades that came too late");
  CLI11_PARSE(app, argc, argv);
  options.store = flags.store_type();
  return RunTopology(StockStatsTopology(input, output, options), flags);
}
