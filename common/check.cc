#include "common/check.h"

#include <cstdio>
#include <cstdlib>

#include "common/logging.h"

namespace runnel::internal {

void CheckFailed(const char* file, int line, std::string_view condition,
                 const std::string& message) {
  logging::Get("check")->critical("{}:{}: check failed: {}: {}", file, line, condition, message);
  logging::Get("check")->flush();
  // Also straight to stderr, in case logging is what is broken.
  std::fprintf(stderr, "%s:%d: check failed: %.*s: %s\n", file, line,
               static_cast<int>(condition.size()), condition.data(), message.c_str());
  std::abort();
}

}  // namespace runnel::internal
