#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/state/caching_store.h"
#include "streams/state/record_cache.h"

namespace runnel::streams {
namespace {

class CachingKeyValue final : public KeyValueStore {
 public:
  CachingKeyValue(std::unique_ptr<KeyValueStore> inner, size_t max_bytes,
                  KeyValueFlushCallback on_flush)
      : inner_(std::move(inner)), cache_(max_bytes), on_flush_(std::move(on_flush)) {}

  const std::string& name() const override { return inner_->name(); }
  bool persistent() const override { return inner_->persistent(); }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckOpen());
    RETURN_IF_ERROR(FlushCache());
    return inner_->Flush();
  }

  void Close() override {
    closed_ = true;
    cache_.Clear();
    inner_->Close();
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    RETURN_IF_ERROR(CheckOpen());
    if (const auto* entry = cache_.Find(key)) return entry->value;
    return inner_->Get(key);
  }

  absl::Status Put(std::string_view key, std::string_view value) override {
    return Write(key, std::string(value));
  }

  absl::Status Delete(std::string_view key) override { return Write(key, std::nullopt); }

  absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from, std::string_view to) override {
    RETURN_IF_ERROR(CheckOpen());
    if (from > to) return std::vector<KeyValue>();
    ASSIGN_OR_RETURN(std::vector<KeyValue> stored, inner_->Range(from, to));
    const auto& cached = cache_.entries();
    return Merge(std::move(stored), cached.lower_bound(from), cached.upper_bound(to));
  }

  absl::StatusOr<std::vector<KeyValue>> All() override {
    RETURN_IF_ERROR(CheckOpen());
    ASSIGN_OR_RETURN(std::vector<KeyValue> stored, inner_->All());
    return Merge(std::move(stored), cache_.entries().begin(), cache_.entries().end());
  }

  // The inner store's count plus the cached puts (which may replace stored keys: approximate).
  int64_t ApproximateNumEntries() override {
    int64_t cached = 0;
    for (const auto& [key, entry] : cache_.entries()) cached += entry.value.has_value() ? 1 : 0;
    return inner_->ApproximateNumEntries() + cached;
  }

 private:
  using Cache = RecordCache<std::string>;

  absl::Status CheckOpen() const {
    if (!closed_) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("store ", name(), " is closed"));
  }

  absl::Status Write(std::string_view key, std::optional<std::string> value) {
    RETURN_IF_ERROR(CheckOpen());
    cache_.Write(std::string(key), std::move(value), key.size());
    // A write made by on_flush during a flush waits for the next one.
    if (cache_.over_limit() && !flushing_) return FlushCache();
    return absl::OkStatus();
  }

  absl::Status FlushCache() {
    flushing_ = true;
    absl::Status s = WriteDown();
    flushing_ = false;
    return s;
  }

  absl::Status WriteDown() {
    for (const std::string& key : cache_.KeysInWriteOrder()) {
      const Cache::Entry* entry = cache_.Find(key);
      if (entry == nullptr) continue;
      const std::optional<std::string> new_value = entry->value;
      ASSIGN_OR_RETURN(const std::optional<std::string> old_value, inner_->Get(key));
      if (!new_value.has_value() && !old_value.has_value()) {
        cache_.Erase(key);
        continue;
      }
      if (new_value.has_value()) {
        RETURN_IF_ERROR(inner_->Put(key, *new_value));
      } else {
        RETURN_IF_ERROR(inner_->Delete(key));
      }
      cache_.Erase(key);
      if (on_flush_) on_flush_(key, new_value, old_value);
    }
    return absl::OkStatus();
  }

  // `stored` (in key order) overlaid with the cached entries [begin, end): cached values replace
  // stored ones, cached deletes hide them.
  static std::vector<KeyValue> Merge(std::vector<KeyValue> stored, Cache::Map::const_iterator c,
                                     Cache::Map::const_iterator end) {
    std::vector<KeyValue> out;
    out.reserve(stored.size());
    auto s = stored.begin();
    while (s != stored.end() || c != end) {
      if (c == end || (s != stored.end() && s->key < c->first)) {
        out.push_back(std::move(*s++));
        continue;
      }
      if (s != stored.end() && s->key == c->first) ++s;
      if (c->second.value.has_value()) out.push_back(KeyValue{c->first, *c->second.value});
      ++c;
    }
    return out;
  }

  std::unique_ptr<KeyValueStore> inner_;
  Cache cache_;
  KeyValueFlushCallback on_flush_;
  bool flushing_ = false;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<KeyValueStore> CachingKeyValueStore(std::unique_ptr<KeyValueStore> inner,
                                                    size_t max_bytes,
                                                    KeyValueFlushCallback on_flush) {
  return std::make_unique<CachingKeyValue>(std::move(inner), max_bytes, std::move(on_flush));
}

}  // namespace runnel::streams
