// ProducerIdAllocator: hands out idempotent producer ids (InitProducerId), unique per data
// directory across restarts, kill -9 and power loss included. Ids are reserved in blocks of
// kBlockSize: the end of the block is written durably to `<data_dir>/producer-ids`
// (docs/FORMAT.md section 16) *before* any id of the block is handed out, and a restart starts
// at the stored end. So no id is ever given twice; the ids left in a block when the broker
// stops are skipped. In a cluster the blocks come from the controller instead (Remote: the
// metadata log records each grant), so an id is unique across the cluster.
//
// Thread-safety: all methods may be called from any thread. Allocate does one small durable
// file write (two fsyncs) per kBlockSize ids, on the calling thread; Open reserves the first
// block, so a running broker pays it once per kBlockSize InitProducerId calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace runnel::broker {

class ProducerIdAllocator {
 public:
  static constexpr int64_t kBlockSize = 1000;
  static constexpr char kFileName[] = "producer-ids";

  // Reads `<data_dir>/producer-ids` (missing: ids start at 0) and reserves the first block.
  // DataLoss naming the file if its contents are not a non-negative integer; the write's error
  // if the reservation cannot be persisted.
  static absl::StatusOr<std::unique_ptr<ProducerIdAllocator>> Open(const std::string& data_dir);
  // An allocator whose blocks come from `grant` ([first, first + count), e.g. the cluster
  // controller's). Nothing is reserved until the first Allocate.
  using GrantFn = std::function<absl::StatusOr<std::pair<int64_t, int64_t>>()>;
  static std::unique_ptr<ProducerIdAllocator> Remote(GrantFn grant);

  // A new producer id. Errors: persisting a new block (the id is then not handed out), or
  // ResourceExhausted once the int64 range is used up.
  absl::StatusOr<int64_t> Allocate();

 private:
  explicit ProducerIdAllocator(std::string path, int64_t next, GrantFn grant = {})
      : path_(std::move(path)), grant_(std::move(grant)), next_(next), block_end_(next) {}
  absl::Status ReserveBlockLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;  // empty with a GrantFn
  const GrantFn grant_;
  Mutex mu_;
  int64_t next_ ABSL_GUARDED_BY(mu_);       // the next id to hand out
  int64_t block_end_ ABSL_GUARDED_BY(mu_);  // ids below this are reserved on disk
};

}  // namespace runnel::broker
