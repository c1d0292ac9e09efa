#include "broker/group/assignor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

namespace runnel::broker {
namespace {

AssignmentMember Member(std::string id, std::set<std::string> topics, TopicPartitions current = {},
                        std::string instance_id = "") {
  return {std::move(id), std::move(instance_id), std::move(topics), std::move(current)};
}

GroupAssignment Assign(std::string_view assignor, const AssignmentSpec& spec) {
  return MakeAssignor(assignor)->Assign(spec);
}

size_t Load(const TopicPartitions& partitions) {
  size_t n = 0;
  for (const auto& [topic, ps] : partitions) n += ps.size();
  return n;
}

bool IsSubset(const TopicPartitions& sub, const TopicPartitions& super) {
  for (const auto& [topic, ps] : sub) {
    const auto it = super.find(topic);
    if (it == super.end() ||
        !std::includes(it->second.begin(), it->second.end(), ps.begin(), ps.end())) {
      return false;
    }
  }
  return true;
}

// The spec with every member's current assignment set to `assignment`.
AssignmentSpec WithCurrent(AssignmentSpec spec, const GroupAssignment& assignment) {
  for (AssignmentMember& m : spec.members) m.current = assignment.at(m.member_id);
  return spec;
}

// Every member appears; every partition of an existing, subscribed topic is assigned exactly once,
// to a subscriber; nothing else is assigned.
void ExpectValid(const AssignmentSpec& spec, const GroupAssignment& out) {
  ASSERT_EQ(out.size(), spec.members.size());
  std::map<std::string, std::vector<int>> owners;  // topic -> times each partition is assigned
  for (const auto& [topic, count] : spec.partition_counts) {
    for (const AssignmentMember& m : spec.members) {
      if (m.topics.contains(topic)) owners[topic].assign(std::max(count, 0), 0);
    }
  }
  for (const AssignmentMember& m : spec.members) {
    const auto it = out.find(m.member_id);
    ASSERT_NE(it, out.end()) << m.member_id;
    for (const auto& [topic, partitions] : it->second) {
      EXPECT_TRUE(m.topics.contains(topic)) << m.member_id << " got unsubscribed " << topic;
      ASSERT_TRUE(owners.contains(topic)) << m.member_id << " got missing " << topic;
      EXPECT_FALSE(partitions.empty()) << m.member_id << " " << topic;
      for (const int32_t p : partitions) {
        ASSERT_GE(p, 0) << topic;
        ASSERT_LT(p, static_cast<int32_t>(owners[topic].size())) << topic;
        ++owners[topic][p];
      }
    }
  }
  for (const auto& [topic, counts] : owners) {
    for (size_t p = 0; p < counts.size(); ++p) {
      EXPECT_EQ(counts[p], 1) << topic << "-" << p;
    }
  }
}

// No partition could still move: whoever holds one has at most one more than every other member
// that subscribes to its topic.
void ExpectNoMoveLeft(const AssignmentSpec& spec, const GroupAssignment& out) {
  for (const auto& [holder, partitions] : out) {
    for (const auto& [topic, ps] : partitions) {
      for (const AssignmentMember& m : spec.members) {
        if (m.topics.contains(topic)) {
          EXPECT_GT(Load(out.at(m.member_id)) + 2, Load(partitions))
              << topic << " could move from " << holder << " to " << m.member_id;
        }
      }
    }
  }
}

void ExpectBalanced(const GroupAssignment& out) {
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [member, partitions] : out) {
    lo = std::min(lo, Load(partitions));
    hi = std::max(hi, Load(partitions));
  }
  EXPECT_LE(hi - lo, 1u);
}

TEST(AssignorTest, MakeAssignorKnowsRangeAndUniformOnly) {
  ASSERT_NE(MakeAssignor("range"), nullptr);
  EXPECT_EQ(MakeAssignor("range")->name(), "range");
  ASSERT_NE(MakeAssignor("uniform"), nullptr);
  EXPECT_EQ(MakeAssignor("uniform")->name(), "uniform");
  EXPECT_EQ(MakeAssignor(kDefaultAssignor)->name(), "uniform");
  EXPECT_EQ(MakeAssignor("sticky"), nullptr);
  EXPECT_EQ(MakeAssignor(""), nullptr);
  EXPECT_EQ(MakeAssignor("Range"), nullptr);
}

TEST(AssignorTest, TopicMissingFromPartitionCountsGetsNothing) {
  const AssignmentSpec spec{{Member("a", {"t", "gone"}, {{"gone", {0}}}), Member("b", {"gone"})},
                            {{"t", 2}}};
  for (const char* name : {"range", "uniform"}) {
    const GroupAssignment out = Assign(name, spec);
    ExpectValid(spec, out);
    EXPECT_EQ(out.at("a"), (TopicPartitions{{"t", {0, 1}}})) << name;
    EXPECT_EQ(out.at("b"), TopicPartitions{}) << name;
  }
}

TEST(AssignorTest, EmptyGroupAndTopicWithoutSubscribers) {
  for (const char* name : {"range", "uniform"}) {
    EXPECT_TRUE(Assign(name, {{}, {{"t", 3}}}).empty()) << name;
    const AssignmentSpec spec{{Member("a", {}), Member("b", {"t"})}, {{"t", 2}, {"u", 4}}};
    const GroupAssignment out = Assign(name, spec);
    ExpectValid(spec, out);
    EXPECT_EQ(out.at("a"), TopicPartitions{}) << name;
    EXPECT_EQ(out.at("b"), (TopicPartitions{{"t", {0, 1}}})) << name;
  }
}

TEST(RangeAssignorTest, SplitsPartitionsIntoContiguousEqualRanges) {
  // `current` is ignored: range is not sticky.
  const AssignmentSpec spec{
      {Member("c", {"t"}), Member("a", {"t"}, {{"t", {4, 5}}}), Member("b", {"t"})}, {{"t", 6}}};
  const GroupAssignment out = Assign("range", spec);
  ExpectValid(spec, out);
  EXPECT_EQ(out, (GroupAssignment{
                     {"a", {{"t", {0, 1}}}}, {"b", {{"t", {2, 3}}}}, {"c", {{"t", {4, 5}}}}}));
}

TEST(RangeAssignorTest, FirstMembersTakeTheRemainder) {
  const AssignmentSpec spec{{Member("a", {"t"}), Member("b", {"t"}), Member("c", {"t"})},
                            {{"t", 7}}};
  EXPECT_EQ(
      Assign("range", spec),
      (GroupAssignment{{"a", {{"t", {0, 1, 2}}}}, {"b", {{"t", {3, 4}}}}, {"c", {{"t", {5, 6}}}}}));
  // Fewer partitions than members: the last members get nothing, not an empty topic entry.
  const AssignmentSpec small{spec.members, {{"t", 2}}};
  EXPECT_EQ(Assign("range", small),
            (GroupAssignment{{"a", {{"t", {0}}}}, {"b", {{"t", {1}}}}, {"c", {}}}));
}

TEST(RangeAssignorTest, OrdersStaticMembersByInstanceId) {
  // Sort keys: "z" (m1), "a" (m2), "m3" (dynamic), "m3" (m0, ties with m3 and wins on member id).
  const AssignmentSpec spec{{Member("m1", {"t"}, {}, "z"), Member("m2", {"t"}, {}, "a"),
                             Member("m3", {"t"}), Member("m0", {"t"}, {}, "m3")},
                            {{"t", 4}}};
  EXPECT_EQ(
      Assign("range", spec),
      (GroupAssignment{
          {"m2", {{"t", {0}}}}, {"m0", {{"t", {1}}}}, {"m3", {{"t", {2}}}}, {"m1", {{"t", {3}}}}}));
  // A static member that rejoins with a new member id takes back the same range.
  AssignmentSpec rejoined = spec;
  rejoined.members[1].member_id = "m9";
  EXPECT_EQ(Assign("range", rejoined).at("m9"), (TopicPartitions{{"t", {0}}}));
}

TEST(RangeAssignorTest, SplitsEachTopicAmongItsOwnSubscribers) {
  const AssignmentSpec spec{
      {Member("a", {"t1", "t2"}), Member("b", {"t1"}), Member("c", {"t1", "t2"})},
      {{"t1", 3}, {"t2", 4}}};
  const GroupAssignment out = Assign("range", spec);
  ExpectValid(spec, out);
  EXPECT_EQ(out, (GroupAssignment{{"a", {{"t1", {0}}, {"t2", {0, 1}}}},
                                  {"b", {{"t1", {1}}}},
                                  {"c", {{"t1", {2}}, {"t2", {2, 3}}}}}));
}

TEST(UniformAssignorTest, InitialAssignmentIsBalanced) {
  const AssignmentSpec spec{
      {Member("b", {"t", "u"}), Member("a", {"t", "u"}), Member("c", {"t", "u"})},
      {{"t", 5}, {"u", 3}}};
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  ExpectBalanced(out);
  // Round robin by load, ties to the lower member id.
  EXPECT_EQ(out, (GroupAssignment{{"a", {{"t", {0, 3}}, {"u", {1}}}},
                                  {"b", {{"t", {1, 4}}, {"u", {2}}}},
                                  {"c", {{"t", {2}}, {"u", {0}}}}}));
}

TEST(UniformAssignorTest, AddedMemberTakesPartitionsWithoutOthersMoving) {
  const AssignmentSpec before{
      {Member("a", {"t"}, {{"t", {0, 1}}}), Member("b", {"t"}, {{"t", {2, 3}}}),
       Member("c", {"t"}, {{"t", {4, 5}}})},
      {{"t", 6}}};
  AssignmentSpec spec = before;
  spec.members.push_back(Member("d", {"t"}));
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  ExpectBalanced(out);
  EXPECT_EQ(Load(out.at("d")), 1u);
  for (const AssignmentMember& m : before.members) {
    EXPECT_TRUE(IsSubset(out.at(m.member_id), m.current)) << m.member_id;
  }
  // The most loaded member with the lowest id gives up its highest partition.
  EXPECT_EQ(out.at("d"), (TopicPartitions{{"t", {1}}}));
}

TEST(UniformAssignorTest, RemovedMembersPartitionsAloneMove) {
  const AssignmentSpec spec{
      {Member("a", {"t"}, {{"t", {0, 1, 2}}}), Member("c", {"t"}, {{"t", {6, 7, 8}}}),
       Member("d", {"t"}, {{"t", {9, 10, 11}}})},
      {{"t", 12}}};  // b, which owned 3, 4 and 5, has left
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  ExpectBalanced(out);
  for (const AssignmentMember& m : spec.members) {
    const TopicPartitions& got = out.at(m.member_id);
    EXPECT_TRUE(IsSubset(m.current, got)) << m.member_id << " lost a partition";
    for (const int32_t p : got.at("t")) {
      EXPECT_TRUE(m.current.at("t").contains(p) || (p >= 3 && p <= 5)) << m.member_id << " " << p;
    }
  }
}

TEST(UniformAssignorTest, HeterogeneousSubscriptionsGoOnlyToSubscribers) {
  const AssignmentSpec spec{{Member("a", {"t1"}), Member("b", {"t1", "t2"})},
                            {{"t1", 3}, {"t2", 3}}};
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  ExpectNoMoveLeft(spec, out);
  // Filling gives a t1-0, t1-2 and b t1-1 and all of t2; balancing then moves t1-1 to a.
  EXPECT_EQ(out, (GroupAssignment{{"a", {{"t1", {0, 1, 2}}}}, {"b", {{"t2", {0, 1, 2}}}}}));
}

TEST(UniformAssignorTest, GivesAwayNewlyGainedPartitionsFirst) {
  // Filling gives a the new t1-0 and all of t2 (only a may take t2): a holds 5, b 2. Of a's two
  // partitions b may take, the one a gained in this run moves, not t1-3, which a already owned.
  const AssignmentSpec spec{
      {Member("a", {"t1", "t2"}, {{"t1", {3}}}), Member("b", {"t1"}, {{"t1", {1, 2}}})},
      {{"t1", 4}, {"t2", 3}}};
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  ExpectNoMoveLeft(spec, out);
  EXPECT_EQ(out,
            (GroupAssignment{{"a", {{"t1", {3}}, {"t2", {0, 1, 2}}}}, {"b", {{"t1", {0, 1, 2}}}}}));
}

TEST(UniformAssignorTest, DropsPartitionsOfDeletedTopicsAndShrunkCounts) {
  const AssignmentSpec spec{{Member("a", {"t", "old"}, {{"t", {0, 1, 2}}, {"old", {0, 1}}}),
                             Member("b", {"t"}, {{"t", {3, 4, 5}}})},
                            {{"t", 4}}};  // "old" was deleted, t shrunk from 6 to 4 partitions
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  EXPECT_EQ(out, (GroupAssignment{{"a", {{"t", {0, 1}}}}, {"b", {{"t", {2, 3}}}}}));
}

TEST(UniformAssignorTest, KeepsOnlyPartitionsOfTopicsStillSubscribed) {
  // a unsubscribed from u; b claims t-0 too (a's claim wins, being first by member id).
  const AssignmentSpec spec{{Member("b", {"t", "u"}, {{"t", {0, 2}}, {"u", {1}}}),
                             Member("a", {"t"}, {{"t", {0, 1}}, {"u", {0}}})},
                            {{"t", 3}, {"u", 2}}};
  const GroupAssignment out = Assign("uniform", spec);
  ExpectValid(spec, out);
  EXPECT_EQ(out, (GroupAssignment{{"a", {{"t", {0, 1}}}}, {"b", {{"t", {2}}, {"u", {0, 1}}}}}));
}

TEST(UniformAssignorTest, ThousandPartitionsHundredMembers) {
  AssignmentSpec spec;
  spec.partition_counts = {{"events", 1000}};
  for (int i = 0; i < 100; ++i)
    spec.members.push_back(Member("member-" + std::to_string(i), {"events"}));

  const auto start = std::chrono::steady_clock::now();
  const GroupAssignment initial = Assign("uniform", spec);
  const auto initial_us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  ExpectValid(spec, initial);
  for (const auto& [member, partitions] : initial) EXPECT_EQ(Load(partitions), 10u) << member;

  AssignmentSpec grown = WithCurrent(spec, initial);
  grown.members.push_back(Member("member-new", {"events"}));
  const auto grow_start = std::chrono::steady_clock::now();
  const GroupAssignment out = Assign("uniform", grown);
  const auto grow_us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - grow_start);
  std::printf("uniform, 1000 partitions x 100 members: %lld us; adding a 101st member: %lld us\n",
              static_cast<long long>(initial_us.count()), static_cast<long long>(grow_us.count()));

  ExpectValid(grown, out);
  ExpectBalanced(out);
  EXPECT_EQ(Load(out.at("member-new")), 9u);
  for (const AssignmentMember& m : spec.members) {
    EXPECT_TRUE(IsSubset(out.at(m.member_id), initial.at(m.member_id))) << m.member_id;
  }
}

// Random groups: random topics and counts, subscriptions and (possibly stale, overlapping or
// impossible) current assignments.
TEST(AssignorPropertyTest, RandomGroupsAreValidBalancedStickyAndDeterministic) {
  std::mt19937 rng(20240613);
  auto uniform_int = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<>(lo, hi)(rng);
  };
  for (int iteration = 0; iteration < 200; ++iteration) {
    SCOPED_TRACE(iteration);
    const bool homogeneous = iteration % 2 == 0;
    AssignmentSpec spec;
    const int num_topics = uniform_int(1, 5);
    std::vector<std::string> topics;
    for (int t = 0; t < num_topics + 1; ++t) {
      topics.push_back("t" + std::to_string(t));
      // The last topic does not exist, but members may subscribe to it and own its partitions.
      if (t < num_topics) spec.partition_counts[topics.back()] = uniform_int(0, 40);
    }
    const int num_members = uniform_int(1, 20);
    std::set<std::string> shared;
    for (const std::string& t : topics) {
      if (uniform_int(0, 2) > 0) shared.insert(t);
    }
    for (int m = 0; m < num_members; ++m) {
      AssignmentMember member =
          Member("m" + std::to_string(uniform_int(0, 999)) + "-" + std::to_string(m), {});
      if (homogeneous) {
        member.topics = shared;
      } else {
        for (const std::string& t : topics) {
          if (uniform_int(0, 1) == 1) member.topics.insert(t);
        }
      }
      for (const std::string& t : topics) {
        for (int n = uniform_int(0, 8); n > 0; --n) member.current[t].insert(uniform_int(-2, 45));
      }
      if (uniform_int(0, 3) == 0) member.instance_id = "i" + std::to_string(uniform_int(0, 99));
      spec.members.push_back(std::move(member));
    }

    AssignmentSpec shuffled = spec;
    std::shuffle(shuffled.members.begin(), shuffled.members.end(), rng);
    for (const char* name : {"range", "uniform"}) {
      SCOPED_TRACE(name);
      const GroupAssignment out = Assign(name, spec);
      ExpectValid(spec, out);
      EXPECT_EQ(Assign(name, shuffled), out);
      if (std::string_view(name) == "uniform") {
        if (homogeneous) ExpectBalanced(out);
        ExpectNoMoveLeft(spec, out);
        // Sticky: run again from its own result and nothing moves.
        EXPECT_EQ(Assign(name, WithCurrent(spec, out)), out);
      }
    }
  }
}

}  // namespace
}  // namespace runnel::broker
