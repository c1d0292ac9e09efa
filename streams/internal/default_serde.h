// Serdes the DSL uses when an operation names none (the built-in ones for the types they cover),
// and the DSL's own binary forms: a windowed key, a table-regrouping change, a timestamped store
// value (docs/FORMAT.md section 22).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/status_macros.h"
#include "nlohmann/json_fwd.hpp"
#include "streams/record.h"
#include "streams/serde.h"

namespace runnel::streams::internal {

// The built-in serde of T, or nullopt when T has none (the user must give one). nlohmann::json's
// is in streams/json_serde.h, which code with JSON values includes (serdes::Default says so at
// compile time otherwise); only the forward declaration is needed here.
template <typename T>
std::optional<Serde<T>> DefaultSerde() {
  if constexpr (std::is_same_v<T, std::string>) {
    return serdes::String();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return serdes::Int64();
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return serdes::Int32();
  } else if constexpr (std::is_same_v<T, double>) {
    return serdes::Double();
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return serdes::Bytes();
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    return serdes::Default<T>();
  } else {
    return std::nullopt;
  }
}

// A windowed key: the inner key's bytes, then the window start and end as 8-byte big-endian
// integers (docs/FORMAT.md section 22, "Windowed keys").
template <typename K>
Serde<Windowed<K>> WindowedSerde(Serde<K> inner) {
  Serde<Windowed<K>> serde;
  serde.serialize = [inner](const Windowed<K>& w) {
    std::string out = inner.serialize(w.key);
    AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(w.start));
    AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(w.end));
    return out;
  };
  serde.deserialize = [inner](std::string_view bytes) -> absl::StatusOr<Windowed<K>> {
    if (bytes.size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "windowed key is ", bytes.size(), " bytes; it needs at least 16 (start and end)"));
    }
    auto key = inner.deserialize(bytes.substr(0, bytes.size() - 16));
    if (!key.ok()) return key.status();
    Windowed<K> w;
    w.key = std::move(*key);
    w.start = static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data() + bytes.size() - 16));
    w.end = static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data() + bytes.size() - 8));
    return w;
  };
  return serde;
}

// The value of a table-regrouping repartition record: one byte saying whether it adds (1) or
// subtracts (2) a row, then the row's value (docs/FORMAT.md section 22).
template <typename V>
Serde<Change<V>> ChangeSerde(Serde<V> inner) {
  Serde<Change<V>> serde;
  serde.serialize = [inner](const Change<V>& c) {
    const bool adds = c.new_value.has_value();
    std::string out(1, adds ? '\x01' : '\x02');
    out += inner.serialize(adds ? *c.new_value : *c.old_value);
    return out;
  };
  serde.deserialize = [inner](std::string_view bytes) -> absl::StatusOr<Change<V>> {
    if (bytes.empty() || (bytes[0] != 1 && bytes[0] != 2)) {
      return absl::InvalidArgumentError(
          "table repartition value must start with 1 (add) or 2 (subtract)");
    }
    ASSIGN_OR_RETURN(V value, inner.deserialize(bytes.substr(1)));
    Change<V> c;
    (bytes[0] == 1 ? c.new_value : c.old_value) = std::move(value);
    return c;
  };
  return serde;
}

// A store value with the timestamp of the record that last changed it (Kafka's
// ValueAndTimestamp): 8-byte big-endian timestamp, then the value bytes.
inline std::string EncodeTimestamped(int64_t timestamp, std::string_view value) {
  std::string out;
  out.reserve(8 + value.size());
  AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(timestamp));
  out.append(value);
  return out;
}

struct TimestampedBytes {
  int64_t timestamp = 0;
  std::string_view value;
};

inline absl::StatusOr<TimestampedBytes> DecodeTimestamped(std::string_view bytes) {
  if (bytes.size() < 8) {
    return absl::DataLossError(
        absl::StrCat("stored value is ", bytes.size(), " bytes; it needs at least 8"));
  }
  return TimestampedBytes{static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data())),
                          bytes.substr(8)};
}

}  // namespace runnel::streams::internal
