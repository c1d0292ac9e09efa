// FileHooks: the test seam of file.h. When installed, every mutating file operation asks the hooks
// first whether to fail (an errno, as if the system call had returned it), and every completed
// sync is reported. tests/storage/fault_injection_fs.h builds on it: it records what each sync
// made durable and, on a simulated power loss, puts the files back to exactly that (LevelDB's and
// RocksDB's fault-injection environments are the model).
//
// For tests only: one set of hooks at a time, installed before the files are used and removed
// after; the hooks are called from whichever thread does the operation (the flush thread too).
#pragma once

#include <string>

namespace runnel::storage {

enum class FileOp {
  kWrite,          // File::WriteAt
  kTruncate,       // File::Truncate
  kSync,           // File::DataSync
  kSyncDirectory,  // SyncDirectory
  kRename,         // RenameFile
  kRemove,         // RemoveFile
};

class FileHooks {
 public:
  virtual ~FileHooks() = default;
  // The errno `op` on `path` fails with, or 0 to let it run.
  virtual int InjectedErrno(FileOp op, const std::string& path) = 0;
  // After a successful fdatasync of the open file `fd` (named `path` when it was opened).
  virtual void FileSynced(int fd, const std::string& path) = 0;
  // After a successful fsync of directory `dir`.
  virtual void DirectorySynced(const std::string& dir) = 0;
};

// Installs `hooks` (nullptr removes them). Not synchronised with operations in flight.
void SetFileHooks(FileHooks* hooks);

}  // namespace runnel::storage
