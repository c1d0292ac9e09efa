// DiskSpace: the free space of one data dir, and what the broker does about running out of it
// (Redpanda's storage_min_free_bytes, CockroachDB's ballast file).
//
// - A threshold: below `min_free_bytes` free, CheckForAppends() refuses with ResourceExhausted
//   naming the free space and the limit, so clients' appends stop before the disk is full and the
//   metadata writes (topics.json, group records) still find room. statvfs is asked at most every
//   `refresh_ms`.
// - A reserve: `reserved-space`, a file of `reserve_bytes` kept in the data dir. A metadata write
//   that fails on a full disk releases it and tries once more (WithReserve), so an operator can
//   still delete topics or change retention with Runnel itself; it is made again at the next
//   start.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace runnel::storage {

struct DiskUsage {
  uint64_t free_bytes = 0;  // available to this (unprivileged) process
  uint64_t total_bytes = 0;
};

// statvfs of `dir`.
absl::StatusOr<DiskUsage> StatDisk(const std::string& dir);

class DiskSpace {
 public:
  static constexpr char kReserveFile[] = "reserved-space";

  // `clock` (borrowed) paces the statvfs calls, at most one per `refresh_ms`: pacing, so the
  // LogManager gives it the real clock whatever clock decides its logs' behaviour.
  DiskSpace(std::string data_dir, uint64_t min_free_bytes, uint64_t reserve_bytes,
            const Clock* clock = &Clock::Real(), int64_t refresh_ms = 100);

  // Makes the reserve file if it is missing and the disk has room for it and the threshold
  // (logged, not an error, when it has not).
  void CreateReserve();

  // OK while at least min_free_bytes are free, else ResourceExhausted naming the data dir, the
  // free bytes and the limit.
  absl::Status CheckForAppends();

  // Runs `write`; if it fails with ResourceExhausted (a full disk) and the reserve is there,
  // deletes the reserve and runs it once more.
  absl::Status WithReserve(const std::function<absl::Status()>& write);

  // The last statvfs, refreshed if older than refresh_ms.
  DiskUsage usage();
  bool low() { return usage().free_bytes < min_free_bytes_; }
  uint64_t min_free_bytes() const { return min_free_bytes_; }
  bool reserve_present() const;

 private:
  const std::string data_dir_;
  const uint64_t min_free_bytes_;
  const uint64_t reserve_bytes_;
  const Clock* const clock_;
  const int64_t refresh_ms_;
  std::atomic<int64_t> checked_at_ms_{-1};
  std::atomic<uint64_t> free_bytes_{0};
  std::atomic<uint64_t> total_bytes_{0};
  mutable Mutex reserve_mu_;
};

}  // namespace runnel::storage
