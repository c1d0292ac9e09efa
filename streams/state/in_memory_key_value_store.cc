#include <map>

#include "absl/strings/str_cat.h"
#include "streams/state/key_value_store.h"

namespace runnel::streams {
namespace {

class InMemoryKeyValueStore final : public KeyValueStore {
 public:
  explicit InMemoryKeyValueStore(std::string name) : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  bool persistent() const override { return false; }

  absl::Status Flush() override { return CheckOpen(); }

  void Close() override {
    open_ = false;
    map_.clear();
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    if (!open_) return ClosedError();
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

  absl::Status Put(std::string_view key, std::string_view value) override {
    if (!open_) return ClosedError();
    auto it = map_.find(key);
    if (it == map_.end()) {
      map_.emplace(std::string(key), std::string(value));
    } else {
      it->second.assign(value);
    }
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key) override {
    if (!open_) return ClosedError();
    auto it = map_.find(key);
    if (it != map_.end()) map_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from, std::string_view to) override {
    if (!open_) return ClosedError();
    std::vector<KeyValue> out;
    if (from > to) return out;
    for (auto it = map_.lower_bound(from); it != map_.end() && it->first <= to; ++it) {
      out.push_back(KeyValue{it->first, it->second});
    }
    return out;
  }

  absl::StatusOr<std::vector<KeyValue>> All() override {
    if (!open_) return ClosedError();
    std::vector<KeyValue> out;
    out.reserve(map_.size());
    for (const auto& [key, value] : map_) out.push_back(KeyValue{key, value});
    return out;
  }

  int64_t ApproximateNumEntries() override { return static_cast<int64_t>(map_.size()); }

 private:
  absl::Status ClosedError() const {
    return absl::FailedPreconditionError(absl::StrCat("store ", name_, " is closed"));
  }
  absl::Status CheckOpen() const { return open_ ? absl::OkStatus() : ClosedError(); }

  const std::string name_;
  bool open_ = true;
  // std::less<> for lookups by string_view; std::string orders as unsigned bytes.
  std::map<std::string, std::string, std::less<>> map_;
};

}  // namespace

std::unique_ptr<KeyValueStore> NewInMemoryKeyValueStore(std::string name) {
  return std::make_unique<InMemoryKeyValueStore>(std::move(name));
}

}  // namespace runnel::streams
