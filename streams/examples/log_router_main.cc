// log-router: ERROR lines to one topic, the rest to another. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("log-router: routes log lines with the token ERROR to --high-priority");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string input, high, low;
  app.add_option("--input", input, "topic of log lines")->required();
  app.add_option("--high-priority", high, "topic for lines with the token ERROR")->required();
  app.add_option("--low-priority", low, "topic for the other lines")->required();
  CLI11_PARSE(app, argc, argv);
  return RunTopology(LogRouterTopology(input, high, low), flags);
}
