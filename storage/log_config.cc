#include "storage/log_config.h"

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace runnel::storage {
namespace {

absl::Status Bad(const std::string& name, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", why));
}

template <typename T>
absl::Status ParseInt(const std::string& name, const std::string& text, T min,
                      std::optional<T>* out) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < static_cast<int64_t>(min) ||
      v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    return Bad(name, absl::StrCat("'", text, "' is not an integer in [", min, ", ",
                                  std::numeric_limits<T>::max(), "]"));
  }
  *out = static_cast<T>(v);
  return absl::OkStatus();
}

}  // namespace

absl::Status LogConfig::Validate() const {
  if (segment_bytes < 14 || segment_bytes > std::numeric_limits<int32_t>::max()) {
    return Bad("segment.bytes", absl::StrCat(segment_bytes, " is not in [14, 2147483647]"));
  }
  if (segment_ms < 1) return Bad("segment.ms", absl::StrCat(segment_ms, " must be positive"));
  if (index_interval_bytes < 0) {
    return Bad("index.interval.bytes", absl::StrCat(index_interval_bytes, " is negative"));
  }
  if (flush_messages < 1) return Bad("flush.messages", "must be at least 1");
  if (flush_ms < 0) return Bad("flush.ms", "is negative");
  if (retention_ms < -1) return Bad("retention.ms", "must be -1 or more");
  if (retention_bytes < -1) return Bad("retention.bytes", "must be -1 or more");
  if (!cleanup_delete && !cleanup_compact) return Bad("cleanup.policy", "is empty");
  if (delete_retention_ms < 0) return Bad("delete.retention.ms", "is negative");
  if (!(min_cleanable_dirty_ratio >= 0 && min_cleanable_dirty_ratio <= 1)) {
    return Bad("min.cleanable.dirty.ratio",
               absl::StrCat(min_cleanable_dirty_ratio, " is not in [0, 1]"));
  }
  if (max_message_bytes < 0) return Bad("max.message.bytes", "is negative");
  if (message_timestamp_after_max_ms < 0) {
    return Bad("message.timestamp.after.max.ms", "is negative");
  }
  if (message_timestamp_before_max_ms < 0) {
    return Bad("message.timestamp.before.max.ms", "is negative");
  }
  return absl::OkStatus();
}

LogConfig LogConfigOverrides::ApplyTo(LogConfig c) const {
  c.segment_bytes = segment_bytes.value_or(c.segment_bytes);
  c.segment_ms = segment_ms.value_or(c.segment_ms);
  c.index_interval_bytes = index_interval_bytes.value_or(c.index_interval_bytes);
  c.flush_messages = flush_messages.value_or(c.flush_messages);
  c.flush_ms = flush_ms.value_or(c.flush_ms);
  c.retention_ms = retention_ms.value_or(c.retention_ms);
  c.retention_bytes = retention_bytes.value_or(c.retention_bytes);
  c.cleanup_delete = cleanup_delete.value_or(c.cleanup_delete);
  c.cleanup_compact = cleanup_compact.value_or(c.cleanup_compact);
  c.delete_retention_ms = delete_retention_ms.value_or(c.delete_retention_ms);
  c.min_cleanable_dirty_ratio = min_cleanable_dirty_ratio.value_or(c.min_cleanable_dirty_ratio);
  c.message_timestamp_type = message_timestamp_type.value_or(c.message_timestamp_type);
  c.max_message_bytes = max_message_bytes.value_or(c.max_message_bytes);
  c.message_timestamp_after_max_ms =
      message_timestamp_after_max_ms.value_or(c.message_timestamp_after_max_ms);
  c.message_timestamp_before_max_ms =
      message_timestamp_before_max_ms.value_or(c.message_timestamp_before_max_ms);
  return c;
}

LogConfigOverrides LogConfigOverrides::From(const LogConfig& c) {
  LogConfigOverrides o;
  o.segment_bytes = c.segment_bytes;
  o.segment_ms = c.segment_ms;
  o.index_interval_bytes = c.index_interval_bytes;
  o.flush_messages = c.flush_messages;
  o.flush_ms = c.flush_ms;
  o.retention_ms = c.retention_ms;
  o.retention_bytes = c.retention_bytes;
  o.cleanup_delete = c.cleanup_delete;
  o.cleanup_compact = c.cleanup_compact;
  o.delete_retention_ms = c.delete_retention_ms;
  o.min_cleanable_dirty_ratio = c.min_cleanable_dirty_ratio;
  o.message_timestamp_type = c.message_timestamp_type;
  o.max_message_bytes = c.max_message_bytes;
  o.message_timestamp_after_max_ms = c.message_timestamp_after_max_ms;
  o.message_timestamp_before_max_ms = c.message_timestamp_before_max_ms;
  return o;
}

std::map<std::string, std::string> LogConfigOverrides::ToProperties() const {
  std::map<std::string, std::string> p;
  auto put = [&p](const char* name, const auto& v) {
    if (v.has_value()) p[name] = absl::StrCat(*v);
  };
  put("segment.bytes", segment_bytes);
  put("segment.ms", segment_ms);
  put("index.interval.bytes", index_interval_bytes);
  put("flush.messages", flush_messages);
  put("flush.ms", flush_ms);
  put("retention.ms", retention_ms);
  put("retention.bytes", retention_bytes);
  put("delete.retention.ms", delete_retention_ms);
  put("min.cleanable.dirty.ratio", min_cleanable_dirty_ratio);
  put("max.message.bytes", max_message_bytes);
  put("message.timestamp.after.max.ms", message_timestamp_after_max_ms);
  put("message.timestamp.before.max.ms", message_timestamp_before_max_ms);
  if (cleanup_delete.has_value() || cleanup_compact.has_value()) {
    const bool del = cleanup_delete.value_or(false), compact = cleanup_compact.value_or(false);
    p["cleanup.policy"] = del && compact ? "compact,delete" : compact ? "compact" : "delete";
  }
  if (message_timestamp_type.has_value()) {
    p["message.timestamp.type"] = *message_timestamp_type == record::TimestampType::kLogAppendTime
                                      ? "LogAppendTime"
                                      : "CreateTime";
  }
  return p;
}

absl::StatusOr<LogConfigOverrides> ParseLogConfigOverrides(
    const std::map<std::string, std::string>& properties) {
  LogConfigOverrides o;
  for (const auto& [name, value] : properties) {
    absl::Status s;
    if (name == "segment.bytes") {
      s = ParseInt<int64_t>(name, value, 14, &o.segment_bytes);
    } else if (name == "segment.ms") {
      s = ParseInt<int64_t>(name, value, 1, &o.segment_ms);
    } else if (name == "index.interval.bytes") {
      s = ParseInt<int32_t>(name, value, 0, &o.index_interval_bytes);
    } else if (name == "flush.messages") {
      s = ParseInt<int64_t>(name, value, 1, &o.flush_messages);
    } else if (name == "flush.ms") {
      s = ParseInt<int64_t>(name, value, 0, &o.flush_ms);
    } else if (name == "retention.ms") {
      s = ParseInt<int64_t>(name, value, -1, &o.retention_ms);
    } else if (name == "retention.bytes") {
      s = ParseInt<int64_t>(name, value, -1, &o.retention_bytes);
    } else if (name == "delete.retention.ms") {
      s = ParseInt<int64_t>(name, value, 0, &o.delete_retention_ms);
    } else if (name == "min.cleanable.dirty.ratio") {
      double v = 0;
      if (!absl::SimpleAtod(value, &v) || !(v >= 0 && v <= 1)) {
        s = Bad(name, absl::StrCat("'", value, "' is not a number in [0, 1]"));
      } else {
        o.min_cleanable_dirty_ratio = v;
      }
    } else if (name == "max.message.bytes") {
      s = ParseInt<int32_t>(name, value, 0, &o.max_message_bytes);
    } else if (name == "message.timestamp.after.max.ms") {
      s = ParseInt<int64_t>(name, value, 0, &o.message_timestamp_after_max_ms);
    } else if (name == "message.timestamp.before.max.ms") {
      s = ParseInt<int64_t>(name, value, 0, &o.message_timestamp_before_max_ms);
    } else if (name == "cleanup.policy") {
      if (value == "delete") {
        o.cleanup_delete = true, o.cleanup_compact = false;
      } else if (value == "compact") {
        o.cleanup_delete = false, o.cleanup_compact = true;
      } else if (value == "compact,delete" || value == "delete,compact") {
        o.cleanup_delete = true, o.cleanup_compact = true;
      } else {
        s = Bad(name, absl::StrCat("'", value, "' is not delete, compact or compact,delete"));
      }
    } else if (name == "message.timestamp.type") {
      if (value == "CreateTime") {
        o.message_timestamp_type = record::TimestampType::kCreateTime;
      } else if (value == "LogAppendTime") {
        o.message_timestamp_type = record::TimestampType::kLogAppendTime;
      } else {
        s = Bad(name, absl::StrCat("'", value, "' is not CreateTime or LogAppendTime"));
      }
    } else {
      s = Bad(name, "unknown topic config");
    }
    if (!s.ok()) return s;
  }
  return o;
}

}  // namespace runnel::storage
