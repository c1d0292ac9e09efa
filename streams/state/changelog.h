// Changelogging and restore: every change to a store is also sent to its changelog (a compacted
// topic <application.id>-<store>-changelog), and a store is rebuilt by applying its changelog.
//
// Changelog records (docs/FORMAT.md, "Streams: changelog records"): for a key-value store, the
// record key is the store key and the value the stored value; for a window store, the record key
// is WindowedKey(key, window start) (window_store.h); for a session store, SessionKey(key, start,
// end) (session_store.h). A delete is a tombstone (null value). The
// timestamp is the one `timestamp_now` gives when the change is made (the runtime passes the
// timestamp of the record being processed).
//
// Threading: as state_store.h; the sink is called on the store's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "streams/state/key_value_store.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams {

struct ChangelogRecord {
  std::string key;
  std::optional<std::string> value;  // nullopt: a tombstone
  int64_t timestamp = 0;

  friend bool operator==(const ChangelogRecord& a, const ChangelogRecord& b) {
    return a.key == b.key && a.value == b.value && a.timestamp == b.timestamp;
  }
};

// Where changelog records go (the runtime: a producer to the changelog topic's partition of the
// task). Send cannot fail here: a sink keeps its first error for the runtime to collect.
class ChangelogSink {
 public:
  virtual ~ChangelogSink() = default;
  virtual void Send(const std::string& store_name, const ChangelogRecord& record) = 0;
};

// Wrappers (Kafka's ChangeLoggingKeyValueBytesStore / ChangeLoggingWindowBytesStore /
// ChangeLoggingSessionBytesStore): each Put and Delete (Remove) is applied to `inner` and, if that
// succeeded, sent to `sink` under the store's name. Reads, Flush and Close go to `inner`. `sink` is
// borrowed and must outlive the store; `timestamp_now` is called once per change.
std::unique_ptr<KeyValueStore> LoggedKeyValueStore(std::unique_ptr<KeyValueStore> inner,
                                                   ChangelogSink* sink,
                                                   std::function<int64_t()> timestamp_now);
std::unique_ptr<WindowStore> LoggedWindowStore(std::unique_ptr<WindowStore> inner,
                                               ChangelogSink* sink,
                                               std::function<int64_t()> timestamp_now);
std::unique_ptr<SessionStore> LoggedSessionStore(std::unique_ptr<SessionStore> inner,
                                                 ChangelogSink* sink,
                                                 std::function<int64_t()> timestamp_now);

// Applies a batch of changelog records, in order, to `store` (the unlogged store: restoring
// writes nothing to the changelog): a value is a Put, a tombstone a Delete. Stops at the first
// error. For RestoreWindow, keys are WindowedKey(...); a key shorter than 8 bytes is DataLoss
// naming the store; for RestoreSession, keys are SessionKey(...), and one shorter than 16 bytes
// is DataLoss. Restoring does not advance a window or session store's stream time, so expired
// windows and sessions are restored too and dropped at the first ObserveStreamTime.
absl::Status RestoreKeyValue(KeyValueStore& store, const std::vector<ChangelogRecord>& batch);
absl::Status RestoreWindow(WindowStore& store, const std::vector<ChangelogRecord>& batch);
absl::Status RestoreSession(SessionStore& store, const std::vector<ChangelogRecord>& batch);

}  // namespace runnel::streams
