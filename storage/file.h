// File: a POSIX file descriptor with absl::Status errors that name the path, the operation and
// errno. Positional reads and writes only (pread/pwrite), so one File may be read from several
// threads while one thread appends. Short writes are completed or reported; a failed write never
// leaves the caller guessing how much landed (WriteAt returns the error, the caller truncates).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runnel::storage {

class File {
 public:
  enum class Mode { kReadOnly, kReadWrite, kCreateReadWrite, kCreateExclusive };

  static absl::StatusOr<File> Open(const std::string& path, Mode mode);

  File() = default;
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Writes all of `data` at `offset`; on error some prefix may have been written.
  absl::Status WriteAt(uint64_t offset, std::string_view data) const;
  // Reads up to `n` bytes at `offset` into `*out` (resized to what was read: short at EOF).
  absl::Status ReadAt(uint64_t offset, size_t n, std::string* out) const;
  // Like ReadAt, but appends to `*out` (no intermediate copy).
  absl::Status AppendAt(uint64_t offset, size_t n, std::string* out) const;
  absl::StatusOr<uint64_t> Size() const;
  absl::Status Truncate(uint64_t size) const;
  absl::Status DataSync() const;
  absl::Status Close();
  // A second descriptor for the same open file (dup): it stays valid when this one is closed, and
  // the file stays readable through it after it is unlinked or renamed over.
  absl::StatusOr<File> Duplicate() const;

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
};

// Filesystem helpers with the same error style.
absl::Status SyncDirectory(const std::string& dir);
// Writes `contents` to `path` atomically: temp file, fdatasync, rename, directory sync. With
// `durable` false the two syncs are skipped: after a crash the file is the old one, the new one,
// or missing/empty — for files that can be rebuilt (segment indexes).
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents,
                                 bool durable = true);
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);
absl::Status RenameFile(const std::string& from, const std::string& to);
// Removes `path`; a missing file is not an error.
absl::Status RemoveFile(const std::string& path);
bool FileExists(const std::string& path);

// The directory `path` is in ("." for a bare name).
std::string ParentDirectory(const std::string& path);

// "<errno text> (errno N)" for error messages.
std::string ErrnoText(int err);

}  // namespace runnel::storage
