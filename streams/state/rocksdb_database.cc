#include "streams/state/rocksdb_database.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::streams {
namespace {

rocksdb::Options StoreOptions() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.write_buffer_size = 16 << 20;
  options.max_write_buffer_number = 3;
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbDatabase>> RocksDbDatabase::Open(std::string store,
                                                                       std::string dir,
                                                                       bool write_ahead_log) {
  auto cannot_open = [&](const std::string& why) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", store, ": cannot open RocksDB database in ", dir, ": ", why));
  };
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return cannot_open(ec.message());
  if (!std::filesystem::is_directory(dir, ec)) return cannot_open("not a directory");

  const rocksdb::Options options = StoreOptions();
  std::vector<std::string> names;
  if (std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &names);
    if (!s.ok()) return cannot_open(s.ToString());
  }
  if (names.empty()) names.push_back(rocksdb::kDefaultColumnFamilyName);

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, descriptors, &handles, &raw);
  if (!s.ok()) return cannot_open(s.ToString());

  std::unique_ptr<RocksDbDatabase> db(new RocksDbDatabase(std::move(store), std::move(dir)));
  db->db_.reset(raw);
  db->write_options_.disableWAL = !write_ahead_log;
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    if (handle->GetName() == rocksdb::kDefaultColumnFamilyName) {
      db->default_handle_ = handle;
    } else {
      db->families_[handle->GetName()] = handle;
    }
  }
  logging::Get("streams")->info(
      "store {}: opened RocksDB database in {} ({} column families, write-ahead log {})",
      db->store_, db->dir_, handles.size(), write_ahead_log ? "on" : "off");
  return db;
}

absl::StatusOr<rocksdb::ColumnFamilyHandle*> RocksDbDatabase::CreateFamily(
    const std::string& name) {
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  rocksdb::Status s =
      db_->CreateColumnFamily(rocksdb::ColumnFamilyOptions(StoreOptions()), name, &handle);
  if (!s.ok()) return Error(s, absl::StrCat("creating column family ", name));
  families_[name] = handle;
  return handle;
}

absl::Status RocksDbDatabase::DropFamily(const std::string& name) {
  auto it = families_.find(name);
  if (it == families_.end()) return absl::OkStatus();
  rocksdb::Status s = db_->DropColumnFamily(it->second);
  if (!s.ok()) return Error(s, absl::StrCat("dropping column family ", name));
  s = db_->DestroyColumnFamilyHandle(it->second);
  families_.erase(it);
  if (!s.ok()) return Error(s, absl::StrCat("releasing column family ", name));
  return absl::OkStatus();
}

absl::Status RocksDbDatabase::SyncWal() {
  if (write_options_.disableWAL) return absl::OkStatus();
  rocksdb::Status s = db_->SyncWAL();
  if (!s.ok()) return Error(s, "syncing the write-ahead log");
  return absl::OkStatus();
}

void RocksDbDatabase::Close() {
  if (db_ == nullptr) return;
  auto log = logging::Get("streams");
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  if (default_handle_ != nullptr) handles.push_back(default_handle_);
  for (const auto& [name, handle] : families_) handles.push_back(handle);
  rocksdb::Status s = db_->Flush(rocksdb::FlushOptions(), handles);
  if (!s.ok()) log->warn("{}", Error(s, "writing memtables out at close").ToString());
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    s = db_->DestroyColumnFamilyHandle(handle);
    if (!s.ok()) log->warn("{}", Error(s, "releasing a column family at close").ToString());
  }
  default_handle_ = nullptr;
  families_.clear();
  s = db_->Close();
  if (!s.ok()) log->warn("{}", Error(s, "closing").ToString());
  db_.reset();
  log->info("store {}: closed RocksDB database in {}", store_, dir_);
}

absl::Status RocksDbDatabase::Error(const rocksdb::Status& s, const std::string& what) const {
  std::string message =
      absl::StrCat("store ", store_, " (RocksDB in ", dir_, "): ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(std::move(message));
  return absl::InternalError(std::move(message));
}

}  // namespace runnel::streams
