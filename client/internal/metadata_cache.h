// MetadataCache: what a client knows of the cluster — its brokers (node id -> gRPC address) and,
// per topic it uses, each partition's leader — in the shape of Kafka's client Metadata
// (client-internal, not installed). The Producer and the Consumer route each partition's requests
// to its leader by it; the Admin and the group calls use AnyBroker.
//
// Where answers come from: any broker answers Metadata for every topic (broker.proto). A refresh
// asks the known brokers first, then the bootstrap.servers entries, each in turn until one
// answers; an address that failed (MarkUnreachable: connection refused, timed out) is tried last
// for reconnect.backoff.max.ms. So a client bootstraps from any reachable entry of its list.
//
// When it refreshes: a refresh is due once requested (RequestUpdate, after NOT_LEADER without a
// hint, UNKNOWN_TOPIC_OR_PARTITION, a leader unknown or unreachable) and retry.backoff.ms have
// passed since the last attempt, or when the metadata is metadata.max.age.ms old. The client's own
// thread calls MaybeRefresh when RefreshDue; blocking lookups (PartitionCount for a topic not seen
// yet) refresh at once. A NOT_LEADER answer that names the leader (v1::Error's leader_id and
// leader_addr) moves the partition there immediately, with no refresh (as Kafka's KIP-951).
// Partition leaders only move forward: a refresh answer with an older leader_epoch than the one
// known for a partition is ignored for that partition (a broker that has not heard of the
// election yet).
//
// Time: decisions (backoff, age) read the Clock given; gRPC deadlines and the waits between passes
// of a blocking refresh are on the real clock, as everywhere in the client (README.md).
//
// Ownership: `channels` and `clock` are borrowed and outlive the cache. Thread-safety: every
// method may be called from any thread; RPCs run without the cache's lock held, and the cache
// calls out to nothing, so callers may hold their own locks while they read it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/internal/broker_channels.h"
#include "client/types.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "runnel/v1/broker.pb.h"

namespace runnel::client::internal {

struct MetadataCacheOptions {
  std::vector<std::string> bootstrap;       // ParseBootstrapServers(bootstrap.servers); not empty
  int64_t retry_backoff_ms = 100;           // retry.backoff.ms
  int64_t metadata_max_age_ms = 300000;     // metadata.max.age.ms
  int64_t request_timeout_ms = 30000;       // the deadline of one Metadata call
  int64_t reconnect_backoff_max_ms = 1000;  // how long an unreachable address is tried last
  bool allow_auto_topic_creation = false;   // the producer's metadata creates missing topics
  std::string who = "client";               // "producer", "consumer": in log lines and errors
};

// A partition's leader as the cache knows it.
struct LeaderInfo {
  int32_t node_id = -1;
  std::string address;
  bool operator==(const LeaderInfo&) const = default;
};

class MetadataCache {
 public:
  MetadataCache(MetadataCacheOptions options, BrokerChannels* channels, const Clock* clock);

  // Fetches the metadata of `topics` plus every topic tracked so far (and tracks `topics` from
  // now on), from the first broker that answers (see above). When no broker answers, tries again
  // every retry.backoff.ms until `budget_ms` (real time) has passed; 0: one pass. Unavailable
  // naming the addresses tried and the last error when none answered.
  absl::Status Refresh(const std::vector<std::string>& topics, int64_t budget_ms);
  // One pass of Refresh over the tracked topics, if RefreshDue(); OK otherwise.
  absl::Status MaybeRefresh();
  // A refresh was requested and retry.backoff.ms passed since the last attempt, or the metadata
  // is metadata.max.age.ms old (only when a topic is tracked).
  bool RefreshDue() const;
  // When RefreshDue() will be true without anything else happening (max() when never).
  Clock::SteadyPoint NextRefresh() const;
  // Asks for a refresh (the partition's leader is unknown, moved, or unreachable); with a
  // `topic`, that topic is tracked from now on (a consumer's assigned topic not looked up yet).
  void RequestUpdate(const std::string& topic = "");

  // The number of partitions of `topic`, refreshing (for up to `budget_ms`) when the topic has
  // not been seen yet. NotFound when the topic does not exist (and was not auto-created),
  // Unavailable when no broker answered.
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic, int64_t budget_ms);
  // The leader of `tp` with its address, if both are known. nullopt: unknown (the topic not
  // fetched yet, an election running, or the leader's address not in the metadata); call
  // RequestUpdate.
  std::optional<LeaderInfo> Leader(const TopicPartition& tp) const;
  // The topic's error from the last answer (NotFound for an unknown topic); OK when it had none
  // or has not been fetched.
  absl::Status TopicError(const std::string& topic) const;

  // A NOT_LEADER `error` for `tp`: with a leader named, the partition moves to it now; without,
  // a refresh is requested.
  void OnNotLeader(const TopicPartition& tp, const v1::Error& error);
  // A call to `address` failed to connect or timed out: it is tried last for
  // reconnect.backoff.max.ms, and a refresh is requested (its partitions may have moved).
  void MarkUnreachable(const std::string& address);
  // A broker to send a request that any broker answers (InitProducerId, group calls, admin):
  // the first of Candidates().
  std::string AnyBroker() const;
  // Every address worth trying, best first: known brokers, then bootstrap entries not among
  // them, those marked unreachable last (each group in its order). Never empty.
  std::vector<std::string> Candidates() const;

 private:
  struct PartitionState {
    int32_t leader = -1;
    int32_t leader_epoch = -1;
  };
  struct TopicState {
    absl::Status error;
    std::vector<PartitionState> partitions;
  };

  // One pass over Candidates(); true with `response` from the first broker that answered.
  bool TryOnce(const std::vector<std::string>& topics, v1::MetadataResponse* response,
               std::string* errors);
  void Apply(const v1::MetadataResponse& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> TrackedTopicsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const MetadataCacheOptions options_;
  BrokerChannels* const channels_;
  const Clock* const clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");

  mutable Mutex mu_;
  std::map<int32_t, std::string> brokers_ ABSL_GUARDED_BY(mu_);    // not fenced
  std::map<std::string, TopicState> topics_ ABSL_GUARDED_BY(mu_);  // the tracked topics
  std::map<std::string, Clock::SteadyPoint> unreachable_until_ ABSL_GUARDED_BY(mu_);
  bool update_requested_ ABSL_GUARDED_BY(mu_) = false;
  Clock::SteadyPoint last_attempt_ ABSL_GUARDED_BY(mu_) = Clock::SteadyPoint::min();
  Clock::SteadyPoint last_update_ ABSL_GUARDED_BY(mu_) = Clock::SteadyPoint::min();
  bool warned_ ABSL_GUARDED_BY(mu_) = false;  // "no broker answered" logged since the last answer
};

}  // namespace runnel::client::internal
