#include "client/properties.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace runnel::client {
namespace {

template <typename T>
absl::Status ParseInteger(std::string_view key, std::string_view value, T* out) {
  if (!absl::SimpleAtoi(std::string(value), out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(key), ": '", std::string(value), "' is not an integer"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseProperty(std::string_view key, std::string_view value, int32_t* out) {
  return ParseInteger(key, value, out);
}

absl::Status ParseProperty(std::string_view key, std::string_view value, int64_t* out) {
  return ParseInteger(key, value, out);
}

absl::Status ParseProperty(std::string_view key, std::string_view value, bool* out) {
  if (value == "true") {
    *out = true;
  } else if (value == "false") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(key), ": '", std::string(value), "' is not true or false"));
  }
  return absl::OkStatus();
}

absl::Status UnknownProperty(std::string_view key, std::string_view component) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(key), ": unknown ", std::string(component), " setting"));
}

absl::Status CheckAtLeast(std::string_view key, int64_t value, int64_t min) {
  if (value >= min) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(key), ": ", value, " must be at least ", min));
}

}  // namespace runnel::client
