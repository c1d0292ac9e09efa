// One record of a RecordBatch v2, as a view: keys, values and headers point into the batch bytes
// (uncompressed batches) or into the RecordIterator's decompression buffer; they stay valid while
// that storage lives. A null key/value/header value (wire length -1) is std::nullopt, an empty one
// is an empty string_view.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace runnel::record {

struct RecordHeader {
  std::string_view key;
  std::optional<std::string_view> value;

  friend bool operator==(const RecordHeader&, const RecordHeader&) = default;
};

struct Record {
  int64_t offset = 0;     // batch base offset + offset_delta
  int64_t timestamp = 0;  // batch base timestamp + timestamp_delta (or the batch's LogAppendTime)
  int32_t offset_delta = 0;
  int64_t timestamp_delta = 0;
  int8_t attributes = 0;  // unused by Kafka so far; kept as read
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<RecordHeader> headers;
};

}  // namespace runnel::record
