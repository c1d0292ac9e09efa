// The compression codecs of Kafka's RecordBatch v2 and their exact Kafka framing, so batches we
// write can be read by Kafka clients and theirs by us (docs/FORMAT.md, "Compression"):
//   gzip    one RFC 1952 gzip member (several concatenated members are accepted when reading)
//   snappy  written in the xerial framing the Java client uses; reading accepts xerial framing and
//           the raw snappy block that librdkafka writes
//   lz4     the LZ4 frame format (independent 64 KiB blocks, no checksums), as KIP-57 fixed it
//   zstd    one standard zstd frame; reading does not need the frame content size
// Pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runnel::record {

// Values are the codec ids in bits 0-2 of the batch attributes.
enum class Compression : int8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

inline constexpr int kMaxCompressionId = 4;

// "none", "gzip", "snappy", "lz4", "zstd".
std::string_view CompressionName(Compression c);
absl::StatusOr<Compression> ParseCompression(std::string_view name);

// Appends `input` compressed with `codec` (not kNone) to `*output`.
absl::Status Compress(Compression codec, std::string_view input, std::string* output);

// Appends the decompressed form of `input` to `*output`. Fails with InvalidArgument (DataLoss for
// bad data) naming the codec and what was wrong if the framing or data is bad, or if more than
// `max_output` bytes would come out (a guard against decompression bombs).
absl::Status Decompress(Compression codec, std::string_view input, size_t max_output,
                        std::string* output);

}  // namespace runnel::record
