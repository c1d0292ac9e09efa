#include "storage/log_config.h"

#include "common/status_macros.h"

namespace runnel::storage {
namespace {

using config::AtLeast;
using config::Between;
using config::Unit;

// cleanup.policy is one key stored as two flags (has "delete", has "compact").
enum class CleanupPolicy : int64_t { kDelete, kCompact, kCompactDelete };

CleanupPolicy PolicyOf(bool del, bool compact) {
  return del && compact ? CleanupPolicy::kCompactDelete
         : compact      ? CleanupPolicy::kCompact
                        : CleanupPolicy::kDelete;
}

// Neither flag set is "not given" (an override) or an empty policy (LogConfig::Validate says so).
template <typename O>
config::Binding<O> CleanupPolicyBinding() {
  config::Binding<O> b;
  b.get = [](const O& o) -> std::optional<config::Value> {
    if constexpr (std::is_same_v<O, LogConfig>) {
      if (!o.cleanup_delete && !o.cleanup_compact) return std::nullopt;
      return static_cast<int64_t>(PolicyOf(o.cleanup_delete, o.cleanup_compact));
    } else {
      if (!o.cleanup_delete.has_value() && !o.cleanup_compact.has_value()) return std::nullopt;
      return static_cast<int64_t>(
          PolicyOf(o.cleanup_delete.value_or(false), o.cleanup_compact.value_or(false)));
    }
  };
  b.set = [](O* o, const config::Value& v) {
    const auto policy = static_cast<CleanupPolicy>(std::get<int64_t>(v));
    o->cleanup_delete = policy != CleanupPolicy::kCompact;
    o->cleanup_compact = policy != CleanupPolicy::kDelete;
  };
  return b;
}

// The one table of topic configs, built for LogConfig and for LogConfigOverrides (same field
// names), so a key is written once. Ranges are Kafka's where Kafka has one.
template <typename O>
const config::ConfigDef<O>* MakeDef() {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  auto* d = new config::ConfigDef<O>("unknown topic config");
  d->Int("segment.bytes", &O::segment_bytes, Between(14, kInt32Max), Unit::kBytes,
         "A new segment is started when the active one would grow past this size (one batch "
         "larger than it still makes a segment of its own).");
  d->Int("segment.ms", &O::segment_ms, AtLeast(1), Unit::kMs,
         "A new segment is started once the active one has been open this long (by the log's "
         "clock; the age restarts at every open).");
  d->Int("index.interval.bytes", &O::index_interval_bytes, AtLeast(0), Unit::kBytes,
         "Bytes of batches between two entries of a segment's sparse offset and time indexes.");
  d->Int("flush.messages", &O::flush_messages, AtLeast(1), Unit::kNone,
         "Accepted as in Kafka, but changes nothing: every append is synced within about one "
         "fdatasync anyway, and consumers read only synced data.");
  d->Int("flush.ms", &O::flush_ms, AtLeast(0), Unit::kMs,
         "The maintenance thread syncs a log with unsynced data once its last sync is this old; "
         "the group commit after each append usually comes first.");
  d->Int("retention.ms", &O::retention_ms, AtLeast(-1), Unit::kMs,
         "Closed segments whose newest timestamp is older than this are deleted; -1 keeps them "
         "for ever.");
  d->Int("retention.bytes", &O::retention_bytes, AtLeast(-1), Unit::kBytes,
         "The oldest closed segments are deleted while the partition is larger than this; -1: no "
         "limit.");
  d->Enum("cleanup.policy", CleanupPolicyBinding<O>(),
          std::vector<std::pair<std::string, CleanupPolicy>>{
              {"delete", CleanupPolicy::kDelete},
              {"compact", CleanupPolicy::kCompact},
              {"compact,delete", CleanupPolicy::kCompactDelete},
              {"delete,compact", CleanupPolicy::kCompactDelete}},
          "`delete`: old segments go by retention.ms and retention.bytes; `compact`: the log "
          "cleaner keeps the latest record of each key; both: both.");
  d->Int("delete.retention.ms", &O::delete_retention_ms, AtLeast(0), Unit::kMs,
         "How long a compacted log keeps a tombstone after the cleaning round that first kept it "
         "(its delete horizon).");
  d->Double("min.cleanable.dirty.ratio", &O::min_cleanable_dirty_ratio, Between(0.0, 1.0),
            "The log cleaner takes a compacted log once this share of its closed segments' bytes "
            "was appended since it was last cleaned.");
  d->Enum("message.timestamp.type", &O::message_timestamp_type,
          {{"CreateTime", record::TimestampType::kCreateTime},
           {"LogAppendTime", record::TimestampType::kLogAppendTime}},
          "Which time a record keeps: the producer's, or the broker's at append.");
  d->Int("max.message.bytes", &O::max_message_bytes, AtLeast(0), Unit::kBytes,
         "The largest record batch accepted, as sent (compressed).");
  d->Int("message.timestamp.after.max.ms", &O::message_timestamp_after_max_ms, AtLeast(0),
         Unit::kMs,
         "A CreateTime batch whose timestamps lie further than this after the broker's time is "
         "refused (KIP-937).");
  d->Int("message.timestamp.before.max.ms", &O::message_timestamp_before_max_ms, AtLeast(0),
         Unit::kMs,
         "A CreateTime batch whose timestamps lie further than this before the broker's time is "
         "refused (KIP-937).");
  return d;
}

const config::ConfigDef<LogConfigOverrides>& OverridesDef() {
  static const auto* def = MakeDef<LogConfigOverrides>();
  return *def;
}

}  // namespace

const config::ConfigDef<LogConfig>& LogConfigDef() {
  static const auto* def = MakeDef<LogConfig>();
  return *def;
}

absl::Status LogConfig::Validate() const {
  RETURN_IF_ERROR(LogConfigDef().Validate(*this));
  if (!cleanup_delete && !cleanup_compact) {
    return absl::InvalidArgumentError("cleanup.policy: is empty");
  }
  return absl::OkStatus();
}

LogConfig LogConfigOverrides::ApplyTo(LogConfig c) const {
  const bool base_delete = c.cleanup_delete;
  const bool base_compact = c.cleanup_compact;
  LogConfigDef().CopySetKeys(OverridesDef(), *this, &c);
  // cleanup.policy is two flags and the table writes both: one set alone leaves the other as it
  // was (compact alone over Runnel's default delete is "compact,delete", as before the table).
  c.cleanup_delete = cleanup_delete.value_or(base_delete);
  c.cleanup_compact = cleanup_compact.value_or(base_compact);
  return c;
}

LogConfigOverrides LogConfigOverrides::From(const LogConfig& c) {
  LogConfigOverrides o;
  OverridesDef().CopySetKeys(LogConfigDef(), c, &o);
  return o;
}

std::map<std::string, std::string> LogConfigOverrides::ToProperties() const {
  return OverridesDef().ToProperties(*this);
}

absl::StatusOr<LogConfigOverrides> ParseLogConfigOverrides(
    const std::map<std::string, std::string>& properties) {
  LogConfigOverrides o;
  RETURN_IF_ERROR(OverridesDef().Parse(properties, &o));
  RETURN_IF_ERROR(OverridesDef().Validate(o));
  return o;
}

}  // namespace runnel::storage
