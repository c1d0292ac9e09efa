// The primitives of the __consumer_offsets records (docs/FORMAT.md section 17): big-endian
// integers and strings written as an int16 byte length followed by the bytes. Internal to
// broker/group's codecs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/byte_reader.h"
#include "common/check.h"

namespace runnel::broker::wire {

// The longest string a record can hold (the int16 length's range).
inline constexpr size_t kMaxStringBytes = 32767;

// `s` must be at most kMaxStringBytes long (callers check what clients send).
inline void PutString(std::string* out, std::string_view s) {
  RUNNEL_CHECK(s.size() <= kMaxStringBytes, "a %d-byte string does not fit an int16 length",
               s.size());
  AppendBigEndian<int16_t>(out, static_cast<int16_t>(s.size()));
  out->append(s);
}

// Reads fields from `bytes` in order, naming the field that runs past the end: the status-returning
// face of common/byte_reader.h, which does the bounds checks.
class Reader {
 public:
  Reader(std::string_view bytes, const char* what) : reader_(bytes), what_(what) {}

  template <typename T>
  absl::StatusOr<T> Get(const char* field) {
    T v;
    if (!reader_.ReadFixed(&v)) return Short(field);
    return v;
  }
  absl::StatusOr<std::string> GetString(const char* field) {
    auto n = Get<int16_t>(field);
    if (!n.ok()) return n.status();
    std::string_view s;
    if (*n < 0 || !reader_.ReadBytes(static_cast<size_t>(*n), &s)) return Short(field);
    return std::string(s);
  }
  // A count of the entries that follow, each at least `min_entry_bytes` long: InvalidArgument
  // when negative or when the rest cannot hold that many.
  absl::StatusOr<int32_t> GetCount(const char* field, size_t min_entry_bytes) {
    auto n = Get<int32_t>(field);
    if (!n.ok()) return n.status();
    if (*n < 0 || static_cast<size_t>(*n) * min_entry_bytes > reader_.remaining()) {
      return absl::InvalidArgumentError(absl::StrCat(what_, ": ", field, " ", *n,
                                                     " does not fit the ", reader_.remaining(),
                                                     " bytes that follow"));
    }
    return *n;
  }
  // InvalidArgument when bytes are left over.
  absl::Status Done() const {
    if (reader_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": ", reader_.remaining(), " bytes left over after the last field"));
  }
  const char* what() const { return what_; }

 private:
  absl::Status Short(const char* field) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", field, " runs past the end"));
  }
  ByteReader reader_;
  const char* what_;
};

}  // namespace runnel::broker::wire
