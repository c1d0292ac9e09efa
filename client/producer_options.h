// ProducerOptions: the producer's settings, with Kafka's names (`batch.size`, `linger.ms`, ...),
// their defaults, Validate() and the parsing of Kafka-named properties. Each key's range and doc
// are written once, in the table of producer_options.cc (ProducerConfigDef(), rendered in
// docs/CONFIG.md). Plain data; thread-safe to read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "client/properties.h"
#include "common/record/compression.h"

namespace runnel::config {
template <typename O>
class ConfigDef;  // common/config_def.h
}  // namespace runnel::config

namespace runnel::client {

enum class Acks : int8_t { kNone = 0, kLeader = 1, kAll = -1 };

struct ProducerOptions {
  std::string bootstrap_servers = "127.0.0.1:7070";  // bootstrap.servers (HOST:PORT,...)
  std::string client_id;                             // client.id
  Acks acks = Acks::kAll;                            // acks: 0, 1, all (or -1)
  // enable.idempotence; unset means on unless acks, retries or max.in.flight conflict.
  std::optional<bool> enable_idempotence;
  int32_t batch_size = 16384;  // batch.size, bytes per partition batch
  int32_t linger_ms = 5;       // linger.ms
  record::Compression compression = record::Compression::kNone;  // compression.type
  int64_t buffer_memory = 32 << 20;                              // buffer.memory
  int32_t max_block_ms = 60000;                                  // max.block.ms
  int32_t max_in_flight = 5;             // max.in.flight.requests.per.connection
  int32_t retries = 2147483647;          // retries
  int32_t retry_backoff_ms = 100;        // retry.backoff.ms
  int32_t delivery_timeout_ms = 120000;  // delivery.timeout.ms
  int32_t request_timeout_ms = 30000;    // request.timeout.ms
  int32_t max_request_size = 1048576;    // max.request.size
  int32_t metadata_max_age_ms = 300000;  // metadata.max.age.ms

  // Explicitly set, or by default when nothing conflicts (Kafka 3's rule): acks=all, retries > 0
  // and at most 5 requests in flight.
  bool idempotent() const {
    return enable_idempotence.value_or(acks == Acks::kAll && retries > 0 && max_in_flight <= 5);
  }
  // Errors name the key: "linger.ms: -1 must be at least 0".
  absl::Status Validate() const;
  // From Kafka-named properties; unknown keys ("linger.mss: unknown producer setting") and bad
  // values ("linger.ms: 'soon' is not an integer") are errors naming the key.
  static absl::StatusOr<ProducerOptions> FromProperties(const Properties& properties);
};

// The producer's keys: names, types, ranges, docs, defaults from ProducerOptions{}.
const config::ConfigDef<ProducerOptions>& ProducerConfigDef();

}  // namespace runnel::client
