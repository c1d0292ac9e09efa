// Big-endian (network order) loads and stores of fixed-width integers, as Kafka's wire and
// on-disk formats use. The caller guarantees the bytes are there; bounds are checked by the
// callers that parse untrusted input (see varint.h's ByteReader).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace runnel {

template <typename U>
inline U ByteSwap(U v) {
  static_assert(std::is_unsigned_v<U>);
  if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else if constexpr (sizeof(U) == 8) {
    return __builtin_bswap64(v);
  } else {
    return v;
  }
}

template <typename T>
inline T LoadBigEndian(const void* p) {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
    v = static_cast<T>(ByteSwap(static_cast<std::make_unsigned_t<T>>(v)));
  }
  return v;
}

template <typename T>
inline void StoreBigEndian(void* p, T v) {
  static_assert(std::is_integral_v<T>);
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
    v = static_cast<T>(ByteSwap(static_cast<std::make_unsigned_t<T>>(v)));
  }
  std::memcpy(p, &v, sizeof(T));
}

// Appends `v` to `*out` in big-endian byte order.
template <typename T>
inline void AppendBigEndian(std::string* out, T v) {
  char buf[sizeof(T)];
  StoreBigEndian<T>(buf, v);
  out->append(buf, sizeof(T));
}

}  // namespace runnel
