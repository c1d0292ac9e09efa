#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "rocksdb/iterator.h"
#include "streams/state/rocksdb_database.h"
#include "streams/state/rocksdb_segments.h"
#include "streams/state/window_store.h"

namespace runnel::streams {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

class RocksDbWindowStore final : public WindowStore {
 public:
  RocksDbWindowStore(std::string name, std::unique_ptr<RocksDbDatabase> db, int64_t retention_ms,
                     RocksDbSegments segments)
      : name_(std::move(name)),
        db_(std::move(db)),
        retention_ms_(retention_ms),
        segments_(std::move(segments)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return true; }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckOpen());
    return db_->SyncWal();
  }

  void Close() override {
    segments_.Clear();
    db_->Close();
  }

  absl::Status Put(std::string_view key, int64_t window_start, std::string_view value) override {
    RETURN_IF_ERROR(CheckOpen());
    if (window_start < OldestLive()) {
      logging::Get("streams")->debug(
          "store {}: dropped a write to expired window {} (stream time {}, retention {} ms)", name_,
          window_start, stream_time_, retention_ms_);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * segment,
                     segments_.GetOrCreate(segments_.SegmentId(window_start)));
    rocksdb::Status s = db_->db()->Put(db_->write_options(), segment,
                                       ToSlice(WindowedKey(key, window_start)), ToSlice(value));
    if (!s.ok()) return db_->Error(s, "put");
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key, int64_t window_start) override {
    RETURN_IF_ERROR(CheckOpen());
    rocksdb::ColumnFamilyHandle* segment = segments_.Find(segments_.SegmentId(window_start));
    if (segment == nullptr) return absl::OkStatus();
    rocksdb::Status s =
        db_->db()->Delete(db_->write_options(), segment, ToSlice(WindowedKey(key, window_start)));
    if (!s.ok()) return db_->Error(s, "delete");
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                   int64_t window_start) override {
    RETURN_IF_ERROR(CheckOpen());
    if (window_start < OldestLive()) return std::nullopt;
    rocksdb::ColumnFamilyHandle* segment = segments_.Find(segments_.SegmentId(window_start));
    if (segment == nullptr) return std::nullopt;
    std::string value;
    rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), segment,
                                       ToSlice(WindowedKey(key, window_start)), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return db_->Error(s, "fetch");
    return value;
  }

  absl::StatusOr<std::vector<Entry>> Fetch(std::string_view key, int64_t start_from,
                                           int64_t start_to) override {
    RETURN_IF_ERROR(CheckOpen());
    std::vector<Entry> out;
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return out;
    // Every byte string between these bounds begins with `key`; those of exactly key + 8 bytes
    // are this key's windows (longer ones belong to keys that extend it).
    const std::string lower = WindowedKey(key, start_from);
    const std::string upper = WindowedKey(key, start_to) + std::string(1, '\0');
    for (const auto& [id, segment] : segments_.Covering(start_from, start_to)) {
      rocksdb::ReadOptions options;
      rocksdb::Slice upper_slice = ToSlice(upper);
      options.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, segment));
      for (it->Seek(ToSlice(lower)); it->Valid(); it->Next()) {
        if (it->key().size() != key.size() + 8) continue;
        ASSIGN_OR_RETURN(auto split, Split(it->key()));
        out.push_back(Entry{std::move(split.first), split.second, it->value().ToString()});
      }
      if (!it->status().ok()) return db_->Error(it->status(), "fetch range");
    }
    return out;
  }

  absl::StatusOr<std::vector<Entry>> FetchAll(int64_t start_from, int64_t start_to) override {
    RETURN_IF_ERROR(CheckOpen());
    std::vector<Entry> out;
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return out;
    for (const auto& [id, segment] : segments_.Covering(start_from, start_to)) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->db()->NewIterator(rocksdb::ReadOptions(), segment));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ASSIGN_OR_RETURN(auto split, Split(it->key()));
        if (split.second < start_from || split.second > start_to) continue;
        out.push_back(Entry{std::move(split.first), split.second, it->value().ToString()});
      }
      if (!it->status().ok()) return db_->Error(it->status(), "scan");
    }
    // A segment iterates by key, then start; results go by start, then key.
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
      if (a.window_start != b.window_start) return a.window_start < b.window_start;
      return a.key < b.key;
    });
    return out;
  }

  absl::StatusOr<std::vector<Entry>> All() override {
    return FetchAll(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  }

  void ObserveStreamTime(int64_t stream_time) override {
    stream_time_ = std::max(stream_time_, stream_time);
    segments_.DropBefore(OldestLive());
  }

  int64_t stream_time() const override { return stream_time_; }
  int64_t retention_ms() const override { return retention_ms_; }

 private:
  int64_t OldestLive() const { return OldestLiveWindowStart(stream_time_, retention_ms_); }
  absl::Status CheckOpen() const {
    if (!db_->closed()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("store ", name_, " is closed"));
  }
  absl::StatusOr<std::pair<std::string, int64_t>> Split(const rocksdb::Slice& key) const {
    auto split = SplitWindowedKey(std::string_view(key.data(), key.size()));
    if (!split.ok()) {
      return absl::DataLossError(absl::StrCat("store ", name_, " (RocksDB in ", db_->dir(),
                                              "): ", split.status().message()));
    }
    return split;
  }

  const std::string name_;
  std::unique_ptr<RocksDbDatabase> db_;
  const int64_t retention_ms_;
  int64_t stream_time_ = std::numeric_limits<int64_t>::min();
  RocksDbSegments segments_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WindowStore>> OpenRocksDbWindowStore(std::string name,
                                                                    std::string dir,
                                                                    int64_t retention_ms,
                                                                    bool write_ahead_log) {
  retention_ms = std::max<int64_t>(retention_ms, 0);
  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbDatabase> db,
                   RocksDbDatabase::Open(name, dir, write_ahead_log));
  ASSIGN_OR_RETURN(RocksDbSegments segments, RocksDbSegments::Open(db.get(), name, retention_ms));
  return std::unique_ptr<WindowStore>(std::make_unique<RocksDbWindowStore>(
      std::move(name), std::move(db), retention_ms, std::move(segments)));
}

}  // namespace runnel::streams
