#include "client/producer_options.h"

#include "absl/strings/str_cat.h"
#include "client/internal/broker_channels.h"
#include "common/config_def.h"
#include "common/status_macros.h"

namespace runnel::client {

using config::AnyInt;
using config::AnyString;
using config::AtLeast;
using config::NotEmpty;
using config::Unit;

const config::ConfigDef<ProducerOptions>& ProducerConfigDef() {
  using O = ProducerOptions;
  static const auto* def = [] {
    auto* d = new config::ConfigDef<O>("unknown producer setting");
    d->String("bootstrap.servers", &O::bootstrap_servers, NotEmpty(),
              "Brokers as HOST:PORT,...; the client starts from any that answers, then follows the "
              "partition leaders.");
    d->String("client.id", &O::client_id, AnyString(),
              "Sent to the broker as the gRPC user agent.");
    d->Enum("acks", &O::acks,
            {{"0", Acks::kNone}, {"1", Acks::kLeader}, {"all", Acks::kAll}, {"-1", Acks::kAll}},
            "When a send is answered: `0` never (fire and forget), `1` once the broker appended "
            "it, `all` once it is synced to disk.");
    d->Bool("enable.idempotence", &O::enable_idempotence,
            "Sequence numbers so that retries store no duplicates. Unset: on unless acks, retries "
            "or max.in.flight.requests.per.connection conflict (Kafka 3's rule); true with a "
            "conflicting setting is an error.");
    d->Int("batch.size", &O::batch_size, AtLeast(1), Unit::kBytes,
           "A partition's batch is sent once it holds this many bytes.");
    d->Int("linger.ms", &O::linger_ms, AtLeast(0), Unit::kMs,
           "How long a batch waits for more records before it is sent.");
    std::vector<std::pair<std::string, record::Compression>> codecs;
    for (int id = 0; id <= record::kMaxCompressionId; ++id) {
      const auto codec = static_cast<record::Compression>(id);
      codecs.emplace_back(std::string(record::CompressionName(codec)), codec);
    }
    d->Enum("compression.type", &O::compression, std::move(codecs),
            "The codec of the batches the producer builds.");
    d->Int("buffer.memory", &O::buffer_memory, AtLeast(1), Unit::kBytes,
           "Bytes of records waiting to be sent; Send waits up to max.block.ms for room, then "
           "fails.");
    d->Int("max.block.ms", &O::max_block_ms, AtLeast(0), Unit::kMs,
           "How long Send waits for room in buffer.memory (or for topic metadata) before it "
           "fails.");
    d->Int("max.in.flight.requests.per.connection", &O::max_in_flight, AtLeast(1), Unit::kNone,
           "Produce requests sent and not yet answered; at most 5 with idempotence.");
    d->Int("retries", &O::retries, AtLeast(0), Unit::kNone,
           "How often a failed batch is sent again (within delivery.timeout.ms).");
    d->Int("retry.backoff.ms", &O::retry_backoff_ms, AtLeast(0), Unit::kMs,
           "The wait before a batch is sent again.");
    d->Int("delivery.timeout.ms", &O::delivery_timeout_ms, AnyInt(), Unit::kMs,
           "A send fails once this long has passed since Send, retries included; at least "
           "linger.ms + request.timeout.ms.");
    d->Int("request.timeout.ms", &O::request_timeout_ms, AtLeast(1), Unit::kMs,
           "How long the producer waits for the answer to one produce request.");
    d->Int("max.request.size", &O::max_request_size, AtLeast(1), Unit::kBytes,
           "A record larger than this is refused by Send.");
    d->Int("metadata.max.age.ms", &O::metadata_max_age_ms, AtLeast(0), Unit::kMs,
           "Topic metadata older than this is fetched again.");
    return d;
  }();
  return *def;
}

absl::Status ProducerOptions::Validate() const {
  RETURN_IF_ERROR(ProducerConfigDef().Validate(*this));
  RETURN_IF_ERROR(internal::ParseBootstrapServers(bootstrap_servers).status());
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
  RETURN_IF_ERROR(ProducerConfigDef().Parse(properties, &o));
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace runnel::client
