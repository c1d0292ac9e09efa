// Durability under kill -9 and behaviour on a full disk.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::MakeBatch;
using testing::TempDir;

LogConfig CrashConfig() {
  LogConfig c;
  c.segment_bytes = 64 * 1024;  // several rolls per round, so kills land mid-roll too
  return c;
}

// Child side: append with durable acks from two threads until killed, writing the tag of
// every acknowledged batch as a line to `ack_fd`.
[[noreturn]] void AppendUntilKilled(const std::string& dir, int ack_fd, int round) {
  Flusher flusher;
  auto log = Log::Open(dir, CrashConfig(), &flusher);
  if (!log.ok()) _exit(2);
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      // Up to 8 appends in flight per writer, like a producer's max.in.flight.
      std::deque<std::future<void>> in_flight;
      for (int seq = 0;; ++seq) {
        const std::string tag =
            "r" + std::to_string(round) + "t" + std::to_string(t) + "s" + std::to_string(seq);
        auto acked = std::make_shared<std::promise<void>>();
        in_flight.push_back(acked->get_future());
        auto appended = (*log)->Append(MakeBatch(1 + seq % 5, seq, tag), [=](absl::Status s) {
          if (s.ok()) {
            const std::string line = tag + "\n";  // one write(2) < PIPE_BUF: atomic
            if (::write(ack_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
              _exit(4);
            }
          }
          acked->set_value();
        });
        if (!appended.ok()) _exit(3);
        if (in_flight.size() >= 8) {
          in_flight.front().wait();
          in_flight.pop_front();
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(10));  // bound: the parent kills long before
  _exit(5);
}

TEST(CrashTest, EveryAcknowledgedRecordSurvivesSigkill) {
  TempDir dir;
  const std::string log_dir = dir.Sub("p0");
  std::mt19937 rng(std::random_device{}());
  constexpr int kRounds = 20;
  size_t total_acked = 0;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      AppendUntilKilled(log_dir, fds[1], round);
    }
    ::close(fds[1]);
    // Wait (bounded) for the child's first acknowledgement, so every round kills a writer in full
    // swing even on a loaded machine, then kill it at a random moment.
    std::string acks_text;
    char buf[4096];
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, /*timeout_ms=*/10'000) > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n > 0) acks_text.append(buf, n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    ASSERT_FALSE(acks_text.empty()) << "round " << round << ": no acknowledgement within 10 s";

    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) acks_text.append(buf, n);
    ::close(fds[0]);
    std::vector<std::string> acked;
    std::istringstream in(acks_text);
    for (std::string tag; in >> tag;) acked.push_back(tag);
    total_acked += acked.size();

    Flusher flusher;
    auto log = Log::Open(log_dir, CrashConfig(), &flusher);
    ASSERT_TRUE(log.ok()) << "round " << round << ": " << log.status();
    const auto records = DecodeAll(*(*log)->Read(0, size_t{1} << 31));
    ASSERT_EQ(static_cast<int64_t>(records.size()), (*log)->end_offset());
    std::set<std::string> values;
    for (size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(records[i].offset, static_cast<int64_t>(i)) << "offsets must stay dense";
      values.insert(records[i].value.value_or(""));
    }
    for (const std::string& tag : acked) {
      EXPECT_TRUE(values.contains(tag + "-0")) << "round " << round << ": acked " << tag << " lost";
    }
  }
  EXPECT_GT(total_acked, 0u);
  std::cerr << "acknowledged batches checked: " << total_acked << " over " << kRounds << " kills\n";
}

TEST(DiskFullTest, FailedAppendLeavesTheLogConsistentAndLaterAppendsSucceed) {
  TempDir dir;
  Flusher flusher;
  auto log = Log::Open(dir.path(), LogConfig{}, &flusher);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*log)->Append(MakeBatch(10, i, "before")).ok());
  const int64_t end_before = (*log)->end_offset();
  const uint64_t size_before = (*log)->size_bytes();

  // The file may grow by only 1000 more bytes: the next appends cannot fit.
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = size_before + 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = (*log)->Append(MakeBatch(10, i, "during-the-disk-full-period"));
    if (r.ok()) continue;
    ++failures;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
    EXPECT_NE(r.status().message().find("File too large"), absl::string_view::npos) << r.status();
  }
  const int64_t end_during = (*log)->end_offset();
  EXPECT_GT(failures, 0);
  // Whatever did fit is whole and readable; nothing partial was left behind.
  const auto records = DecodeAll(*(*log)->Read(0, 1 << 20));
  EXPECT_EQ(static_cast<int64_t>(records.size()), end_during);
  EXPECT_GE(end_during, end_before);

  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);  // space is back
  auto after = (*log)->Append(MakeBatch(3, 0, "after"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->base_offset, end_during);
  log->reset();

  // A crash-style reopen scans the segment: every batch is intact.
  LogOpenReport report;
  auto reopened = Log::Open(dir.path(), LogConfig{}, &flusher, &Clock::Real(), &report);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(report.recovery.bytes_truncated, 0u);
  EXPECT_EQ((*reopened)->end_offset(), end_during + 3);
  EXPECT_EQ(DecodeAll(*(*reopened)->Read(0, 1 << 20)).size(), static_cast<size_t>(end_during + 3));
}

}  // namespace
}  // namespace runnel::storage
