#include "broker/cluster/producer_id_allocator.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::broker {

absl::StatusOr<std::unique_ptr<ProducerIdAllocator>> ProducerIdAllocator::Open(
    const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kFileName);
  int64_t next = 0;
  if (storage::FileExists(path)) {
    ASSIGN_OR_RETURN(const std::string text, storage::ReadWholeFile(path));
    if (!absl::SimpleAtoi(text, &next) || next < 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": bad contents '", text, "' (expected the next free producer id)"));
    }
  }
  std::unique_ptr<ProducerIdAllocator> allocator(new ProducerIdAllocator(path, next));
  MutexLock lock(&allocator->mu_);
  RETURN_IF_ERROR(allocator->ReserveBlockLocked());
  return allocator;
}

std::unique_ptr<ProducerIdAllocator> ProducerIdAllocator::Remote(GrantFn grant) {
  return std::unique_ptr<ProducerIdAllocator>(new ProducerIdAllocator("", 0, std::move(grant)));
}

absl::StatusOr<int64_t> ProducerIdAllocator::Allocate() {
  MutexLock lock(&mu_);
  if (next_ == block_end_) RETURN_IF_ERROR(ReserveBlockLocked());
  return next_++;
}

absl::Status ProducerIdAllocator::ReserveBlockLocked() {
  if (grant_) {
    ASSIGN_OR_RETURN(const auto block, grant_());
    RUNNEL_CHECK(block.second > 0 && block.first >= 0, "producer id grant [%lld, +%lld)",
                 static_cast<long long>(block.first), static_cast<long long>(block.second));
    next_ = block.first;
    block_end_ = block.first + block.second;
    return absl::OkStatus();
  }
  if (block_end_ > std::numeric_limits<int64_t>::max() - kBlockSize) {
    return absl::ResourceExhaustedError(
        absl::StrCat("producer ids: no block left after ", block_end_, " (", path_, ")"));
  }
  const int64_t end = block_end_ + kBlockSize;
  // Durable before any id below `end` is handed out: after a crash, ids restart at `end`.
  RETURN_IF_ERROR(storage::WriteFileAtomically(path_, absl::StrCat(end)));
  block_end_ = end;
  return absl::OkStatus();
}

}  // namespace runnel::broker
