// sessions: per key, the closed sessions of activity with their record counts. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("sessions: per key, one record per closed session of activity");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string input, output;
  SessionsOptions options;
  app.add_option("--input", input, "topic of events; key = who, timestamp = when")->required();
  app.add_option("--output", output, "topic of one JSON record per closed session")->required();
  app.add_option("--gap-ms", options.gap_ms, "inactivity gap that ends a session")
      ->check(CLI::Range(int64_t{1}, INT64_MAX / 8));
  app.add_option("--grace-ms", options.grace_ms, "how late an event may come")
      ->check(CLI::Range(int64_t{0}, INT64_MAX / 8));
  CLI11_PARSE(app, argc, argv);
  options.store = flags.store_type();
  return RunTopology(SessionsTopology(input, output, options), flags);
}
