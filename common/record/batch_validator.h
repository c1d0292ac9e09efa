// ValidateBatch: the full structural check of one RecordBatch v2 that the broker runs before it
// stores a batch, and that recovery and `runnel log dump` run on stored ones. Checks, in order:
// header length, magic, batchLength against the buffer, CRC32C, attributes (codec id), record
// count against lastOffsetDelta, then every record's lengths, varints and offset delta, and that
// no bytes follow the last record. The first problem found is returned as InvalidArgument (or
// DataLoss for a CRC mismatch or undecodable compressed data) whose message starts with the name
// of the bad field. Pure function, safe from any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "common/record/record_iterator.h"

namespace runnel::record {

struct ValidateOptions {
  // Produced batches carry offset deltas 0..recordCount-1. Compacted batches keep their original
  // deltas with gaps (and may even be empty); set this to accept strictly increasing deltas within
  // [0, lastOffsetDelta].
  bool allow_offset_gaps = false;
  size_t max_uncompressed_bytes = kDefaultMaxUncompressedBytes;
};

// `bytes` must hold exactly one batch: trailing bytes are an error.
absl::Status ValidateBatch(std::string_view bytes, const ValidateOptions& options = {});

}  // namespace runnel::record
