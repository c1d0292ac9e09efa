#include "storage/disk_space.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "storage/file.h"

namespace runnel::storage {
namespace {

int64_t SteadyMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.SteadyNow().time_since_epoch())
      .count();
}

}  // namespace

absl::StatusOr<DiskUsage> StatDisk(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat(dir, ": statvfs failed: ", std::strerror(errno)));
  }
  return DiskUsage{static_cast<uint64_t>(st.f_bavail) * st.f_frsize,
                   static_cast<uint64_t>(st.f_blocks) * st.f_frsize};
}

DiskSpace::DiskSpace(std::string data_dir, uint64_t min_free_bytes, uint64_t reserve_bytes,
                     const Clock* clock, int64_t refresh_ms)
    : data_dir_(std::move(data_dir)),
      min_free_bytes_(min_free_bytes),
      reserve_bytes_(reserve_bytes),
      clock_(clock),
      refresh_ms_(refresh_ms) {}

DiskUsage DiskSpace::usage() {
  const int64_t now = SteadyMs(*clock_);
  const int64_t checked = checked_at_ms_.load(std::memory_order_acquire);
  if (checked < 0 || now - checked >= refresh_ms_) {
    absl::StatusOr<DiskUsage> usage = StatDisk(data_dir_);
    if (usage.ok()) {
      free_bytes_.store(usage->free_bytes, std::memory_order_relaxed);
      total_bytes_.store(usage->total_bytes, std::memory_order_relaxed);
    } else {
      logging::Get("storage")->warn("{}", usage.status().ToString());
    }
    checked_at_ms_.store(now, std::memory_order_release);
  }
  return {free_bytes_.load(std::memory_order_relaxed),
          total_bytes_.load(std::memory_order_relaxed)};
}

absl::Status DiskSpace::CheckForAppends() {
  if (min_free_bytes_ == 0) return absl::OkStatus();
  const DiskUsage now = usage();
  if (now.free_bytes >= min_free_bytes_) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("data dir ", data_dir_, " has ", now.free_bytes,
                   " bytes free, below --log-dir-min-free-bytes ", min_free_bytes_,
                   ": appends are refused until retention or topic deletes free space"));
}

bool DiskSpace::reserve_present() const {
  MutexLock lock(&reserve_mu_);
  return FileExists(absl::StrCat(data_dir_, "/", kReserveFile));
}

void DiskSpace::CreateReserve() {
  if (reserve_bytes_ == 0) return;
  MutexLock lock(&reserve_mu_);
  const std::string path = absl::StrCat(data_dir_, "/", kReserveFile);
  if (FileExists(path)) return;
  const absl::StatusOr<DiskUsage> now = StatDisk(data_dir_);
  if (!now.ok() || now->free_bytes < reserve_bytes_ + min_free_bytes_) {
    logging::Get("storage")->warn("{}: not made, the disk is too full for {} bytes", path,
                                  reserve_bytes_);
    return;
  }
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : ::posix_fallocate(fd, 0, static_cast<off_t>(reserve_bytes_));
  if (err == 0 && ::fdatasync(fd) != 0) err = errno;
  if (fd >= 0) ::close(fd);
  if (err != 0) {
    logging::Get("storage")->warn("{}: not made: {}", path, std::strerror(err));
    ::unlink(path.c_str());
    return;
  }
  (void)SyncDirectory(data_dir_);
}

absl::Status DiskSpace::WithReserve(const std::function<absl::Status()>& write) {
  absl::Status status = write();
  if (!absl::IsResourceExhausted(status)) return status;
  {
    MutexLock lock(&reserve_mu_);
    const std::string path = absl::StrCat(data_dir_, "/", kReserveFile);
    if (!FileExists(path)) return status;
    logging::Get("storage")->warn("{}; releasing the {} bytes of {} to make room",
                                  status.ToString(), reserve_bytes_, path);
    if (::unlink(path.c_str()) != 0) return status;
  }
  checked_at_ms_.store(-1, std::memory_order_release);
  return write();
}

}  // namespace runnel::storage
