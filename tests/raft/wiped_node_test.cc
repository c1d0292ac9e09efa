// raft::Node's catching-up rule (Options::catching_up): a node that lost its state — a wiped
// disk — must not vote a candidate missing entries its lost copy helped commit, until it holds
// the leader's whole commit index again; a new group whose nodes all count as catching up still
// elects a leader.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/node.h"
#include "tests/raft/sim/test_cluster.h"

namespace runnel::raft {
namespace {

using sim::Cluster;

// Nodes 2 and 3 tick, node 1 cut off, for at most 200 ticks: whether one of them became leader.
bool TwoAndThreeElectWithoutOne(Cluster& c) {
  const auto without_1 = [](const Message& m) { return m.to == 1 || m.from == 1; };
  for (int tick = 0; tick < 200; ++tick) {
    c.node(2).Tick();
    c.node(3).Tick();
    c.Deliver(without_1);
    if (c.node(2).role() == Role::kLeader || c.node(3).role() == Role::kLeader) return true;
  }
  return false;
}

// A wiped voter forgets what it acknowledged. Node 3 missed entry "a", committed by nodes 1 and 2;
// node 2's disk is wiped and node 1 is down. Node 3's log is longer than node 2's (empty) one, so
// by the election restriction alone node 2 elects it and "a" — acknowledged — is lost. Returns
// whether node 3 became leader (within a bounded number of ticks) and the entries it then holds.
std::pair<bool, std::vector<std::string>> ElectAfterAWipe(bool wiped_knows_it) {
  Cluster c(3);
  c.Elect(1);  // every node holds term 1's leader-change entry
  const auto cut_off_3 = [](const Message& m) { return m.to == 3 || m.from == 3; };
  EXPECT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver(cut_off_3);
  EXPECT_EQ(c.node(1).commit_index(), c.log(1).LastIndex()) << "\"a\" committed on 1 and 2";
  c.Wipe(2, wiped_knows_it);
  const bool elected = TwoAndThreeElectWithoutOne(c);
  std::vector<std::string> data;
  for (const Entry& e : c.log(3).Read(c.log(3).StartIndex(), 1 << 20)) {
    if (e.type == EntryType::kData) data.push_back(e.data);
  }
  return {elected, data};
}

TEST(RaftWipedNodeTest, WithoutKnowingItLostItsStateAWipedVoterElectsACandidateMissingAnEntry) {
  // The hazard the rule below closes, shown on the same steps.
  const auto [elected, data] = ElectAfterAWipe(/*wiped_knows_it=*/false);
  EXPECT_TRUE(elected);
  EXPECT_TRUE(data.empty()) << "node 3 leads without \"a\"";
}

TEST(RaftWipedNodeTest, AVoterThatLostItsStateDoesNotVoteUntilCaughtUp) {
  const auto [elected, data] = ElectAfterAWipe(/*wiped_knows_it=*/true);
  EXPECT_FALSE(elected) << "a leader was elected without the only copy of \"a\"";
}

TEST(RaftWipedNodeTest, AWipedVoterCatchesUpFromTheLeaderAndThenVotesAgain) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver();
  c.Wipe(2, /*catching_up=*/true);
  EXPECT_TRUE(c.node(2).catching_up());
  // A heartbeat tells node 2 the commit index; the appends that follow bring it up to it.
  for (int i = 0; i < 5; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  EXPECT_EQ(c.log(2).LastIndex(), c.log(1).LastIndex());
  EXPECT_FALSE(c.node(2).catching_up()) << "holds the leader's term up to the commit index";
  // A restart keeps it caught up (the driver persisted that), and it votes again: with node 1
  // gone, 2 and 3 elect a leader holding "a".
  c.Restart(2);
  EXPECT_FALSE(c.node(2).catching_up());
  const bool elected = TwoAndThreeElectWithoutOne(c);
  EXPECT_TRUE(elected);
}

TEST(RaftWipedNodeTest, AWipedVoterIsNotCaughtUpUntilItHoldsTheLeadersWholeCommitIndex) {
  // One entry per append: the first append after the wipe ends in the leader's term, and its
  // commit (capped at what the follower got) is of that term too — yet the follower lacks the
  // rest of what was committed.
  Cluster c(3, [](Options& o) { o.max_append_bytes = 1; });
  c.Elect(1);
  for (const char* data : {"a", "b", "c", "d"}) ASSERT_TRUE(c.node(1).Propose(data).ok());
  c.Deliver();
  const Index committed = c.node(1).commit_index();
  c.Wipe(2, /*catching_up=*/true);
  // Node 2 gets its first two appends (the leader-change entry and "a"), no more.
  int appends = 0;
  c.node(1).Tick();
  c.Deliver([&](const Message& m) {
    return m.to == 2 && m.type == MessageType::kAppend && !m.entries.empty() && ++appends > 2;
  });
  ASSERT_LT(c.log(2).LastIndex(), committed);
  EXPECT_TRUE(c.node(2).catching_up())
      << "caught up with " << c.log(2).LastIndex() << " of " << committed << " committed";
  for (int i = 0; i < 10; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  EXPECT_GE(c.log(2).LastIndex(), committed);
  EXPECT_FALSE(c.node(2).catching_up());
}

TEST(RaftWipedNodeTest, AWipedVoterCatchesUpFromALeaderElectedAfterTheWipe) {
  // The e2e case: node 3 paused while "a" commits on 1 and 2; node 2 wiped, node 1 down, node 3
  // back: no leader until node 1 returns, wins, and brings node 2 up to date.
  Cluster c(3);
  c.Elect(1);
  const auto cut_off_3 = [](const Message& m) { return m.to == 3 || m.from == 3; };
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver(cut_off_3);
  c.Wipe(2, /*catching_up=*/true);
  const auto without_1 = [](const Message& m) { return m.to == 1 || m.from == 1; };
  for (int tick = 0; tick < 50; ++tick) {
    c.node(2).Tick();
    c.node(3).Tick();
    c.Deliver(without_1);
  }
  ASSERT_NE(c.node(3).role(), Role::kLeader);
  c.Restart(1);
  // The new leader's appends to node 2 go out before its term's first entry commits, and the
  // empty append that would tell it the new commit index is lost (in a broker it may never be
  // sent: a follower's probe is paused): the heartbeats must finish the catch-up.
  const auto no_empty_appends_to_2 = [](const Message& m) {
    return m.to == 2 && m.type == MessageType::kAppend && m.entries.empty();
  };
  bool caught_up = false;
  for (int tick = 0; tick < 200 && !caught_up; ++tick) {
    for (NodeId id = 1; id <= 3; ++id) c.node(id).Tick();
    c.Deliver(no_empty_appends_to_2);
    caught_up = !c.node(2).catching_up();
  }
  EXPECT_TRUE(caught_up) << "node 2 holds " << c.log(2).LastIndex() << ", commit "
                         << c.node(2).commit_index() << "; leader commit "
                         << c.node(1).commit_index();
}

TEST(RaftWipedNodeTest, ANewGroupWhoseNodesAllCountAsCatchingUpStillElectsALeader) {
  // A broker cannot tell a new replica from a wiped one: every new group starts catching up.
  Cluster c(3, [](Options& o) { o.catching_up = true; });
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver();
  for (int i = 0; i < 3; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  for (NodeId id = 1; id <= 3; ++id) {
    EXPECT_FALSE(c.node(id).catching_up()) << "node " << id;
  }
}

// Options::directory_id: the voters' directories, as the metadata log records them (a broker's
// registration). `recorded` stands for what every node's state records: "dir-<id>" to begin with.
Cluster WithDirectories(std::shared_ptr<std::map<NodeId, std::string>> recorded) {
  return Cluster(3, [recorded](Options& o) {
    o.directory_id = absl::StrCat("dir-", o.id);
    o.recorded_directory = [recorded](NodeId id) {
      auto it = recorded->find(id);
      return it == recorded->end() ? std::string() : it->second;
    };
  });
}

TEST(RaftWipedNodeTest, AVoterWithANewDirectoryRefusesCandidatesThatRecordItsOldOne) {
  // The steps of ElectAfterAWipe, the wiped node told nothing but its new directory id (the
  // metadata log's case: no catching-up marker, the registrations hold the directories).
  auto recorded = std::make_shared<std::map<NodeId, std::string>>(
      std::map<NodeId, std::string>{{1, "dir-1"}, {2, "dir-2"}, {3, "dir-3"}});
  Cluster c = WithDirectories(recorded);
  c.Elect(1);
  const auto cut_off_3 = [](const Message& m) { return m.to == 3 || m.from == 3; };
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver(cut_off_3);
  c.options(2).directory_id = "dir-2-new";
  c.Wipe(2);
  EXPECT_FALSE(TwoAndThreeElectWithoutOne(c))
      << "node 3, without \"a\", was elected with the wiped node's vote";

  // Node 1 returns and wins with node 3's vote (its log is longer); node 2 catches up from it.
  c.Restart(1);
  for (int tick = 0; tick < 200 && c.node(1).role() != Role::kLeader; ++tick) {
    for (NodeId id = 1; id <= 3; ++id) c.node(id).Tick();
    c.Deliver();
  }
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  for (int i = 0; i < 5; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  ASSERT_EQ(c.log(2).LastIndex(), c.log(1).LastIndex());
  // Its new directory recorded (it registered again), node 2 votes again: with node 1 gone,
  // 2 and 3 elect a leader, which holds "a".
  (*recorded)[2] = "dir-2-new";
  ASSERT_TRUE(TwoAndThreeElectWithoutOne(c));
  const NodeId leader = c.node(2).role() == Role::kLeader ? 2 : 3;
  bool has_a = false;
  for (const Entry& e : c.log(leader).Read(c.log(leader).StartIndex(), 1 << 20)) {
    has_a |= e.type == EntryType::kData && e.data == "a";
  }
  EXPECT_TRUE(has_a) << "node " << leader << " leads without \"a\"";
}

TEST(RaftWipedNodeTest, DirectoriesLeaveANewGroupsFirstElectionAlone) {
  // Nothing recorded yet: every vote request carries no directory.
  Cluster c = WithDirectories(std::make_shared<std::map<NodeId, std::string>>());
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Deliver();
  EXPECT_EQ(c.node(1).commit_index(), c.log(1).LastIndex());
}

}  // namespace
}  // namespace runnel::raft
