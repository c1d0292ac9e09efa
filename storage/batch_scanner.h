// BatchScanner: walks the RecordBatch v2 batches stored back to back in a file region, reading
// ahead in large chunks. Next() validates each batch in full (CRC, records; offset gaps allowed
// since compaction leaves them); NextHeaderOnly() only parses headers, for seeking. A batch cut
// short by the end of the region, or failing validation, is an error naming its position.
// Not thread-safe; the File must outlive the scanner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/record/record_batch.h"
#include "storage/file.h"

namespace runnel::storage {

class BatchScanner {
 public:
  BatchScanner(const File& file, uint64_t start, uint64_t end, size_t read_ahead = 1 << 20)
      : file_(file), position_(start), end_(end), read_ahead_(read_ahead) {}

  struct Batch {
    uint64_t position;
    record::RecordBatchView view;  // valid until the next call
  };
  struct Header {
    uint64_t position;
    uint64_t size;
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_timestamp;
    int32_t partition_leader_epoch;
  };

  // The next validated batch, std::nullopt at the end of the region.
  absl::StatusOr<std::optional<Batch>> Next();
  // The next batch's header fields without reading or checking its body.
  absl::StatusOr<std::optional<Header>> NextHeaderOnly();

 private:
  // Makes [position_, position_ + n) readable at buffer_ (fewer bytes at the region's end).
  absl::Status Fill(size_t n);
  // The bytes at position_ (the whole batch, or only its header) after checking magic and that
  // batchLength fits the region; std::nullopt at the region's end. Does not advance.
  absl::StatusOr<std::optional<std::string_view>> Peek(bool need_body);

  const File& file_;
  uint64_t position_;
  const uint64_t end_;
  const size_t read_ahead_;
  std::string buffer_;
  uint64_t buffer_start_ = 0;
};

}  // namespace runnel::storage
