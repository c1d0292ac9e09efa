// `runnel`: the command-line tool (DESIGN.md section 6). Data goes to stdout; errors go to
// stderr as "error: <what> (<why>)" with exit status 1.
#include <iostream>

#include "CLI/CLI.hpp"
#include "tools/log_dump.h"

namespace {

int Fail(const absl::Status& status, const std::string& what) {
  std::cerr << "error: " << what << " (" << status.message() << ")\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"runnel: the Runnel command-line tool"};
  app.require_subcommand(1);

  CLI::App* log = app.add_subcommand("log", "offline tools for log files")->require_subcommand(1);
  runnel::tools::LogDumpOptions dump;
  CLI::App* dump_cmd =
      log->add_subcommand("dump", "print every batch of a segment file or partition directory");
  dump_cmd->add_option("path", dump.path, "a .log segment file or a partition directory")
      ->required();
  dump_cmd->add_flag("--records", dump.records, "also print every record");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: bad command line (" << e.what() << ")\n";
    return 1;
  }

  if (dump_cmd->parsed()) {
    const absl::Status s = runnel::tools::DumpLog(dump, std::cout);
    if (!s.ok()) return Fail(s, "log dump found a problem");
  }
  return 0;
}
