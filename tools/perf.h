// `runnel perf produce|consume` (docs/ARCHITECTURE.md section 6): throughput and latency runs
// against a live broker. Progress goes to `progress` (stderr) once a second; the result is one
// JSON line on `out`:
// {"records":N,"bytes":N,"seconds":S,"records_per_s":R,"mb_per_s":M,"p50_ms":..,"p99_ms":..,
//  "p999_ms":..}. MB are 2^20 bytes, as in Kafka's perf tools. Latencies: produce, from Send to
// the acknowledgement (acks=0: to the write); consume, end to end, from the record's timestamp
// (set by the producer at Send) to its arrival in Poll, on the same machine's clock.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace runnel::tools {

struct PerfProduceOptions {
  std::string brokers;
  std::string topic;
  int64_t records = 0;
  int32_t record_size = 100;
  std::string acks = "all";
  int32_t batch_bytes = 16384;
  int32_t linger_ms = 5;
  std::string compression = "none";
  int64_t throughput = -1;  // records/s; -1: unthrottled
};

struct PerfConsumeOptions {
  std::string brokers;
  std::string topic;
  int64_t records = 0;
  bool from_latest = false;
  int64_t timeout_ms = 30000;
};

absl::Status PerfProduce(const PerfProduceOptions& options, std::ostream& out,
                         std::ostream& progress);
absl::Status PerfConsume(const PerfConsumeOptions& options, std::ostream& out,
                         std::ostream& progress);

}  // namespace runnel::tools
