// click-enrich: clicks joined with the latest profile of their user. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("click-enrich: each click with the latest profile of its user (or null)");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string clicks, profiles, output;
  app.add_option("--clicks", clicks, "topic of clicks keyed by user id")->required();
  app.add_option("--profiles", profiles,
                 "compacted topic of profiles keyed by user id (co-partitioned with --clicks)")
      ->required();
  app.add_option("--output", output, "topic of one enriched click (JSON) per click")->required();
  CLI11_PARSE(app, argc, argv);
  return RunTopology(ClickEnrichTopology(clicks, profiles, output, flags.store_type()), flags);
}
