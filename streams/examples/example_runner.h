// What the example programs share: the common flags (--brokers, --application-id, ...) and
// running a topology with the Streams runtime until SIGINT or SIGTERM, with progress on stderr.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "streams/options.h"
#include "streams/topology.h"

namespace runnel::streams::examples {

struct CommonFlags {
  std::string brokers = "127.0.0.1:7070";
  std::string application_id;
  std::string state_dir;  // empty: /tmp/runnel-streams-<application id>
  int32_t threads = 1;
  int64_t commit_interval_ms = 1000;
  std::string store = "rocksdb";  // or in-memory
  int64_t progress_ms = 5000;     // 0: no progress lines

  StoreType store_type() const {
    return store == "in-memory" ? StoreType::kInMemory : StoreType::kRocksDb;
  }
};

// Adds the common flags to `app` (--application-id is required).
void AddCommonFlags(CLI::App& app, CommonFlags& flags);

// Runs `topology` until SIGINT/SIGTERM, then closes cleanly. Returns the process exit code
// (0, or 1 after printing "error: ..." when the application could not start or failed).
int RunTopology(const absl::StatusOr<Topology>& topology, const CommonFlags& flags);

}  // namespace runnel::streams::examples
