// top-stocks: per window, the symbols with the best gains. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("top-stocks: the top gainers per window");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string input, output;
  TopStocksOptions options;
  app.add_option("--input", input, "topic of trades: key symbol, value price, timestamp = time")
      ->required();
  app.add_option("--output", output,
                 "topic of the rankings per window (a table: the latest per window counts)")
      ->required();
  app.add_option("--top", options.top, "symbols per ranking")->check(CLI::Range(1, 1000));
  app.add_option("--window-ms", options.window_ms, "window size")
      ->check(CLI::Range(int64_t{1}, INT64_MAX / 8));
  CLI11_PARSE(app, argc, argv);
  options.store = flags.store_type();
  return RunTopology(TopStocksTopology(input, output, options), flags);
}
