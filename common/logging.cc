#include "common/logging.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "common/status_macros.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace runnel::logging {
namespace {

class Registry {
 public:
  static Registry& Instance() {
    static Registry* registry = new Registry();  // never destroyed: loggers outlive statics
    return *registry;
  }

  void SetLevel(spdlog::level::level_enum level) {
    MutexLock lock(&mu_);
    level_ = level;
    for (auto& [name, logger] : loggers_) logger->set_level(level);
  }

  std::shared_ptr<spdlog::logger> Get(std::string_view module) {
    MutexLock lock(&mu_);
    auto it = loggers_.find(std::string(module));
    if (it != loggers_.end()) return it->second;
    auto logger = std::make_shared<spdlog::logger>(std::string(module), sink_);
    logger->set_level(level_);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
    loggers_.emplace(std::string(module), logger);
    return logger;
  }

 private:
  Registry() : sink_(std::make_shared<spdlog::sinks::stderr_sink_mt>()) {}

  Mutex mu_;
  const spdlog::sink_ptr sink_;
  spdlog::level::level_enum level_ ABSL_GUARDED_BY(mu_) = spdlog::level::info;
  absl::flat_hash_map<std::string, std::shared_ptr<spdlog::logger>> loggers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace},       {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},         {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn},      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off},
  };
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level '", std::string(name),
                   "' is not one of trace, debug, info, warn, error, critical, off"));
}

absl::Status LogOptions::Validate() const { return ParseLevel(level).status(); }

absl::Status Init(const LogOptions& options) {
  ASSIGN_OR_RETURN(const spdlog::level::level_enum level, ParseLevel(options.level));
  Registry::Instance().SetLevel(level);
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> Get(std::string_view module) {
  return Registry::Instance().Get(module);
}

}  // namespace runnel::logging
