// Three `runnel consume --group` processes sharing a 6-partition topic on a real runneld: the
// coordinator gives each 2 partitions and together they print every record. One killed with
// SIGKILL loses its partitions to the other two once its session expires; as the CLI commits only
// what it printed, nothing is lost, and the only records printed twice are ones the killed
// process printed but had not committed.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/admin.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/group_broker_fixture.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::BrokerProcess;
using testing::ChildProcess;
using testing::DescribeStatus;
using testing::ReadFile;
using testing::RunCommand;
using testing::RunRunnel;
using testing::WaitFor;

// Slack on top of the session timeout for a loaded machine: the bound is on liveness (the
// partitions do move), not a latency figure.
constexpr int kReassignSlackMs = 5000;
constexpr int kPartitions = 6;
constexpr int kConsumers = 3;
// The consumer that is killed. Its stdout is a pipe the test drains into its output file, so the
// test can hold it up in the middle of printing a batch, before it commits that batch.
constexpr int kVictim = 0;
// `runnel consume --group` prints one Poll's records (at most max.poll.records, default 500)
// and then commits them, so a process killed mid-way has at most one batch uncommitted.
constexpr int kMaxPollRecords = 500;
const std::string kTopic = "events";
const std::string kGroup = "g";

// One line a consumer printed with --format '%p %o %v\n'.
struct Printed {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string value;
};

// The complete lines of a consumer's output (a process killed mid-write may leave a partial last
// line, which counts as not printed); lines that do not parse go to `bad`.
std::vector<Printed> ReadPrinted(const std::string& path, std::vector<std::string>* bad) {
  std::string text = ReadFile(path);
  const size_t last_newline = text.find_last_of('\n');
  text.erase(last_newline == std::string::npos ? 0 : last_newline + 1);
  std::vector<Printed> out;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(text, '\n', absl::SkipEmpty()))) {
    std::vector<std::string> fields = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    Printed p;
    if (fields.size() != 3 || !absl::SimpleAtoi(fields[0], &p.partition) ||
        !absl::SimpleAtoi(fields[1], &p.offset)) {
      if (bad != nullptr) bad->push_back(line);
      continue;
    }
    p.value = std::move(fields[2]);
    out.push_back(std::move(p));
  }
  return out;
}

// The group as DescribeGroup reports it for kTopic.
struct GroupView {
  std::map<std::string, std::set<int32_t>> members;  // member id -> partitions it owns
  std::map<int32_t, std::string> owner;              // partition -> member id ("" for none)
  std::map<int32_t, int64_t> committed;              // -1: nothing committed
  std::map<int32_t, int64_t> end;
};

std::optional<GroupView> Describe(client::Admin& admin) {
  auto rows = admin.DescribeGroup(kGroup);
  if (!rows.ok()) return std::nullopt;
  GroupView view;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic != kTopic) continue;
    view.owner[row.partition] = row.member_id;
    view.committed[row.partition] = row.committed;
    view.end[row.partition] = row.end_offset;
    if (!row.member_id.empty()) view.members[row.member_id].insert(row.partition);
  }
  return view;
}

// Whether `view` has exactly `members` members, each owning kPartitions / members partitions,
// together all of them.
bool Balanced(const GroupView& view, size_t members) {
  if (view.members.size() != members) return false;
  size_t owned = 0;
  for (const auto& [id, partitions] : view.members) {
    if (partitions.size() != kPartitions / members) return false;
    owned += partitions.size();
  }
  return owned == kPartitions;
}

std::string Show(const GroupView& view) {
  std::string out;
  for (const auto& [p, member] : view.owner) {
    absl::StrAppend(&out, "  p", p, " owner=", member.empty() ? "-" : member,
                    " committed=", view.committed.at(p), " end=", view.end.at(p), "\n");
  }
  return out;
}

class ConsumerGroupE2eTest : public testing::GroupBrokerFixture {
 protected:
  ~ConsumerGroupE2eTest() override {
    if (victim_pipe_ >= 0) ::close(victim_pipe_);
  }

  std::string Bin() const { return std::string(RUNNEL_BIN_DIR) + "/runnel"; }
  std::string Out(int consumer) const { return dir_.Sub(absl::StrCat("consumer-", consumer)); }
  std::string Err(int consumer) const {
    return dir_.Sub(absl::StrCat("consumer-", consumer, ".err"));
  }

  bool StartConsumer(int i) {
    std::vector<std::string> args = {
        Bin(),     "--brokers", broker_->address(), "consume",  kTopic,
        "--group", kGroup,      "--from-beginning", "--format", "%p %o %v\\n"};
    if (i != kVictim) return consumers_[i].Start(args, "", Out(i), Err(i));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    victim_pipe_ = fds[0];
    std::ofstream(Out(i)).close();  // the output file exists from the start, like the others'
    const bool started = consumers_[i].Start(args, "", "", Err(i), fds[1]);
    ::close(fds[1]);  // the victim holds the only write end: its death ends the pipe
    return started && ::fcntl(victim_pipe_, F_SETFL, O_NONBLOCK) == 0;
  }

  // Appends what the victim wrote to its pipe to its output file; false at end of file.
  bool DrainVictim() {
    std::ofstream out(Out(kVictim), std::ios::app);
    char buf[4096];
    for (int i = 0; i < 100'000; ++i) {  // bounded: a pipe holds little
      const ssize_t n = ::read(victim_pipe_, buf, sizeof(buf));
      if (n == 0) return false;
      if (n < 0) return true;  // EAGAIN: nothing more now
      out.write(buf, n);
    }
    return true;
  }

  // Whether the victim's main thread is asleep writing to its pipe: bytes are queued that the
  // test does not read, so it stays blocked until the test drains the pipe. (Not "the pipe is
  // full": a write that does not fit the pipe's last page waits for a free one, so the queue may
  // be short of the pipe's size.)
  bool VictimBlockedInWrite() {
    int queued = 0;
    if (::ioctl(victim_pipe_, FIONREAD, &queued) != 0 || queued == 0) return false;
    return ReadFile(absl::StrCat("/proc/", consumers_[kVictim].pid(), "/wchan"))
               .find("pipe_write") != std::string::npos;
  }

  // The complete lines queued in the victim's pipe, read without taking them out: tee(2) copies
  // them into a scratch pipe as large as the victim's.
  std::vector<Printed> PeekVictim() {
    int scratch[2];
    if (::pipe2(scratch, O_CLOEXEC | O_NONBLOCK) != 0) return {};
    ::fcntl(scratch[1], F_SETPIPE_SZ, ::fcntl(victim_pipe_, F_GETPIPE_SZ));
    std::string text;
    const ssize_t copied = ::tee(victim_pipe_, scratch[1], SIZE_MAX, SPLICE_F_NONBLOCK);
    ::close(scratch[1]);
    char buf[4096];
    for (int i = 0; i < 1000 && copied > 0; ++i) {  // bounded: a pipe holds little
      const ssize_t n = ::read(scratch[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    ::close(scratch[0]);
    const std::string path = dir_.Sub("victim-peek");
    std::ofstream(path) << text;
    return ReadPrinted(path, nullptr);
  }

  // Writes records key "k-<i>", value "v-<i>" for i in [from, to) to a file for `runnel
  // produce --key-separator :` (keys spread the records over the partitions); its path.
  std::string WriteWave(int from, int to) {
    const std::string path = dir_.Sub(absl::StrCat("wave-", from, "-", to));
    std::ofstream out(path);
    for (int i = from; i < to; ++i) out << "k-" << i << ":v-" << i << "\n";
    for (int i = from; i < to; ++i) produced_.insert(absl::StrCat("v-", i));
    return path;
  }

  std::vector<std::string> ProduceArgs() const {
    return {Bin(), "--brokers", broker_->address(), "produce", kTopic, "--key-separator", ":"};
  }

  // Whether the consumers together printed every produced value and the group committed every
  // partition up to its end.
  bool AllConsumedAndCommitted() {
    DrainVictim();
    std::set<std::string> seen;
    for (int i = 0; i < kConsumers; ++i) {
      for (Printed& p : ReadPrinted(Out(i), nullptr)) seen.insert(std::move(p.value));
    }
    for (const std::string& v : produced_) {
      if (!seen.contains(v)) return false;
    }
    const std::optional<GroupView> view = Describe(*admin_);
    if (!view.has_value() || view->end.size() != kPartitions) return false;
    for (const auto& [p, end] : view->end) {
      if (view->committed.at(p) != end) return false;
    }
    return true;
  }

  // The consumers' stderr and the broker's output, for failure messages.
  std::string Diagnostics() {
    std::string out;
    for (int i = 0; i < kConsumers; ++i) {
      absl::StrAppend(&out, "consumer ", i, " stderr:\n", ReadFile(Err(i)), "\n");
    }
    const std::optional<GroupView> view = Describe(*admin_);
    if (view.has_value()) absl::StrAppend(&out, "group:\n", Show(*view));
    absl::StrAppend(&out, "broker:\n", broker_->output());
    return out;
  }

  std::set<std::string> produced_;
  int victim_pipe_ = -1;  // read end of the victim's stdout
  // Members of the fixture outlive these: the consumers are SIGKILLed before the broker goes.
  ChildProcess consumers_[kConsumers];
};

TEST_F(ConsumerGroupE2eTest, KilledMemberPartitionsMoveAndNothingIsLost) {
  const auto test_start = Clock::now();
  ASSERT_EQ(RunRunnel("--brokers " + broker_->address() + " topic create " + kTopic +
                      " --partitions " + std::to_string(kPartitions))
                .exit_code,
            0);
  for (int i = 0; i < kConsumers; ++i) ASSERT_TRUE(StartConsumer(i));

  // 1. Three members, two partitions each.
  std::optional<GroupView> view;
  ASSERT_TRUE(WaitFor(
      [&] {
        view = Describe(*admin_);
        return view.has_value() && Balanced(*view, kConsumers);
      },
      milliseconds(30000)))
      << Diagnostics();

  // 2. A first wave, printed in full; each process printed exactly the partitions of one member.
  const std::string wave1 = WriteWave(0, 3000);
  auto produced = RunCommand(Bin() + " --brokers " + broker_->address() + " produce " + kTopic +
                             " --key-separator : < " + wave1);
  ASSERT_EQ(produced.exit_code, 0) << produced.out;
  ASSERT_TRUE(WaitFor([&] { return AllConsumedAndCommitted(); }, milliseconds(30000)))
      << Diagnostics();
  view = Describe(*admin_);
  ASSERT_TRUE(view.has_value());
  ASSERT_TRUE(Balanced(*view, kConsumers)) << Show(*view);  // nobody expired meanwhile
  std::string member_of[kConsumers];
  std::set<std::string> members_seen;
  for (int i = 0; i < kConsumers; ++i) {
    std::set<int32_t> partitions;
    for (const Printed& p : ReadPrinted(Out(i), nullptr)) partitions.insert(p.partition);
    ASSERT_EQ(partitions.size(), 2u) << "consumer " << i;
    member_of[i] = view->owner.at(*partitions.begin());
    EXPECT_EQ(view->members.at(member_of[i]), partitions)
        << "consumer " << i << " printed partitions its member does not own\n"
        << Show(*view);
    members_seen.insert(member_of[i]);
  }
  ASSERT_EQ(members_seen.size(), 3u) << Show(*view);

  // 3. Consumer 0 is killed with a batch printed in part and not committed: its pipe shrinks to
  //    one page and the test stops reading it during a second wave, so the process blocks in
  //    the middle of writing a batch. Its committed offsets then are final (it commits a batch
  //    only after writing all of it); SIGKILL; what it wrote to the pipe counts as printed.
  const std::string victim_member = member_of[kVictim];
  const std::set<int32_t> victim_partitions = view->members.at(victim_member);
  ASSERT_TRUE(DrainVictim());
  ASSERT_GT(::fcntl(victim_pipe_, F_SETPIPE_SZ, 4096), 0);
  ChildProcess producer;
  ASSERT_TRUE(producer.Start(ProduceArgs(), WriteWave(3000, 9000), dir_.Sub("produce-2.out"),
                             dir_.Sub("produce-2.err")));
  // The victim may block with only committed batches in the pipe (its next write did not fit);
  // then the test lets that much through and waits for the next block, until the pipe holds
  // records past the committed offsets: a batch printed in part.
  // If every batch it got fitted the pipe whole (a slow machine fetches small batches), it may
  // catch up with the wave before that happens: then another wave gives it more to print.
  int next_value = 9000;
  const auto victim_caught_up = [&] {
    if (producer.Running()) return false;
    const std::optional<GroupView> now = Describe(*admin_);
    if (!now.has_value()) return false;
    for (int32_t p : victim_partitions) {
      if (now->committed.at(p) != now->end.at(p)) return false;
    }
    return true;
  };
  std::optional<GroupView> at_kill;
  std::map<int32_t, int64_t> committed_at_kill;
  bool half_printed = false;
  for (int round = 0; round < 100 && !half_printed; ++round) {
    int polls = 0;
    bool blocked = false;
    ASSERT_TRUE(WaitFor(
        [&] {
          blocked = VictimBlockedInWrite();
          return blocked || (++polls % 20 == 0 && victim_caught_up());
        },
        milliseconds(20000), milliseconds(5)))
        << "consumer 0 neither blocked writing its output nor caught up (round " << round << ")\n"
        << Diagnostics();
    if (!blocked) {
      produced = RunCommand(Bin() + " --brokers " + broker_->address() + " produce " + kTopic +
                            " --key-separator : < " + WriteWave(next_value, next_value + 3000));
      ASSERT_EQ(produced.exit_code, 0) << produced.out;
      next_value += 3000;
      continue;
    }
    at_kill = Describe(*admin_);
    ASSERT_TRUE(at_kill.has_value());
    for (int32_t p : victim_partitions) {
      ASSERT_EQ(at_kill->owner.at(p), victim_member) << Show(*at_kill);
      committed_at_kill[p] = at_kill->committed.at(p);
    }
    for (const Printed& p : PeekVictim()) {
      if (victim_partitions.contains(p.partition) &&
          p.offset >= committed_at_kill.at(p.partition)) {
        half_printed = true;
      }
    }
    if (!half_printed) {
      ASSERT_TRUE(DrainVictim());
    }
  }
  ASSERT_TRUE(half_printed) << "consumer 0 never blocked in the middle of a batch";
  const std::optional<int> killed = consumers_[kVictim].SignalAndWait(SIGKILL, milliseconds(5000));
  const auto kill_time = Clock::now();
  ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL)
      << DescribeStatus(killed);
  EXPECT_FALSE(DrainVictim());  // at end of file: everything it printed is in its output file

  // 4. Its two partitions go to the two survivors, three each, once its session expires.
  ASSERT_TRUE(WaitFor(
      [&] {
        view = Describe(*admin_);
        return view.has_value() && Balanced(*view, kConsumers - 1) &&
               !view->members.contains(victim_member);
      },
      milliseconds(kSessionTimeoutMs + kReassignSlackMs), milliseconds(20)))
      << Diagnostics();
  const int64_t reassign_ms =
      std::chrono::duration_cast<milliseconds>(Clock::now() - kill_time).count();
  std::cout << "[ measured ] killed member's partitions reassigned " << reassign_ms
            << " ms after SIGKILL (session timeout " << kSessionTimeoutMs << " ms)\n";
  for (int i = 0; i < kConsumers; ++i) {
    if (i == kVictim) continue;
    EXPECT_EQ(view->members.count(member_of[i]), 1u) << "survivor " << i << " lost its membership";
  }

  const std::optional<int> producer_status = producer.SignalAndWait(0, milliseconds(20000));
  ASSERT_TRUE(producer_status.has_value() && WIFEXITED(*producer_status) &&
              WEXITSTATUS(*producer_status) == 0)
      << DescribeStatus(producer_status) << ": " << ReadFile(dir_.Sub("produce-2.err"));

  // 5. A third wave after the move; the survivors print everything that is left.
  produced = RunCommand(Bin() + " --brokers " + broker_->address() + " produce " + kTopic +
                        " --key-separator : < " + WriteWave(next_value, next_value + 1000));
  ASSERT_EQ(produced.exit_code, 0) << produced.out;
  ASSERT_TRUE(WaitFor([&] { return AllConsumedAndCommitted(); }, milliseconds(30000)))
      << Diagnostics();
  for (int i = 0; i < kConsumers; ++i) {
    if (i == kVictim) continue;
    ASSERT_TRUE(consumers_[i].Running()) << "survivor " << i << " exited\n" << Diagnostics();
  }
  view = Describe(*admin_);
  ASSERT_TRUE(view.has_value());

  // 6. Every produced record was printed, nothing else was, and each (partition, offset) holds
  //    one value. Duplicates — a (partition, offset) printed by two processes — are only records
  //    the killed process printed at or past what it had committed, and at most one batch.
  std::map<std::pair<int32_t, int64_t>, std::string> value_at;
  std::map<std::pair<int32_t, int64_t>, std::set<int>> printed_by;
  std::set<std::string> values;
  for (int i = 0; i < kConsumers; ++i) {
    std::vector<std::string> bad;
    std::set<std::pair<int32_t, int64_t>> own;
    for (const Printed& p : ReadPrinted(Out(i), &bad)) {
      const std::pair<int32_t, int64_t> at = {p.partition, p.offset};
      EXPECT_TRUE(own.insert(at).second)
          << "consumer " << i << " printed p" << p.partition << "@" << p.offset << " twice";
      EXPECT_TRUE(produced_.contains(p.value)) << "consumer " << i << " printed " << p.value;
      auto [it, inserted] = value_at.try_emplace(at, p.value);
      EXPECT_EQ(it->second, p.value) << "p" << p.partition << "@" << p.offset;
      printed_by[at].insert(i);
      values.insert(p.value);
    }
    EXPECT_TRUE(bad.empty()) << "consumer " << i << " printed " << bad.size()
                             << " malformed lines, the first: " << bad.front();
  }
  EXPECT_EQ(values, produced_);
  EXPECT_EQ(value_at.size(), produced_.size());
  for (const auto& [p, end] : view->end) {
    int64_t count = 0;
    for (auto it = value_at.lower_bound({p, 0}); it != value_at.end() && it->first.first == p;
         ++it) {
      EXPECT_LT(it->first.second, end);
      ++count;
    }
    EXPECT_EQ(count, end) << "p" << p << ": offsets printed are not exactly 0.." << end - 1;
  }

  int64_t uncommitted_at_kill = 0;  // printed by the killed process at or past its commit
  for (const auto& [at, by] : printed_by) {
    if (by.contains(kVictim) && victim_partitions.contains(at.first) &&
        at.second >= committed_at_kill.at(at.first)) {
      ++uncommitted_at_kill;
    }
  }
  int64_t duplicates = 0;
  for (const auto& [at, by] : printed_by) {
    if (by.size() < 2) continue;
    ++duplicates;
    EXPECT_EQ(by.size(), 2u) << "p" << at.first << "@" << at.second;
    EXPECT_TRUE(by.contains(kVictim) && victim_partitions.contains(at.first))
        << "p" << at.first << "@" << at.second
        << " printed twice, but not on a partition of the killed process";
    if (victim_partitions.contains(at.first)) {
      EXPECT_GE(at.second, committed_at_kill.at(at.first))
          << "p" << at.first << " re-delivered from before the killed member's commit";
    }
  }
  std::cout << "[ measured ] " << duplicates << " duplicate(s); the killed process had "
            << uncommitted_at_kill << " printed record(s) at or past its committed offsets";
  for (const auto& [p, offset] : committed_at_kill) std::cout << " p" << p << "=" << offset;
  std::cout << "\n";
  // The survivor that took over a partition started at the committed offset, so it printed again
  // exactly what the killed process had printed past it.
  EXPECT_EQ(duplicates, uncommitted_at_kill);
  EXPECT_LE(duplicates, kMaxPollRecords);
  EXPECT_GT(uncommitted_at_kill, 0) << "the killed process had no batch half printed: the test "
                                       "did not exercise what it is for";

  // 7. SIGTERM ends the survivors cleanly: they commit and leave the group before exiting, so
  // the group has no members at once, not only after their sessions time out.
  for (int i = 0; i < kConsumers; ++i) {
    if (i == kVictim) continue;
    const std::optional<int> status = consumers_[i].SignalAndWait(SIGTERM, milliseconds(5000));
    ASSERT_TRUE(status.has_value()) << "survivor " << i << " ignored SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "survivor " << i << ": " << DescribeStatus(status) << "\n"
        << ReadFile(Err(i));
    std::cout << "[ measured ] survivor " << i << " after SIGTERM: " << DescribeStatus(status)
              << "\n";
  }
  const auto term_time = Clock::now();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto groups = admin_->ListGroups();
        if (!groups.ok()) return false;
        for (const client::GroupListing& g : *groups) {
          if (g.group_id == kGroup && g.members != 0) return false;
        }
        return true;
      },
      milliseconds(kSessionTimeoutMs / 3), milliseconds(20)))
      << Diagnostics();
  std::cout << "[ measured ] group without members "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - term_time).count()
            << " ms after the survivors ended\n";
  std::cout << "[ measured ] test body "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - test_start).count()
            << " ms\n";
}

}  // namespace
}  // namespace runnel
