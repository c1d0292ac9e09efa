// Power loss over FaultInjectionFs: kill -9 keeps the page cache, so only a simulated power loss
// tells a synced write from an unsynced one. Every record acknowledged as durable must survive
// every power loss, at its offset and with its value, and the log must open cleanly afterwards;
// with syncs made ineffective, the same check must find losses (or it checks nothing).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "storage/file.h"
#include "storage/log_manager.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::FaultInjectionFs;
using testing::TempDir;

// The batches appended and which of them were acknowledged. An acknowledgement can come before
// Append returns the batch's offset, so batches are named by an id and their offsets noted after.
class Appends {
 public:
  int64_t Begin(std::vector<std::string> values) {
    std::lock_guard lock(mu_);
    const int64_t id = static_cast<int64_t>(batches_.size());
    batches_.push_back({-1, std::move(values)});
    return id;
  }
  void SetBase(int64_t id, int64_t base) {
    std::lock_guard lock(mu_);
    batches_[static_cast<size_t>(id)].base = base;
  }
  void Ack(int64_t id) {
    std::lock_guard lock(mu_);
    acked_.push_back(id);
  }
  std::vector<int64_t> AckedIds() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  // offset -> value of the records of `ids` (call once every Append has returned).
  std::map<int64_t, std::string> Records(const std::vector<int64_t>& ids) {
    std::lock_guard lock(mu_);
    std::map<int64_t, std::string> out;
    for (int64_t id : ids) {
      const Batch& b = batches_[static_cast<size_t>(id)];
      for (size_t i = 0; i < b.values.size(); ++i)
        out[b.base + static_cast<int64_t>(i)] = b.values[i];
    }
    return out;
  }

 private:
  struct Batch {
    int64_t base;
    std::vector<std::string> values;
  };
  std::mutex mu_;
  std::deque<Batch> batches_;
  std::vector<int64_t> acked_;
};

struct Outcome {
  size_t acked = 0;
  size_t lost = 0;  // acknowledged records missing or changed after the power loss
};

// Appends from two threads (durable acks) to a log in `root`/t-0 under a LogManager, with small
// segments so it rolls, cuts the power at a random moment, crashes, restores, reopens, and
// compares.
Outcome RunAndLosePower(uint32_t seed, FaultInjectionFs::Loss loss, bool disable_syncs) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  FaultInjectionFs fs(dir.path());
  if (disable_syncs) fs.DisableSyncs();
  Appends appends;
  std::vector<int64_t> acked_ids;
  {
    LogManagerOptions options;
    options.data_dir = data;
    options.maintenance_interval_ms = 0;
    options.defaults.segment_bytes = 3000;
    options.defaults.index_interval_bytes = 256;
    auto manager = LogManager::Open(options);
    EXPECT_TRUE(manager.ok()) << manager.status();
    auto log = (*manager)->GetOrCreate({"t", 0});
    EXPECT_TRUE(log.ok()) << log.status();
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937 rng(seed * 7 + w);
        for (int i = 0; i < 2000 && !stop; ++i) {
          record::RecordBatchBuilder builder;
          std::vector<std::string> values;
          const int n = 1 + static_cast<int>(rng() % 5);
          for (int r = 0; r < n; ++r) {
            values.push_back(absl::StrCat("w", w, "-b", i, "-r", r));
            builder.Append(1000 + i, absl::StrCat("k", rng() % 10), values.back());
          }
          const int64_t id = appends.Begin(values);
          auto appended = (*log)->Append(*builder.Build(), [&appends, id](absl::Status s) {
            if (s.ok()) appends.Ack(id);
          });
          if (!appended.ok()) return;
          appends.SetBase(id, appended->base_offset);
          if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        }
      });
    }
    std::mt19937 rng(seed);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 40));
    acked_ids = appends.AckedIds();  // first the acknowledgements, then the cut: each came after
                                     // its sync
    fs.PowerCut();
    stop = true;
    for (auto& t : writers) t.join();
  }  // the crash: no Close, no clean-shutdown marker
  fs.RestoreAfterPowerCut(loss, seed);
  const std::map<int64_t, std::string> acked = appends.Records(acked_ids);

  Outcome outcome;
  outcome.acked = acked.size();
  LogManagerOptions options;
  options.data_dir = data;
  options.maintenance_interval_ms = 0;
  auto manager = LogManager::Open(options);
  if (!manager.ok()) {
    ADD_FAILURE() << "reopen after the power loss: " << manager.status();
    outcome.lost = acked.size();
    return outcome;
  }
  const std::shared_ptr<Log> log = (*manager)->Get({"t", 0});
  std::map<int64_t, std::string> stored;
  if (log != nullptr) {
    int64_t offset = log->start_offset();
    for (int round = 0; round < 100'000 && offset < log->end_offset(); ++round) {
      auto bytes = log->Read(offset, 1 << 20);
      if (!bytes.ok()) {
        ADD_FAILURE() << bytes.status();
        break;
      }
      for (const auto& r : DecodeAll(*bytes)) {
        stored[r.offset] = r.value.value_or("");
        offset = r.offset + 1;
      }
    }
  }
  for (const auto& [offset, value] : acked) {
    auto it = stored.find(offset);
    if (it == stored.end() || it->second != value) ++outcome.lost;
  }
  return outcome;
}

TEST(PowerLossTest, EveryAcknowledgedRecordSurvivesAPowerLoss) {
  size_t acked = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    for (auto loss : {FaultInjectionFs::Loss::kDrop, FaultInjectionFs::Loss::kTear}) {
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " loss " << static_cast<int>(loss));
      const Outcome outcome = RunAndLosePower(seed, loss, /*disable_syncs=*/false);
      EXPECT_EQ(outcome.lost, 0u) << "of " << outcome.acked << " acknowledged records";
      acked += outcome.acked;
    }
  }
  EXPECT_GT(acked, 0u)
      << "nothing was acknowledged before the power cuts: the test checked nothing";
  std::cerr << "acknowledged records checked over 24 power losses: " << acked << "\n";
}

// The same runs with fdatasync made ineffective: the check must see acknowledged records go.
TEST(PowerLossTest, WithSyncsIneffectiveTheCheckFindsLosses) {
  size_t lost = 0;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    lost += RunAndLosePower(seed, FaultInjectionFs::Loss::kDrop, /*disable_syncs=*/true).lost;
  }
  EXPECT_GT(lost, 0u);
  std::cerr << "acknowledged records lost with syncs ineffective: " << lost << "\n";
}

// The harness itself: a new file that gets the inode number of a removed, synced one must not
// come back with that file's contents (it was never synced: it comes back empty).
TEST(FaultInjectionFsTest, AFileReusingAFreedInodeNumberDoesNotInheritItsContents) {
  TempDir dir;
  FaultInjectionFs fs(dir.path());
  const std::string old_path = dir.Sub("old");
  {
    auto old_file = File::Open(old_path, File::Mode::kCreateReadWrite);
    ASSERT_TRUE(old_file.ok()) << old_file.status();
    ASSERT_TRUE(old_file->WriteAt(0, "the old file's synced contents").ok());
    ASSERT_TRUE(old_file->DataSync().ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(old_path.c_str(), &st), 0);
  const ino_t freed = st.st_ino;
  {
    // The harness tells reused numbers apart by the inode's generation.
    const int fd = ::open(old_path.c_str(), O_RDONLY);
    long generation = 0;  // NOLINT(runtime/int): the ioctl's type
    const bool has_generations = fd >= 0 && ::ioctl(fd, FS_IOC_GETVERSION, &generation) == 0;
    if (fd >= 0) ::close(fd);
    if (!has_generations) GTEST_SKIP() << "the file system has no inode generations";
  }
  ASSERT_TRUE(RemoveFile(old_path).ok());
  ASSERT_TRUE(SyncDirectory(dir.path()).ok());
  // File systems hand a freed number out again soon, but not on demand: bounded tries.
  std::string reused;
  for (int i = 0; i < 200 && reused.empty(); ++i) {
    const std::string path = dir.Sub(absl::StrCat("new-", i));
    auto file = File::Open(path, File::Mode::kCreateReadWrite);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(file->WriteAt(0, "never synced").ok());
    if (::stat(path.c_str(), &st) == 0 && st.st_ino == freed) reused = path;
  }
  if (reused.empty()) GTEST_SKIP() << "the file system did not reuse inode " << freed;
  ASSERT_TRUE(SyncDirectory(dir.path()).ok());  // the new name is durable, its data is not
  fs.PowerCut();
  fs.RestoreAfterPowerCut(FaultInjectionFs::Loss::kDrop, 1);
  std::ifstream in(reused, std::ios::binary);
  const std::string contents(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(contents, "") << reused << " reuses inode " << freed;
}

}  // namespace
}  // namespace runnel::storage
