#include "broker/group/group_coordinator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/group/group_records.h"
#include "broker/partition/partition_manager.h"
#include "storage/log_manager.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

constexpr char kGroup[] = "g";
constexpr char kPeer[] = "ipv4:127.0.0.1:5000";
constexpr int32_t kRebalanceTimeoutMs = 60000;

// The coordinators here are never Start()ed: expiry runs only when a test calls ExpireNow(), at
// the time of the fixture's manual clock, which moves only when a test moves it.
constexpr int32_t kSessionTimeoutMs = 200;

// A consumer as the coordinator sees it: what its next heartbeat carries, and what the last answer
// gave it.
struct SimMember {
  std::string group = kGroup;
  std::string id;     // empty until the coordinator names it
  int32_t epoch = 0;  // 0 joins
  std::vector<std::string> topics;
  std::string regex;
  std::string instance_id;
  std::string assignor;
  int32_t rebalance_timeout_ms = kRebalanceTimeoutMs;
  TopicPartitions owned;       // reported in the next heartbeat
  TopicPartitions assignment;  // from the last answer without an error
};

SimMember Subscriber(std::vector<std::string> topics, std::string instance_id = "",
                     std::string assignor = "") {
  SimMember m;
  m.topics = std::move(topics);
  m.instance_id = std::move(instance_id);
  m.assignor = std::move(assignor);
  return m;
}

// Sends `m`'s heartbeat at `m.epoch` and returns the answer; `m` is left as it was.
v1::ConsumerGroupHeartbeatResponse SendHeartbeat(GroupCoordinator& coordinator,
                                                 const SimMember& m) {
  v1::ConsumerGroupHeartbeatRequest request;
  request.set_group_id(m.group);
  request.set_member_id(m.id);
  request.set_member_epoch(m.epoch);
  request.set_instance_id(m.instance_id);
  request.set_rebalance_timeout_ms(m.rebalance_timeout_ms);
  for (const std::string& topic : m.topics) request.add_subscribed_topics(topic);
  request.set_subscribed_topic_regex(m.regex);
  request.set_server_assignor(m.assignor);
  ToProto(m.owned, request.mutable_owned());
  request.set_client_id("client-" + m.instance_id);
  v1::ConsumerGroupHeartbeatResponse response;
  std::promise<absl::Status> durable;
  coordinator.Heartbeat(request, kPeer, &response,
                        [&durable](absl::Status s) { durable.set_value(std::move(s)); });
  std::future<absl::Status> written = durable.get_future();
  EXPECT_EQ(written.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const absl::Status status = written.get();
  EXPECT_TRUE(status.ok()) << status;
  return response;
}

// Takes the member id, epoch and assignment of an answer without an error; `owned` is untouched
// (the member has not acted on the answer yet).
void Apply(SimMember& m, const v1::ConsumerGroupHeartbeatResponse& response) {
  if (response.error().code() != v1::NONE) return;
  m.id = response.member_id();
  m.epoch = response.member_epoch();
  m.assignment = FromProto(response.assignment());
}

// One heartbeat of a well-behaved consumer: it sends, then owns exactly what it was given (giving
// up revoked partitions at once).
v1::ConsumerGroupHeartbeatResponse Poll(GroupCoordinator& coordinator, SimMember& m) {
  v1::ConsumerGroupHeartbeatResponse response = SendHeartbeat(coordinator, m);
  EXPECT_EQ(response.error().code(), v1::NONE) << response.error().message();
  Apply(m, response);
  m.owned = m.assignment;
  return response;
}

v1::ConsumerGroupHeartbeatResponse Leave(GroupCoordinator& coordinator, const SimMember& m,
                                         int32_t epoch = -1) {
  SimMember leaving = m;
  leaving.epoch = epoch;
  return SendHeartbeat(coordinator, leaving);
}

TopicPartitions Partitions(const std::string& topic, std::set<int32_t> partitions) {
  return {{topic, std::move(partitions)}};
}

size_t Count(const TopicPartitions& partitions) {
  size_t n = 0;
  for (const auto& [topic, ps] : partitions) n += ps.size();
  return n;
}

bool IsSubset(const TopicPartitions& sub, const TopicPartitions& super) {
  for (const auto& [topic, ps] : sub) {
    if (ps.empty()) continue;
    const auto it = super.find(topic);
    if (it == super.end() ||
        !std::includes(it->second.begin(), it->second.end(), ps.begin(), ps.end())) {
      return false;
    }
  }
  return true;
}

TopicPartitions Union(const TopicPartitions& a, const TopicPartitions& b) {
  TopicPartitions out = a;
  for (const auto& [topic, ps] : b) out[topic].insert(ps.begin(), ps.end());
  return out;
}

// a - b
TopicPartitions Minus(const TopicPartitions& a, const TopicPartitions& b) {
  TopicPartitions out;
  for (const auto& [topic, ps] : a) {
    for (int32_t p : ps) {
      if (!IsSubset(Partitions(topic, {p}), b)) out[topic].insert(p);
    }
  }
  return out;
}

// Empty (no group_id, no members) when the coordinator does not know the group.
v1::GroupDescription Describe(const GroupCoordinator& coordinator,
                              const std::string& group = kGroup) {
  v1::GroupDescription description;
  if (coordinator.Describe(group, &description)) description.set_group_id(group);
  return description;
}

const v1::GroupMember* FindMember(const v1::GroupDescription& description, const std::string& id) {
  for (const v1::GroupMember& m : description.members()) {
    if (m.member_id() == id) return &m;
  }
  return nullptr;
}

// The invariant of the protocol: no partition has two owners, neither as the members see it (what
// each was last given plus what it says it owns) nor as the coordinator sees it (DescribeGroups'
// assignment: assigned plus being revoked).
void ExpectNoPartitionHasTwoOwners(const GroupCoordinator& coordinator,
                                   const std::vector<const SimMember*>& members) {
  std::map<std::pair<std::string, int32_t>, std::string> owner;
  for (const SimMember* m : members) {
    for (const auto& [topic, ps] : Union(m->assignment, m->owned)) {
      for (int32_t p : ps) {
        auto [it, inserted] = owner.emplace(std::make_pair(topic, p), m->id);
        EXPECT_TRUE(inserted) << topic << "-" << p << " is held by members " << it->second
                              << " and " << m->id;
      }
    }
  }
  owner.clear();
  const v1::GroupDescription description = Describe(coordinator);
  for (const v1::GroupMember& m : description.members()) {
    for (const v1::TopicPartitions& t : m.assignment()) {
      for (int32_t p : t.partitions()) {
        auto [it, inserted] = owner.emplace(std::make_pair(t.topic(), p), m.member_id());
        EXPECT_TRUE(inserted) << "the coordinator gives " << t.topic() << "-" << p << " to members "
                              << it->second << " and " << m.member_id();
      }
    }
  }
}

// Every member heartbeats in turn (as Poll) for at least one round and until the group is Stable
// with every member holding its target, at most `max_rounds` rounds; the ownership invariant is
// checked after every heartbeat and `on_answer` (if set) sees every answer. True when it converged.
bool Converge(GroupCoordinator& coordinator, const std::vector<SimMember*>& members,
              int max_rounds = 50,
              const std::function<void(const SimMember&, const TopicPartitions& owned_before)>&
                  on_answer = nullptr) {
  const std::vector<const SimMember*> all(members.begin(), members.end());
  for (int round = 0; round < max_rounds; ++round) {
    for (SimMember* m : members) {
      const TopicPartitions owned_before = m->owned;
      Poll(coordinator, *m);
      ExpectNoPartitionHasTwoOwners(coordinator, all);
      if (on_answer) on_answer(*m, owned_before);
    }
    const v1::GroupDescription description = Describe(coordinator, members.front()->group);
    bool done = description.state() == "Stable";
    for (const SimMember* m : members) {
      const v1::GroupMember* d = FindMember(description, m->id);
      done = done && d != nullptr && m->epoch == description.assignment_epoch() &&
             FromProto(d->target_assignment()) == m->assignment;
    }
    if (done) return true;
  }
  return false;
}

class GroupCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto table = TopicTable::Open(dir_.path());
    ASSERT_TRUE(table.ok()) << table.status();
    topics_ = std::make_unique<TopicTable>(std::move(*table));
    storage::LogManagerOptions log_options;
    log_options.data_dir = dir_.path();
    auto logs = storage::LogManager::Open(log_options);
    ASSERT_TRUE(logs.ok()) << logs.status();
    logs_ = std::move(*logs);
    auto partitions = PartitionManager::Create(logs_.get(), topics_.get(), {});
    ASSERT_TRUE(partitions.ok()) << partitions.status();
    partitions_ = std::move(*partitions);
    store_ = std::make_unique<OffsetStore>(partitions_.get(), 1);
  }

  void CreateTopic(const std::string& name, int32_t partitions, bool internal = false) {
    const absl::Status status = topics_->Create({name, partitions, 1, {}, internal, ""});
    ASSERT_TRUE(status.ok()) << status;
  }

  GroupCoordinatorOptions Options() const {
    return {.session_timeout_ms = kSessionTimeoutMs, .heartbeat_interval_ms = 50, .clock = &clock_};
  }

  ManualClock clock_;
  TempDir dir_;
  std::unique_ptr<TopicTable> topics_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<PartitionManager> partitions_;
  std::unique_ptr<OffsetStore> store_;  // where the coordinators write their records
};

TEST_F(GroupCoordinatorTest, PartitionIsAssignedOnlyAfterItsPreviousOwnerGivesItUp) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  auto invariant = [&] { ExpectNoPartitionHasTwoOwners(coordinator, {&a, &b}); };

  const auto joined = Poll(coordinator, a);
  EXPECT_FALSE(a.id.empty());
  EXPECT_EQ(joined.heartbeat_interval_ms(), 50);
  EXPECT_GE(a.epoch, 1);
  EXPECT_EQ(a.assignment, all);
  invariant();
  const int32_t first_epoch = a.epoch;

  Poll(coordinator, b);  // joins: everything is still a's
  EXPECT_FALSE(b.id.empty());
  EXPECT_NE(b.id, a.id);
  EXPECT_GT(b.epoch, first_epoch);
  EXPECT_TRUE(b.assignment.empty());
  invariant();
  Poll(coordinator, b);
  EXPECT_TRUE(b.assignment.empty()) << "a has not heartbeat yet";
  invariant();

  // a is told to give up half, at its old epoch; it has not done so yet.
  Apply(a, SendHeartbeat(coordinator, a));
  EXPECT_EQ(a.epoch, first_epoch);
  EXPECT_EQ(Count(a.assignment), 3u);
  EXPECT_TRUE(IsSubset(a.assignment, all));
  invariant();
  const TopicPartitions kept = a.assignment;
  const TopicPartitions revoked = Minus(all, kept);

  // While a still reports owning the revoked partitions, b gets none of them.
  Poll(coordinator, b);
  EXPECT_TRUE(b.assignment.empty());
  invariant();
  Apply(a, SendHeartbeat(coordinator, a));
  EXPECT_EQ(a.epoch, first_epoch);
  EXPECT_EQ(a.assignment, kept);
  invariant();
  Poll(coordinator, b);
  EXPECT_TRUE(b.assignment.empty());
  invariant();

  // a lets go: it moves to the new epoch, and b's next heartbeat gets the rest.
  a.owned = kept;
  Apply(a, SendHeartbeat(coordinator, a));
  EXPECT_EQ(a.assignment, kept);
  EXPECT_EQ(a.epoch, b.epoch);
  invariant();
  Poll(coordinator, b);
  EXPECT_EQ(b.assignment, revoked);
  invariant();
  EXPECT_EQ(Describe(coordinator).state(), "Stable");
}

TEST_F(GroupCoordinatorTest, NewMemberTakesPartitionsOnlyFromMembersThatHadTooMany) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  std::vector<SimMember> old(3, Subscriber({"orders"}));
  ASSERT_TRUE(Converge(coordinator, {&old[0], &old[1], &old[2]}));
  std::map<std::string, TopicPartitions> before;
  for (const SimMember& m : old) {
    EXPECT_EQ(Count(m.assignment), 2u) << m.id;
    before[m.id] = m.assignment;
  }

  SimMember d = Subscriber({"orders"});
  std::map<std::string, std::vector<std::pair<TopicPartitions, TopicPartitions>>> answers;
  ASSERT_TRUE(Converge(coordinator, {&old[0], &old[1], &old[2], &d}, 50,
                       [&](const SimMember& m, const TopicPartitions& owned_before) {
                         answers[m.id].emplace_back(owned_before, m.assignment);
                       }));

  size_t moved = 0;
  TopicPartitions everything = d.assignment;
  for (const SimMember& m : old) {
    const TopicPartitions& previous = before.at(m.id);
    EXPECT_TRUE(IsSubset(m.assignment, previous)) << m.id << " gained partitions";
    moved += Count(Minus(previous, m.assignment));
    everything = Union(everything, m.assignment);
    if (m.assignment == previous) {
      for (const auto& [owned, answer] : answers.at(m.id)) {
        EXPECT_TRUE(IsSubset(owned, answer)) << m.id << " kept its partitions but was told to "
                                             << "give some up";
      }
    }
  }
  EXPECT_EQ(moved, Count(d.assignment));
  EXPECT_EQ(Count(d.assignment), 1u) << "6 partitions over 4 members: one moves";
  EXPECT_EQ(everything, all);
}

TEST_F(GroupCoordinatorTest, LeavingMemberPartitionsGoToTheRemainingMember) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  const int32_t epoch_before = Describe(coordinator).group_epoch();
  const int32_t b_epoch_before = b.epoch;

  const auto left = Leave(coordinator, a);
  EXPECT_EQ(left.error().code(), v1::NONE) << left.error().message();
  EXPECT_EQ(left.member_epoch(), -1);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
  const v1::GroupDescription description = Describe(coordinator);
  EXPECT_GT(description.group_epoch(), epoch_before);
  ASSERT_EQ(description.members_size(), 1);
  EXPECT_EQ(description.members(0).member_id(), b.id);
  EXPECT_EQ(Leave(coordinator, a).error().code(), v1::NONE) << "leaving twice is fine";

  ASSERT_TRUE(Converge(coordinator, {&b}));
  EXPECT_EQ(b.assignment, all);
  EXPECT_GT(b.epoch, b_epoch_before);
}

// The expiry thread runs on the coordinator's clock once Start()ed, and writes nothing after
// Stop(): runneld stops it before the logs close, so no group record lands after a clean-shutdown
// marker (before Stop existed, the thread ran until the coordinator was destroyed, after Close).
// No sleeping: AwaitExpiryRound waits for a round that saw the moved clock.
TEST_F(GroupCoordinatorTest, TheExpiryThreadExpiresOnItsClockAndNothingAfterStop) {
  CreateTopic("orders", 2);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  EXPECT_FALSE(coordinator.AwaitExpiryRound(std::chrono::seconds(10))) << "no thread before Start";
  coordinator.Start();
  SimMember a = Subscriber({"orders"});
  ASSERT_TRUE(Converge(coordinator, {&a}));
  clock_.AdvanceMs(kSessionTimeoutMs - 1);
  ASSERT_TRUE(coordinator.AwaitExpiryRound(std::chrono::seconds(10)));
  ASSERT_EQ(coordinator.MemberCount(kGroup), 1) << "1 ms before the session ends";
  clock_.AdvanceMs(1);
  ASSERT_TRUE(coordinator.AwaitExpiryRound(std::chrono::seconds(10)));
  ASSERT_EQ(coordinator.MemberCount(kGroup), 0) << "expired by the thread, on the manual clock";

  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(coordinator, {&b}));
  coordinator.Stop();
  clock_.AdvanceMs(kSessionTimeoutMs);
  EXPECT_FALSE(coordinator.AwaitExpiryRound(std::chrono::seconds(10))) << "no thread after Stop";
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1) << "no expiry after Stop";
  coordinator.Start();  // does nothing after Stop
  EXPECT_FALSE(coordinator.AwaitExpiryRound(std::chrono::seconds(10)));
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
}

TEST_F(GroupCoordinatorTest, SilentMemberExpiresAndItsCommitsAreRefused) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  const int32_t b_old_epoch = b.epoch;

  // b keeps heartbeating, a does not; a's 200 ms session runs out, to the millisecond.
  for (int i = 0; i < 4; ++i) {
    clock_.AdvanceMs(kSessionTimeoutMs / 4 - (i == 3 ? 1 : 0));
    Poll(coordinator, b);
    coordinator.ExpireNow();
  }
  ASSERT_EQ(coordinator.MemberCount(kGroup), 2) << "1 ms before a's session ends";
  clock_.AdvanceMs(1);
  coordinator.ExpireNow();
  ASSERT_EQ(coordinator.MemberCount(kGroup), 1);
  ASSERT_NE(FindMember(Describe(coordinator), b.id), nullptr);
  ASSERT_TRUE(Converge(coordinator, {&b}));
  EXPECT_EQ(b.assignment, all);
  ASSERT_GT(b.epoch, b_old_epoch);

  const auto late = SendHeartbeat(coordinator, a);
  EXPECT_EQ(late.error().code(), v1::UNKNOWN_MEMBER_ID);
  EXPECT_NE(late.error().message().find(a.id), std::string::npos) << late.error().message();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1) << "an unknown member's heartbeat does not join";

  EXPECT_EQ(coordinator.CheckCommit(kGroup, a.id, a.epoch).code(), v1::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coordinator.CheckCommit(kGroup, b.id, b.epoch).code(), v1::NONE);
  const v1::Error stale = coordinator.CheckCommit(kGroup, b.id, b_old_epoch);
  EXPECT_EQ(stale.code(), v1::STALE_MEMBER_EPOCH);
  EXPECT_NE(stale.message().find(b.id), std::string::npos) << stale.message();
  EXPECT_EQ(coordinator.CheckCommit(kGroup, "", -1).code(), v1::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coordinator.CheckCommit("no-members", "", -1).code(), v1::NONE);

  ASSERT_EQ(Leave(coordinator, b).error().code(), v1::NONE);
  EXPECT_EQ(coordinator.CheckCommit(kGroup, "", -1).code(), v1::NONE);
}

TEST_F(GroupCoordinatorTest, MemberKeepingRevokedPartitionsPastItsRebalanceTimeoutIsRemoved) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  a.rebalance_timeout_ms = 100;
  SimMember b = Subscriber({"orders"});
  Poll(coordinator, a);
  Poll(coordinator, b);
  Apply(a, SendHeartbeat(coordinator, a));  // told to give up 3, never does
  ASSERT_EQ(Count(a.assignment), 3u);

  clock_.AdvanceMs(99);
  coordinator.ExpireNow();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2) << "1 ms before the rebalance timeout";
  clock_.AdvanceMs(1);
  coordinator.ExpireNow();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
  EXPECT_EQ(SendHeartbeat(coordinator, a).error().code(), v1::UNKNOWN_MEMBER_ID);
  ASSERT_TRUE(Converge(coordinator, {&b}));
  EXPECT_EQ(b.assignment, all);
}

TEST_F(GroupCoordinatorTest, RetriedJoinWithTheClientsOwnIdAddsOneMember) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  a.id = "consumer-1-0123456789abcdef";
  // The first join's answer is lost; the client sends the same join again.
  ASSERT_EQ(SendHeartbeat(coordinator, a).error().code(), v1::NONE);
  const auto again = SendHeartbeat(coordinator, a);
  ASSERT_EQ(again.error().code(), v1::NONE) << again.error().message();
  EXPECT_EQ(again.member_id(), a.id);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);

  SimMember too_long = Subscriber({"orders"});
  too_long.id = std::string(256, 'x');
  const auto refused = SendHeartbeat(coordinator, too_long);
  EXPECT_EQ(refused.error().code(), v1::INVALID_REQUEST);
  EXPECT_NE(refused.error().message().find("member_id"), std::string::npos);
}

TEST_F(GroupCoordinatorTest, UnsetRebalanceTimeoutMeansTheDefaultNotZero) {
  CreateTopic("orders", 6);
  GroupCoordinatorOptions options = Options();
  options.session_timeout_ms = 2 * GroupCoordinator::kDefaultRebalanceTimeoutMs;
  GroupCoordinator coordinator(topics_.get(), store_.get(), options);
  SimMember a = Subscriber({"orders"});
  a.rebalance_timeout_ms = 0;
  SimMember b = Subscriber({"orders"});
  Poll(coordinator, a);
  Poll(coordinator, b);
  Apply(a, SendHeartbeat(coordinator, a));  // told to give up 3, takes its time
  ASSERT_EQ(Count(a.assignment), 3u);

  // Sessions outlast it here: a's revocation is overdue after the default rebalance timeout.
  clock_.AdvanceMs(GroupCoordinator::kDefaultRebalanceTimeoutMs - 1);
  coordinator.ExpireNow();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2) << "1 ms before the default rebalance timeout";
  clock_.AdvanceMs(1);
  coordinator.ExpireNow();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
  ASSERT_TRUE(Converge(coordinator, {&b}));
}

TEST_F(GroupCoordinatorTest, WrongEpochIsFencedAndRemovesTheMember) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));

  SimMember wrong = a;
  wrong.epoch = a.epoch + 5;
  const auto fenced = SendHeartbeat(coordinator, wrong);
  EXPECT_EQ(fenced.error().code(), v1::FENCED_MEMBER_EPOCH);
  EXPECT_NE(fenced.error().message().find(std::to_string(a.epoch + 5)), std::string::npos)
      << fenced.error().message();
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
  EXPECT_EQ(FindMember(Describe(coordinator), a.id), nullptr);
  EXPECT_EQ(SendHeartbeat(coordinator, a).error().code(), v1::UNKNOWN_MEMBER_ID)
      << "the right epoch does not bring it back";
  ASSERT_TRUE(Converge(coordinator, {&b}));
  EXPECT_EQ(b.assignment, all);
}

TEST_F(GroupCoordinatorTest, PreviousEpochIsAcceptedOnlyWithoutPartitionsGivenAway) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  Poll(coordinator, a);
  const SimMember a_at_join = a;  // epoch of the join, owning all 6
  Poll(coordinator, b);
  Poll(coordinator, a);  // told to give up 3; gives them up
  Poll(coordinator, a);  // moves to the new epoch
  ASSERT_GT(a.epoch, a_at_join.epoch);

  // The answer that moved a to the new epoch was lost: a retries at its old epoch, owning what it
  // kept — accepted, with the new epoch.
  SimMember retry = a;
  retry.epoch = a_at_join.epoch;
  const auto accepted = SendHeartbeat(coordinator, retry);
  EXPECT_EQ(accepted.error().code(), v1::NONE) << accepted.error().message();
  EXPECT_EQ(accepted.member_epoch(), a.epoch);
  EXPECT_EQ(FromProto(accepted.assignment()), a.owned);

  // At its old epoch but still owning what went to b: fenced.
  const auto fenced = SendHeartbeat(coordinator, a_at_join);
  EXPECT_EQ(fenced.error().code(), v1::FENCED_MEMBER_EPOCH);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 1);
}

TEST_F(GroupCoordinatorTest, StaticMemberLeavingForARestartKeepsItsPartitions) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"}, "a");
  SimMember b = Subscriber({"orders"}, "b");
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  const TopicPartitions a_partitions = a.assignment;
  const TopicPartitions b_partitions = b.assignment;
  ASSERT_EQ(Count(a_partitions), 3u);
  const int32_t group_epoch = Describe(coordinator).group_epoch();

  const auto left = Leave(coordinator, a, -2);
  EXPECT_EQ(left.error().code(), v1::NONE) << left.error().message();
  EXPECT_EQ(left.member_epoch(), -2);
  for (int i = 0; i < 3; ++i) {
    Poll(coordinator, b);
    EXPECT_EQ(b.assignment, b_partitions) << "b never gets a's partitions nor loses its own";
  }
  v1::GroupDescription description = Describe(coordinator);
  EXPECT_EQ(description.group_epoch(), group_epoch);
  const v1::GroupMember* waiting = FindMember(description, a.id);
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(FromProto(waiting->assignment()), a_partitions);

  // The restarted process joins with the same instance id and gets the same partitions at once.
  SimMember restarted = Subscriber({"orders"}, "a");
  Poll(coordinator, restarted);
  EXPECT_NE(restarted.id, a.id);
  EXPECT_EQ(restarted.epoch, a.epoch);
  EXPECT_EQ(restarted.assignment, a_partitions);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2);
  EXPECT_EQ(Describe(coordinator).group_epoch(), group_epoch);
  ASSERT_TRUE(
      Converge(coordinator, {&restarted, &b}, 50, [&](const SimMember& m, const TopicPartitions&) {
        if (m.id == b.id) {
          EXPECT_EQ(m.assignment, b_partitions);
        }
      }));
  EXPECT_EQ(restarted.assignment, a_partitions);

  EXPECT_EQ(SendHeartbeat(coordinator, a).error().code(), v1::FENCED_INSTANCE_ID);
  EXPECT_EQ(coordinator.CheckCommit(kGroup, a.id, a.epoch).code(), v1::FENCED_INSTANCE_ID);
  EXPECT_EQ(coordinator.CheckCommit(kGroup, restarted.id, restarted.epoch).code(), v1::NONE);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2);
}

TEST_F(GroupCoordinatorTest, CrashedStaticMemberIsReplacedByItsSuccessor) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"}, "a");
  SimMember b = Subscriber({"orders"}, "b");
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  const TopicPartitions a_partitions = a.assignment;
  const TopicPartitions b_partitions = b.assignment;

  // a crashes (no -2); its successor joins while the old session is still alive.
  SimMember successor = Subscriber({"orders"}, "a");
  Poll(coordinator, successor);
  EXPECT_NE(successor.id, a.id);
  EXPECT_EQ(successor.assignment, a_partitions);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2);
  ExpectNoPartitionHasTwoOwners(coordinator, {&successor, &b});
  ASSERT_TRUE(
      Converge(coordinator, {&successor, &b}, 50, [&](const SimMember& m, const TopicPartitions&) {
        if (m.id == b.id) {
          EXPECT_EQ(m.assignment, b_partitions);
        }
      }));

  // The zombie finds itself fenced, and stays out.
  EXPECT_EQ(SendHeartbeat(coordinator, a).error().code(), v1::FENCED_INSTANCE_ID);
  EXPECT_EQ(coordinator.CheckCommit(kGroup, a.id, a.epoch).code(), v1::FENCED_INSTANCE_ID);
  EXPECT_EQ(coordinator.MemberCount(kGroup), 2);
  Poll(coordinator, successor);
  EXPECT_EQ(successor.assignment, a_partitions);
}

TEST_F(GroupCoordinatorTest, StaticMemberThatDoesNotReturnExpires) {
  CreateTopic("orders", 6);
  const TopicPartitions all = Partitions("orders", {0, 1, 2, 3, 4, 5});
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"}, "a");
  SimMember b = Subscriber({"orders"}, "b");
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  ASSERT_EQ(Leave(coordinator, a, -2).error().code(), v1::NONE);
  clock_.AdvanceMs(kSessionTimeoutMs / 2);
  Poll(coordinator, b);
  coordinator.ExpireNow();
  ASSERT_EQ(coordinator.MemberCount(kGroup), 2) << "a's place is kept for its session";
  clock_.AdvanceMs(kSessionTimeoutMs / 2);
  Poll(coordinator, b);
  coordinator.ExpireNow();
  ASSERT_EQ(coordinator.MemberCount(kGroup), 1);
  ASSERT_TRUE(Converge(coordinator, {&b}));
  EXPECT_EQ(b.assignment, all);
}

TEST_F(GroupCoordinatorTest, RegexSubscriptionFollowsNewTopicsButNeverInternalOnes) {
  CreateTopic("orders-a", 2);
  CreateTopic("payments", 3);
  CreateTopic("my-orders-x", 2);  // contains a match, but the regex must match the whole name
  CreateTopic("orders-internal", 4, /*internal=*/true);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember m;
  m.regex = "orders-.*";
  ASSERT_TRUE(Converge(coordinator, {&m}));
  EXPECT_EQ(m.assignment, Partitions("orders-a", {0, 1}));
  const int32_t epoch = m.epoch;
  EXPECT_EQ(Describe(coordinator).members(0).subscribed_topic_regex(), "orders-.*");

  CreateTopic("orders-b", 3);
  ASSERT_TRUE(Converge(coordinator, {&m}));
  EXPECT_EQ(m.assignment, (TopicPartitions{{"orders-a", {0, 1}}, {"orders-b", {0, 1, 2}}}));
  EXPECT_GT(m.epoch, epoch);

  CreateTopic("orders-internal-2", 1, /*internal=*/true);
  ASSERT_TRUE(Converge(coordinator, {&m}));
  EXPECT_EQ(m.assignment, (TopicPartitions{{"orders-a", {0, 1}}, {"orders-b", {0, 1, 2}}}));
}

TEST_F(GroupCoordinatorTest, BadHeartbeatsAreRefusedAndJoinNothing) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  auto expect_refused = [&](const SimMember& m, v1::ErrorCode code, const std::string& needle) {
    const auto response = SendHeartbeat(coordinator, m);
    EXPECT_EQ(response.error().code(), code) << response.error().message();
    EXPECT_NE(response.error().message().find(needle), std::string::npos)
        << "'" << response.error().message() << "' does not mention '" << needle << "'";
    EXPECT_TRUE(response.assignment().empty());
  };

  SimMember no_group = Subscriber({"orders"});
  no_group.group = "";
  expect_refused(no_group, v1::INVALID_REQUEST, "group_id");
  expect_refused(Subscriber({}), v1::INVALID_REQUEST, "empty");
  SimMember both = Subscriber({"orders"});
  both.regex = "orders.*";
  expect_refused(both, v1::INVALID_REQUEST, "not both");
  SimMember bad_regex;
  bad_regex.regex = "(";
  expect_refused(bad_regex, v1::INVALID_REQUEST, "'('");
  expect_refused(Subscriber({"orders"}, "", "roundrobin"), v1::UNSUPPORTED_ASSIGNOR, "roundrobin");
  SimMember epoch_minus_3 = Subscriber({"orders"});
  epoch_minus_3.id = "someone";
  epoch_minus_3.epoch = -3;
  expect_refused(epoch_minus_3, v1::INVALID_REQUEST, "-3");
  SimMember no_id = Subscriber({"orders"});
  no_id.epoch = 5;
  expect_refused(no_id, v1::INVALID_REQUEST, "member_id");

  EXPECT_TRUE(coordinator.List().empty());
  EXPECT_EQ(coordinator.MemberCount(kGroup), 0);
}

TEST_F(GroupCoordinatorTest, RangeAssignorChosenByTheMembersGivesContiguousRanges) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"}, "", "range");
  SimMember b = Subscriber({"orders"}, "", "range");
  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  EXPECT_EQ(Describe(coordinator).assignor(), "range");
  // Dynamic members are ordered by member id.
  const SimMember& first = a.id < b.id ? a : b;
  const SimMember& second = a.id < b.id ? b : a;
  EXPECT_EQ(first.assignment, Partitions("orders", {0, 1, 2}));
  EXPECT_EQ(second.assignment, Partitions("orders", {3, 4, 5}));
}

TEST_F(GroupCoordinatorTest, ListAndDescribeFollowTheGroupsState) {
  CreateTopic("orders", 6);
  GroupCoordinator coordinator(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  auto listing = [&]() -> v1::GroupListing {
    const std::vector<v1::GroupListing> groups = coordinator.List();
    EXPECT_EQ(groups.size(), 1u);
    return groups.empty() ? v1::GroupListing() : groups.front();
  };

  ASSERT_TRUE(Converge(coordinator, {&a}));
  EXPECT_EQ(listing().group_id(), kGroup);
  EXPECT_EQ(listing().state(), "Stable");
  EXPECT_EQ(listing().members(), 1);

  Poll(coordinator, b);
  EXPECT_EQ(Describe(coordinator).state(), "Reconciling");
  Apply(a, SendHeartbeat(coordinator, a));  // revocation pending: a still owns all 6
  ASSERT_EQ(Count(a.assignment), 3u);
  EXPECT_EQ(Describe(coordinator).state(), "Reconciling");
  EXPECT_EQ(listing().state(), "Reconciling");
  EXPECT_EQ(listing().members(), 2);
  a.owned = a.assignment;  // a gives them up and reaches its target; b has yet to get its own
  Poll(coordinator, a);
  ASSERT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(Describe(coordinator).state(), "Reconciling");

  ASSERT_TRUE(Converge(coordinator, {&a, &b}));
  const v1::GroupDescription stable = Describe(coordinator);
  EXPECT_EQ(stable.state(), "Stable");
  EXPECT_EQ(stable.group_epoch(), stable.assignment_epoch());
  EXPECT_EQ(stable.assignor(), "uniform");
  ASSERT_EQ(stable.members_size(), 2);
  for (const v1::GroupMember& m : stable.members()) {
    EXPECT_EQ(m.client_host(), "127.0.0.1");
    EXPECT_EQ(m.member_epoch(), stable.group_epoch());
    EXPECT_EQ(FromProto(m.assignment()), FromProto(m.target_assignment()));
    EXPECT_EQ(std::vector<std::string>(m.subscribed_topics().begin(), m.subscribed_topics().end()),
              std::vector<std::string>{"orders"});
  }

  ASSERT_EQ(Leave(coordinator, b).error().code(), v1::NONE);
  EXPECT_EQ(listing().state(), "Assigning") << "the target for the new epoch is not computed yet";
  ASSERT_TRUE(Converge(coordinator, {&a}));
  EXPECT_EQ(listing().state(), "Stable");

  ASSERT_EQ(Leave(coordinator, a).error().code(), v1::NONE);
  EXPECT_TRUE(coordinator.List().empty());
  v1::GroupDescription gone;
  EXPECT_FALSE(coordinator.Describe(kGroup, &gone));
  EXPECT_EQ(coordinator.MemberCount(kGroup), 0);
}

// A broker restart, as the coordinator sees it: a new OffsetStore and coordinator over the same
// logs, loaded from what the old one wrote.
std::unique_ptr<GroupCoordinator> Restart(std::unique_ptr<GroupCoordinator>& old,
                                          const TopicTable* topics, PartitionManager* partitions,
                                          std::unique_ptr<OffsetStore>& store,
                                          const GroupCoordinatorOptions& options) {
  old.reset();
  store = std::make_unique<OffsetStore>(partitions, 1);
  auto restarted = std::make_unique<GroupCoordinator>(topics, store.get(), options);
  const absl::Status loaded = restarted->Load();
  EXPECT_TRUE(loaded.ok()) << loaded;
  return restarted;
}

TEST_F(GroupCoordinatorTest, RestartedCoordinatorKeepsEveryMemberEpochAndPartition) {
  CreateTopic("orders", 6);
  CreateTopic("payments", 2);
  auto coordinator = std::make_unique<GroupCoordinator>(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders", "payments"});
  SimMember b = Subscriber({"orders"}, "static-b", "range");
  SimMember c = Subscriber({});
  c.regex = "ord.*|pay.*";
  ASSERT_TRUE(Converge(*coordinator, {&a, &b, &c}));
  // And one member mid-way: d has joined, the others have yet to give up what d gets.
  SimMember d = Subscriber({"orders"});
  Poll(*coordinator, d);
  const v1::GroupDescription described = Describe(*coordinator);
  const std::string before = described.DebugString();
  ASSERT_NE(FindMember(described, d.id), nullptr);
  const TopicPartitions d_target = FromProto(FindMember(described, d.id)->target_assignment());
  ASSERT_GT(Count(d_target), 0u);

  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(Describe(*coordinator).DebugString(), before)
      << "the restarted coordinator describes the group as before";
  EXPECT_EQ(coordinator->CheckCommit(kGroup, a.id, a.epoch).code(), v1::NONE);

  // Every member carries on with its id and epoch: nobody is fenced, nothing is revoked that the
  // pending rebalance does not move, and the group converges.
  for (SimMember* m : {&a, &b, &c, &d}) {
    const TopicPartitions owned = m->owned;
    const int32_t epoch = m->epoch;
    const auto response = SendHeartbeat(*coordinator, *m);
    EXPECT_EQ(response.error().code(), v1::NONE) << response.error().message();
    EXPECT_GE(response.member_epoch(), epoch);
    EXPECT_TRUE(IsSubset(Minus(owned, FromProto(response.assignment())), d_target))
        << "member " << m->id << " is told to give up only what moves to the new member";
  }
  ASSERT_TRUE(Converge(*coordinator, {&a, &b, &c, &d}));
  EXPECT_EQ(Count(Union(Union(a.assignment, b.assignment), Union(c.assignment, d.assignment))), 8u);

  // What it wrote after the restart is loaded by the next one.
  const std::string converged = Describe(*coordinator).DebugString();
  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(Describe(*coordinator).DebugString(), converged);
}

TEST_F(GroupCoordinatorTest, GroupWhoseMembersLeftIsNotReloaded) {
  CreateTopic("orders", 2);
  auto coordinator = std::make_unique<GroupCoordinator>(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember other = Subscriber({"orders"});
  other.group = "other";
  ASSERT_TRUE(Converge(*coordinator, {&a}));
  ASSERT_TRUE(Converge(*coordinator, {&other}));
  EXPECT_EQ(Leave(*coordinator, a).error().code(), v1::NONE);
  EXPECT_EQ(coordinator->MemberCount(kGroup), 0);

  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(coordinator->MemberCount(kGroup), 0);
  EXPECT_EQ(coordinator->MemberCount("other"), 1);
  EXPECT_EQ(SendHeartbeat(*coordinator, a).error().code(), v1::UNKNOWN_MEMBER_ID);
}

TEST_F(GroupCoordinatorTest, ReplacedStaticMemberIsStillFencedAfterARestart) {
  CreateTopic("orders", 4);
  auto coordinator = std::make_unique<GroupCoordinator>(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"}, "static-a");
  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(*coordinator, {&a, &b}));
  SimMember successor = Subscriber({"orders"}, "static-a");
  ASSERT_TRUE(Converge(*coordinator, {&successor, &b}));
  ASSERT_NE(successor.id, a.id);

  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  // The zombie still names its instance id, which now belongs to its successor.
  const auto zombie = SendHeartbeat(*coordinator, a);
  EXPECT_EQ(zombie.error().code(), v1::FENCED_INSTANCE_ID) << zombie.error().message();
  EXPECT_EQ(coordinator->MemberCount(kGroup), 2);
  const TopicPartitions successor_partitions = successor.assignment;
  Poll(*coordinator, successor);
  EXPECT_EQ(successor.assignment, successor_partitions);
  // A member id the group never had, with no instance id, is merely unknown.
  SimMember stranger = Subscriber({"orders"});
  stranger.id = "never-joined";
  stranger.epoch = 3;
  EXPECT_EQ(SendHeartbeat(*coordinator, stranger).error().code(), v1::UNKNOWN_MEMBER_ID);
}

// Records that give one partition to two members (a partition never has two owners) are refused
// at load like records that do not decode: the group is dropped and its members rejoin.
TEST_F(GroupCoordinatorTest, StoredAssignmentsWithTwoOwnersOfAPartitionAreRefused) {
  CreateTopic("orders", 2);
  auto coordinator = std::make_unique<GroupCoordinator>(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember b = Subscriber({"orders"});
  ASSERT_TRUE(Converge(*coordinator, {&a, &b}));
  ASSERT_EQ(a.assignment.at("orders").size() + b.assignment.at("orders").size(), 2u);
  // a's record now claims both partitions, b's still claims its own.
  CurrentMemberAssignmentValue both;
  both.epoch = a.epoch;
  both.assigned = {{"orders", {0, 1}}};
  std::promise<absl::Status> durable;
  const absl::Status appended = store_->AppendGroupRecords(
      kGroup,
      {{EncodeGroupRecordKey({GroupRecordType::kCurrentMemberAssignment, kGroup, a.id}),
        EncodeCurrentMemberAssignment(both)}},
      [&durable](absl::Status s) { durable.set_value(s); });
  ASSERT_TRUE(appended.ok()) << appended;
  auto synced = durable.get_future();
  ASSERT_EQ(synced.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_TRUE(synced.get().ok());

  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(coordinator->MemberCount(kGroup), 0) << "a group with two owners of orders-x loaded";
  SimMember rejoined = Subscriber({"orders"});
  ASSERT_TRUE(Converge(*coordinator, {&rejoined}));
  EXPECT_EQ(rejoined.assignment.at("orders").size(), 2u);
}

TEST_F(GroupCoordinatorTest, GroupWithACorruptRecordIsDroppedAndItsMembersRejoin) {
  CreateTopic("orders", 2);
  auto coordinator = std::make_unique<GroupCoordinator>(topics_.get(), store_.get(), Options());
  SimMember a = Subscriber({"orders"});
  SimMember other = Subscriber({"orders"});
  other.group = "other";
  ASSERT_TRUE(Converge(*coordinator, {&a}));
  ASSERT_TRUE(Converge(*coordinator, {&other}));
  // Bytes that do not decode as a current-assignment value, under a's key.
  std::promise<absl::Status> durable;
  const absl::Status appended = store_->AppendGroupRecords(
      kGroup,
      {{EncodeGroupRecordKey({GroupRecordType::kCurrentMemberAssignment, kGroup, a.id}),
        std::string("\x00\x00\x00", 3)}},
      [&durable](absl::Status s) { durable.set_value(s); });
  ASSERT_TRUE(appended.ok()) << appended;
  ASSERT_TRUE(durable.get_future().get().ok());

  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(coordinator->MemberCount(kGroup), 0) << "the group that does not decode is dropped";
  EXPECT_EQ(coordinator->MemberCount("other"), 1) << "the other group is untouched";
  EXPECT_EQ(SendHeartbeat(*coordinator, a).error().code(), v1::UNKNOWN_MEMBER_ID);

  // a rejoins; what it writes replaces the corrupt records, so the next restart keeps it.
  SimMember rejoined = Subscriber({"orders"});
  ASSERT_TRUE(Converge(*coordinator, {&rejoined}));
  coordinator = Restart(coordinator, topics_.get(), partitions_.get(), store_, Options());
  EXPECT_EQ(coordinator->MemberCount(kGroup), 1);
  EXPECT_EQ(SendHeartbeat(*coordinator, rejoined).error().code(), v1::NONE);
}

}  // namespace
}  // namespace runnel::broker
