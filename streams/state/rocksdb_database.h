// RocksDbDatabase: the RocksDB database under a persistent store — opening it with the stores'
// options, its column families, syncing, closing, and RocksDB statuses as absl::Status. Used by
// the RocksDB key-value and window stores only.
//
// Options (Kafka Streams' RocksDB defaults where it has them): create_if_missing and
// create_missing_column_families; 16 MiB write buffers, at most 3 per column family; RocksDB's
// info LOG kept to 2 files of 1 MiB. The write-ahead log is on by default (unsynced writes), so a
// crashed process loses nothing it wrote, and SyncWal() makes everything so far survive a machine
// crash; it can be turned off for stores that are rebuilt from a changelog anyway.
//
// Threading: as state_store.h (RocksDB's own background threads are its business).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"

namespace runnel::streams {

class RocksDbDatabase {
 public:
  // Opens the database in `dir` (creating `dir`, its parents and the database if missing) with
  // every column family it has. FailedPrecondition naming the store and `dir` if it cannot: `dir`
  // is a file, not writable, or locked by another open (in this process or another one).
  // `write_ahead_log` false: writes skip RocksDB's write-ahead log (as Kafka Streams' RocksDB
  // stores do) and SyncWal does nothing, so what is not yet in a flushed memtable is lost with the
  // process; for stores whose changelog is restored into an empty directory at every start.
  static absl::StatusOr<std::unique_ptr<RocksDbDatabase>> Open(std::string store, std::string dir,
                                                               bool write_ahead_log = true);
  ~RocksDbDatabase() { Close(); }
  RocksDbDatabase(const RocksDbDatabase&) = delete;
  RocksDbDatabase& operator=(const RocksDbDatabase&) = delete;

  const std::string& dir() const { return dir_; }
  bool closed() const { return db_ == nullptr; }
  // Valid until Close.
  rocksdb::DB* db() const { return db_.get(); }
  // The column families other than "default", by name: those found at Open and created since.
  const std::map<std::string, rocksdb::ColumnFamilyHandle*>& families() const { return families_; }
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> CreateFamily(const std::string& name);
  // Drops the family and its data (RocksDB deletes its files once nothing reads them).
  absl::Status DropFamily(const std::string& name);

  // The options every write uses (without the write-ahead log when it is off).
  const rocksdb::WriteOptions& write_options() const { return write_options_; }
  // Syncs the write-ahead log: every write so far survives a machine crash (nothing without it).
  absl::Status SyncWal();
  // Writes every memtable out, releases the column families and closes the database; errors are
  // logged (the data is still in the write-ahead log). Idempotent.
  void Close();

  // `s` (not ok) as an absl::Status naming the store, the directory and what was being done:
  // DataLoss for corruption, Internal otherwise.
  absl::Status Error(const rocksdb::Status& s, const std::string& what) const;

 private:
  RocksDbDatabase(std::string store, std::string dir)
      : store_(std::move(store)), dir_(std::move(dir)) {}

  const std::string store_;
  const std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;  // as Open returned it
  rocksdb::WriteOptions write_options_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
};

}  // namespace runnel::streams
