#include <algorithm>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "rocksdb/iterator.h"
#include "streams/state/rocksdb_database.h"
#include "streams/state/rocksdb_segments.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

class RocksDbSessionStore final : public SessionStore {
 public:
  RocksDbSessionStore(std::string name, std::unique_ptr<RocksDbDatabase> db, int64_t retention_ms,
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

  absl::Status Put(std::string_view key, int64_t start, int64_t end,
                   std::string_view value) override {
    RETURN_IF_ERROR(CheckOpen());
    if (end < OldestLive()) {
      logging::Get("streams")->debug(
          "store {}: dropped a write to expired session [{}, {}] (stream time {}, retention {} ms)",
          name_, start, end, stream_time_, retention_ms_);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * segment,
                     segments_.GetOrCreate(segments_.SegmentId(end)));
    rocksdb::Status s = db_->db()->Put(db_->write_options(), segment,
                                       ToSlice(SessionKey(key, start, end)), ToSlice(value));
    if (!s.ok()) return db_->Error(s, "put");
    return absl::OkStatus();
  }

  absl::Status Remove(std::string_view key, int64_t start, int64_t end) override {
    RETURN_IF_ERROR(CheckOpen());
    rocksdb::ColumnFamilyHandle* segment = segments_.Find(segments_.SegmentId(end));
    if (segment == nullptr) return absl::OkStatus();
    rocksdb::Status s =
        db_->db()->Delete(db_->write_options(), segment, ToSlice(SessionKey(key, start, end)));
    if (!s.ok()) return db_->Error(s, "remove");
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> FetchSession(std::string_view key, int64_t start,
                                                          int64_t end) override {
    RETURN_IF_ERROR(CheckOpen());
    if (end < OldestLive()) return std::nullopt;
    rocksdb::ColumnFamilyHandle* segment = segments_.Find(segments_.SegmentId(end));
    if (segment == nullptr) return std::nullopt;
    std::string value;
    rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), segment,
                                       ToSlice(SessionKey(key, start, end)), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return db_->Error(s, "fetch");
    return value;
  }

  absl::StatusOr<std::vector<Session>> FindSessions(std::string_view key, int64_t earliest_end,
                                                    int64_t latest_start) override {
    RETURN_IF_ERROR(CheckOpen());
    std::vector<Session> out;
    earliest_end = std::max(earliest_end, OldestLive());
    // Every byte string between these bounds begins with `key`; those of exactly key + 16 bytes
    // are this key's sessions (longer ones belong to keys that extend it).
    const std::string lower = SessionKey(key, std::numeric_limits<int64_t>::min(), earliest_end);
    const std::string upper = std::string(key) + std::string(16, '\xff') + std::string(1, '\0');
    for (const auto& [id, segment] :
         segments_.Covering(earliest_end, std::numeric_limits<int64_t>::max())) {
      rocksdb::ReadOptions options;
      rocksdb::Slice upper_slice = ToSlice(upper);
      options.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, segment));
      for (it->Seek(ToSlice(lower)); it->Valid(); it->Next()) {
        if (it->key().size() != key.size() + 16) continue;
        ASSIGN_OR_RETURN(SessionKeyParts parts, Split(it->key()));
        if (parts.end < earliest_end || parts.start > latest_start) continue;
        out.push_back(
            Session{std::move(parts.key), parts.start, parts.end, it->value().ToString()});
      }
      if (!it->status().ok()) return db_->Error(it->status(), "find sessions");
    }
    return out;
  }

  absl::StatusOr<std::vector<Session>> All() override {
    RETURN_IF_ERROR(CheckOpen());
    std::vector<Session> out;
    const int64_t oldest = OldestLive();
    for (const auto& [id, segment] :
         segments_.Covering(oldest, std::numeric_limits<int64_t>::max())) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->db()->NewIterator(rocksdb::ReadOptions(), segment));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ASSIGN_OR_RETURN(SessionKeyParts parts, Split(it->key()));
        if (parts.end < oldest) continue;
        out.push_back(
            Session{std::move(parts.key), parts.start, parts.end, it->value().ToString()});
      }
      if (!it->status().ok()) return db_->Error(it->status(), "scan");
    }
    // A segment iterates by key, then end; results go by end, key, start.
    std::sort(out.begin(), out.end(), [](const Session& a, const Session& b) {
      return std::tie(a.end, a.key, a.start) < std::tie(b.end, b.key, b.start);
    });
    return out;
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
  absl::StatusOr<SessionKeyParts> Split(const rocksdb::Slice& key) const {
    auto parts = SplitSessionKey(std::string_view(key.data(), key.size()));
    if (!parts.ok()) {
      return absl::DataLossError(absl::StrCat("store ", name_, " (RocksDB in ", db_->dir(),
                                              "): ", parts.status().message()));
    }
    return parts;
  }

  const std::string name_;
  std::unique_ptr<RocksDbDatabase> db_;
  const int64_t retention_ms_;
  int64_t stream_time_ = std::numeric_limits<int64_t>::min();
  RocksDbSegments segments_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> OpenRocksDbSessionStore(std::string name,
                                                                      std::string dir,
                                                                      int64_t retention_ms,
                                                                      bool write_ahead_log) {
  retention_ms = std::max<int64_t>(retention_ms, 0);
  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbDatabase> db,
                   RocksDbDatabase::Open(name, dir, write_ahead_log));
  ASSIGN_OR_RETURN(RocksDbSegments segments, RocksDbSegments::Open(db.get(), name, retention_ms));
  return std::unique_ptr<SessionStore>(std::make_unique<RocksDbSessionStore>(
      std::move(name), std::move(db), retention_ms, std::move(segments)));
}

}  // namespace runnel::streams
