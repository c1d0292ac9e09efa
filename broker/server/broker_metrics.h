// BrokerMetrics: the counters, gauges and histograms of the broker's gRPC services, read by
// /metrics (main.cc renders them in Prometheus' text format). Updated from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "broker/server/latency_histogram.h"

namespace runnel::broker {

struct BrokerMetrics {
  std::atomic<int64_t> produce_requests{0};
  std::atomic<int64_t> produce_bytes{0};
  std::atomic<int64_t> produce_errors{0};
  std::atomic<int64_t> fetch_requests{0};
  std::atomic<int64_t> fetch_bytes{0};
  std::atomic<int64_t> fetch_errors{0};
  std::atomic<int64_t> produce_in_flight{0};  // gauge: read, not answered yet (all streams)
  // From reading a Produce request to its response being queued (acks=all: after the sync).
  LatencyHistogram produce_latency;
  // From receiving a Fetch to answering it, long-poll wait included.
  LatencyHistogram fetch_latency;
  // Record bytes of Fetch responses being built or sent (FetchScheduler's memory budget), the
  // most ever held at once, and fetches that found the budget spent and waited.
  std::atomic<int64_t> fetch_memory_bytes{0};
  std::atomic<int64_t> fetch_memory_peak_bytes{0};
  std::atomic<int64_t> fetch_memory_waits{0};
  // Long polls waiting for data now (at most --fetch-max-parked), and those refused at the limit.
  std::atomic<int64_t> fetch_parked{0};
  std::atomic<int64_t> fetch_parked_refused{0};
};

}  // namespace runnel::broker
