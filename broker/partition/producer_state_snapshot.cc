#include "broker/partition/producer_state_snapshot.h"

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/byte_reader.h"
#include "common/crc32c.h"
#include "storage/segment.h"

namespace runnel::broker {
namespace {

// Byte positions of the fixed header (docs/FORMAT.md section 15).
constexpr size_t kVersionAt = 0;  // int16
constexpr size_t kCrcAt = 2;      // uint32: CRC32C of [kCrcStart, end)
constexpr size_t kCrcStart = 6;   // endOffset (int64), producerCount (int32), producers
constexpr size_t kHeaderSize = 18;

absl::Status Bad(const std::string& what) {
  return absl::DataLossError(absl::StrCat("producer state snapshot: ", what));
}

// Reads one producer entry and checks it against the previous producer id and the end offset.
absl::Status ReadEntry(ByteReader* in, int16_t version, int64_t previous_id, int64_t end_offset,
                       int64_t* id, ProducerEntry* entry) {
  int8_t count = 0;
  if (!in->ReadFixed(id) || !in->ReadFixed(&entry->epoch) ||
      (version >= 2 && !in->ReadFixed(&entry->last_timestamp)) || !in->ReadFixed(&count)) {
    return Bad(absl::StrCat("truncated at byte ", in->position()));
  }
  // Version 2 stored the last batch's record time, which says nothing of when it was appended.
  if (version == 2) entry->last_timestamp = -1;
  if (entry->last_timestamp < -1) {
    return Bad(absl::StrCat("producer ", *id, ": last timestamp ", entry->last_timestamp));
  }
  if (*id < 0 || *id <= previous_id || entry->epoch < 0) {
    return Bad(absl::StrCat("bad producer ", *id, " epoch ", entry->epoch, " after producer ",
                            previous_id));
  }
  if (count < 1 || count > static_cast<int>(ProducerStateTable::kRetainedBatches)) {
    return Bad(absl::StrCat("producer ", *id, ": batch count ", count, " is not in [1, ",
                            ProducerStateTable::kRetainedBatches, "]"));
  }
  int64_t previous_last = -1;
  for (int i = 0; i < count; ++i) {
    ProducerBatch b;
    if (!in->ReadFixed(&b.base_sequence) || !in->ReadFixed(&b.last_sequence) ||
        !in->ReadFixed(&b.base_offset) || !in->ReadFixed(&b.last_offset)) {
      return Bad(absl::StrCat("truncated at byte ", in->position()));
    }
    if (b.base_sequence < 0 || b.last_sequence < 0 || b.base_offset <= previous_last ||
        b.last_offset < b.base_offset || b.last_offset >= end_offset) {
      return Bad(absl::StrCat("producer ", *id, " batch ", i, ": bad sequences ", b.base_sequence,
                              "..", b.last_sequence, " or offsets ", b.base_offset, "..",
                              b.last_offset, " (end offset ", end_offset, ")"));
    }
    previous_last = b.last_offset;
    entry->batches.push_back(b);
  }
  return absl::OkStatus();
}

}  // namespace

std::string SnapshotFileName(int64_t end_offset) {
  return absl::StrCat(storage::Segment::FileStem(end_offset), kSnapshotSuffix);
}

std::optional<int64_t> ParseSnapshotFileName(std::string_view name) {
  const std::string_view suffix = kSnapshotSuffix;
  if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  return storage::Segment::ParseFileStem(name.substr(0, name.size() - suffix.size()));
}

std::string EncodeProducerStateSnapshot(const ProducerStateTable& table, int64_t end_offset) {
  std::string out;
  AppendBigEndian<int16_t>(&out, kProducerStateVersion);
  AppendBigEndian<uint32_t>(&out, 0);  // the CRC, filled in last
  AppendBigEndian<int64_t>(&out, end_offset);
  AppendBigEndian<int32_t>(&out, static_cast<int32_t>(table.producers().size()));
  for (const auto& [id, entry] : table.producers()) {
    AppendBigEndian<int64_t>(&out, id);
    AppendBigEndian<int16_t>(&out, entry.epoch);
    AppendBigEndian<int64_t>(&out, entry.last_timestamp);
    AppendBigEndian<int8_t>(&out, static_cast<int8_t>(entry.batches.size()));
    for (const ProducerBatch& b : entry.batches) {
      AppendBigEndian<int32_t>(&out, b.base_sequence);
      AppendBigEndian<int32_t>(&out, b.last_sequence);
      AppendBigEndian<int64_t>(&out, b.base_offset);
      AppendBigEndian<int64_t>(&out, b.last_offset);
    }
  }
  StoreBigEndian<uint32_t>(out.data() + kCrcAt,
                           crc32c::Value(out.data() + kCrcStart, out.size() - kCrcStart));
  return out;
}

absl::StatusOr<ProducerStateSnapshot> DecodeProducerStateSnapshot(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) {
    return Bad(
        absl::StrCat(bytes.size(), " bytes, shorter than the ", kHeaderSize, "-byte header"));
  }
  const int16_t version = LoadBigEndian<int16_t>(bytes.data() + kVersionAt);
  if (version < 1 || version > 3) {
    return Bad(absl::StrCat("version ", version, " is not 1, 2 or 3"));
  }
  const uint32_t stored = LoadBigEndian<uint32_t>(bytes.data() + kCrcAt);
  const uint32_t computed = crc32c::Value(bytes.substr(kCrcStart));
  if (stored != computed) {
    return Bad(absl::StrCat("CRC32C mismatch (stored 0x", absl::Hex(stored), ", computed 0x",
                            absl::Hex(computed), ")"));
  }
  ByteReader in(bytes.substr(kCrcStart));
  ProducerStateSnapshot snapshot;
  int32_t count = 0;
  in.ReadFixed(&snapshot.end_offset);  // present: the size was checked above
  in.ReadFixed(&count);
  if (snapshot.end_offset < 0 || count < 0) {
    return Bad(absl::StrCat("bad end offset ", snapshot.end_offset, " or producer count ", count));
  }
  int64_t previous_id = -1;
  for (int32_t i = 0; i < count; ++i) {
    int64_t id = 0;
    ProducerEntry entry;
    absl::Status read = ReadEntry(&in, version, previous_id, snapshot.end_offset, &id, &entry);
    if (!read.ok()) return read;
    snapshot.table.Restore(id, std::move(entry));
    previous_id = id;
  }
  if (!in.empty()) {
    return Bad(absl::StrCat(in.remaining(), " bytes left after ", count, " producers"));
  }
  return snapshot;
}

}  // namespace runnel::broker
