// RecordIterator: walks the records of one RecordBatch v2. Uncompressed batches are read in place
// (no copy of keys, values or headers); compressed ones are decompressed once into a buffer the
// iterator owns. Every length and varint is bounds checked: a malformed batch yields an error
// naming the record and the field, never a read outside the batch.
//
// Usage:
//   ASSIGN_OR_RETURN(auto it, RecordIterator::Create(view));
//   Record r;
//   while (it.Next(&r)) { ... }
//   RETURN_IF_ERROR(it.status());
//
// The batch bytes must outlive the iterator; records returned point into them or into the
// iterator, and stay valid until the iterator is destroyed (moving it keeps them valid).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_reader.h"
#include "common/record/record.h"
#include "common/record/record_batch.h"

namespace runnel::record {

// Default bound on the decompressed size of one batch's records.
inline constexpr size_t kDefaultMaxUncompressedBytes = 256 * 1024 * 1024;

class RecordIterator {
 public:
  // Fails if the batch's codec id is unknown or its records do not decompress (within
  // `max_uncompressed_bytes`).
  static absl::StatusOr<RecordIterator> Create(
      const RecordBatchView& batch, size_t max_uncompressed_bytes = kDefaultMaxUncompressedBytes);

  // Reads the next record into `*record` (reusing its header vector's storage). Returns false
  // after the batch's last record or on error; status() tells which.
  bool Next(Record* record);

  const absl::Status& status() const { return status_; }
  // Records successfully returned so far.
  int32_t records_read() const { return index_; }

 private:
  RecordIterator(const RecordBatchView& batch, std::unique_ptr<std::string> decompressed);

  absl::Status ReadRecord(Record* record);
  absl::Status RecordError(const std::string& field, const std::string& what) const;

  RecordBatchView batch_;
  std::unique_ptr<std::string> decompressed_;  // null for uncompressed batches
  ByteReader reader_;
  int32_t index_ = 0;
  absl::Status status_;
};

}  // namespace runnel::record
