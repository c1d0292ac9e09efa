// Typed error causes: why an operation failed, as an enum carried in the absl::Status's payload,
// so code that must react to one cause (answer INVALID_RECORD rather than CORRUPT_MESSAGE, rejoin
// a group after a fencing error) switches on a value instead of searching the message text.
//
// A layer declares its cause enum and, in the enum's namespace (found by argument-dependent
// lookup), the payload's type URL:
//
//   enum class AppendError { kMissingKey, kInvalidTimestamp, kTooLarge };
//   constexpr const char* CauseTypeUrl(AppendError) { return "runnel.storage.AppendError"; }
//
//   return WithCause(absl::InvalidArgumentError("record 3 has no key ..."),
//                    AppendError::kMissingKey);
//   if (std::optional<AppendError> why = CauseOf<AppendError>(status)) switch (*why) { ... }
//
// A status may carry one cause of each enum type. WithContext (status_macros.h) keeps them. The
// payload is for this process only (never sent over the wire; the gRPC edge maps causes to the
// protocol's error codes). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace runnel {

// `status` with `cause` attached (replacing a cause of the same enum type). OK stays OK: success
// has no cause.
template <typename Enum>
requires std::is_enum_v<Enum> absl::Status WithCause(absl::Status status, Enum cause) {
  if (status.ok()) return status;
  status.SetPayload(CauseTypeUrl(Enum{}), absl::Cord(absl::StrCat(static_cast<int64_t>(cause))));
  return status;
}

// The cause of type `Enum` that `status` carries, if any.
template <typename Enum>
requires std::is_enum_v<Enum> std::optional<Enum> CauseOf(const absl::Status& status) {
  const auto payload = status.GetPayload(CauseTypeUrl(Enum{}));  // absl::optional in Debian's
  if (!payload.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return static_cast<Enum>(value);
}

}  // namespace runnel
