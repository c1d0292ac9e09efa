#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams {
namespace {

// Sessions by end, then key, then start (Kafka's InMemorySessionStore layout): expiry erases a
// prefix; FindSessions looks the key up under each end from earliest_end on.
class InMemorySessionStore final : public SessionStore {
 public:
  InMemorySessionStore(std::string name, int64_t retention_ms)
      : name_(std::move(name)), retention_ms_(std::max<int64_t>(retention_ms, 0)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return false; }
  absl::Status Flush() override { return CheckOpen(); }
  void Close() override {
    open_ = false;
    sessions_.clear();
  }

  absl::Status Put(std::string_view key, int64_t start, int64_t end,
                   std::string_view value) override {
    if (!open_) return ClosedError();
    if (end < OldestLive()) {
      logging::Get("streams")->debug(
          "store {}: dropped a write to expired session [{}, {}] (stream time {}, retention {} ms)",
          name_, start, end, stream_time_, retention_ms_);
      return absl::OkStatus();
    }
    auto& keys = sessions_[end];
    auto it = keys.find(key);
    if (it == keys.end()) it = keys.emplace(std::string(key), ByStart()).first;
    it->second[start].assign(value);
    return absl::OkStatus();
  }

  absl::Status Remove(std::string_view key, int64_t start, int64_t end) override {
    if (!open_) return ClosedError();
    auto e = sessions_.find(end);
    if (e == sessions_.end()) return absl::OkStatus();
    auto k = e->second.find(key);
    if (k == e->second.end()) return absl::OkStatus();
    k->second.erase(start);
    if (k->second.empty()) e->second.erase(k);
    if (e->second.empty()) sessions_.erase(e);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> FetchSession(std::string_view key, int64_t start,
                                                          int64_t end) override {
    if (!open_) return ClosedError();
    if (end < OldestLive()) return std::nullopt;
    auto e = sessions_.find(end);
    if (e == sessions_.end()) return std::nullopt;
    auto k = e->second.find(key);
    if (k == e->second.end()) return std::nullopt;
    auto s = k->second.find(start);
    if (s == k->second.end()) return std::nullopt;
    return s->second;
  }

  absl::StatusOr<std::vector<Session>> FindSessions(std::string_view key, int64_t earliest_end,
                                                    int64_t latest_start) override {
    if (!open_) return ClosedError();
    std::vector<Session> out;
    for (auto e = sessions_.lower_bound(std::max(earliest_end, OldestLive())); e != sessions_.end();
         ++e) {
      auto k = e->second.find(key);
      if (k == e->second.end()) continue;
      for (const auto& [start, value] : k->second) {
        if (start > latest_start) break;
        out.push_back(Session{k->first, start, e->first, value});
      }
    }
    return out;
  }

  absl::StatusOr<std::vector<Session>> All() override {
    if (!open_) return ClosedError();
    std::vector<Session> out;
    for (auto e = sessions_.lower_bound(OldestLive()); e != sessions_.end(); ++e) {
      for (const auto& [key, starts] : e->second) {
        for (const auto& [start, value] : starts)
          out.push_back(Session{key, start, e->first, value});
      }
    }
    return out;
  }

  void ObserveStreamTime(int64_t stream_time) override {
    stream_time_ = std::max(stream_time_, stream_time);
    sessions_.erase(sessions_.begin(), sessions_.lower_bound(OldestLive()));
  }
  int64_t stream_time() const override { return stream_time_; }
  int64_t retention_ms() const override { return retention_ms_; }

 private:
  using ByStart = std::map<int64_t, std::string>;

  int64_t OldestLive() const { return OldestLiveWindowStart(stream_time_, retention_ms_); }
  absl::Status ClosedError() const {
    return absl::FailedPreconditionError(absl::StrCat("store ", name_, " is closed"));
  }
  absl::Status CheckOpen() const { return open_ ? absl::OkStatus() : ClosedError(); }

  const std::string name_;
  const int64_t retention_ms_;
  bool open_ = true;
  int64_t stream_time_ = std::numeric_limits<int64_t>::min();
  std::map<int64_t, std::map<std::string, ByStart, std::less<>>> sessions_;
};

}  // namespace

std::unique_ptr<SessionStore> NewInMemorySessionStore(std::string name, int64_t retention_ms) {
  return std::make_unique<InMemorySessionStore>(std::move(name), retention_ms);
}

}  // namespace runnel::streams
