#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/big_endian.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "rocksdb/iterator.h"
#include "streams/state/rocksdb_database.h"
#include "streams/state/window_store.h"

namespace runnel::streams {
namespace {

constexpr char kSegmentPrefix[] = "segment-";
// In the default column family: the segment interval the database was created with, 8 bytes
// big-endian. Segment ids only mean something with it, so it outlives a change of retention.
constexpr char kIntervalKey[] = "segment.interval.ms";
// Kafka's minimum: creating a column family syncs RocksDB's MANIFEST (tens of ms here), so a tiny
// retention must not mean a new segment every few ms of stream time.
constexpr int64_t kMinSegmentIntervalMs = 60'000;

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Floor division, so that negative starts get segments of their own below segment 0.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

class RocksDbWindowStore final : public WindowStore {
 public:
  RocksDbWindowStore(std::string name, std::unique_ptr<RocksDbDatabase> db, int64_t retention_ms,
                     int64_t segment_interval,
                     std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments)
      : name_(std::move(name)),
        db_(std::move(db)),
        retention_ms_(retention_ms),
        segment_interval_(segment_interval),
        segments_(std::move(segments)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return true; }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckOpen());
    return db_->SyncWal();
  }

  void Close() override {
    segments_.clear();
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
    const int64_t id = SegmentId(window_start);
    auto it = segments_.find(id);
    if (it == segments_.end()) {
      ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * handle,
                       db_->CreateFamily(absl::StrCat(kSegmentPrefix, id)));
      it = segments_.emplace(id, handle).first;
    }
    rocksdb::Status s = db_->db()->Put(db_->write_options(), it->second,
                                       ToSlice(WindowedKey(key, window_start)), ToSlice(value));
    if (!s.ok()) return db_->Error(s, "put");
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key, int64_t window_start) override {
    RETURN_IF_ERROR(CheckOpen());
    auto it = segments_.find(SegmentId(window_start));
    if (it == segments_.end()) return absl::OkStatus();
    rocksdb::Status s = db_->db()->Delete(db_->write_options(), it->second,
                                          ToSlice(WindowedKey(key, window_start)));
    if (!s.ok()) return db_->Error(s, "delete");
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                   int64_t window_start) override {
    RETURN_IF_ERROR(CheckOpen());
    if (window_start < OldestLive()) return std::nullopt;
    auto it = segments_.find(SegmentId(window_start));
    if (it == segments_.end()) return std::nullopt;
    std::string value;
    rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), it->second,
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
    for (auto seg = segments_.lower_bound(SegmentId(start_from));
         seg != segments_.end() && seg->first <= SegmentId(start_to); ++seg) {
      rocksdb::ReadOptions options;
      rocksdb::Slice upper_slice = ToSlice(upper);
      options.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(options, seg->second));
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
    for (auto seg = segments_.lower_bound(SegmentId(start_from));
         seg != segments_.end() && seg->first <= SegmentId(start_to); ++seg) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->db()->NewIterator(rocksdb::ReadOptions(), seg->second));
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
    if (db_->closed()) return;
    // A segment below the one holding the oldest live start holds only expired windows.
    const int64_t oldest_live_segment = SegmentId(OldestLive());
    while (!segments_.empty() && segments_.begin()->first < oldest_live_segment) {
      const int64_t id = segments_.begin()->first;
      absl::Status s = db_->DropFamily(absl::StrCat(kSegmentPrefix, id));
      if (!s.ok()) {
        // Reads skip expired windows anyway; the drop is tried again at the next call.
        logging::Get("streams")->warn("store {}: cannot drop expired segment {}: {}", name_, id,
                                      s.ToString());
        return;
      }
      segments_.erase(segments_.begin());
    }
  }

  int64_t stream_time() const override { return stream_time_; }
  int64_t retention_ms() const override { return retention_ms_; }

 private:
  int64_t OldestLive() const { return OldestLiveWindowStart(stream_time_, retention_ms_); }
  int64_t SegmentId(int64_t window_start) const {
    return FloorDiv(window_start, segment_interval_);
  }
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
  const int64_t segment_interval_;
  int64_t stream_time_ = std::numeric_limits<int64_t>::min();
  std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments_;  // owned by db_
};

// The interval stored in `db`, or `fresh` (then stored) for a new database.
absl::StatusOr<int64_t> SegmentInterval(RocksDbDatabase& db, int64_t fresh) {
  std::string stored;
  rocksdb::Status s = db.db()->Get(rocksdb::ReadOptions(), ToSlice(kIntervalKey), &stored);
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
  s = db.db()->Put(db.write_options(), ToSlice(kIntervalKey), ToSlice(encoded));
  if (!s.ok()) return db.Error(s, "writing the segment interval");
  return fresh;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WindowStore>> OpenRocksDbWindowStore(std::string name,
                                                                    std::string dir,
                                                                    int64_t retention_ms,
                                                                    bool write_ahead_log) {
  retention_ms = std::max<int64_t>(retention_ms, 0);
  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbDatabase> db,
                   RocksDbDatabase::Open(name, dir, write_ahead_log));
  ASSIGN_OR_RETURN(int64_t interval,
                   SegmentInterval(*db, std::max(retention_ms / 2, kMinSegmentIntervalMs)));
  std::map<int64_t, rocksdb::ColumnFamilyHandle*> segments;
  for (const auto& [family, handle] : db->families()) {
    absl::string_view rest = family;
    int64_t id;
    if (!absl::ConsumePrefix(&rest, kSegmentPrefix) || !absl::SimpleAtoi(rest, &id)) {
      return absl::FailedPreconditionError(
          absl::StrCat("store ", name, ": the RocksDB database in ", dir, " has column family '",
                       family, "', which is not a window segment"));
    }
    segments[id] = handle;
  }
  return std::unique_ptr<WindowStore>(std::make_unique<RocksDbWindowStore>(
      std::move(name), std::move(db), retention_ms, interval, std::move(segments)));
}

}  // namespace runnel::streams
