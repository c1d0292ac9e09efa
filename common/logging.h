// Logging setup: one named spdlog logger per module ("storage", "broker", "client", "streams",
// "check"), all writing to one shared stderr sink, with the level set from configuration.
//
// Thread-safety: every function here may be called from any thread. Loggers are created on first
// use and live until process exit; the returned pointer may be cached by the caller.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spdlog/spdlog.h"

namespace runnel::logging {

struct LogOptions {
  // trace, debug, info, warn, error, critical or off.
  std::string level = "info";

  // Returns InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

// Parses a level name (case-sensitive, as spdlog spells them; "warning" is accepted for "warn").
absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name);

// Applies `options` to every module logger, existing and future.
absl::Status Init(const LogOptions& options);

// The logger of `module`, created on first use with the current level.
std::shared_ptr<spdlog::logger> Get(std::string_view module);

}  // namespace runnel::logging
