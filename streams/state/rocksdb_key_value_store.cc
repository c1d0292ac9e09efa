#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rocksdb/iterator.h"
#include "streams/state/key_value_store.h"
#include "streams/state/rocksdb_database.h"

namespace runnel::streams {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

class RocksDbKeyValueStore final : public KeyValueStore {
 public:
  RocksDbKeyValueStore(std::string name, std::unique_ptr<RocksDbDatabase> db)
      : name_(std::move(name)), db_(std::move(db)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return true; }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckOpen());
    return db_->SyncWal();
  }

  void Close() override { db_->Close(); }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    RETURN_IF_ERROR(CheckOpen());
    std::string value;
    rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return db_->Error(s, "get");
    return value;
  }

  absl::Status Put(std::string_view key, std::string_view value) override {
    RETURN_IF_ERROR(CheckOpen());
    rocksdb::Status s = db_->db()->Put(db_->write_options(), ToSlice(key), ToSlice(value));
    if (!s.ok()) return db_->Error(s, "put");
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key) override {
    RETURN_IF_ERROR(CheckOpen());
    rocksdb::Status s = db_->db()->Delete(db_->write_options(), ToSlice(key));
    if (!s.ok()) return db_->Error(s, "delete");
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from, std::string_view to) override {
    RETURN_IF_ERROR(CheckOpen());
    if (from > to) return std::vector<KeyValue>();
    // The smallest key above `to` is `to` followed by one zero byte: an exclusive upper bound.
    std::string upper(to);
    upper.push_back('\0');
    return Scan(from, upper);
  }

  absl::StatusOr<std::vector<KeyValue>> All() override {
    RETURN_IF_ERROR(CheckOpen());
    return Scan(std::nullopt, std::nullopt);
  }

  int64_t ApproximateNumEntries() override {
    uint64_t n = 0;
    if (db_->closed() || !db_->db()->GetIntProperty("rocksdb.estimate-num-keys", &n)) return 0;
    return static_cast<int64_t>(n);
  }

 private:
  absl::Status CheckOpen() const {
    if (!db_->closed()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("store ", name_, " is closed"));
  }

  // The entries with from <= key < upper, either bound optional.
  absl::StatusOr<std::vector<KeyValue>> Scan(std::optional<std::string_view> from,
                                             std::optional<std::string_view> upper) {
    rocksdb::ReadOptions options;
    rocksdb::Slice upper_slice;
    if (upper.has_value()) {
      upper_slice = ToSlice(*upper);
      options.iterate_upper_bound = &upper_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options));
    std::vector<KeyValue> out;
    for (from.has_value() ? it->Seek(ToSlice(*from)) : it->SeekToFirst(); it->Valid(); it->Next()) {
      out.push_back(KeyValue{it->key().ToString(), it->value().ToString()});
    }
    if (!it->status().ok()) return db_->Error(it->status(), "scan");
    return out;
  }

  const std::string name_;
  std::unique_ptr<RocksDbDatabase> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KeyValueStore>> OpenRocksDbKeyValueStore(std::string name,
                                                                        std::string dir,
                                                                        bool write_ahead_log) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbDatabase> db,
                   RocksDbDatabase::Open(name, dir, write_ahead_log));
  if (!db->families().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("store ", name, ": the RocksDB database in ", dir,
                     " has column families, so it is not a key-value store's (a window "
                     "store's?)"));
  }
  return std::unique_ptr<KeyValueStore>(
      std::make_unique<RocksDbKeyValueStore>(std::move(name), std::move(db)));
}

}  // namespace runnel::streams
