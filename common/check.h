// Always-on invariant checks (LevelDB's paired checks, Redpanda's vassert): a condition the code
// relies on that, if false, means memory or stored data can no longer be trusted. The process logs
// file, line, the condition and a message naming the values, then aborts: going on would turn a
// bug into lost or corrupted data.
//
//   RUNNEL_CHECK(offset >= next_offset_, "offset %d below %d in %s", offset, next_offset_, dir);
//
// RUNNEL_DCHECK is the same in debug builds and compiles to nothing (the condition is not
// evaluated) with NDEBUG: for checks inside hot loops whose cost would show.
//
// Thread-safety: may be used from any thread.
#pragma once

#include <string>
#include <string_view>

#include "absl/base/optimization.h"
#include "absl/strings/str_format.h"

namespace runnel::internal {

// Logs the failed check to the "check" logger and stderr, then aborts.
[[noreturn]] void CheckFailed(const char* file, int line, std::string_view condition,
                              const std::string& message);

}  // namespace runnel::internal

#define RUNNEL_CHECK(cond, ...)                                                                   \
  do {                                                                                            \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                                            \
      ::runnel::internal::CheckFailed(__FILE__, __LINE__, #cond, ::absl::StrFormat(__VA_ARGS__)); \
    }                                                                                             \
  } while (false)

#ifdef NDEBUG
#define RUNNEL_DCHECK(cond, ...) \
  do {                           \
    if (false && (cond)) {       \
    }                            \
  } while (false)
#else
#define RUNNEL_DCHECK(cond, ...) RUNNEL_CHECK(cond, __VA_ARGS__)
#endif
