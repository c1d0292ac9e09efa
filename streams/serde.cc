#include "streams/serde.h"

#include <bit>
#include <string>

#include "common/big_endian.h"

namespace runnel::streams::serdes {
namespace {

// Fixed-width integers share one codec: Kafka writes them big-endian, two's complement.
template <typename I>
Serde<I> FixedWidth(const char* name) {
  Serde<I> serde;
  serde.serialize = [](const I& value) {
    std::string out;
    AppendBigEndian<I>(&out, value);
    return out;
  };
  serde.deserialize = [name](std::string_view bytes) -> absl::StatusOr<I> {
    if (bytes.size() != sizeof(I)) {
      return absl::InvalidArgumentError(absl::StrCat(name, " serde: expected ", sizeof(I),
                                                     " bytes (big-endian), got ", bytes.size()));
    }
    return LoadBigEndian<I>(bytes.data());
  };
  return serde;
}

}  // namespace

Serde<std::string> String() {
  Serde<std::string> serde;
  serde.serialize = [](const std::string& value) { return value; };
  serde.deserialize = [](std::string_view bytes) -> absl::StatusOr<std::string> {
    return std::string(bytes);
  };
  return serde;
}

Serde<int64_t> Int64() { return FixedWidth<int64_t>("Int64"); }

Serde<int32_t> Int32() { return FixedWidth<int32_t>("Int32"); }

Serde<double> Double() {
  // The bit pattern travels as a uint64, so NaN payloads and -0.0 are kept exactly.
  Serde<double> serde;
  serde.serialize = [](const double& value) {
    std::string out;
    AppendBigEndian<uint64_t>(&out, std::bit_cast<uint64_t>(value));
    return out;
  };
  serde.deserialize = [](std::string_view bytes) -> absl::StatusOr<double> {
    if (bytes.size() != sizeof(uint64_t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Double serde: expected 8 bytes (big-endian IEEE 754), got ", bytes.size()));
    }
    return std::bit_cast<double>(LoadBigEndian<uint64_t>(bytes.data()));
  };
  return serde;
}

Serde<streams::Bytes> Bytes() {
  Serde<streams::Bytes> serde;
  serde.serialize = [](const streams::Bytes& value) { return value.data; };
  serde.deserialize = [](std::string_view bytes) -> absl::StatusOr<streams::Bytes> {
    return streams::Bytes{std::string(bytes)};
  };
  return serde;
}

}  // namespace runnel::streams::serdes
