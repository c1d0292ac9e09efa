// ByteReader: a bounds-checked cursor over untrusted bytes. Every read either succeeds and
// advances, or fails (returns false) and leaves the cursor where it was; it never reads past the
// end of the buffer it was given. Not thread-safe; cheap to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/big_endian.h"
#include "common/varint.h"

namespace runnel {

class ByteReader {
 public:
  explicit ByteReader(std::string_view data)
      : begin_(data.data()), p_(begin_), end_(begin_ + data.size()) {}

  size_t position() const { return static_cast<size_t>(p_ - begin_); }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }

  // Fixed-width big-endian integers.
  template <typename T>
  bool ReadFixed(T* out) {
    if (remaining() < sizeof(T)) return false;
    *out = LoadBigEndian<T>(p_);
    p_ += sizeof(T);
    return true;
  }

  bool ReadVarint(int32_t* out) { return Advance(GetVarint(p_, end_, out)); }
  bool ReadVarlong(int64_t* out) { return Advance(GetVarlong(p_, end_, out)); }

  // A view of the next `n` bytes (borrowed from the buffer given to the constructor).
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }

  bool Skip(size_t n) {
    if (remaining() < n) return false;
    p_ += n;
    return true;
  }

 private:
  bool Advance(const char* next) {
    if (next == nullptr) return false;
    p_ = next;
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace runnel
