// The session key codec.
#include "streams/state/session_store.h"

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"

namespace runnel::streams {
namespace {

// Flipping the sign bit maps int64 order onto uint64 order, which big-endian bytes keep.
constexpr uint64_t kSignBit = uint64_t{1} << 63;

}  // namespace

std::string SessionKey(std::string_view key, int64_t start, int64_t end) {
  std::string out;
  out.reserve(key.size() + 16);
  out.append(key);
  AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(end) ^ kSignBit);
  AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(start) ^ kSignBit);
  return out;
}

absl::StatusOr<SessionKeyParts> SplitSessionKey(std::string_view bytes) {
  if (bytes.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session key is ", bytes.size(), " bytes; it needs at least 16 (session end and start)"));
  }
  const size_t key_size = bytes.size() - 16;
  SessionKeyParts parts;
  parts.key = std::string(bytes.substr(0, key_size));
  parts.end = static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data() + key_size) ^ kSignBit);
  parts.start =
      static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data() + key_size + 8) ^ kSignBit);
  return parts;
}

}  // namespace runnel::streams
