// `runnel log dump PATH [--records]`: an offline, read-only dump of a segment file or of every
// segment of a partition directory. It never modifies what it reads (no recovery, no index
// rebuild), so it is safe on a damaged log and on a running broker's files.
#pragma once

#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace runnel::tools {

struct LogDumpOptions {
  std::string path;      // a .log file or a partition directory
  bool records = false;  // also print every record
};

// Writes the dump to `out`. Returns OK when every batch is intact, DataLoss naming the first
// damaged position otherwise (the dump still covers everything readable), and NotFound /
// InvalidArgument for a bad path.
absl::Status DumpLog(const LogDumpOptions& options, std::ostream& out);

}  // namespace runnel::tools
