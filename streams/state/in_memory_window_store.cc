#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "streams/state/window_store.h"

namespace runnel::streams {
namespace {

// Windows by start, then key (Kafka's InMemoryWindowStore layout): expiry erases a prefix, and
// FetchAll is a range of starts. Fetch(key, from, to) looks the key up in each start in range.
class InMemoryWindowStore final : public WindowStore {
 public:
  InMemoryWindowStore(std::string name, int64_t retention_ms)
      : name_(std::move(name)), retention_ms_(std::max<int64_t>(retention_ms, 0)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return false; }
  absl::Status Flush() override { return CheckOpen(); }
  void Close() override {
    open_ = false;
    windows_.clear();
  }

  absl::Status Put(std::string_view key, int64_t window_start, std::string_view value) override {
    if (!open_) return ClosedError();
    if (window_start < OldestLive()) {
      logging::Get("streams")->debug(
          "store {}: dropped a write to expired window {} (stream time {}, retention {} ms)", name_,
          window_start, stream_time_, retention_ms_);
      return absl::OkStatus();
    }
    auto& keys = windows_[window_start];
    auto it = keys.find(key);
    if (it == keys.end()) {
      keys.emplace(std::string(key), std::string(value));
    } else {
      it->second.assign(value);
    }
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key, int64_t window_start) override {
    if (!open_) return ClosedError();
    auto w = windows_.find(window_start);
    if (w == windows_.end()) return absl::OkStatus();
    auto it = w->second.find(key);
    if (it != w->second.end()) w->second.erase(it);
    if (w->second.empty()) windows_.erase(w);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                   int64_t window_start) override {
    if (!open_) return ClosedError();
    if (window_start < OldestLive()) return std::nullopt;
    auto w = windows_.find(window_start);
    if (w == windows_.end()) return std::nullopt;
    auto it = w->second.find(key);
    if (it == w->second.end()) return std::nullopt;
    return it->second;
  }

  absl::StatusOr<std::vector<Entry>> Fetch(std::string_view key, int64_t start_from,
                                           int64_t start_to) override {
    if (!open_) return ClosedError();
    std::vector<Entry> out;
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return out;
    for (auto w = windows_.lower_bound(start_from); w != windows_.end() && w->first <= start_to;
         ++w) {
      auto it = w->second.find(key);
      if (it != w->second.end()) out.push_back(Entry{it->first, w->first, it->second});
    }
    return out;
  }

  absl::StatusOr<std::vector<Entry>> FetchAll(int64_t start_from, int64_t start_to) override {
    if (!open_) return ClosedError();
    std::vector<Entry> out;
    start_from = std::max(start_from, OldestLive());
    if (start_from > start_to) return out;
    for (auto w = windows_.lower_bound(start_from); w != windows_.end() && w->first <= start_to;
         ++w) {
      for (const auto& [key, value] : w->second) out.push_back(Entry{key, w->first, value});
    }
    return out;
  }

  absl::StatusOr<std::vector<Entry>> All() override {
    return FetchAll(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  }

  void ObserveStreamTime(int64_t stream_time) override {
    stream_time_ = std::max(stream_time_, stream_time);
    windows_.erase(windows_.begin(), windows_.lower_bound(OldestLive()));
  }
  int64_t stream_time() const override { return stream_time_; }
  int64_t retention_ms() const override { return retention_ms_; }

 private:
  int64_t OldestLive() const { return OldestLiveWindowStart(stream_time_, retention_ms_); }
  absl::Status ClosedError() const {
    return absl::FailedPreconditionError(absl::StrCat("store ", name_, " is closed"));
  }
  absl::Status CheckOpen() const { return open_ ? absl::OkStatus() : ClosedError(); }

  const std::string name_;
  const int64_t retention_ms_;
  bool open_ = true;
  int64_t stream_time_ = std::numeric_limits<int64_t>::min();
  std::map<int64_t, std::map<std::string, std::string, std::less<>>> windows_;
};

}  // namespace

std::unique_ptr<WindowStore> NewInMemoryWindowStore(std::string name, int64_t retention_ms) {
  return std::make_unique<InMemoryWindowStore>(std::move(name), retention_ms);
}

}  // namespace runnel::streams
