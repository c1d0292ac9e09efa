// The windowed key codec and the expiry bound shared by every window store.
#include "streams/state/window_store.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"

namespace runnel::streams {
namespace {

// Flipping the sign bit maps int64 order onto uint64 order, which big-endian bytes keep.
constexpr uint64_t kSignBit = uint64_t{1} << 63;

}  // namespace

std::string WindowedKey(std::string_view key, int64_t window_start) {
  std::string out;
  out.reserve(key.size() + 8);
  out.append(key);
  AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(window_start) ^ kSignBit);
  return out;
}

absl::StatusOr<std::pair<std::string, int64_t>> SplitWindowedKey(std::string_view bytes) {
  if (bytes.size() < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "windowed key is ", bytes.size(), " bytes; it needs at least 8 (the window start)"));
  }
  const size_t key_size = bytes.size() - 8;
  const uint64_t encoded = LoadBigEndian<uint64_t>(bytes.data() + key_size);
  return std::make_pair(std::string(bytes.substr(0, key_size)),
                        static_cast<int64_t>(encoded ^ kSignBit));
}

int64_t OldestLiveWindowStart(int64_t stream_time, int64_t retention_ms) {
  int64_t oldest;
  if (__builtin_sub_overflow(stream_time, retention_ms, &oldest)) {
    return std::numeric_limits<int64_t>::min();
  }
  return oldest;
}

}  // namespace runnel::streams
