// Parsing of Kafka-named string settings ("linger.ms" = "5") into typed option fields. Every
// error names the key and the value, e.g. "linger.ms: 'soon' is not an integer". Shared by the
// Producer, Consumer and Admin option structs. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace runnel::client {

using Properties = std::map<std::string, std::string>;

absl::Status ParseProperty(std::string_view key, std::string_view value, int32_t* out);
absl::Status ParseProperty(std::string_view key, std::string_view value, int64_t* out);
// "true" or "false", as Kafka.
absl::Status ParseProperty(std::string_view key, std::string_view value, bool* out);

// An error for a setting the component does not know: "<key>: unknown <component> setting".
absl::Status UnknownProperty(std::string_view key, std::string_view component);
// "<key>: <value> must be at least <min>" when value < min.
absl::Status CheckAtLeast(std::string_view key, int64_t value, int64_t min);

}  // namespace runnel::client
