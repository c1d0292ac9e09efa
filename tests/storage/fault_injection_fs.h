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
    std::map<ino_t, std::string> now;  // current contents, for torn writes
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) {
      if (e.is_regular_file()) now[Inode(e.path().string())] = ReadAll(e.path().string());
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

  void FileSynced(int fd, const std::string& /*path*/) override {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    std::string contents(static_cast<size_t>(st.st_size), '\0');
    const ssize_t n = ::pread(fd, contents.data(), contents.size(), 0);
    contents.resize(n < 0 ? 0 : static_cast<size_t>(n));
    std::lock_guard lock(mu_);
    if (cut_ || syncs_disabled_) return;
    contents_[st.st_ino] = std::move(contents);
  }

  void DirectorySynced(const std::string& dir) override {
    std::map<std::string, Entry> entries = List(Normal(dir));
    std::lock_guard lock(mu_);
    if (cut_ || syncs_disabled_) return;
    dirs_[Normal(dir)] = std::move(entries);
  }

 private:
  struct Entry {
    ino_t ino;
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
  static ino_t Inode(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::map<std::string, Entry> List(const std::string& dir) {
    std::map<std::string, Entry> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      out[e.path().filename().string()] = {Inode(e.path().string()), e.is_directory()};
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
      if (e.is_regular_file()) contents_[Inode(path)] = ReadAll(path);
    }
  }

  void Rebuild(const std::string& dir, Loss loss, const std::map<ino_t, std::string>& now,
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
      auto durable = contents_.find(entry.ino);
      std::string contents = durable == contents_.end() ? "" : durable->second;
      auto current = now.find(entry.ino);
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
  std::map<ino_t, std::string> contents_;                     // durable contents by inode
  std::map<std::string, std::map<std::string, Entry>> dirs_;  // durable entries by directory
  std::vector<Failure> failures_;
  bool syncs_disabled_ = false;
  bool cut_ = false;
};

}  // namespace runnel::storage::testing
