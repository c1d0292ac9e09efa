// Per-partition log settings, named as Kafka's topic configs. Defaults are written once, here;
// every key's range and doc once, in the table of log_config.cc (LogConfigDef(), rendered in
// docs/CONFIG.md). Topic-level overrides are LogConfigOverrides (std::optional fields) applied over
// broker defaults; both can be parsed from Kafka-named string properties ("segment.bytes" =
// "1048576").
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config_def.h"
#include "common/record/record_batch.h"

namespace runnel::storage {

inline constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

struct LogConfig {
  int64_t segment_bytes = 1 << 30;      // segment.bytes
  int64_t segment_ms = 7 * kDayMs;      // segment.ms
  int32_t index_interval_bytes = 4096;  // index.interval.bytes
  // flush.messages: accepted as in Kafka, but every append is synced within milliseconds anyway
  // (consumers read only synced data; Log::Append), so it changes nothing.
  int64_t flush_messages = std::numeric_limits<int64_t>::max();
  int64_t flush_ms = std::numeric_limits<int64_t>::max();  // flush.ms
  int64_t retention_ms = 7 * kDayMs;                       // retention.ms, -1 = forever
  int64_t retention_bytes = -1;                            // retention.bytes, -1 = no limit
  bool cleanup_delete = true;                              // cleanup.policy has "delete"
  bool cleanup_compact = false;                            // cleanup.policy has "compact"
  int64_t delete_retention_ms = kDayMs;                    // delete.retention.ms
  // min.cleanable.dirty.ratio: the log cleaner takes a compacted log once this share of its
  // closed segments' bytes was appended since it was last cleaned.
  double min_cleanable_dirty_ratio = 0.5;
  record::TimestampType message_timestamp_type =  // message.timestamp.type
      record::TimestampType::kCreateTime;
  int32_t max_message_bytes = 1024 * 1024 + 12;  // max.message.bytes
  // CreateTime batches whose timestamps lie further than these from the broker's time are
  // refused (KIP-937; Kafka 4's defaults): one far-future batch would otherwise hold every later
  // segment back from time-based retention, and roll segments by event time for ever.
  int64_t message_timestamp_after_max_ms = 60 * 60 * 1000;  // message.timestamp.after.max.ms
  int64_t message_timestamp_before_max_ms =                 // message.timestamp.before.max.ms
      std::numeric_limits<int64_t>::max();

  // InvalidArgument naming the first bad field by its Kafka name and value.
  absl::Status Validate() const;
};

// The topic configs: names, types, ranges, docs, defaults from LogConfig{}.
const config::ConfigDef<LogConfig>& LogConfigDef();

// LogConfig's fields under the same names, each optional: one table (log_config.cc) serves both.
struct LogConfigOverrides {
  std::optional<int64_t> segment_bytes;
  std::optional<int64_t> segment_ms;
  std::optional<int32_t> index_interval_bytes;
  std::optional<int64_t> flush_messages;
  std::optional<int64_t> flush_ms;
  std::optional<int64_t> retention_ms;
  std::optional<int64_t> retention_bytes;
  std::optional<bool> cleanup_delete;
  std::optional<bool> cleanup_compact;
  std::optional<int64_t> delete_retention_ms;
  std::optional<double> min_cleanable_dirty_ratio;
  std::optional<record::TimestampType> message_timestamp_type;
  std::optional<int64_t> message_timestamp_after_max_ms;
  std::optional<int64_t> message_timestamp_before_max_ms;
  std::optional<int32_t> max_message_bytes;

  LogConfig ApplyTo(LogConfig defaults) const;
  // Every field of `config` set: its effective settings by Kafka name, through ToProperties().
  static LogConfigOverrides From(const LogConfig& config);
  // Kafka-named properties back, for persisting and describing.
  std::map<std::string, std::string> ToProperties() const;
};

// Parses Kafka-named properties; an unknown key ("<key>: unknown topic config"), a value not of
// its key's type or out of its range is InvalidArgument naming it.
absl::StatusOr<LogConfigOverrides> ParseLogConfigOverrides(
    const std::map<std::string, std::string>& properties);

}  // namespace runnel::storage
