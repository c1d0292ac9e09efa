// FaultInjectionFs: a simulated power loss for the files under one directory, and syscall
// failures on demand, through storage/file_hooks.h (LevelDB's FaultInjectionTestEnv and RocksDB's
// FaultInjectionTestFS are the model).
//
// What survives a power loss is what a completed sync made durable, and nothing else:
// - a file's contents are those of its last fdatasync (File::DataSync), whatever was written,
//   truncated or appended after it; a file that was never synced is empty;
// - a directory's entries are those of its last fsync (SyncDirectory): a file or directory created,
//   renamed or removed since is back as it was (a rename not yet synced undoes itself; a created
//   file whose directory was never synced is gone, data synced or not).
// Everything under the root when the object is made counts as durable.
//
// Use: make it over a test's temporary directory, run the storage code, call PowerCut() (from then
// on no sync counts), destroy the storage objects (as a crash would leave them: no Close), call
// RestoreAfterPowerCut(), and reopen. With Loss::kTear, a file whose unsynced bytes extend its
// durable contents keeps a random prefix of them, as a torn write would.
//
// Thread-safety: the hooks may be called from any thread; the other methods from the test thread.
#pragma once

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "storage/file_hooks.h"

namespace runnel::storage::testing {

class FaultInjectionFs final : public FileHooks {
 public:
  enum class Loss { kDrop, kTear };

  explicit FaultInjectionFs(std::string root) : root_(Normal(root)) {
    Snapshot();
    SetFileHooks(this);
  }
  ~FaultInjectionFs() override { SetFileHooks(nullptr); }
  FaultInjectionFs(const FaultInjectionFs&) = delete;
  FaultInjectionFs& operator=(const FaultInjectionFs&) = delete;

  // The next `count` operations `op` on a path containing `path_part` fail with `err`.
  void FailNext(FileOp op, int err, std::string path_part = "", int count = 1) {
    std::lock_guard lock(mu_);
    failures_.push_back({op, err, std::move(path_part), count});
  }

  // With syncs disabled, fdatasync and directory fsync still run but make nothing durable here:
  // the power loss then takes everything since the start (to show that a test notices).
  void DisableSyncs() {
    std::lock_guard lock(mu_);
    syncs_disabled_ = true;
  }

  // The power goes now: no later sync counts.
  void PowerCut() {
    std::lock_guard lock(mu_);
    cut_ = true;
  }

  // Puts every file and directory under the root back to what the syncs before PowerCut() made
  // durable (see the file comment). No descriptor under the root may be open.
  void RestoreAfterPowerCut(Loss loss, uint32_t seed) {
    std::lock_guard lock(mu_);
    std::mt19937 rng(seed);
    std::map<FileId, std::string> now;  // current contents, for torn writes
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) {
      if (e.is_regular_file()) now[IdOf(e.path().string())] = ReadAll(e.path().string());
    }
    for (const auto& e : std::filesystem::directory_iterator(root_)) {
      std::filesystem::remove_all(e.path());
    }
    Rebuild(root_, loss, now, rng);
    cut_ = false;
    SnapshotLocked();  // the restored files are the durable state now (with new inodes)
  }

  int InjectedErrno(FileOp op, const std::string& path) override {
    std::lock_guard lock(mu_);
    for (Failure& f : failures_) {
      if (f.op == op && f.count > 0 && path.find(f.path_part) != std::string::npos) {
        --f.count;
        return f.err;
      }
    }
    return 0;
  }

  // The contents and listings are read under the lock, after the sync returned: two syncs racing
  // record in the order they read, so the newer state is the one kept (reading first and locking
  // after let a stale listing overwrite a newer one: a segment whose creation was synced then
  // vanished in the power loss, with acknowledged records in it). What was written between the
  // sync and the read counts as durable too: the check can only err towards keeping data.
  void FileSynced(int fd, const std::string& /*path*/) override {
    std::lock_guard lock(mu_);
    if (cut_ || syncs_disabled_) return;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    std::string contents(static_cast<size_t>(st.st_size), '\0');
    const ssize_t n = ::pread(fd, contents.data(), contents.size(), 0);
    contents.resize(n < 0 ? 0 : static_cast<size_t>(n));
    contents_[IdOf(fd, st.st_ino)] = std::move(contents);
  }

  void DirectorySynced(const std::string& dir) override {
    std::lock_guard lock(mu_);
    if (cut_ || syncs_disabled_) return;
    dirs_[Normal(dir)] = List(Normal(dir));
  }

 private:
  // A file's identity: its inode number and the inode's generation, which changes when a freed
  // inode number is reused (a new segment often gets the number of a replaced topics.json; by
  // number alone it would come back after a power loss with that file's old contents).
  using FileId = std::pair<ino_t, uint32_t>;
  struct Entry {
    FileId id;
    bool is_dir;
  };
  struct Failure {
    FileOp op;
    int err;
    std::string path_part;
    int count;
  };

  static std::string Normal(const std::string& path) {
    std::string p = std::filesystem::absolute(path).lexically_normal().string();
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }
  static FileId IdOf(int fd, ino_t ino) {
    long generation = 0;  // NOLINT(runtime/int): the ioctl's type; 0 where the file system has none
    if (::ioctl(fd, FS_IOC_GETVERSION, &generation) != 0) generation = 0;
    return {ino, static_cast<uint32_t>(generation)};
  }
  static FileId IdOf(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return {0, 0};
    struct stat st {};
    const FileId id = ::fstat(fd, &st) == 0 ? IdOf(fd, st.st_ino) : FileId{0, 0};
    ::close(fd);
    return id;
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::map<std::string, Entry> List(const std::string& dir) {
    std::map<std::string, Entry> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      out[e.path().filename().string()] = {IdOf(e.path().string()), e.is_directory()};
    }
    return out;
  }

  void Snapshot() {
    std::lock_guard lock(mu_);
    SnapshotLocked();
  }
  void SnapshotLocked() {
    contents_.clear();
    dirs_.clear();
    dirs_[root_] = List(root_);
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) {
      const std::string path = e.path().string();
      if (e.is_directory()) dirs_[Normal(path)] = List(path);
      if (e.is_regular_file()) contents_[IdOf(path)] = ReadAll(path);
    }
  }

  void Rebuild(const std::string& dir, Loss loss, const std::map<FileId, std::string>& now,
               std::mt19937& rng) {
    auto listing = dirs_.find(dir);
    if (listing == dirs_.end()) return;  // a directory whose entries were never synced: empty
    for (const auto& [name, entry] : listing->second) {
      const std::string path = dir + "/" + name;
      if (entry.is_dir) {
        std::filesystem::create_directory(path);
        Rebuild(path, loss, now, rng);
        continue;
      }
      auto durable = contents_.find(entry.id);
      std::string contents = durable == contents_.end() ? "" : durable->second;
      auto current = now.find(entry.id);
      if (loss == Loss::kTear && current != now.end() && current->second.size() > contents.size() &&
          current->second.compare(0, contents.size(), contents) == 0) {
        const size_t extra = current->second.size() - contents.size();
        contents = current->second.substr(0, contents.size() + rng() % (extra + 1));
      }
      std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    }
  }

  const std::string root_;
  std::mutex mu_;
  std::map<FileId, std::string> contents_;                    // durable contents by file
  std::map<std::string, std::map<std::string, Entry>> dirs_;  // durable entries by directory
  std::vector<Failure> failures_;
  bool syncs_disabled_ = false;
  bool cut_ = false;
};

}  // namespace runnel::storage::testing
