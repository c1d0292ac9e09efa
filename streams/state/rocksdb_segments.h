// RocksDbSegments: time segments of a RocksDB database, one column family each, as the RocksDB
// window and session stores keep them (Kafka's segmented bytes stores). Segment n
// ("segment-<n>") holds the entries whose segment time t (a window's start, a session's end)
// has n * interval <= t < (n + 1) * interval. The interval, max(retention / 2, 60 s) (Kafka's),
// is fixed when the database is created and kept in the default column family as
// "segment.interval.ms" (8 bytes big-endian), so a reopen with another retention keeps the
// segments consistent. A segment is dropped whole once every time it can hold has expired.
//
// Threading: as state_store.h. The database is borrowed and must outlive this object.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "streams/state/rocksdb_database.h"

namespace runnel::streams {

class RocksDbSegments {
 public:
  // Reads (or, in a new database, writes) the interval and finds the segments `db` has.
  // FailedPrecondition if the database has a column family that is not a segment; DataLoss if
  // the stored interval is not a positive 8-byte integer.
  static absl::StatusOr<RocksDbSegments> Open(RocksDbDatabase* db, const std::string& store,
                                              int64_t retention_ms);

  int64_t interval() const { return interval_; }
  // The segment of time `t` (floor division: negative times have segments below 0).
  int64_t SegmentId(int64_t t) const;
  // The segment's column family, or null if it does not exist.
  rocksdb::ColumnFamilyHandle* Find(int64_t id) const;
  // The segment's column family, created if missing.
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> GetOrCreate(int64_t id);
  // The segments holding times in [from, to], by id.
  std::map<int64_t, rocksdb::ColumnFamilyHandle*> Covering(int64_t from, int64_t to) const;
  // Drops every segment below the one of `oldest_live` (they hold only expired entries). A
  // failed drop is logged and tried again at the next call: reads skip expired entries anyway.
  void DropBefore(int64_t oldest_live);
  // Forgets the handles (the database closes them).
  void Clear() { segments_.clear(); }

 private:
  RocksDbSegments(RocksDbDatabase* db, std::string store, int64_t interval,
                  std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments)
      : db_(db), store_(std::move(store)), interval_(interval), segments_(std::move(segments)) {}

  RocksDbDatabase* db_;
  std::string store_;
  int64_t interval_;
  std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments_;  // owned by db_
};

}  // namespace runnel::streams
