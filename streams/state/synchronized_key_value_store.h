// SynchronizedKeyValueStore: a KeyValueStore that may be used from several threads at once, by
// holding one mutex around every call to the store it owns. The runtime wraps each global store
// (GlobalKTable) in one: the global stream thread writes it while every stream thread's tasks
// read it (streams/internal/global_stream_thread.h). Task stores need no such wrapper: each has
// one thread at a time (state_store.h).
//
// Each call is atomic on its own; a sequence of calls is not (a Get then a Put may interleave
// with another thread's Put). Range and All return copies, so what they return stays valid while
// the store changes. Close is as the wrapped store's: afterwards every call fails with
// FailedPrecondition, from any thread.
//
// Threading: every method from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "streams/state/key_value_store.h"

namespace runnel::streams {

class SynchronizedKeyValueStore final : public KeyValueStore {
 public:
  // Takes `store` over (not null); it is used only under this wrapper's mutex from now on.
  explicit SynchronizedKeyValueStore(std::unique_ptr<KeyValueStore> store);

  // The wrapped store's name and persistence, fixed when it was made.
  const std::string& name() const override { return name_; }
  bool persistent() const override { return persistent_; }
  absl::Status Flush() override;
  void Close() override;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::vector<KeyValue>> Range(std::string_view from, std::string_view to) override;
  absl::StatusOr<std::vector<KeyValue>> All() override;
  int64_t ApproximateNumEntries() override;

 private:
  const std::string name_;
  const bool persistent_;
  Mutex mu_;
  const std::unique_ptr<KeyValueStore> store_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace runnel::streams
