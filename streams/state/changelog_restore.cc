#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "streams/state/changelog.h"

namespace runnel::streams {

absl::Status RestoreKeyValue(KeyValueStore& store, const std::vector<ChangelogRecord>& batch) {
  for (const ChangelogRecord& record : batch) {
    if (record.value.has_value()) {
      RETURN_IF_ERROR(store.Put(record.key, *record.value));
    } else {
      RETURN_IF_ERROR(store.Delete(record.key));
    }
  }
  return absl::OkStatus();
}

absl::Status RestoreWindow(WindowStore& store, const std::vector<ChangelogRecord>& batch) {
  for (const ChangelogRecord& record : batch) {
    auto split = SplitWindowedKey(record.key);
    if (!split.ok()) {
      return absl::DataLossError(absl::StrCat("restoring store ", store.name(),
                                              ": changelog record with timestamp ",
                                              record.timestamp, ": ", split.status().message()));
    }
    const auto& [key, start] = *split;
    if (record.value.has_value()) {
      RETURN_IF_ERROR(store.Put(key, start, *record.value));
    } else {
      RETURN_IF_ERROR(store.Delete(key, start));
    }
  }
  return absl::OkStatus();
}

absl::Status RestoreSession(SessionStore& store, const std::vector<ChangelogRecord>& batch) {
  for (const ChangelogRecord& record : batch) {
    auto parts = SplitSessionKey(record.key);
    if (!parts.ok()) {
      return absl::DataLossError(absl::StrCat("restoring store ", store.name(),
                                              ": changelog record with timestamp ",
                                              record.timestamp, ": ", parts.status().message()));
    }
    if (record.value.has_value()) {
      RETURN_IF_ERROR(store.Put(parts->key, parts->start, parts->end, *record.value));
    } else {
      RETURN_IF_ERROR(store.Remove(parts->key, parts->start, parts->end));
    }
  }
  return absl::OkStatus();
}

}  // namespace runnel::streams
