// search-click-join: clicks joined with the searches of their user close in time. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("search-click-join: pairs each click with the searches of its user within a window");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string searches, clicks, output;
  SearchClickJoinOptions options;
  app.add_option("--searches", searches, "topic of search queries keyed by user id")->required();
  app.add_option("--clicks", clicks, "topic of clicks keyed by user id (co-partitioned)")
      ->required();
  app.add_option("--output", output, "topic of one JSON record per search-click pair")->required();
  app.add_option("--window-ms", options.window_ms, "largest time difference of a pair")
      ->check(CLI::Range(int64_t{0}, INT64_MAX / 8));
  app.add_option("--grace-ms", options.grace_ms,
                 "how long out-of-order records are still joined after their window closed")
      ->check(CLI::Range(int64_t{0}, INT64_MAX / 8));
  CLI11_PARSE(app, argc, argv);
  options.store = flags.store_type();
  return RunTopology(SearchClickJoinTopology(searches, clicks, output, options), flags);
}
