// JSON serdes (streams/serde.h has the others): nlohmann::json values, and any type nlohmann
// converts both ways, as JSON text (docs/FORMAT.md, "Streams: serdes"). Apart from serde.h so that
// only code that uses JSON compiles nlohmann/json.hpp. Including this header also makes
// nlohmann::json a type with a built-in serde (serdes::Default, and the DSL when an operation
// names no serde).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "streams/serde.h"

namespace runnel::streams::serdes {

// Serialises compactly; strings that are not valid UTF-8 have their bad bytes replaced by U+FFFD
// (JSON cannot carry them). A parse error is InvalidArgument with nlohmann's message, which names
// the byte position.
Serde<nlohmann::json> Json();

// Any T that nlohmann::json converts both ways (to_json / from_json, or NLOHMANN_DEFINE_TYPE_*),
// as JSON text. Deserialising is InvalidArgument when the bytes are not JSON or the JSON does not
// have T's shape.
template <typename T>
Serde<T> JsonOf() {
  Serde<T> serde;
  serde.serialize = [](const T& value) {
    return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  serde.deserialize = [](std::string_view bytes) -> absl::StatusOr<T> {
    // nlohmann reports errors by exception only; they are caught here and go no further.
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(bytes);
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("JSON serde: not JSON: ", e.what()));
    }
    try {
      return j.get<T>();
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON serde: the JSON does not convert to the value type: ", e.what()));
    }
  };
  return serde;
}

template <>
inline Serde<nlohmann::json> Default<nlohmann::json>() {
  return Json();
}

}  // namespace runnel::streams::serdes
