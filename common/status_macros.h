// Status propagation macros used across every module boundary (docs/ARCHITECTURE.md section 9),
// and WithContext for an error passed up with where it happened.
//
//   RETURN_IF_ERROR(expr);        expr yields absl::Status; returns it from the caller if not ok
//   ASSIGN_OR_RETURN(lhs, expr);  expr yields absl::StatusOr<T>; returns its status on error,
//                                 otherwise moves the value into lhs (a declaration or lvalue)
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

#define RUNNEL_STATUS_CONCAT_INNER_(a, b) a##b
#define RUNNEL_STATUS_CONCAT_(a, b) RUNNEL_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    ::absl::Status runnel_status_ = (expr);         \
    if (ABSL_PREDICT_FALSE(!runnel_status_.ok())) { \
      return runnel_status_;                        \
    }                                               \
  } while (false)

#define RUNNEL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = std::move(statusor).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  RUNNEL_ASSIGN_OR_RETURN_IMPL_(RUNNEL_STATUS_CONCAT_(runnel_statusor_, __LINE__), lhs, expr)

namespace runnel {

// `s` with "<context>: " before its message and the same code, for errors passed up with where
// they happened ("commit: ...", "sending to T: ..."). OK stays OK.
// Payloads (e.g. the broker error code the client attaches) are kept.
inline absl::Status WithContext(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  absl::Status out(s.code(), absl::StrCat(context, ": ", s.message()));
  s.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  return out;
}

}  // namespace runnel
