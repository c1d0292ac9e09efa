// group_bench: consumer-group figures of docs/BENCHMARKS.md against a live broker.
//
//   group_bench --brokers B --runnel PATH --scenario join|die --members N [--partitions P]
//     Members are `runnel consume TOPIC --group G` processes on a fresh P-partition topic
//     (default 1,000). join: N-1 members settle, then the N-th starts; die: N members settle,
//     then one is killed with SIGKILL. The clock runs from the start (or the kill) until the
//     coordinator reports the group Stable with the new member count and every partition owned
//     (DescribeGroups, polled every 10 ms). A death is only noticed when the member's session
//     times out, so that scenario's figure includes the broker's --group-session-timeout-ms.
//   group_bench --brokers B --scenario commit [--committers C] [--seconds S]
//     C threads, each a consumer of its own group on one partition, commit synchronously in a
//     loop (every commit is synced to __consumer_offsets before it is answered) for S seconds.
//
// Progress on stderr each second; the result is one JSON line on stdout.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "common/status_macros.h"
#include "runnel/v1/groups.grpc.pb.h"

extern char** environ;

namespace runnel {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string brokers = "127.0.0.1:7070";
  std::string runnel = "build-release/bin/runnel";
  std::string scenario = "join";
  int32_t members = 10;
  int32_t partitions = 1000;
  int32_t committers = 1;
  double seconds = 10;
};

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One `runnel consume --group` process; killed (SIGKILL) and reaped when destroyed.
class MemberProcess {
 public:
  MemberProcess(const Flags& f, const std::string& topic, const std::string& group) {
    std::vector<std::string> args = {f.runnel, "--brokers", f.brokers, "consume",
                                     topic,    "--group",   group};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, f.runnel.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~MemberProcess() { Kill(); }
  MemberProcess(const MemberProcess&) = delete;
  MemberProcess& operator=(const MemberProcess&) = delete;

  bool ok() const { return pid_ > 0; }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

struct GroupView {
  std::string state;
  int members = 0;
  int owned = 0;  // partitions the coordinator has assigned or is revoking
};

GroupView Describe(v1::Groups::Stub& stub, const std::string& group) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::DescribeGroupsRequest request;
  request.add_group_ids(group);
  v1::DescribeGroupsResponse response;
  GroupView view;
  if (!stub.DescribeGroups(&context, request, &response).ok() || response.groups_size() != 1) {
    return view;
  }
  const v1::GroupDescription& g = response.groups(0);
  view.state = g.state();
  view.members = g.members_size();
  for (const v1::GroupMember& m : g.members()) {
    for (const v1::TopicPartitions& t : m.assignment()) view.owned += t.partitions_size();
  }
  return view;
}

// Seconds until the group is Stable with `members` members owning all `partitions`; -1 after
// `limit_s`. Progress on stderr each second.
double WaitSettled(v1::Groups::Stub& stub, const std::string& group, int members, int partitions,
                   Clock::time_point start, double limit_s) {
  auto next_report = Clock::now() + std::chrono::seconds(1);
  while (Since(start) < limit_s) {
    const GroupView v = Describe(stub, group);
    if (v.state == "Stable" && v.members == members && v.owned == partitions) return Since(start);
    if (Clock::now() >= next_report) {
      std::cerr << absl::StrFormat("  %.1f s: %s, %d members, %d/%d partitions owned\n",
                                   Since(start), v.state, v.members, v.owned, partitions);
      next_report += std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string UniqueSuffix() {
  std::random_device random;
  return absl::StrFormat("%08x", random());
}

// An Admin client, after it created `topic` with `partitions` partitions.
absl::StatusOr<std::unique_ptr<client::Admin>> CreateTopic(const Flags& f, const std::string& topic,
                                                           int32_t partitions) {
  ASSIGN_OR_RETURN(auto admin, client::Admin::Create({.bootstrap_servers = f.brokers}));
  RETURN_IF_ERROR(admin->CreateTopic({topic, partitions, 0, {}}));
  return admin;
}

int Rebalance(const Flags& f) {
  const std::string topic = absl::StrCat("group-bench-", UniqueSuffix());
  const std::string group = topic;
  auto admin = CreateTopic(f, topic, f.partitions);
  if (!admin.ok()) {
    std::cerr << admin.status() << "\n";
    return 1;
  }
  auto channel = grpc::CreateChannel(f.brokers, grpc::InsecureChannelCredentials());
  auto stub = v1::Groups::NewStub(channel);
  const bool join = f.scenario == "join";
  const int before = join ? f.members - 1 : f.members;
  const int after = join ? f.members : f.members - 1;
  std::vector<std::unique_ptr<MemberProcess>> members;
  for (int i = 0; i < before; ++i) {
    members.push_back(std::make_unique<MemberProcess>(f, topic, group));
    if (!members.back()->ok()) {
      std::cerr << "cannot start " << f.runnel << "\n";
      return 1;
    }
  }
  std::cerr << "waiting for " << before << " members to settle\n";
  if (WaitSettled(*stub, group, before, f.partitions, Clock::now(), 600) < 0) {
    std::cerr << "the group did not settle within 600 s\n";
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the members' polls settle too
  const auto start = Clock::now();
  if (join) {
    members.push_back(std::make_unique<MemberProcess>(f, topic, group));
  } else {
    members.front()->Kill();
  }
  std::cerr << (join ? "member joined" : "member killed") << "; waiting\n";
  const double seconds = WaitSettled(*stub, group, after, f.partitions, start, 600);
  members.clear();
  (void)(*admin)->DeleteTopic(topic);
  if (seconds < 0) {
    std::cerr << "the group did not settle within 600 s\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "{\"scenario\":\"%s\",\"members_before\":%d,\"members_after\":%d,\"partitions\":%d,"
      "\"seconds\":%.3f}\n",
      f.scenario, before, after, f.partitions, seconds);
  return 0;
}

int Commits(const Flags& f) {
  const std::string topic = absl::StrCat("commit-bench-", UniqueSuffix());
  auto admin = CreateTopic(f, topic, 1);
  if (!admin.ok()) {
    std::cerr << admin.status() << "\n";
    return 1;
  }
  std::atomic<int64_t> commits{0}, errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < f.committers; ++i) {
    threads.emplace_back([&, i] {
      auto consumer = client::Consumer::Create(client::Properties{
          {"bootstrap.servers", f.brokers}, {"group.id", absl::StrCat(topic, "-", i)}});
      if (!consumer.ok()) {
        ++errors;
        return;
      }
      const client::TopicPartition tp{topic, 0};
      if (!(*consumer)->Assign({tp}).ok()) {
        ++errors;
        return;
      }
      for (int64_t offset = 0; !stop; ++offset) {
        if ((*consumer)->Commit({{tp, offset}}).ok()) {
          ++commits;
        } else {
          ++errors;
        }
      }
      (*consumer)->Close();
    });
  }
  const auto start = Clock::now();
  while (Since(start) < f.seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::cerr << absl::StrFormat("  %.0f s: %d commits\n", Since(start), commits.load());
  }
  stop = true;
  const double seconds = Since(start);
  const int64_t total = commits.load();
  for (std::thread& t : threads) t.join();
  (void)(*admin)->DeleteTopic(topic);
  std::cout << absl::StrFormat(
      "{\"scenario\":\"commit\",\"committers\":%d,\"commits\":%d,\"errors\":%d,"
      "\"commits_per_s\":%.0f,\"mean_latency_ms\":%.3f}\n",
      f.committers, total, errors.load(), total / seconds,
      total > 0 ? 1000.0 * seconds * f.committers / total : 0.0);
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace runnel

int main(int argc, char** argv) {
  runnel::Flags f;
  CLI::App app{"consumer-group benchmarks against a live broker"};
  app.add_option("--brokers", f.brokers, "broker address");
  app.add_option("--runnel", f.runnel, "the runnel CLI, started once per member");
  app.add_option("--scenario", f.scenario, "join, die or commit")
      ->check(CLI::IsMember({"join", "die", "commit"}));
  app.add_option("--members", f.members, "group size after a join / before a death")
      ->check(CLI::Range(2, 1000));
  app.add_option("--partitions", f.partitions, "partitions of the topic")
      ->check(CLI::Range(1, 100000));
  app.add_option("--committers", f.committers, "committing threads")->check(CLI::Range(1, 256));
  app.add_option("--seconds", f.seconds, "how long to commit")->check(CLI::Range(0.1, 3600.0));
  CLI11_PARSE(app, argc, argv);
  return f.scenario == "commit" ? runnel::Commits(f) : runnel::Rebalance(f);
}
