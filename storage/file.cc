#include "storage/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/file_hooks.h"

namespace runnel::storage {
namespace {

std::atomic<FileHooks*> hooks{nullptr};

// The errno the installed hooks inject for `op` on `path` (0 without hooks).
int Injected(FileOp op, const std::string& path) {
  FileHooks* h = hooks.load(std::memory_order_acquire);
  return h == nullptr ? 0 : h->InjectedErrno(op, path);
}

absl::Status ErrnoError(std::string_view op, const std::string& path, int err) {
  const std::string message =
      absl::StrCat(path, ": ", std::string(op), " failed: ", ErrnoText(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
    case EMFILE:  // out of descriptors or memory: nothing written was lost
    case ENFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      return absl::InternalError(message);
  }
}

// A failed sync may have lost written data whatever its errno (an ENOSPC from writeback too), so
// it is never reported as a recoverable full disk (see data_dir_failure.h).
absl::Status SyncError(std::string_view op, const std::string& path, int err) {
  return absl::InternalError(
      absl::StrCat(path, ": ", std::string(op), " failed: ", ErrnoText(err)));
}

}  // namespace

void SetFileHooks(FileHooks* h) { hooks.store(h, std::memory_order_release); }

std::string ErrnoText(int err) { return absl::StrCat(std::strerror(err), " (errno ", err, ")"); }

absl::StatusOr<File> File::Open(const std::string& path, Mode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case Mode::kReadOnly:
      flags |= O_RDONLY;
      break;
    case Mode::kReadWrite:
      flags |= O_RDWR;
      break;
    case Mode::kCreateReadWrite:
      flags |= O_RDWR | O_CREAT;
      break;
    case Mode::kCreateExclusive:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
  }
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return ErrnoError("open", path, errno);
  return File(fd, path);
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status File::WriteAt(uint64_t offset, std::string_view data) const {
  if (int err = Injected(FileOp::kWrite, path_)) return ErrnoError("write", path_, err);
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path_, errno);
    }
    if (n == 0) return ErrnoError("write", path_, ENOSPC);
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status File::ReadAt(uint64_t offset, size_t n, std::string* out) const {
  out->clear();
  return AppendAt(offset, n, out);
}

absl::Status File::AppendAt(uint64_t offset, size_t n, std::string* out) const {
  const size_t start = out->size();
  out->resize(start + n);
  size_t done = 0;
  while (done < n) {
    const ssize_t r =
        ::pread(fd_, out->data() + start + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      out->resize(start);
      return ErrnoError("read", path_, errno);
    }
    if (r == 0) break;  // end of file
    done += static_cast<size_t>(r);
  }
  out->resize(start + done);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoError("fstat", path_, errno);
  return static_cast<uint64_t>(st.st_size);
}

absl::Status File::Truncate(uint64_t size) const {
  if (int err = Injected(FileOp::kTruncate, path_)) return ErrnoError("ftruncate", path_, err);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoError("ftruncate", path_, errno);
  }
  return absl::OkStatus();
}

absl::Status File::DataSync() const {
  if (int err = Injected(FileOp::kSync, path_)) return SyncError("fdatasync", path_, err);
  if (::fdatasync(fd_) != 0) return SyncError("fdatasync", path_, errno);
  if (FileHooks* h = hooks.load(std::memory_order_acquire)) h->FileSynced(fd_, path_);
  return absl::OkStatus();
}

absl::Status File::Close() {
  if (fd_ < 0) return absl::OkStatus();
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return ErrnoError("close", path_, errno);
  return absl::OkStatus();
}

absl::StatusOr<File> File::Duplicate() const {
  const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("dup", path_, errno);
  return File(fd, path_);
}

absl::Status SyncDirectory(const std::string& dir) {
  if (int err = Injected(FileOp::kSyncDirectory, dir))
    return SyncError("fsync directory", dir, err);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return SyncError("fsync directory", dir, err);
  if (FileHooks* h = hooks.load(std::memory_order_acquire)) h->DirectorySynced(dir);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents, bool durable) {
  const std::string tmp = path + ".tmp";
  {
    ASSIGN_OR_RETURN(File file, File::Open(tmp, File::Mode::kCreateReadWrite));
    RETURN_IF_ERROR(file.Truncate(0));
    RETURN_IF_ERROR(file.WriteAt(0, contents));
    if (durable) RETURN_IF_ERROR(file.DataSync());
    RETURN_IF_ERROR(file.Close());
  }
  RETURN_IF_ERROR(RenameFile(tmp, path));
  if (!durable) return absl::OkStatus();
  return SyncDirectory(ParentDirectory(path));
}

std::string ParentDirectory(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  ASSIGN_OR_RETURN(File file, File::Open(path, File::Mode::kReadOnly));
  ASSIGN_OR_RETURN(const uint64_t size, file.Size());
  std::string out;
  RETURN_IF_ERROR(file.ReadAt(0, size, &out));
  return out;
}

absl::Status RenameFile(const std::string& from, const std::string& to) {
  if (int err = Injected(FileOp::kRename, from)) {
    return ErrnoError(absl::StrCat("rename to ", to), from, err);
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(absl::StrCat("rename to ", to), from, errno);
  }
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (int err = Injected(FileOp::kRemove, path)) return ErrnoError("unlink", path, err);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", path, errno);
  return absl::OkStatus();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace runnel::storage
