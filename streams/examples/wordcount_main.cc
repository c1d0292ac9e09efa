// wordcount: running word counts. See README.md.
#include "streams/examples/example_runner.h"
#include "streams/examples/example_topologies.h"

int main(int argc, char** argv) {
  using namespace runnel::streams::examples;
  CLI::App app("wordcount: counts the words of the lines in --input; writes word -> count");
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::string input, output;
  app.add_option("--input", input, "topic of text lines")->required();
  app.add_option("--output", output, "topic of word -> running count (decimal)")->required();
  CLI11_PARSE(app, argc, argv);
  return RunTopology(WordCountTopology(input, output, flags.store_type()), flags);
}
