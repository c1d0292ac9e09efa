// Consumers sharing a group.id against a real runneld: the coordinator splits partitions between
// subscribed members, moves only what must move when members come and go (revoke before
// assign), lets a static member come back to its partitions, and fences commits of members it
// no longer knows.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/mutex.h"
#include "runnel/v1/groups.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::client {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using Clock = std::chrono::steady_clock;
using Partitions = std::set<TopicPartition>;

// Waits (bounded) until `done` holds; false on timeout.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// A subscribed consumer polling on its own thread, committing after each batch it processed
// (commit-after-process), recording what it consumed and every rebalance callback.
class Member : public RebalanceListener {
 public:
  Member(const std::string& brokers, const std::string& group, const std::string& topic,
         Properties extra = {}) {
    extra["bootstrap.servers"] = brokers;
    extra["group.id"] = group;
    extra["enable.auto.commit"] = "false";
    if (!extra.contains("auto.offset.reset")) extra["auto.offset.reset"] = "earliest";
    auto consumer = Consumer::Create(extra);
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Subscribe({topic}, this).ok());
    thread_ = std::thread([this] { Run(); });
  }
  ~Member() override { Stop(); }

  // Closes the consumer (commit, revoke, leave) and stops the thread.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) override {
    // Commit what was processed before letting go, as a commit-after-process app does.
    EXPECT_TRUE(consumer_->Commit().ok());
    MutexLock lock(&mu_);
    for (const TopicPartition& tp : partitions) {
      owned_.erase(tp);
      revoked_.insert(tp);
    }
    revocations_ += partitions.size();
  }
  void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) override {
    MutexLock lock(&mu_);
    owned_.insert(partitions.begin(), partitions.end());
    ++assignments_;
  }
  void OnPartitionsLost(const std::vector<TopicPartition>& partitions) override {
    MutexLock lock(&mu_);
    for (const TopicPartition& tp : partitions) owned_.erase(tp);
    lost_ += partitions.size();
  }

  Partitions owned() const {
    MutexLock lock(&mu_);
    return owned_;
  }
  Partitions revoked() const {
    MutexLock lock(&mu_);
    return revoked_;
  }
  // Partitions given up so far, counting a partition each time it is revoked.
  size_t revocations() const {
    MutexLock lock(&mu_);
    return revocations_;
  }
  size_t lost() const {
    MutexLock lock(&mu_);
    return lost_;
  }
  std::multiset<std::pair<int32_t, int64_t>> consumed() const {
    MutexLock lock(&mu_);
    return consumed_;
  }
  absl::Status error() const {
    MutexLock lock(&mu_);
    return error_;
  }

 private:
  void Run() {
    const auto deadline = Clock::now() + std::chrono::seconds(120);  // bounded
    while (!stop_ && Clock::now() < deadline) {
      auto records = consumer_->Poll(100);
      if (!records.ok()) {
        MutexLock lock(&mu_);
        error_ = records.status();
        break;
      }
      {
        MutexLock lock(&mu_);
        for (const ConsumerRecord& r : *records) consumed_.insert({r.partition, r.offset});
      }
      if (!records->empty()) {
        EXPECT_TRUE(consumer_->Commit().ok());
      }
    }
    consumer_->Close();
  }

  std::unique_ptr<Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable Mutex mu_;
  Partitions owned_ ABSL_GUARDED_BY(mu_);
  Partitions revoked_ ABSL_GUARDED_BY(mu_);
  size_t revocations_ ABSL_GUARDED_BY(mu_) = 0;
  size_t lost_ ABSL_GUARDED_BY(mu_) = 0;
  int assignments_ ABSL_GUARDED_BY(mu_) = 0;
  std::multiset<std::pair<int32_t, int64_t>> consumed_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

class ConsumerGroupTest : public ::testing::Test {
 protected:
  void StartBroker(int session_timeout_ms = 3000) {
    broker_ = std::make_unique<BrokerProcess>(
        dir_.Sub("data"),
        std::vector<std::string>{"--group-session-timeout-ms", absl::StrCat(session_timeout_ms),
                                 "--group-heartbeat-interval-ms", "100",
                                 "--offsets-topic-partitions", "3"});
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    auto admin = Admin::Create({.bootstrap_servers = broker_->address()});
    ASSERT_TRUE(admin.ok());
    admin_ = std::move(*admin);
  }

  void CreateTopic(const std::string& name, int partitions) {
    const absl::Status created = admin_->CreateTopic({name, partitions, 0, {}});
    ASSERT_TRUE(created.ok()) << created;
  }

  // `per_partition` records into each of the topic's partitions; returns what was written.
  std::set<std::pair<int32_t, int64_t>> Produce(const std::string& topic, int partitions,
                                                int per_partition) {
    auto producer = Producer::Create({{"bootstrap.servers", broker_->address()}});
    EXPECT_TRUE(producer.ok());
    std::set<std::pair<int32_t, int64_t>> written;
    std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
    for (int i = 0; i < per_partition; ++i) {
      for (int p = 0; p < partitions; ++p) {
        ProducerRecord r;
        r.topic = topic;
        r.partition = p;
        r.value = absl::StrCat("v", i);
        acks.push_back((*producer)->Send(std::move(r)));
      }
    }
    for (auto& ack : acks) {
      auto md = ack.get();
      EXPECT_TRUE(md.ok()) << md.status();
      if (md.ok()) written.insert({md->partition, md->offset});
    }
    return written;
  }

  std::string GroupState(const std::string& group) {
    auto groups = admin_->ListGroups();
    if (!groups.ok()) return "error";
    for (const GroupListing& g : *groups) {
      if (g.group_id == group) return absl::StrCat(g.state, "/", g.members);
    }
    return "absent";
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Admin> admin_;
};

size_t Total(const std::vector<Member*>& members) {
  size_t n = 0;
  for (const Member* m : members) n += m->owned().size();
  return n;
}

TEST_F(ConsumerGroupTest, MembersSplitPartitionsAndANewMemberMovesOnlyWhatItTakes) {
  StartBroker();
  CreateTopic("t", 6);
  const auto written = Produce("t", 6, 50);
  Member a(broker_->address(), "g", "t"), b(broker_->address(), "g", "t"),
      c(broker_->address(), "g", "t");
  std::vector<Member*> members{&a, &b, &c};
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GroupState("g") == "Stable/3" && a.owned().size() == 2 && b.owned().size() == 2 &&
               c.owned().size() == 2;
      },
      std::chrono::seconds(20)))
      << GroupState("g") << " " << a.owned().size() << b.owned().size() << c.owned().size();
  const std::vector<Partitions> before{a.owned(), b.owned(), c.owned()};
  const std::vector<size_t> revocations_before{a.revocations(), b.revocations(), c.revocations()};

  Member d(broker_->address(), "g", "t");
  members.push_back(&d);
  ASSERT_TRUE(WaitUntil([&] { return GroupState("g") == "Stable/4" && Total(members) == 6; },
                        std::chrono::seconds(20)))
      << GroupState("g");
  // Uniform and sticky: 6 over 4 is 2,2,1,1; the newcomer takes exactly one partition from one
  // member and the other two are never asked to give anything up.
  ASSERT_EQ(d.owned().size(), 1u);
  const TopicPartition taken = *d.owned().begin();
  int untouched = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t newly_revoked = members[i]->revocations() - revocations_before[i];
    if (newly_revoked == 0) {
      ++untouched;
      EXPECT_EQ(members[i]->owned(), before[i]);
    } else {
      EXPECT_EQ(newly_revoked, 1u);
      EXPECT_TRUE(before[i].contains(taken));
      EXPECT_TRUE(members[i]->revoked().contains(taken));
      Partitions kept = before[i];
      kept.erase(taken);
      EXPECT_EQ(members[i]->owned(), kept);
    }
  }
  EXPECT_EQ(untouched, 2);

  // Everything written was consumed, each record at most twice (a duplicate only for a record
  // processed but not yet committed when its partition moved).
  const auto more = Produce("t", 6, 20);
  std::set<std::pair<int32_t, int64_t>> all(written);
  all.insert(more.begin(), more.end());
  auto consumed = [&] {
    std::multiset<std::pair<int32_t, int64_t>> out;
    for (Member* m : members) {
      auto c = m->consumed();
      out.insert(c.begin(), c.end());
    }
    return out;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto c = consumed();
        return std::set<std::pair<int32_t, int64_t>>(c.begin(), c.end()) == all;
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(consumed().size(), all.size()) << "records consumed twice";
  for (Member* m : members) {
    EXPECT_TRUE(m->error().ok()) << m->error();
    EXPECT_EQ(m->lost(), 0u);
  }
}

TEST_F(ConsumerGroupTest, CloseLeavesAtOnceAndTheOthersTakeOverFromTheCommittedOffsets) {
  StartBroker(/*session_timeout_ms=*/60000);  // a departure must not wait for the session
  CreateTopic("t", 4);
  const auto written = Produce("t", 4, 30);
  auto a = std::make_unique<Member>(broker_->address(), "g", "t");
  Member b(broker_->address(), "g", "t");
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GroupState("g") == "Stable/2" && Total({a.get(), &b}) == 4;
      },
      std::chrono::seconds(20)));
  ASSERT_TRUE(
      WaitUntil([&] { return a->consumed().size() + b.consumed().size() >= written.size(); },
                std::chrono::seconds(20)));
  const auto start = Clock::now();
  a->Stop();
  ASSERT_TRUE(WaitUntil([&] { return b.owned().size() == 4; }, std::chrono::seconds(10)));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  // b resumes a's partitions where a committed: nothing is read twice.
  const auto more = Produce("t", 4, 10);
  ASSERT_TRUE(WaitUntil(
      [&] { return a->consumed().size() + b.consumed().size() >= written.size() + more.size(); },
      std::chrono::seconds(20)));
  auto all = a->consumed();
  const auto from_b = b.consumed();
  all.insert(from_b.begin(), from_b.end());
  EXPECT_EQ(all.size(), written.size() + more.size());
  const std::set<std::pair<int32_t, int64_t>> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), all.size());
}

TEST_F(ConsumerGroupTest, StaticMemberRestartKeepsItsPartitionsAndNobodyElseMoves) {
  StartBroker(/*session_timeout_ms=*/10000);
  CreateTopic("t", 6);
  auto a = std::make_unique<Member>(broker_->address(), "g", "t",
                                    Properties{{"group.instance.id", "a"}});
  Member b(broker_->address(), "g", "t", {{"group.instance.id", "b"}});
  ASSERT_TRUE(WaitUntil(
      [&] {
        return GroupState("g") == "Stable/2" && Total({a.get(), &b}) == 6;
      },
      std::chrono::seconds(20)));
  const Partitions a_before = a->owned(), b_before = b.owned();
  ASSERT_EQ(a_before.size(), 3u);
  // Whoever joined first gave up half its partitions to the other; that is before the restart.
  const size_t b_revocations_before = b.revocations();
  a->Stop();  // leaves with epoch -2: its partitions wait for it
  a.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(b.owned(), b_before);
  Member a2(broker_->address(), "g", "t", {{"group.instance.id", "a"}});
  ASSERT_TRUE(WaitUntil([&] { return a2.owned() == a_before; }, std::chrono::seconds(10)));
  EXPECT_EQ(GroupState("g"), "Stable/2");
  EXPECT_EQ(b.revocations(), b_revocations_before) << "b gave up partitions during a's restart";
  EXPECT_EQ(b.owned(), b_before);
}

// The coordinator writes membership to __consumer_offsets, so a broker restart — clean or
// SIGKILL — leaves every member where it was: nobody is fenced, revoked or loses partitions, and
// consumption carries on from where each member was.
TEST_F(ConsumerGroupTest, BrokerRestartUnderThreeMembersMovesNoPartition) {
  StartBroker(/*session_timeout_ms=*/10000);
  for (const bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "SIGKILL" : "SIGTERM");
    const std::string topic = kill ? "killed" : "stopped";
    CreateTopic(topic, 6);
    std::set<std::pair<int32_t, int64_t>> written = Produce(topic, 6, 50);
    Member a(broker_->address(), topic, topic), b(broker_->address(), topic, topic),
        c(broker_->address(), topic, topic);
    const std::vector<Member*> members = {&a, &b, &c};
    // Everything consumed and committed (so no commit is in flight when the broker goes down).
    auto consumed_all = [&] {
      std::set<std::pair<int32_t, int64_t>> consumed;
      for (const Member* m : members) {
        for (const auto& r : m->consumed()) consumed.insert(r);
      }
      if (consumed != written) return false;
      auto described = admin_->DescribeGroup(topic);
      if (!described.ok() || described->size() != 6) return false;
      for (const GroupPartition& p : *described) {
        if (p.lag != 0) return false;
      }
      return true;
    };
    ASSERT_TRUE(WaitUntil(
        [&] {
          return GroupState(topic) == absl::StrCat("Stable/3") && Total(members) == 6 &&
                 a.owned().size() == 2 && b.owned().size() == 2 && consumed_all();
        },
        std::chrono::seconds(30)))
        << GroupState(topic);
    std::vector<Partitions> owned_before;
    std::vector<size_t> revocations_before;
    for (const Member* m : members) {
      owned_before.push_back(m->owned());
      revocations_before.push_back(m->revocations());
    }

    if (kill) {
      broker_->Kill();
    } else {
      ASSERT_EQ(broker_->Stop(), 0);
    }
    ASSERT_TRUE(broker_->Start(broker_->address())) << broker_->output();
    for (const auto& r : Produce(topic, 6, 50)) written.insert(r);
    ASSERT_TRUE(WaitUntil(consumed_all, std::chrono::seconds(30)))
        << "the members did not consume what was produced after the restart";
    EXPECT_EQ(GroupState(topic), "Stable/3");
    for (size_t i = 0; i < members.size(); ++i) {
      EXPECT_EQ(members[i]->owned(), owned_before[i]) << "member " << i;
      EXPECT_EQ(members[i]->revocations(), revocations_before[i]) << "member " << i << " revoked";
      EXPECT_EQ(members[i]->lost(), 0u) << "member " << i << " lost its partitions";
      EXPECT_TRUE(members[i]->error().ok()) << members[i]->error();
    }
  }
}

TEST_F(ConsumerGroupTest, CommitsOfMembersTheCoordinatorNoLongerKnowsAreRejected) {
  StartBroker(/*session_timeout_ms=*/1000);
  CreateTopic("t", 2);
  auto channel = grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials());
  auto groups = v1::Groups::NewStub(channel);
  auto heartbeat = [&](const std::string& id, int32_t epoch) {
    v1::ConsumerGroupHeartbeatRequest request;
    request.set_group_id("g");
    request.set_member_id(id);
    request.set_member_epoch(epoch);
    request.add_subscribed_topics("t");
    grpc::ClientContext context;
    v1::ConsumerGroupHeartbeatResponse response;
    EXPECT_TRUE(groups->ConsumerGroupHeartbeat(&context, request, &response).ok());
    return response;
  };
  auto commit = [&](const std::string& id, int32_t epoch) {
    v1::CommitOffsetsRequest request;
    request.set_group_id("g");
    request.set_member_id(id);
    request.set_member_epoch(epoch);
    v1::PartitionOffsetCommit* o = request.add_offsets();
    o->set_topic("t");
    o->set_partition(0);
    o->set_offset(0);
    grpc::ClientContext context;
    v1::CommitOffsetsResponse response;
    EXPECT_TRUE(groups->CommitOffsets(&context, request, &response).ok());
    return response.error();
  };
  const auto zombie = heartbeat("", 0);
  ASSERT_EQ(zombie.error().code(), v1::NONE) << zombie.error().message();
  EXPECT_EQ(commit(zombie.member_id(), zombie.member_epoch()).code(), v1::NONE);
  EXPECT_EQ(commit(zombie.member_id(), zombie.member_epoch() + 7).code(), v1::STALE_MEMBER_EPOCH);
  // A non-member may not commit while the group has members; neither may the admin tool.
  EXPECT_EQ(commit("", -1).code(), v1::UNKNOWN_MEMBER_ID);
  const auto reset = admin_->ResetGroupOffsets("g", "t", {});
  ASSERT_FALSE(reset.ok());
  EXPECT_NE(reset.status().message().find("active member"), std::string::npos) << reset.status();

  // The zombie stops heartbeating; a live member keeps the group going.
  const auto live = heartbeat("", 0);
  ASSERT_EQ(live.error().code(), v1::NONE);
  auto live_epoch = live.member_epoch();
  const auto until = Clock::now() + std::chrono::milliseconds(2500);
  while (Clock::now() < until) {  // bounded: 2.5 s of heartbeats every 100 ms
    const auto r = heartbeat(live.member_id(), live_epoch);
    ASSERT_EQ(r.error().code(), v1::NONE) << r.error().message();
    live_epoch = r.member_epoch();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const v1::Error fenced = commit(zombie.member_id(), zombie.member_epoch());
  EXPECT_EQ(fenced.code(), v1::UNKNOWN_MEMBER_ID);
  EXPECT_NE(fenced.message().find(zombie.member_id()), std::string::npos) << fenced.message();
  EXPECT_EQ(heartbeat(zombie.member_id(), zombie.member_epoch()).error().code(),
            v1::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(commit(live.member_id(), live_epoch).code(), v1::NONE);
}

TEST_F(ConsumerGroupTest, AutoOffsetResetAppliesOnlyWithoutACommittedOffset) {
  StartBroker();
  CreateTopic("t", 1);
  Produce("t", 1, 5);
  auto consume = [&](const std::string& group, const std::string& reset) {
    auto consumer = Consumer::Create({{"bootstrap.servers", broker_->address()},
                                      {"group.id", group},
                                      {"auto.offset.reset", reset}});
    EXPECT_TRUE(consumer.ok());
    EXPECT_TRUE((*consumer)->Subscribe({"t"}).ok());
    std::vector<int64_t> offsets;
    absl::Status error;
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < deadline && error.ok()) {
      auto records = (*consumer)->Poll(100);
      if (!records.ok()) {
        error = records.status();
        break;
      }
      for (const auto& r : *records) offsets.push_back(r.offset);
      if ((*consumer)->Assignment().size() == 1 && offsets.size() >= 5) break;
    }
    (*consumer)->Close();
    return std::make_pair(offsets, error);
  };
  auto [earliest, e1] = consume("g-earliest", "earliest");
  EXPECT_TRUE(e1.ok()) << e1;
  EXPECT_EQ(earliest, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  auto [latest, e2] = consume("g-latest", "latest");
  EXPECT_TRUE(e2.ok()) << e2;
  EXPECT_TRUE(latest.empty());
  auto [none, e3] = consume("g-none", "none");
  EXPECT_EQ(e3.code(), absl::StatusCode::kFailedPrecondition) << e3;
  EXPECT_NE(e3.message().find("auto.offset.reset is none"), std::string::npos) << e3;
  // With a committed offset (g-earliest committed 5 on close), reset does not matter.
  Produce("t", 1, 2);
  auto [resumed, e4] = consume("g-earliest", "latest");
  EXPECT_TRUE(e4.ok()) << e4;
  EXPECT_EQ(resumed, (std::vector<int64_t>{5, 6}));
}

TEST_F(ConsumerGroupTest, DescribeShowsOwnersAndLag) {
  StartBroker();
  CreateTopic("t", 2);
  Produce("t", 2, 10);
  auto consumer = Consumer::Create({{"bootstrap.servers", broker_->address()},
                                    {"group.id", "g"},
                                    {"auto.offset.reset", "earliest"},
                                    {"enable.auto.commit", "false"},
                                    {"max.poll.records", "4"}});
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->SubscribePattern("t|u").ok());
  // Read exactly 4 records of partition 0 and commit them.
  std::map<TopicPartition, int64_t> next;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (next.empty() && Clock::now() < deadline) {
    auto records = (*consumer)->Poll(100);
    ASSERT_TRUE(records.ok()) << records.status();
    for (const auto& r : *records) next[{"t", r.partition}] = r.offset + 1;
  }
  ASSERT_FALSE(next.empty());
  ASSERT_TRUE((*consumer)->Commit(next).ok());
  auto rows = admin_->DescribeGroup("g");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  for (const GroupPartition& row : *rows) {
    EXPECT_FALSE(row.member_id.empty());
    EXPECT_EQ(row.client_host, "127.0.0.1");
    EXPECT_EQ(row.end_offset, 10);
    auto it = next.find({"t", row.partition});
    if (it != next.end()) {
      EXPECT_EQ(row.committed, it->second);
      EXPECT_EQ(row.lag, 10 - it->second);
    } else {
      EXPECT_EQ(row.committed, -1);
      EXPECT_EQ(row.lag, -1);
    }
  }
  (*consumer)->Close();
  // Closed: no members any more, committed offsets stay.
  EXPECT_TRUE(WaitUntil([&] { return GroupState("g") == "Empty/0"; }, std::chrono::seconds(5)))
      << GroupState("g");
}

}  // namespace
}  // namespace runnel::client
