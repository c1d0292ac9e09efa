// The flusher's threads: one log's acknowledgements never wait for another log's sync, and one
// log's are answered in order, one at a time; appends that would wait past its limit are refused.
#include "storage/flusher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <vector>

#include "storage/file_hooks.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using std::chrono::seconds;
using testing::MakeBatch;
using testing::TempDir;

// Holds every fdatasync of a file whose path contains `part` until Release(), once armed.
class StallingHooks : public FileHooks {
 public:
  explicit StallingHooks(std::string part) : part_(std::move(part)) { SetFileHooks(this); }
  ~StallingHooks() override {
    Release();
    SetFileHooks(nullptr);
  }
  void Arm() { armed_ = true; }
  void Release() {
    std::call_once(released_once_, [this] { released_.set_value(); });
  }
  // Resolved when a sync is first held.
  std::shared_future<void> holding() { return holding_future_; }

  int InjectedErrno(FileOp op, const std::string& path) override {
    if (op == FileOp::kSync && armed_ && path.find(part_) != std::string::npos) {
      std::call_once(holding_once_, [this] { holding_.set_value(); });
      released_future_.wait();
    }
    return 0;
  }
  void FileSynced(int, const std::string&) override {}
  void DirectorySynced(const std::string&) override {}

 private:
  const std::string part_;
  std::atomic<bool> armed_{false};
  std::promise<void> holding_;
  std::shared_future<void> holding_future_ = holding_.get_future().share();
  std::once_flag holding_once_;
  std::promise<void> released_;
  std::shared_future<void> released_future_ = released_.get_future().share();
  std::once_flag released_once_;
};

std::unique_ptr<Log> OpenOrDie(const std::string& dir, Flusher* flusher) {
  auto log = Log::Open(dir, LogConfig{}, flusher);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

TEST(FlusherTest, ALogsAckDoesNotWaitForAnotherLogsStalledSync) {
  TempDir dir;
  StallingHooks hooks("/slow/");
  Flusher flusher;
  auto slow = OpenOrDie(dir.Sub("slow"), &flusher);
  auto fast = OpenOrDie(dir.Sub("fast"), &flusher);
  ASSERT_TRUE(slow && fast);
  hooks.Arm();

  std::promise<bool> slow_acked;
  ASSERT_TRUE(
      slow->Append(MakeBatch(1, 1000, "s"), [&](absl::Status s) { slow_acked.set_value(s.ok()); })
          .ok());
  ASSERT_EQ(hooks.holding().wait_for(seconds(10)), std::future_status::ready)
      << "the slow log's sync never started";

  std::promise<bool> fast_acked;
  ASSERT_TRUE(
      fast->Append(MakeBatch(1, 1000, "f"), [&](absl::Status s) { fast_acked.set_value(s.ok()); })
          .ok());
  std::future<bool> fast_ack = fast_acked.get_future();
  ASSERT_EQ(fast_ack.wait_for(seconds(10)), std::future_status::ready)
      << "the fast log's ack waited for the slow log's sync";
  EXPECT_TRUE(fast_ack.get());
  EXPECT_EQ(fast->flushed_offset(), fast->end_offset());

  std::future<bool> slow_ack = slow_acked.get_future();
  EXPECT_EQ(slow_ack.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the slow log was answered before its sync returned";
  hooks.Release();
  ASSERT_EQ(slow_ack.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(slow_ack.get());
}

// One log's callbacks run in the order of its requests and never two at once, although many
// flush threads serve the flusher (the broker answers a partition's produces in order).
TEST(FlusherTest, OneLogsAcksComeInOrderOneAtATime) {
  TempDir dir;
  Flusher flusher(Flusher::kMaxThreads);
  auto log = OpenOrDie(dir.Sub("p"), &flusher);
  ASSERT_TRUE(log);
  constexpr int kAppends = 2000;
  std::mutex mu;  // for TSan's sake; the order must not come from it
  std::vector<int> acked;
  std::atomic<int> running{0};
  std::atomic<int> overlaps{0};
  for (int i = 0; i < kAppends; ++i) {
    auto r = log->Append(MakeBatch(1, 1000 + i, "v"), [&, i](absl::Status s) {
      if (running.fetch_add(1) != 0) ++overlaps;
      EXPECT_TRUE(s.ok()) << s;
      {
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back(i);
      }
      running.fetch_sub(1);
    });
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->base_offset, i);
  }
  flusher.Drain(log.get());
  EXPECT_EQ(overlaps.load(), 0);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(acked.size(), static_cast<size_t>(kAppends));
  for (int i = 0; i < kAppends; ++i) ASSERT_EQ(acked[i], i) << "acks out of order";
}

// Retention deletes only what consumers could read: records above the high watermark (appended,
// maybe acknowledged with acks=1, not synced yet) stay however old their timestamps, active
// segment included. Before, an expired active segment was rolled and deleted with its unsynced
// records, which no consumer had seen.
TEST(FlusherTest, RetentionNeverDeletesAboveTheHighWatermark) {
  TempDir dir;
  StallingHooks hooks("/other/");
  Flusher flusher(1);  // held by the other log's sync: p's request waits its turn
  ManualClock clock(10'000'000);
  LogConfig config;
  config.retention_ms = 50'000;
  auto other = OpenOrDie(dir.Sub("other"), &flusher);
  auto opened = Log::Open(dir.Sub("p"), config, &flusher, &clock);
  ASSERT_TRUE(opened.ok() && other) << opened.status();
  std::unique_ptr<Log> log = *std::move(opened);
  hooks.Arm();
  ASSERT_TRUE(other->Append(MakeBatch(1, 1000, "o")).ok());
  ASSERT_EQ(hooks.holding().wait_for(seconds(10)), std::future_status::ready);

  ASSERT_TRUE(log->Append(MakeBatch(3, clock.NowMs() - 100'000, "old")).ok());
  EXPECT_EQ(log->high_watermark(), 0);
  ASSERT_TRUE(log->ApplyRetention().ok());
  EXPECT_EQ(log->start_offset(), 0);
  EXPECT_EQ(log->end_offset(), 3);
  hooks.Release();
  flusher.Drain(log.get());
  EXPECT_EQ(log->high_watermark(), 3);
  ASSERT_TRUE(log->ApplyRetention().ok());  // now visible, and still past retention
  EXPECT_EQ(log->start_offset(), 3);
}

// With the disk stalled, appends that wait for their sync pile up to the flusher's limit; the
// next one is refused before it is stored, naming the limit, and every one accepted is answered
// once the disk is back.
TEST(FlusherTest, AppendsPastTheWaitingLimitAreRefusedAndNothingAcceptedIsLost) {
  TempDir dir;
  StallingHooks hooks("/stalled/");
  Flusher flusher(/*threads=*/1, /*max_waiting=*/3);
  auto log = OpenOrDie(dir.Sub("stalled"), &flusher);
  ASSERT_TRUE(log);
  hooks.Arm();
  std::vector<std::promise<absl::Status>> acks(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        log->Append(MakeBatch(1, 1000, "accepted"),
                    [&acks, i](absl::Status s) { acks[static_cast<size_t>(i)].set_value(s); })
            .ok());
    if (i == 0) {
      ASSERT_EQ(hooks.holding().wait_for(seconds(10)), std::future_status::ready)
          << "the first sync never started";
    }
  }
  const absl::StatusOr<AppendResult> refused =
      log->Append(MakeBatch(1, 1000, "refused"),
                  [](absl::Status) { ADD_FAILURE() << "a refused append was answered"; });
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("limit is 3"), std::string::npos) << refused.status();
  EXPECT_EQ(log->end_offset(), 3) << "the refused batch was stored";
  // Appends that do not wait (acks=1) are not limited.
  ASSERT_TRUE(log->Append(MakeBatch(1, 1000, "unwaited"), {}).ok());

  hooks.Release();
  for (auto& ack : acks) {
    auto future = ack.get_future();
    ASSERT_EQ(future.wait_for(seconds(10)), std::future_status::ready);
    EXPECT_TRUE(future.get().ok());
  }
  std::promise<absl::Status> later;
  ASSERT_TRUE(
      log->Append(MakeBatch(1, 1000, "later"), [&later](absl::Status s) { later.set_value(s); })
          .ok())
      << "room came back with the answers";
  auto later_ack = later.get_future();
  ASSERT_EQ(later_ack.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(later_ack.get().ok());
  EXPECT_EQ(log->end_offset(), 5);
}

}  // namespace
}  // namespace runnel::storage
