// The wordcount example as a process against a cluster of three real runneld processes in which
// every topic has three replicas — the application's repartition and changelog topics too: the
// runtime creates them with the brokers' default.replication.factor. The broker leading the most
// of the application's partitions (its group's coordinator counted as one more) is SIGKILLed
// mid-stream and restarted later; the final count of every word is exact. Only a crash of the
// application may process records twice (it is at-least-once); a broker's does not, since every
// producer (the test's and the application's) is idempotent with acks=all and the group's
// committed offsets live on a majority of the offsets partition's replicas.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"
#include "tests/streams/streams_e2e_util.h"

namespace runnel::testing {
namespace {

using std::chrono::milliseconds;
using storage::testing::TempDir;

constexpr char kApp[] = "wc";
constexpr int32_t kPartitions = 3;

class StreamsClusterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, 3)) << cluster_.node(1).output();
    brokers_ = cluster_.BrokerList();
    auto admin = client::Admin::Create({.bootstrap_servers = brokers_, .request_timeout_ms = 3000});
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  // The test's producers and consumers: a dead leader's stream is given up after 3 s.
  client::Properties Clients() const {
    return {{"bootstrap.servers", brokers_}, {"request.timeout.ms", "3000"}};
  }

  // Per broker, how many partitions of `topics` it leads, once the brokers `via` (the live ones)
  // agree on a leader among themselves.
  std::map<int, int> Leaderships(const std::vector<std::string>& topics,
                                 const std::vector<int>& via) {
    std::map<int, int> led;
    for (const std::string& topic : topics) {
      const int32_t partitions = topic == "__consumer_offsets" ? 1 : kPartitions;
      for (int32_t p = 0; p < partitions; ++p) {
        const int leader = cluster_.WaitForLeader(topic, p, via, via);
        EXPECT_GT(leader, 0) << "no leader for " << topic << "-" << p;
        ++led[leader];
      }
    }
    return led;
  }

  std::string Log() { return ReadFile(dir_.Sub("wc.log")); }

  TempDir dir_;
  // One offsets partition: its leader is the coordinator of every group.
  ClusterProcesses cluster_{
      dir_.path(),
      3,
      {"--default-replication-factor", "3", "--offsets-topic-partitions", "1",
       "--group-session-timeout-ms", "3000", "--group-heartbeat-interval-ms", "100"}};
  std::string brokers_;
  std::unique_ptr<client::Admin> admin_;
};

TEST_F(StreamsClusterE2eTest, WordCountIsExactThroughALeadersKillAndRestart) {
  for (const char* topic : {"lines", "word-counts"}) {
    ASSERT_TRUE(admin_->CreateTopic({topic, kPartitions, 3, {}}).ok()) << topic;
  }
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, brokers_, "wordcount", kApp, dir_.Sub("state"), dir_.Sub("wc.log"),
                       {"--input", "lines", "--output", "word-counts", "--threads", "2"}));
  std::map<std::string, int64_t> expected;
  const std::vector<Rec> lines = WordLines(6000, 17, &expected);
  const std::vector<Rec> first(lines.begin(), lines.begin() + 2000);
  Produce(Clients(), "lines", first);
  // The application runs: its internal topics exist, with three replicas each, and counts come out.
  const std::vector<std::string> internal = {absl::StrCat(kApp, "-word-counts-repartition"),
                                             absl::StrCat(kApp, "-word-counts-changelog")};
  ASSERT_TRUE(WaitFor([&] { return !ReadAll(*admin_, Clients(), "word-counts").empty(); },
                      milliseconds(30000)))
      << Log();
  for (const std::string& topic : internal) {
    auto d = admin_->DescribeTopic(topic);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_EQ(d->partitions.size(), static_cast<size_t>(kPartitions)) << topic;
    for (const client::PartitionInfo& p : d->partitions) {
      EXPECT_EQ(p.replicas.size(), 3u) << topic << "-" << p.partition;
    }
  }

  // The rest goes in 200 lines every 50 ms while the busiest leader is killed.
  std::map<int, int> led = Leaderships(
      {"lines", "word-counts", internal[0], internal[1], "__consumer_offsets"}, {1, 2, 3});
  // The group's coordinator leads the one offsets partition; it goes first among equals.
  const int coordinator = cluster_.WaitForLeader("__consumer_offsets", 0, {1, 2, 3});
  int victim = 0;
  for (int id = 1; id <= 3; ++id) {
    if (victim == 0 || led[id] > led[victim] || (led[id] == led[victim] && id == coordinator)) {
      victim = id;
    }
  }
  std::atomic<bool> producing{true};
  std::thread paced([&] {
    for (size_t from = first.size(); from < lines.size(); from += 200) {
      const size_t to = std::min(lines.size(), from + 200);
      Produce(Clients(), "lines", std::vector<Rec>(lines.begin() + from, lines.begin() + to));
      std::this_thread::sleep_for(milliseconds(50));
    }
    producing = false;
  });
  std::this_thread::sleep_for(milliseconds(300));
  cluster_.node(victim).Kill();
  std::cout << "[ measured ] killed broker " << victim << ", leader of " << led[victim]
            << " of the application's " << 4 * kPartitions + 1 << " partitions"
            << (victim == coordinator ? ", the group's coordinator" : "")
            << (producing ? "; input still coming" : "; input complete (the kill came late)")
            << "\n";
  std::vector<int> survivors;
  for (int id = 1; id <= 3; ++id) {
    if (id != victim) survivors.push_back(id);
  }
  // Every partition the victim led gets a leader among the survivors.
  Leaderships({"lines", "word-counts", internal[0], internal[1], "__consumer_offsets"}, survivors);
  paced.join();
  ASSERT_TRUE(cluster_.Start(victim));

  ExpectCounts(*admin_, Clients(), expected, [&] { return Log(); });
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(15000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << DescribeStatus(status) << "\n"
      << Log();
}

}  // namespace
}  // namespace runnel::testing
