// Serde<T>: how a key or value type becomes bytes on a topic or in a state store and back, as
// Kafka's Serde. The built-in serdes in `serdes::` use Kafka's byte formats, so a Runnel streams
// application and a Java one read each other's topics (docs/FORMAT.md, "Streams: serdes"):
//
//   String()  the bytes as they are (Kafka's StringSerializer with UTF-8 strings)
//   Int64()   8 bytes, big-endian two's complement (Kafka's LongSerializer)
//   Int32()   4 bytes, big-endian two's complement (Kafka's IntegerSerializer)
//   Double()  8 bytes, the IEEE 754 binary64 bit pattern big-endian (Kafka's DoubleSerializer);
//             NaN payloads, infinities and -0.0 survive a round trip bit for bit
//   Bytes()   the bytes as they are, typed as Bytes (Kafka's BytesSerde)
//   Json()    nlohmann::json::dump() (compact) / parse: in streams/json_serde.h, with JsonOf<T>(),
//             so that this header does not pull in nlohmann/json.hpp
//
// Serialising never fails. Deserialising returns InvalidArgument naming the serde, what it
// expected and what it got ("Int64 serde: expected 8 bytes (big-endian), got 3"); no exception
// leaves a serde, user-defined ones included if their functions do not throw.
//
// A Serde is a value: cheap to copy, immutable once built, and safe to call from several threads
// at once when its functions are (the built-in ones are).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace runnel::streams {

template <typename T>
struct Serde {
  std::function<std::string(const T&)> serialize;
  std::function<absl::StatusOr<T>(std::string_view)> deserialize;
};

// Opaque bytes as a key or value type, ordered as a store orders keys (unsigned byte-wise).
struct Bytes {
  std::string data;

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.data == b.data; }
  // std::string compares through char_traits<char>, which compares as unsigned char.
  friend bool operator<(const Bytes& a, const Bytes& b) { return a.data < b.data; }
};

namespace serdes {

Serde<std::string> String();
Serde<int64_t> Int64();
Serde<int32_t> Int32();
Serde<double> Double();
Serde<streams::Bytes> Bytes();

// A user-defined serde from its two functions.
template <typename T>
Serde<T> Of(std::function<std::string(const T&)> serialize,
            std::function<absl::StatusOr<T>(std::string_view)> deserialize) {
  return Serde<T>{std::move(serialize), std::move(deserialize)};
}

// The built-in serde of T, for the types that have one: std::string, int64_t, int32_t, double,
// Bytes, and nlohmann::json once streams/json_serde.h is included. Any other T fails to compile;
// give its serde explicitly.
template <typename T>
Serde<T> Default() {
  static_assert(!std::is_same_v<T, T>,
                "serdes::Default<T>: no built-in serde for this type; pass one explicitly "
                "(serdes::Of or serdes::JsonOf), or for nlohmann::json include "
                "streams/json_serde.h");
  return {};
}
template <>
inline Serde<std::string> Default<std::string>() {
  return String();
}
template <>
inline Serde<int64_t> Default<int64_t>() {
  return Int64();
}
template <>
inline Serde<int32_t> Default<int32_t>() {
  return Int32();
}
template <>
inline Serde<double> Default<double>() {
  return Double();
}
template <>
inline Serde<streams::Bytes> Default<streams::Bytes>() {
  return Bytes();
}

}  // namespace serdes
}  // namespace runnel::streams
