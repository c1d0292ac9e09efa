// The example applications' e2e fixture (streams/examples/ as processes against a real runneld):
// StreamsE2eTest starts a broker and the examples, and the helpers read what they logged and
// compare output records. Shared by streams_e2e_test.cc, join_examples_e2e_test.cc and
// sessions_e2e_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/group_broker_fixture.h"
#include "tests/storage/storage_test_util.h"
#include "tests/streams/streams_e2e_util.h"

namespace runnel::streams_e2e {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using testing::BrokerProcess;
using testing::ChildProcess;
using testing::Out;
using testing::ReadFile;
using testing::Rec;
using testing::WaitFor;
using testing::WordLines;

constexpr int64_t kMinute = 60000;

// Sums "task T created, N records restored" over an application's log.
inline int64_t RestoredRecords(const std::string& log) {
  int64_t sum = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(" created, ");
    if (at == absl::string_view::npos) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(at + 10), ' ');
    int64_t n = 0;
    if (!words.empty() && absl::SimpleAtoi(words[0], &n)) sum += n;
  }
  return sum;
}

class StreamsE2eTest : public testing::GroupBrokerFixture {
 protected:
  void Produce(const std::string& topic, const std::vector<Rec>& records) {
    testing::Produce({{"bootstrap.servers", broker_->address()}}, topic, records);
  }

  // Everything in `topic` now, in offset order per partition.
  std::vector<Out> ReadAll(const std::string& topic) {
    return testing::ReadAll(*admin_, {{"bootstrap.servers", broker_->address()}}, topic);
  }

  // Whether the group `app` has committed every partition of `topics` up to its end.
  bool CaughtUp(const std::string& app, const std::set<std::string>& topics) {
    auto rows = admin_->DescribeGroup(app);
    if (!rows.ok()) return false;
    std::set<std::string> seen;
    for (const client::GroupPartition& row : *rows) {
      if (!topics.contains(row.topic)) continue;
      seen.insert(row.topic);
      if (row.end_offset > 0 && row.committed != row.end_offset) return false;
    }
    return seen == topics;
  }

  // Partitions owned per member of group `app` (members that own nothing are not listed).
  std::map<std::string, std::set<std::string>> Owners(const std::string& app) {
    std::map<std::string, std::set<std::string>> out;
    auto rows = admin_->DescribeGroup(app);
    if (!rows.ok()) return out;
    for (const client::GroupPartition& row : *rows) {
      if (!row.member_id.empty()) {
        out[row.member_id].insert(absl::StrCat(row.topic, "-", row.partition));
      }
    }
    return out;
  }

  // Starts build/bin/`program` with the common flags and `args`; stderr to <dir>/<log>.
  bool StartApp(ChildProcess& child, const std::string& program, const std::string& app,
                const std::string& state_dir, const std::string& log,
                const std::vector<std::string>& args) {
    return testing::StartApp(child, broker_->address(), program, app, dir_.Sub(state_dir),
                             dir_.Sub(log), args);
  }

  std::string Log(const std::string& log) { return ReadFile(dir_.Sub(log)); }

  // Tasks moving between stream threads with their state (docs/BENCHMARKS.md once listed
  // search-click-join not finishing and sessions emitting fewer sessions on two threads; the
  // bench's input was being deleted by retention.ms, but the hand-over itself was not tested):
  // instance A of `program` with two threads and `args` runs parts[0] of the input (`produce(0)`)
  // until group `app` has committed `topics` to their end; instance B, two threads too, joins
  // and takes tasks over while parts 1 to 10 go in 100 ms apart; A closes (a clean hand-over: its
  // tasks commit and close) and B takes every task, restoring the stores from the changelogs;
  // parts 11 to 20 go in. Returns B's log once the group has caught up and `enough()`; B is
  // stopped and must exit 0. Within one instance the second thread takes its tasks before the
  // first has processed anything, which is why two instances.
  std::string RunHandedOverBetweenThreads(const std::string& program, const std::string& app,
                                          std::vector<std::string> args,
                                          const std::set<std::string>& topics,
                                          const std::function<void(int)>& produce,
                                          const std::function<bool()>& enough) {
    args.insert(args.end(), {"--threads", "2"});
    produce(0);
    ChildProcess a, b;
    EXPECT_TRUE(StartApp(a, program, app, "state-a", "a.log", args));
    EXPECT_TRUE(WaitFor([&] { return CaughtUp(app, topics); }, milliseconds(30000)))
        << Log("a.log");
    EXPECT_TRUE(StartApp(b, program, app, "state-b", "b.log", args));
    for (int part = 1; part <= 10; ++part) {
      produce(part);
      std::this_thread::sleep_for(milliseconds(100));
    }
    const std::optional<int> a_status = a.SignalAndWait(SIGTERM, milliseconds(10000));
    EXPECT_TRUE(a_status.has_value() && WIFEXITED(*a_status) && WEXITSTATUS(*a_status) == 0)
        << testing::DescribeStatus(a_status) << "\n"
        << Log("a.log");
    for (int part = 11; part <= 20; ++part) {
      produce(part);
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_TRUE(WaitFor([&] { return CaughtUp(app, topics) && enough(); }, milliseconds(30000),
                        milliseconds(300)))
        << "A:\n"
        << Log("a.log") << "B:\n"
        << Log("b.log");
    const std::string b_log = Log("b.log");
    const std::optional<int> b_status = b.SignalAndWait(SIGTERM, milliseconds(10000));
    EXPECT_TRUE(b_status.has_value() && WIFEXITED(*b_status) && WEXITSTATUS(*b_status) == 0)
        << testing::DescribeStatus(b_status) << "\n"
        << Log("b.log");
    // The hand-over carried state: some task B created restored records from a changelog.
    EXPECT_GT(RestoredRecords(b_log), 0) << b_log;
    return b_log;
  }

  // Waits (up to 60 s) until the latest count per word in "word-counts" is `expected`, checking
  // that each word's counts only rise; `log` is shown when they do not get there.
  void ExpectCounts(const std::map<std::string, int64_t>& expected, const std::string& log) {
    testing::ExpectCounts(*admin_, {{"bootstrap.servers", broker_->address()}}, expected,
                          [&] { return Log(log); });
  }
};

// The records an application had read but not committed when it was killed: an upper bound on
// what it processes twice.
inline int64_t Uncommitted(client::Admin& admin, const std::string& app, const std::string& topic) {
  auto rows = admin.DescribeGroup(app);
  if (!rows.ok()) return 0;
  int64_t n = 0;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic == topic) n += row.end_offset - std::max<int64_t>(row.committed, 0);
  }
  return n;
}

// The record count of the last "<app>: processed N, tasks ..." progress line of a log.
inline int64_t LastProcessed(const std::string& log) {
  int64_t last = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(": processed ");
    if (at == absl::string_view::npos) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(at + 12), ',');
    if (!words.empty()) (void)absl::SimpleAtoi(words[0], &last);
  }
  return last;
}

// The JSON text the README says these examples embed a value as, for the two shapes the tests
// produce: a JSON object written compactly stays as it is, any other text becomes a JSON string
// (the tests' plain values need no escaping).
inline std::string Embedded(const std::string& value) {
  return value.starts_with("{") ? value : absl::StrCat("\"", value, "\"");
}

// An output record as compared: key, value, timestamp.
using KeyValueTs = std::tuple<std::string, std::string, int64_t>;

inline std::multiset<KeyValueTs> AsMultiset(const std::vector<Out>& output) {
  std::multiset<KeyValueTs> out;
  for (const Out& o : output) out.emplace(o.key, o.value, o.timestamp);
  return out;
}

// Lists the differences between two multisets of output records (at most 20).
inline std::string Diff(const std::multiset<KeyValueTs>& got,
                        const std::multiset<KeyValueTs>& want) {
  std::string out;
  int shown = 0;
  for (const KeyValueTs& w : want) {
    if (got.count(w) != want.count(w) && shown++ < 20) {
      absl::StrAppend(&out, "  want x", want.count(w), " got x", got.count(w), ": ", std::get<0>(w),
                      " ", std::get<1>(w), " @", std::get<2>(w), "\n");
    }
  }
  for (const KeyValueTs& g : got) {
    if (!want.contains(g) && shown++ < 20) {
      absl::StrAppend(&out, "  unexpected: ", std::get<0>(g), " ", std::get<1>(g), " @",
                      std::get<2>(g), "\n");
    }
  }
  return out;
}

}  // namespace runnel::streams_e2e
