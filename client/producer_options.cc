#include "client/producer_options.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runnel::client {

absl::Status ProducerOptions::Validate() const {
  if (bootstrap_servers.empty()) return absl::InvalidArgumentError("bootstrap.servers: empty");
  RETURN_IF_ERROR(CheckAtLeast("batch.size", batch_size, 1));
  RETURN_IF_ERROR(CheckAtLeast("linger.ms", linger_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("buffer.memory", buffer_memory, 1));
  RETURN_IF_ERROR(CheckAtLeast("max.block.ms", max_block_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("max.in.flight.requests.per.connection", max_in_flight, 1));
  RETURN_IF_ERROR(CheckAtLeast("retries", retries, 0));
  RETURN_IF_ERROR(CheckAtLeast("retry.backoff.ms", retry_backoff_ms, 0));
  RETURN_IF_ERROR(CheckAtLeast("request.timeout.ms", request_timeout_ms, 1));
  RETURN_IF_ERROR(CheckAtLeast("max.request.size", max_request_size, 1));
  RETURN_IF_ERROR(CheckAtLeast("metadata.max.age.ms", metadata_max_age_ms, 0));
  if (int64_t{delivery_timeout_ms} < int64_t{linger_ms} + request_timeout_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delivery.timeout.ms: ", delivery_timeout_ms,
        " must be at least linger.ms + request.timeout.ms (", linger_ms + request_timeout_ms, ")"));
  }
  if (enable_idempotence.value_or(false)) {
    // Kafka's rules: idempotence needs acks=all, retries and at most 5 requests in flight.
    if (acks != Acks::kAll) {
      return absl::InvalidArgumentError("enable.idempotence: true requires acks=all");
    }
    if (retries == 0)
      return absl::InvalidArgumentError("enable.idempotence: true requires retries > 0");
  }
  if (enable_idempotence.value_or(false) && max_in_flight > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max.in.flight.requests.per.connection: ", max_in_flight,
        " must be at most 5 with enable.idempotence (set enable.idempotence=false to allow more)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProducerOptions> ProducerOptions::FromProperties(const Properties& properties) {
  ProducerOptions o;
  for (const auto& [key, value] : properties) {
    if (key == "bootstrap.servers") {
      o.bootstrap_servers = value;
    } else if (key == "client.id") {
      o.client_id = value;
    } else if (key == "acks") {
      if (value == "all" || value == "-1") {
        o.acks = Acks::kAll;
      } else if (value == "1") {
        o.acks = Acks::kLeader;
      } else if (value == "0") {
        o.acks = Acks::kNone;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("acks: '", value, "' is not one of 0, 1, all, -1"));
      }
    } else if (key == "enable.idempotence") {
      bool on = false;
      RETURN_IF_ERROR(ParseProperty(key, value, &on));
      o.enable_idempotence = on;
    } else if (key == "compression.type") {
      auto codec = record::ParseCompression(value);
      if (!codec.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "compression.type: '", value, "' is not one of none, gzip, snappy, lz4, zstd"));
      }
      o.compression = *codec;
    } else if (key == "batch.size") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.batch_size));
    } else if (key == "linger.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.linger_ms));
    } else if (key == "buffer.memory") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.buffer_memory));
    } else if (key == "max.block.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_block_ms));
    } else if (key == "max.in.flight.requests.per.connection") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_in_flight));
    } else if (key == "retries") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.retries));
    } else if (key == "retry.backoff.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.retry_backoff_ms));
    } else if (key == "delivery.timeout.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.delivery_timeout_ms));
    } else if (key == "request.timeout.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.request_timeout_ms));
    } else if (key == "max.request.size") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.max_request_size));
    } else if (key == "metadata.max.age.ms") {
      RETURN_IF_ERROR(ParseProperty(key, value, &o.metadata_max_age_ms));
    } else {
      return UnknownProperty(key, "producer");
    }
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace runnel::client
