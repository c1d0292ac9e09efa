#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/state/caching_store.h"
#include "streams/state/record_cache.h"

namespace runnel::streams {
namespace {

// Windows are cached by (key, start), so one key's windows are adjacent and ordered by start.
using WindowKey = std::pair<std::string, int64_t>;

bool ByStartThenKey(const WindowStore::Entry& a, const WindowStore::Entry& b) {
  if (a.window_start != b.window_start) return a.window_start < b.window_start;
  return a.key < b.key;
}

class CachingWindow final : public WindowStore {
 public:
  CachingWindow(std::unique_ptr<WindowStore> inner, size_t max_bytes, WindowFlushCallback on_flush)
      : inner_(std::move(inner)), cache_(max_bytes), on_flush_(std::move(on_flush)) {}

  const std::string& name() const override { return inner_->name(); }
  bool persistent() const override { return inner_->persistent(); }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckOpen());
    RETURN_IF_ERROR(TakeDeferredError());
    RETURN_IF_ERROR(FlushCache());
    return inner_->Flush();
  }

  void Close() override {
    closed_ = true;
    cache_.Clear();
    inner_->Close();
  }

  absl::Status Put(std::string_view key, int64_t window_start, std::string_view value) override {
    return Write(key, window_start, std::string(value));
  }
  absl::Status Delete(std::string_view key, int64_t window_start) override {
    return Write(key, window_start, std::nullopt);
  }

  absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                   int64_t window_start) override {
    RETURN_IF_ERROR(CheckOpen());
    if (window_start < OldestLive()) return std::nullopt;
    if (const auto* entry = cache_.Find(WindowKey(key, window_start))) return entry->value;
    return inner_->Fetch(key, window_start);
  }

  absl::StatusOr<std::vector<Entry>> Fetch(std::string_view key, int64_t start_from,
                                           int64_t start_to) override {
    RETURN_IF_ERROR(CheckOpen());
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return std::vector<Entry>();
    ASSIGN_OR_RETURN(std::vector<Entry> stored, inner_->Fetch(key, start_from, start_to));
    std::vector<const Cache::Map::value_type*> cached;
    const auto& map = cache_.entries();
    for (auto it = map.lower_bound(WindowKey(key, start_from));
         it != map.end() && it->first.first == key && it->first.second <= start_to; ++it) {
      cached.push_back(&*it);
    }
    return Merge(std::move(stored), cached);
  }

  absl::StatusOr<std::vector<Entry>> FetchAll(int64_t start_from, int64_t start_to) override {
    RETURN_IF_ERROR(CheckOpen());
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return std::vector<Entry>();
    ASSIGN_OR_RETURN(std::vector<Entry> stored, inner_->FetchAll(start_from, start_to));
    // The cache is bounded by max_bytes; a scan of it is cheap next to the store's.
    std::vector<const Cache::Map::value_type*> cached;
    for (const auto& kv : cache_.entries()) {
      if (kv.first.second >= start_from && kv.first.second <= start_to) cached.push_back(&kv);
    }
    std::sort(cached.begin(), cached.end(), [](const auto* a, const auto* b) {
      if (a->first.second != b->first.second) return a->first.second < b->first.second;
      return a->first.first < b->first.first;
    });
    return Merge(std::move(stored), cached);
  }

  absl::StatusOr<std::vector<Entry>> All() override {
    return FetchAll(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  }

  void ObserveStreamTime(int64_t stream_time) override {
    if (closed_) return;
    const int64_t oldest =
        OldestLiveWindowStart(std::max(stream_time, inner_->stream_time()), inner_->retention_ms());
    // Write dirty windows down before the inner store expires them: their updates must reach
    // on_flush (with the right old value) and the changelog.
    if (!cache_.empty() && min_cached_start_ < oldest && !flushing_) {
      deferred_error_.Update(FlushCache());
    }
    inner_->ObserveStreamTime(stream_time);
  }
  int64_t stream_time() const override { return inner_->stream_time(); }
  int64_t retention_ms() const override { return inner_->retention_ms(); }

 private:
  using Cache = RecordCache<WindowKey>;

  int64_t OldestLive() const {
    return OldestLiveWindowStart(inner_->stream_time(), inner_->retention_ms());
  }

  absl::Status CheckOpen() const {
    if (!closed_) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("store ", name(), " is closed"));
  }

  absl::Status TakeDeferredError() { return std::exchange(deferred_error_, absl::OkStatus()); }

  absl::Status Write(std::string_view key, int64_t window_start, std::optional<std::string> value) {
    RETURN_IF_ERROR(CheckOpen());
    RETURN_IF_ERROR(TakeDeferredError());
    if (window_start < OldestLive()) return absl::OkStatus();  // expired: dropped, as below
    cache_.Write(WindowKey(key, window_start), std::move(value), key.size() + 8);
    min_cached_start_ = std::min(min_cached_start_, window_start);
    // A write made by on_flush during a flush waits for the next one.
    if (cache_.over_limit() && !flushing_) return FlushCache();
    return absl::OkStatus();
  }

  absl::Status FlushCache() {
    flushing_ = true;
    absl::Status s = WriteDown();
    flushing_ = false;
    // A lower bound of the cached starts; exact again once the cache is empty.
    min_cached_start_ = std::numeric_limits<int64_t>::max();
    for (const auto& [key, entry] : cache_.entries()) {
      min_cached_start_ = std::min(min_cached_start_, key.second);
    }
    return s;
  }

  absl::Status WriteDown() {
    for (const WindowKey& wk : cache_.KeysInWriteOrder()) {
      const Cache::Entry* entry = cache_.Find(wk);
      if (entry == nullptr) continue;
      const auto& [key, start] = wk;
      const std::optional<std::string> new_value = entry->value;
      ASSIGN_OR_RETURN(const std::optional<std::string> old_value, inner_->Fetch(key, start));
      if (!new_value.has_value() && !old_value.has_value()) {
        cache_.Erase(wk);
        continue;
      }
      if (new_value.has_value()) {
        RETURN_IF_ERROR(inner_->Put(key, start, *new_value));
      } else {
        RETURN_IF_ERROR(inner_->Delete(key, start));
      }
      cache_.Erase(wk);
      if (on_flush_) on_flush_(key, start, new_value, old_value);
    }
    return absl::OkStatus();
  }

  // `stored` overlaid with `cached`, both in the same order (by start, then key): cached values
  // replace stored ones, cached deletes hide them. Cached entries of expired windows are skipped.
  std::vector<Entry> Merge(std::vector<Entry> stored,
                           const std::vector<const Cache::Map::value_type*>& cached) const {
    const int64_t oldest = OldestLive();
    std::vector<Entry> out;
    out.reserve(stored.size() + cached.size());
    auto s = stored.begin();
    auto c = cached.begin();
    while (s != stored.end() || c != cached.end()) {
      if (c != cached.end() && (*c)->first.second < oldest) {
        ++c;
        continue;
      }
      Entry cached_entry;
      if (c != cached.end()) cached_entry = Entry{(*c)->first.first, (*c)->first.second, {}};
      if (c == cached.end() || (s != stored.end() && ByStartThenKey(*s, cached_entry))) {
        out.push_back(std::move(*s++));
        continue;
      }
      if (s != stored.end() && !ByStartThenKey(cached_entry, *s)) ++s;  // same window
      if ((*c)->second.value.has_value()) {
        cached_entry.value = *(*c)->second.value;
        out.push_back(std::move(cached_entry));
      }
      ++c;
    }
    return out;
  }

  std::unique_ptr<WindowStore> inner_;
  Cache cache_;
  WindowFlushCallback on_flush_;
  int64_t min_cached_start_ = std::numeric_limits<int64_t>::max();
  absl::Status deferred_error_;  // of a flush ObserveStreamTime made, until the next call
  bool flushing_ = false;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<WindowStore> CachingWindowStore(std::unique_ptr<WindowStore> inner,
                                                size_t max_bytes, WindowFlushCallback on_flush) {
  return std::make_unique<CachingWindow>(std::move(inner), max_bytes, std::move(on_flush));
}

}  // namespace runnel::streams
