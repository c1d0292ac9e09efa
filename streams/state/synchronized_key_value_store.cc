#include "streams/state/synchronized_key_value_store.h"

#include <utility>

#include "common/check.h"

namespace runnel::streams {

SynchronizedKeyValueStore::SynchronizedKeyValueStore(std::unique_ptr<KeyValueStore> store)
    : name_(store != nullptr ? store->name() : std::string()),
      persistent_(store != nullptr && store->persistent()),
      store_(std::move(store)) {
  RUNNEL_CHECK(store_ != nullptr, "SynchronizedKeyValueStore given no store");
}

absl::Status SynchronizedKeyValueStore::Flush() {
  MutexLock lock(&mu_);
  return store_->Flush();
}

void SynchronizedKeyValueStore::Close() {
  MutexLock lock(&mu_);
  store_->Close();
}

absl::StatusOr<std::optional<std::string>> SynchronizedKeyValueStore::Get(std::string_view key) {
  MutexLock lock(&mu_);
  return store_->Get(key);
}

absl::Status SynchronizedKeyValueStore::Put(std::string_view key, std::string_view value) {
  MutexLock lock(&mu_);
  return store_->Put(key, value);
}

absl::Status SynchronizedKeyValueStore::Delete(std::string_view key) {
  MutexLock lock(&mu_);
  return store_->Delete(key);
}

absl::StatusOr<std::vector<KeyValue>> SynchronizedKeyValueStore::Range(std::string_view from,
                                                                       std::string_view to) {
  MutexLock lock(&mu_);
  return store_->Range(from, to);
}

absl::StatusOr<std::vector<KeyValue>> SynchronizedKeyValueStore::All() {
  MutexLock lock(&mu_);
  return store_->All();
}

int64_t SynchronizedKeyValueStore::ApproximateNumEntries() {
  MutexLock lock(&mu_);
  return store_->ApproximateNumEntries();
}

}  // namespace runnel::streams
