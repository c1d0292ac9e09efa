#include "streams/state/rocksdb_segments.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/big_endian.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::streams {
namespace {

constexpr char kSegmentPrefix[] = "segment-";
// In the default column family: the segment interval the database was created with, 8 bytes
// big-endian. Segment ids only mean something with it, so it outlives a change of retention.
constexpr char kIntervalKey[] = "segment.interval.ms";
// Kafka's minimum: creating a column family syncs RocksDB's MANIFEST (tens of ms here), so a tiny
// retention must not mean a new segment every few ms of stream time.
constexpr int64_t kMinSegmentIntervalMs = 60'000;

// The interval stored in `db`, or `fresh` (then stored) for a new database.
absl::StatusOr<int64_t> SegmentInterval(RocksDbDatabase& db, int64_t fresh) {
  std::string stored;
  rocksdb::Status s = db.db()->Get(rocksdb::ReadOptions(), kIntervalKey, &stored);
  if (s.ok()) {
    if (stored.size() != 8 || LoadBigEndian<int64_t>(stored.data()) <= 0) {
      return db.Error(
          rocksdb::Status::Corruption(absl::StrCat(
              kIntervalKey, " is not a positive 8-byte integer (", stored.size(), " bytes)")),
          "reading the segment interval");
    }
    return LoadBigEndian<int64_t>(stored.data());
  }
  if (!s.IsNotFound()) return db.Error(s, "reading the segment interval");
  std::string encoded;
  AppendBigEndian<int64_t>(&encoded, fresh);
  s = db.db()->Put(db.write_options(), kIntervalKey, encoded);
  if (!s.ok()) return db.Error(s, "writing the segment interval");
  return fresh;
}

// Floor division, so that negative times get segments of their own below segment 0.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

absl::StatusOr<RocksDbSegments> RocksDbSegments::Open(RocksDbDatabase* db, const std::string& store,
                                                      int64_t retention_ms) {
  ASSIGN_OR_RETURN(int64_t interval,
                   SegmentInterval(*db, std::max(retention_ms / 2, kMinSegmentIntervalMs)));
  std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments;
  for (const auto& [family, handle] : db->families()) {
    absl::string_view rest = family;
    int64_t id;
    if (!absl::ConsumePrefix(&rest, kSegmentPrefix) || !absl::SimpleAtoi(rest, &id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("store ", store, ": the RocksDB database in ", db->dir(),
                       " has column family '", family, "', which is not a segment"));
    }
    segments[id] = handle;
  }
  return RocksDbSegments(db, store, interval, std::move(segments));
}

int64_t RocksDbSegments::SegmentId(int64_t t) const { return FloorDiv(t, interval_); }

rocksdb::ColumnFamilyHandle* RocksDbSegments::Find(int64_t id) const {
  auto it = segments_.find(id);
  return it == segments_.end() ? nullptr : it->second;
}

absl::StatusOr<rocksdb::ColumnFamilyHandle*> RocksDbSegments::GetOrCreate(int64_t id) {
  if (rocksdb::ColumnFamilyHandle* handle = Find(id)) return handle;
  ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * handle,
                   db_->CreateFamily(absl::StrCat(kSegmentPrefix, id)));
  segments_.emplace(id, handle);
  return handle;
}

std::map<int64_t, rocksdb::ColumnFamilyHandle*> RocksDbSegments::Covering(int64_t from,
                                                                          int64_t to) const {
  if (from > to) return {};
  return std::map<int64_t, rocksdb::ColumnFamilyHandle*>(segments_.lower_bound(SegmentId(from)),
                                                         segments_.upper_bound(SegmentId(to)));
}

void RocksDbSegments::DropBefore(int64_t oldest_live) {
  if (db_->closed()) return;
  const int64_t oldest_live_segment = SegmentId(oldest_live);
  while (!segments_.empty() && segments_.begin()->first < oldest_live_segment) {
    const int64_t id = segments_.begin()->first;
    absl::Status s = db_->DropFamily(absl::StrCat(kSegmentPrefix, id));
    if (!s.ok()) {
      logging::Get("streams")->warn("store {}: cannot drop expired segment {}: {}", store_, id,
                                    s.ToString());
      return;
    }
    segments_.erase(segments_.begin());
  }
}

}  // namespace runnel::streams
