#include "common/record/record_iterator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::record {

absl::StatusOr<RecordIterator> RecordIterator::Create(const RecordBatchView& batch,
                                                      size_t max_uncompressed_bytes) {
  if (batch.compression_id() > kMaxCompressionId) {
    return absl::InvalidArgumentError(
        absl::StrCat("attributes: unknown compression codec id ", batch.compression_id()));
  }
  std::unique_ptr<std::string> decompressed;
  if (batch.compression() != Compression::kNone) {
    decompressed = std::make_unique<std::string>();
    absl::Status s = Decompress(batch.compression(), batch.records_section(),
                                max_uncompressed_bytes, decompressed.get());
    if (!s.ok()) {
      return WithContext(s, "records section");
    }
  }
  return RecordIterator(batch, std::move(decompressed));
}

RecordIterator::RecordIterator(const RecordBatchView& batch,
                               std::unique_ptr<std::string> decompressed)
    : batch_(batch),
      decompressed_(std::move(decompressed)),
      reader_(decompressed_ ? std::string_view(*decompressed_) : batch.records_section()) {}

bool RecordIterator::Next(Record* record) {
  if (!status_.ok()) return false;
  if (index_ >= batch_.record_count()) {
    if (!reader_.empty()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("recordCount: ", batch_.record_count(), " records read but ",
                       reader_.remaining(), " bytes of the records section are left over"));
    }
    return false;
  }
  status_ = ReadRecord(record);
  if (!status_.ok()) return false;
  ++index_;
  return true;
}

absl::Status RecordIterator::RecordError(const std::string& field, const std::string& what) const {
  return absl::InvalidArgumentError(absl::StrCat("record ", index_, " (of ", batch_.record_count(),
                                                 " claimed by recordCount) ", field, ": ", what));
}

namespace {

// Reads a length-prefixed field whose length may be -1 (null) when `nullable`.
inline __attribute__((always_inline)) bool ReadLengthPrefixed(ByteReader* r, bool nullable,
                                                              std::optional<std::string_view>* out,
                                                              int32_t* length) {
  *length = 0;
  if (!r->ReadVarint(length)) return false;
  if (*length == -1 && nullable) {
    out->reset();
    return true;
  }
  if (*length < 0) return false;
  std::string_view bytes;
  if (!r->ReadBytes(static_cast<size_t>(*length), &bytes)) return false;
  *out = bytes;
  return true;
}

int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace

absl::Status RecordIterator::ReadRecord(Record* record) {
  const size_t position = reader_.position();
  int32_t length = 0;
  if (!reader_.ReadVarint(&length)) {
    return RecordError("length",
                       absl::StrCat("truncated or malformed varint at position ", position, " of ",
                                    position + reader_.remaining(), " in the records section"));
  }
  std::string_view body_bytes;
  if (length < 0 || !reader_.ReadBytes(static_cast<size_t>(length), &body_bytes)) {
    return RecordError(
        "length", absl::StrCat(length, " at position ", position, " but only ", reader_.remaining(),
                               " bytes are left in the records section"));
  }
  ByteReader body(body_bytes);
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  if (!body.ReadFixed(&record->attributes)) return RecordError("attributes", "truncated");
  if (!body.ReadVarlong(&timestamp_delta)) {
    return RecordError("timestampDelta", "truncated or malformed varlong");
  }
  if (!body.ReadVarint(&offset_delta)) {
    return RecordError("offsetDelta", "truncated or malformed varint");
  }
  int32_t field_length = 0;
  if (!ReadLengthPrefixed(&body, /*nullable=*/true, &record->key, &field_length)) {
    return RecordError("key", absl::StrCat("bad length ", field_length, " with ", body.remaining(),
                                           " bytes left in the record"));
  }
  if (!ReadLengthPrefixed(&body, /*nullable=*/true, &record->value, &field_length)) {
    return RecordError("value", absl::StrCat("bad length ", field_length, " with ",
                                             body.remaining(), " bytes left in the record"));
  }
  int32_t header_count = 0;
  if (!body.ReadVarint(&header_count) || header_count < 0) {
    return RecordError("headers", absl::StrCat("bad header count ", header_count));
  }
  record->headers.clear();
  // Each header takes at least 2 bytes, so a count beyond that is malformed: checking first keeps
  // a hostile count from reserving memory.
  if (static_cast<size_t>(header_count) > body.remaining() / 2) {
    return RecordError("headers", absl::StrCat("header count ", header_count, " but only ",
                                               body.remaining(), " bytes left in the record"));
  }
  record->headers.reserve(header_count);
  for (int32_t h = 0; h < header_count; ++h) {
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    if (!ReadLengthPrefixed(&body, /*nullable=*/false, &key, &field_length)) {
      return RecordError(absl::StrCat("header ", h, " key"),
                         absl::StrCat("bad length ", field_length));
    }
    if (!ReadLengthPrefixed(&body, /*nullable=*/true, &value, &field_length)) {
      return RecordError(absl::StrCat("header ", h, " value"),
                         absl::StrCat("bad length ", field_length));
    }
    record->headers.push_back(RecordHeader{*key, value});
  }
  if (!body.empty()) {
    return RecordError("length", absl::StrCat(length, " but the fields end after ",
                                              length - body.remaining(), " bytes"));
  }
  record->timestamp_delta = timestamp_delta;
  record->offset_delta = offset_delta;
  // Unvalidated input may put any value in these fields: add with wrap-around, never overflow.
  record->offset = WrappingAdd(batch_.base_offset(), offset_delta);
  record->timestamp = batch_.timestamp_type() == TimestampType::kLogAppendTime
                          ? batch_.max_timestamp()
                          : WrappingAdd(batch_.base_timestamp(), timestamp_delta);
  return absl::OkStatus();
}

}  // namespace runnel::record
