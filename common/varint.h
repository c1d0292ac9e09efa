// Kafka's zig-zag variable-length integers (the protobuf encoding of sint32/sint64), as used by
// RecordBatch v2 records: a varint is an int32 in at most 5 bytes, a varlong an int64 in at most
// 10 bytes, 7 bits per byte, least significant group first, high bit set on every byte but the
// last. Encoders write into a caller-sized buffer or append to a string; decoders are bounds
// checked and reject truncated, overlong and overflowing encodings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace runnel {

inline constexpr int kMaxVarintBytes = 5;
inline constexpr int kMaxVarlongBytes = 10;

inline constexpr uint32_t ZigZagEncode32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
inline constexpr int32_t ZigZagDecode32(uint32_t v) {
  return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
inline constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline constexpr int64_t ZigZagDecode64(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// Number of bytes PutUnsignedVarint would write for `v`.
inline constexpr int UnsignedVarintSize(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline constexpr int VarintSize(int32_t v) { return UnsignedVarintSize(ZigZagEncode32(v)); }
inline constexpr int VarlongSize(int64_t v) { return UnsignedVarintSize(ZigZagEncode64(v)); }

// Writes `v` at `dst` (which must have room for UnsignedVarintSize(v) bytes); returns the byte
// after the last one written.
inline char* PutUnsignedVarint(char* dst, uint64_t v) {
  auto* p = reinterpret_cast<unsigned char*>(dst);
  while (v >= 0x80) {
    *p++ = static_cast<unsigned char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<unsigned char>(v);
  return reinterpret_cast<char*>(p);
}
inline char* PutVarint(char* dst, int32_t v) { return PutUnsignedVarint(dst, ZigZagEncode32(v)); }
inline char* PutVarlong(char* dst, int64_t v) { return PutUnsignedVarint(dst, ZigZagEncode64(v)); }

inline void AppendVarint(std::string* dst, int32_t v) {
  char buf[kMaxVarintBytes];
  dst->append(buf, PutVarint(buf, v) - buf);
}
inline void AppendVarlong(std::string* dst, int64_t v) {
  char buf[kMaxVarlongBytes];
  dst->append(buf, PutVarlong(buf, v) - buf);
}

// Decodes an unsigned varint of at most `max_bytes` bytes from [p, limit) whose value fits in
// `value_bits` bits. Returns the byte after it, or nullptr if the input is truncated, longer than
// `max_bytes`, or the value overflows.
inline const char* GetUnsignedVarint(const char* p, const char* limit, int max_bytes,
                                     int value_bits, uint64_t* out) {
  uint64_t result = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (p == limit) return nullptr;
    const uint64_t byte = static_cast<unsigned char>(*p++);
    const int shift = 7 * i;
    const uint64_t group = byte & 0x7f;
    // Bits of this group that land at or above `value_bits` would be lost: reject them.
    if (shift + 7 > value_bits && (group >> (value_bits - shift)) != 0) return nullptr;
    result |= group << shift;
    if ((byte & 0x80) == 0) {
      *out = result;
      return p;
    }
  }
  return nullptr;  // continuation bit still set after max_bytes
}

inline const char* GetVarint(const char* p, const char* limit, int32_t* out) {
  if (p != limit && static_cast<unsigned char>(*p) < 0x80) {  // one byte: the common case
    *out = ZigZagDecode32(static_cast<unsigned char>(*p));
    return p + 1;
  }
  uint64_t v;
  p = GetUnsignedVarint(p, limit, kMaxVarintBytes, 32, &v);
  if (p != nullptr) *out = ZigZagDecode32(static_cast<uint32_t>(v));
  return p;
}
inline const char* GetVarlong(const char* p, const char* limit, int64_t* out) {
  if (p != limit && static_cast<unsigned char>(*p) < 0x80) {
    *out = ZigZagDecode64(static_cast<unsigned char>(*p));
    return p + 1;
  }
  uint64_t v;
  p = GetUnsignedVarint(p, limit, kMaxVarlongBytes, 64, &v);
  if (p != nullptr) *out = ZigZagDecode64(v);
  return p;
}

}  // namespace runnel
