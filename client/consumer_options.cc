#include "client/consumer_options.h"

#include "client/internal/broker_channels.h"
#include "common/config_def.h"
#include "common/status_macros.h"

namespace runnel::client {

using config::AnyString;
using config::AtLeast;
using config::NotEmpty;
using config::OneOf;
using config::Unit;

const config::ConfigDef<ConsumerOptions>& ConsumerConfigDef() {
  using O = ConsumerOptions;
  static const auto* def = [] {
    auto* d = new config::ConfigDef<O>("unknown consumer setting");
    d->String("bootstrap.servers", &O::bootstrap_servers, NotEmpty(),
              "Brokers as HOST:PORT,...; the client starts from any that answers, then follows the "
              "partition leaders.");
    d->String("client.id", &O::client_id, AnyString(), "A name for the consumer.");
    d->Int("fetch.min.bytes", &O::fetch_min_bytes, AtLeast(0), Unit::kBytes,
           "A fetch is answered once this many bytes are there (or fetch.max.wait.ms passed).");
    d->Int("fetch.max.bytes", &O::fetch_max_bytes, AtLeast(1), Unit::kBytes,
           "The most record bytes of one fetch response (the first batch may pass it).");
    d->Int("fetch.max.wait.ms", &O::fetch_max_wait_ms, AtLeast(0), Unit::kMs,
           "How long the broker holds a fetch that found less than fetch.min.bytes.");
    d->Int("max.partition.fetch.bytes", &O::max_partition_fetch_bytes, AtLeast(1), Unit::kBytes,
           "The most record bytes of one partition in a fetch response.");
    d->Int("max.poll.records", &O::max_poll_records, AtLeast(1), Unit::kNone,
           "The most records one Poll returns.");
    d->Enum("auto.offset.reset", &O::auto_offset_reset,
            {{"earliest", AutoOffsetReset::kEarliest},
             {"latest", AutoOffsetReset::kLatest},
             {"none", AutoOffsetReset::kNone}},
            "Where a partition without a committed offset starts: its first record, its end, or "
            "an error.");
    d->Int("request.timeout.ms", &O::request_timeout_ms, AtLeast(1), Unit::kMs,
           "How long the consumer waits for the answer to one request (a fetch: beyond "
           "fetch.max.wait.ms).");
    d->Int("retry.backoff.ms", &O::retry_backoff_ms, AtLeast(0), Unit::kMs,
           "The wait before a failed request is sent again.");
    d->Int("default.api.timeout.ms", &O::default_api_timeout_ms, AtLeast(0), Unit::kMs,
           "How long an offset lookup (seek, beginning or end offsets, offsets for times) keeps "
           "trying while a partition has no leader or its leader is unreachable.");
    d->Bool("check.crcs", &O::check_crcs, "Check each fetched batch's CRC32C.");
    d->String("group.id", &O::group_id, AnyString(),
              "The consumer group: positions start at its committed offsets, Commit stores them, "
              "and Subscribe joins it.");
    d->String("group.instance.id", &O::group_instance_id, AnyString(),
              "Makes the consumer a static member, which may rejoin within the session timeout "
              "and keep its partitions; needs group.id.");
    d->String("group.remote.assignor", &O::group_remote_assignor, OneOf({"uniform", "range"}),
              "The broker's assignor for the group; empty: the broker's default (uniform).");
    d->Int("max.poll.interval.ms", &O::max_poll_interval_ms, AtLeast(1), Unit::kMs,
           "The rebalance timeout: a member holding a revoked partition longer is removed from "
           "the group.");
    d->Bool("enable.auto.commit", &O::enable_auto_commit,
            "Commit positions every auto.commit.interval.ms from Poll (with group.id).");
    d->Int("auto.commit.interval.ms", &O::auto_commit_interval_ms, AtLeast(0), Unit::kMs,
           "How often positions are committed with enable.auto.commit.");
    return d;
  }();
  return *def;
}

absl::Status ConsumerOptions::Validate() const {
  RETURN_IF_ERROR(ConsumerConfigDef().Validate(*this));
  RETURN_IF_ERROR(internal::ParseBootstrapServers(bootstrap_servers).status());
  if (!group_instance_id.empty() && group_id.empty()) {
    return absl::InvalidArgumentError("group.instance.id: set without group.id");
  }
  return absl::OkStatus();
}

absl::StatusOr<ConsumerOptions> ConsumerOptions::FromProperties(const Properties& properties) {
  ConsumerOptions o;
  RETURN_IF_ERROR(ConsumerConfigDef().Parse(properties, &o));
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace runnel::client
