// The change-logging wrappers of changelog.h: apply to the inner store first, so that a failed
// write is never logged, then send the change.
#include "common/status_macros.h"
#include "streams/state/changelog.h"

namespace runnel::streams {
namespace {

class LoggedKeyValue final : public KeyValueStore {
 public:
  LoggedKeyValue(std::unique_ptr<KeyValueStore> inner, ChangelogSink* sink,
                 std::function<int64_t()> timestamp_now)
      : inner_(std::move(inner)), sink_(sink), now_(std::move(timestamp_now)) {}

  const std::string& name() const override { return inner_->name(); }
  bool persistent() const override { return inner_->persistent(); }
  absl::Status Flush() override { return inner_->Flush(); }
  void Close() override { inner_->Close(); }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    return inner_->Get(key);
  }
  absl::Status Put(std::string_view key, std::string_view value) override {
    RETURN_IF_ERROR(inner_->Put(key, value));
    sink_->Send(name(), ChangelogRecord{std::string(key), std::string(value), now_()});
    return absl::OkStatus();
  }
  absl::Status Delete(std::string_view key) override {
    RETURN_IF_ERROR(inner_->Delete(key));
    sink_->Send(name(), ChangelogRecord{std::string(key), std::nullopt, now_()});
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from, std::string_view to) override {
    return inner_->Range(from, to);
  }
  absl::StatusOr<std::vector<KeyValue>> All() override { return inner_->All(); }
  int64_t ApproximateNumEntries() override { return inner_->ApproximateNumEntries(); }

 private:
  std::unique_ptr<KeyValueStore> inner_;
  ChangelogSink* sink_;
  std::function<int64_t()> now_;
};

class LoggedWindow final : public WindowStore {
 public:
  LoggedWindow(std::unique_ptr<WindowStore> inner, ChangelogSink* sink,
               std::function<int64_t()> timestamp_now)
      : inner_(std::move(inner)), sink_(sink), now_(std::move(timestamp_now)) {}

  const std::string& name() const override { return inner_->name(); }
  bool persistent() const override { return inner_->persistent(); }
  absl::Status Flush() override { return inner_->Flush(); }
  void Close() override { inner_->Close(); }

  // A write the inner store drops because its window expired is still logged (as Kafka does);
  // restore drops it again.
  absl::Status Put(std::string_view key, int64_t window_start, std::string_view value) override {
    RETURN_IF_ERROR(inner_->Put(key, window_start, value));
    sink_->Send(name(),
                ChangelogRecord{WindowedKey(key, window_start), std::string(value), now_()});
    return absl::OkStatus();
  }
  absl::Status Delete(std::string_view key, int64_t window_start) override {
    RETURN_IF_ERROR(inner_->Delete(key, window_start));
    sink_->Send(name(), ChangelogRecord{WindowedKey(key, window_start), std::nullopt, now_()});
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> Fetch(std::string_view key,
                                                   int64_t window_start) override {
    return inner_->Fetch(key, window_start);
  }
  absl::StatusOr<std::vector<Entry>> Fetch(std::string_view key, int64_t start_from,
                                           int64_t start_to) override {
    return inner_->Fetch(key, start_from, start_to);
  }
  absl::StatusOr<std::vector<Entry>> FetchAll(int64_t start_from, int64_t start_to) override {
    return inner_->FetchAll(start_from, start_to);
  }
  absl::StatusOr<std::vector<Entry>> All() override { return inner_->All(); }
  void ObserveStreamTime(int64_t stream_time) override { inner_->ObserveStreamTime(stream_time); }
  int64_t stream_time() const override { return inner_->stream_time(); }
  int64_t retention_ms() const override { return inner_->retention_ms(); }

 private:
  std::unique_ptr<WindowStore> inner_;
  ChangelogSink* sink_;
  std::function<int64_t()> now_;
};

class LoggedSession final : public SessionStore {
 public:
  LoggedSession(std::unique_ptr<SessionStore> inner, ChangelogSink* sink,
                std::function<int64_t()> timestamp_now)
      : inner_(std::move(inner)), sink_(sink), now_(std::move(timestamp_now)) {}

  const std::string& name() const override { return inner_->name(); }
  bool persistent() const override { return inner_->persistent(); }
  absl::Status Flush() override { return inner_->Flush(); }
  void Close() override { inner_->Close(); }

  // As for windows, a write to an expired session is logged too; restore drops it again.
  absl::Status Put(std::string_view key, int64_t start, int64_t end,
                   std::string_view value) override {
    RETURN_IF_ERROR(inner_->Put(key, start, end, value));
    sink_->Send(name(), ChangelogRecord{SessionKey(key, start, end), std::string(value), now_()});
    return absl::OkStatus();
  }
  absl::Status Remove(std::string_view key, int64_t start, int64_t end) override {
    RETURN_IF_ERROR(inner_->Remove(key, start, end));
    sink_->Send(name(), ChangelogRecord{SessionKey(key, start, end), std::nullopt, now_()});
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> FetchSession(std::string_view key, int64_t start,
                                                          int64_t end) override {
    return inner_->FetchSession(key, start, end);
  }
  absl::StatusOr<std::vector<Session>> FindSessions(std::string_view key, int64_t earliest_end,
                                                    int64_t latest_start) override {
    return inner_->FindSessions(key, earliest_end, latest_start);
  }
  absl::StatusOr<std::vector<Session>> All() override { return inner_->All(); }
  void ObserveStreamTime(int64_t stream_time) override { inner_->ObserveStreamTime(stream_time); }
  int64_t stream_time() const override { return inner_->stream_time(); }
  int64_t retention_ms() const override { return inner_->retention_ms(); }

 private:
  std::unique_ptr<SessionStore> inner_;
  ChangelogSink* sink_;
  std::function<int64_t()> now_;
};

}  // namespace

std::unique_ptr<KeyValueStore> LoggedKeyValueStore(std::unique_ptr<KeyValueStore> inner,
                                                   ChangelogSink* sink,
                                                   std::function<int64_t()> timestamp_now) {
  return std::make_unique<LoggedKeyValue>(std::move(inner), sink, std::move(timestamp_now));
}

std::unique_ptr<WindowStore> LoggedWindowStore(std::unique_ptr<WindowStore> inner,
                                               ChangelogSink* sink,
                                               std::function<int64_t()> timestamp_now) {
  return std::make_unique<LoggedWindow>(std::move(inner), sink, std::move(timestamp_now));
}

std::unique_ptr<SessionStore> LoggedSessionStore(std::unique_ptr<SessionStore> inner,
                                                 ChangelogSink* sink,
                                                 std::function<int64_t()> timestamp_now) {
  return std::make_unique<LoggedSession>(std::move(inner), sink, std::move(timestamp_now));
}

}  // namespace runnel::streams
