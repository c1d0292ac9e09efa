#include "client/consumer_options.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::client {

absl::Status ConsumerOptions::Validate() const {
  if (bootstrap_servers.empty()) return absl::InvalidArgumentError("bootstrap.servers: empty");
  RETURN_IF_ERROR(CheckAtLeast("fetch.min.bytes", fetch_min_bytes, 0));
  RETURN_IF_ERROR(CheckAtLeast("fetch.max.bytes", fetch_max_bytes, 1));
  RETURN_IF_ERROR(CheckAtLeast("fetch.max.wait.ms", fetch_max_wait_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("max.partition.fetch.bytes", max_partition_fetch_bytes, 1));
  RETURN_IF_ERROR(CheckAtLeast("max.poll.records", max_poll_records, 1));
  RETURN_IF_ERROR(CheckAtLeast("request.timeout.ms", request_timeout_ms, 1));
  RETURN_IF_ERROR(CheckAtLeast("retry.backoff.ms", retry_backoff_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("auto.commit.interval.ms", auto_commit_interval_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("max.poll.interval.ms", max_poll_interval_ms, 1));
  if (!group_remote_assignor.empty() && group_remote_assignor != "uniform" &&
      group_remote_assignor != "range") {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.remote.assignor: '", group_remote_assignor, "' is not one of uniform, range"));
  }
  if (!group_instance_id.empty() && group_id.empty()) {
    return absl::InvalidArgumentError("group.instance.id: set without group.id");
  }
  return absl::OkStatus();
}

absl::StatusOr<ConsumerOptions> ConsumerOptions::FromProperties(const Properties& properties) {
  ConsumerOptions o;
  for (const auto& [key, value] : properties) {
    if (key == "bootstrap.servers") {
      o.bootstrap_servers = value;
    } else if (key == "client.id") {
      o.client_id = value;
    } else if (key == "fetch.min.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_min_bytes));
    } else if (key == "fetch.max.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_max_bytes));
    } else if (key == "fetch.max.wait.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.fetch_max_wait_ms));
    } else if (key == "max.partition.fetch.bytes") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_partition_fetch_bytes));
    } else if (key == "max.poll.records") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_poll_records));
    } else if (key == "request.timeout.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.request_timeout_ms));
    } else if (key == "retry.backoff.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.retry_backoff_ms));
    } else if (key == "check.crcs") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.check_crcs));
    } else if (key == "group.id") {
      o.group_id = value;
    } else if (key == "group.instance.id") {
      o.group_instance_id = value;
    } else if (key == "group.remote.assignor") {
      o.group_remote_assignor = value;
    } else if (key == "max.poll.interval.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_poll_interval_ms));
    } else if (key == "enable.auto.commit") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.enable_auto_commit));
    } else if (key == "auto.commit.interval.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.auto_commit_interval_ms));
    } else if (key == "auto.offset.reset") {
      if (value == "earliest") {
        o.auto_offset_reset = AutoOffsetReset::kEarliest;
      } else if (value == "latest") {
        o.auto_offset_reset = AutoOffsetReset::kLatest;
      } else if (value == "none") {
        o.auto_offset_reset = AutoOffsetReset::kNone;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("auto.offset.reset: '", value, "' is not one of earliest, latest, none"));
      }
    } else {
      return UnknownProperty(key, "consumer");
    }
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace runnel::client
