// The runtime's ChangelogReader: reads a changelog partition from its beginning to the end offset
// it has when the restore starts, with a client::Consumer of its own (no group: Assign and Seek),
// as Kafka Streams' restore consumer does. Records come to `apply` in batches of one Poll.
//
// Used by one stream thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/consumer.h"
#include "common/clock.h"
#include "streams/internal/stream_task.h"

namespace runnel::streams::internal {

class ChangelogRestorer : public ChangelogReader {
 public:
  // `stall_timeout_ms`: a restore that gets no record for this long by `clock` (SteadyNow;
  // borrowed, outlives the restorer) before reaching the end offset fails (Unavailable), e.g. when
  // the broker went away. `cancelled` is asked between polls; when it says true the restore stops
  // with Cancelled (the thread is shutting down).
  ChangelogRestorer(std::unique_ptr<client::Consumer> consumer, int64_t stall_timeout_ms,
                    const Clock* clock, std::function<bool()> cancelled);
  ~ChangelogRestorer() override;

  // Errors: the consumer's (naming the topic partition), DataLoss for a record without a key,
  // Cancelled. Known gap: the consumer's position moves past records it returns, so a changelog
  // whose last records were all removed by compaction (expired tombstones at the end of a closed
  // segment) never reaches the end offset and fails after the stall timeout.
  absl::StatusOr<int64_t> Restore(
      const std::string& topic, int32_t partition, int64_t until,
      const std::function<absl::Status(const std::vector<ChangelogRecord>&)>& apply,
      const std::function<absl::Status(const std::vector<std::string>&)>& tail) override;

  int64_t restored_records() const { return restored_records_; }

 private:
  std::unique_ptr<client::Consumer> consumer_;
  int64_t stall_timeout_ms_;
  const Clock* clock_;
  std::function<bool()> cancelled_;
  int64_t restored_records_ = 0;
};

}  // namespace runnel::streams::internal
