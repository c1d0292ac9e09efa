// raft::Node alone, one rule per test: nodes over MemoryLogs, messages carried by hand, every
// persistence round completed on the spot unless a test holds it back.
#include "raft/node.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "raft/memory_log.h"
#include "tests/raft/sim/local_cluster.h"
#include "tests/raft/sim/test_cluster.h"

namespace runnel::raft {
namespace {

Options OptionsFor(NodeId id, std::set<NodeId> voters) {
  return sim::LocalOptions(id, std::move(voters));
}

Entry MakeEntry(Index first, Index last, Term term, std::string data = "x") {
  Entry e;
  e.first = first;
  e.last = last;
  e.term = term;
  e.data = std::move(data);
  return e;
}

Message MakeMessage(MessageType type, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

using sim::Cluster;

TEST(RaftElectionTest, ASingleNodeLeadsOnlyOnceItsVoteForItselfIsDurable) {
  MemoryLog log;
  Node node(OptionsFor(1, {1}), &log, HardState{});
  for (int i = 0; i < 30 && node.role() == Role::kFollower; ++i) node.Tick();
  ASSERT_EQ(node.role(), Role::kCandidate);
  ASSERT_TRUE(node.HasReady());
  Ready ready = node.TakeReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(*ready.hard_state, (HardState{1, 1}));
  EXPECT_TRUE(ready.sync);
  EXPECT_EQ(node.role(), Role::kCandidate) << "counted its vote before it was on disk";
  node.Advance();
  EXPECT_EQ(node.role(), Role::kLeader);
  EXPECT_EQ(node.term(), 1);
}

TEST(RaftElectionTest, ThreeNodesElectOneLeaderWhoCommitsItsTerm) {
  Cluster c(3);
  c.Elect(1);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(2).role(), Role::kFollower);
  EXPECT_EQ(c.node(2).leader(), 1);
  EXPECT_EQ(c.node(3).term(), 1);
  // The leader-change entry of term 1 is committed everywhere.
  for (NodeId id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.log(id).LastIndex(), 0);
    EXPECT_EQ(c.log(id).entries().back().type, EntryType::kLeaderChange);
  }
  c.node(1).Tick();  // a heartbeat carries the commit index
  c.Deliver();
  EXPECT_EQ(c.node(1).commit_index(), 0);
  EXPECT_EQ(c.node(3).commit_index(), 0);
}

TEST(RaftElectionTest, AVoteIsGrantedOnlyAfterItIsPersisted) {
  MemoryLog log;
  Node node(OptionsFor(2, {1, 2, 3}), &log, HardState{});
  Message vote = MakeMessage(MessageType::kVote, 1, 2, 1);
  vote.index = kNoIndex;
  vote.log_term = 0;
  node.Step(vote);
  EXPECT_TRUE(node.TakeMessages().empty()) << "the grant left before the vote was on disk";
  Ready ready = node.TakeReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(*ready.hard_state, (HardState{1, 1}));
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_EQ(ready.messages[0].type, MessageType::kVoteResponse);
  EXPECT_FALSE(ready.messages[0].reject);
  node.Advance();
  // A second candidate in the same term is refused: one vote per term.
  vote.from = 3;
  node.Step(vote);
  std::vector<Message> out = node.TakeMessages();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
}

TEST(RaftElectionTest, AVoteIsRefusedToACandidateWhoseLogIsBehind) {
  MemoryLog log;
  log.Append({MakeEntry(0, 4, 2)});
  Node node(OptionsFor(2, {1, 2, 3}), &log, HardState{2, kNoNode});
  auto ask = [&](Index last_index, Term last_term, NodeId from) {
    Message vote = MakeMessage(MessageType::kVote, from, 2, 3);
    vote.index = last_index;
    vote.log_term = last_term;
    node.Step(vote);
    std::vector<Message> out = node.TakeMessages();
    if (!out.empty()) return !out[0].reject;
    Ready ready = node.TakeReady();
    node.Advance();
    return !ready.messages.empty() && !ready.messages[0].reject;
  };
  EXPECT_FALSE(ask(3, 2, 1)) << "same last term, shorter log";
  EXPECT_FALSE(ask(9, 1, 1)) << "longer log, older last term";
  EXPECT_TRUE(ask(4, 2, 3)) << "as long, same term";
}

TEST(RaftElectionTest, PreVoteKeepsACutOffNodeFromRaisingItsTerm) {
  Cluster c(3);
  c.Elect(1);
  const Term term = c.node(1).term();
  // Node 3 hears nothing for a long time and campaigns again and again.
  for (int i = 0; i < 200; ++i) {
    c.node(3).Tick();
    c.Flush(3);
    c.queue().clear();  // cut off: its requests are lost
  }
  EXPECT_EQ(c.node(3).term(), term) << "pre-vote should keep the term of a node that cannot win";
  // Back on the network, it does not depose the leader.
  c.node(1).Tick();
  c.Deliver();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), term);
}

TEST(RaftElectionTest, ALeaderCutOffFromItsQuorumStepsDown) {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 30; ++i) {
    c.node(1).Tick();
    c.Flush(1);
    c.queue().clear();  // nothing reaches the followers
  }
  EXPECT_EQ(c.node(1).role(), Role::kFollower) << "check-quorum should depose a lone leader";
}

TEST(RaftElectionTest, FollowersThatHeardFromALeaderIgnoreVoteRequests) {
  Cluster c(3);
  c.Elect(1);
  Message vote = MakeMessage(MessageType::kVote, 3, 2, c.node(2).term() + 5);
  vote.index = 100;
  vote.log_term = 100;
  c.node(2).Step(vote);
  EXPECT_EQ(c.node(2).term(), vote.term - 5) << "the leader lease should hold";
  EXPECT_TRUE(c.node(2).TakeMessages().empty());
  EXPECT_FALSE(c.node(2).HasReady());
}

TEST(RaftReplicationTest, ADivergentFollowerIsTruncatedToTheLeadersLog) {
  Cluster c(3);
  // Node 3 holds entries of term 1 nobody else has; node 1 will lead term 2 with others.
  c.log(3).Append({MakeEntry(0, 2, 1, "old"), MakeEntry(3, 5, 1, "old")});
  c.log(1).Append({MakeEntry(0, 2, 1, "old")});
  c.log(2).Append({MakeEntry(0, 2, 1, "old")});
  for (NodeId id = 1; id <= 3; ++id) c.Restart(id);
  c.Elect(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  ASSERT_TRUE(c.node(1).Propose("new", 2).ok());
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  // Node 3's entries [3, 5] of term 1 were replaced by the leader's [3, 3] (term change) and
  // [4, 5] ("new").
  EXPECT_EQ(c.log(3).entries().size(), c.log(1).entries().size());
  for (size_t i = 0; i < c.log(1).entries().size(); ++i) {
    EXPECT_EQ(c.log(3).entries()[i], c.log(1).entries()[i]) << "entry " << i;
  }
  EXPECT_EQ(c.node(3).commit_index(), 5);
}

TEST(RaftReplicationTest, ARejectionNamesTheConflictingTermAndItsFirstIndex) {
  MemoryLog log;
  log.Append({MakeEntry(0, 1, 1), MakeEntry(2, 4, 2), MakeEntry(5, 9, 2)});
  Node node(OptionsFor(2, {1, 2, 3}), &log, HardState{3, kNoNode});
  Message append = MakeMessage(MessageType::kAppend, 1, 2, 3);
  append.index = 7;
  append.log_term = 3;  // the leader has term 3 at 7; we have term 2 there, from offset 2
  node.Step(append);
  std::vector<Message> out = node.TakeMessages();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].hint_term, 2);
  EXPECT_EQ(out[0].hint_index, 2);
  // Past our end: the hint is where our log ends.
  append.index = 20;
  node.Step(append);
  out = node.TakeMessages();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hint_term, 0);
  EXPECT_EQ(out[0].hint_index, 10);
}

TEST(RaftReplicationTest, AnEntryOfAnEarlierTermIsNotCommittedByCountingReplicas) {
  // Figure 8: node 1 leads term 3 with an entry of term 1 at offset 0 that only it has.
  MemoryLog log;
  log.Append({MakeEntry(0, 0, 1)});
  Options options = OptionsFor(1, {1, 2, 3});
  Node leader(options, &log, HardState{2, kNoNode});
  auto complete_rounds = [&] {
    while (leader.HasReady()) {
      leader.TakeReady();
      leader.Advance();
    }
  };
  for (int i = 0; i < 30 && leader.role() == Role::kFollower; ++i) leader.Tick();
  Message grant = MakeMessage(MessageType::kPreVoteResponse, 2, 1, 3);
  leader.Step(grant);
  complete_rounds();
  grant.type = MessageType::kVoteResponse;
  leader.Step(grant);
  complete_rounds();
  ASSERT_EQ(leader.role(), Role::kLeader);
  ASSERT_EQ(leader.term(), 3);
  ASSERT_EQ(log.LastIndex(), 1);  // offset 1: the leader change of term 3
  // Node 2 acknowledges offset 0 (term 1): a quorum holds it, but it is not of this term.
  Message ack = MakeMessage(MessageType::kAppendResponse, 2, 1, 3);
  ack.index = 0;
  leader.Step(ack);
  EXPECT_EQ(leader.commit_index(), kNoIndex);
  // Once offset 1 (term 3) is on a quorum, both are committed.
  ack.index = 1;
  leader.Step(ack);
  EXPECT_EQ(leader.commit_index(), 1);
}

TEST(RaftReplicationTest, ALeaderCountsItsOwnLogOnlyOnceItIsSynced) {
  MemoryLog log;
  Node node(OptionsFor(1, {1}), &log, HardState{});
  for (int i = 0; i < 30 && node.role() != Role::kLeader; ++i) {
    node.Tick();
    if (node.HasReady()) {
      node.TakeReady();
      node.Advance();
    }
  }
  ASSERT_EQ(node.role(), Role::kLeader);
  while (node.HasReady()) {
    node.TakeReady();
    node.Advance();
  }
  const Index committed = node.commit_index();
  absl::StatusOr<Proposal> p = node.Propose("a", 3);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->first, committed + 1);
  EXPECT_EQ(p->last, committed + 3);
  Ready ready = node.TakeReady();
  EXPECT_TRUE(ready.sync);
  EXPECT_EQ(node.commit_index(), committed) << "committed before its sync";
  node.Advance();
  EXPECT_EQ(node.commit_index(), p->last);
}

TEST(RaftReplicationTest, AppendsArePipelinedUpToTheInflightLimit) {
  Cluster c(2, [](Options& o) {
    o.max_inflight = 2;
    o.max_append_bytes = 1;  // one entry per append
  });
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  ASSERT_EQ(c.node(1).progress(2)->state(), Progress::State::kReplicate);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).Propose("abc").ok());
  c.Flush(1);
  int appends = 0;
  for (const Message& m : c.queue()) appends += m.type == MessageType::kAppend ? 1 : 0;
  EXPECT_EQ(appends, 2) << "the pipeline holds two unanswered appends";
  c.Deliver();
  EXPECT_EQ(c.log(2).LastIndex(), c.log(1).LastIndex());
  EXPECT_EQ(c.node(1).commit_index(), c.log(1).LastIndex());
}

TEST(RaftReplicationTest, AFollowerBehindTheLeadersLogStartInstallsASnapshot) {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).Propose("v", 2).ok());
  // Node 3 misses everything; the others commit it.
  c.Deliver([](const Message& m) { return m.to == 3 || m.from == 3; });
  c.node(1).Tick();
  c.Deliver([](const Message& m) { return m.to == 3 || m.from == 3; });
  const Index commit = c.node(1).commit_index();
  ASSERT_EQ(commit, c.log(1).LastIndex());
  // Retention deletes the leader's log through the commit index.
  c.log(1).CompactThrough(commit, "state-at-commit");
  // Node 3 is back: it needs what was deleted.
  c.node(1).Tick();
  c.Deliver();
  EXPECT_EQ(c.log(3).StartIndex(), commit + 1);
  EXPECT_EQ(c.log(3).SnapshotData(), "state-at-commit");
  EXPECT_EQ(c.node(3).commit_index(), commit);
  // And it goes on from the log.
  ASSERT_TRUE(c.node(1).Propose("after").ok());
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  EXPECT_EQ(c.log(3).LastIndex(), c.log(1).LastIndex());
  EXPECT_EQ(c.node(3).commit_index(), c.log(1).LastIndex());
}

TEST(RaftLeadershipTest, TransferHandsLeadershipToACaughtUpVoter) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Deliver();
  ASSERT_TRUE(c.node(1).TransferLeadership(2).ok());
  EXPECT_FALSE(c.node(1).Propose("refused").ok()) << "proposals wait while leadership moves";
  c.Deliver();
  EXPECT_EQ(c.node(2).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).leader(), 2);
}

TEST(RaftLeadershipTest, ProposalsOnAFollowerNameTheLeader) {
  Cluster c(3);
  c.Elect(1);
  absl::StatusOr<Proposal> p = c.node(2).Propose("x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("leader: 1"), std::string::npos) << p.status();
}

TEST(RaftLeadershipTest, ProposalsPastTheUncommittedLimitAreRefused) {
  Cluster c(3, [](Options& o) { o.max_uncommitted_bytes = 10; });
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("12345678").ok());
  absl::StatusOr<Proposal> p = c.node(1).Propose("12345678");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(p.status().message().find("max_uncommitted_bytes"), std::string::npos);
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  EXPECT_TRUE(c.node(1).Propose("12345678").ok()) << "committed data frees the room";
}

TEST(RaftRestartTest, ARestartedNodeTakesTheTermOfItsLogWhenTheHardStateIsOlder) {
  // The log reached the disk with a term-4 entry, the hard state (term 4) did not.
  MemoryLog log;
  log.Append({MakeEntry(0, 0, 4)});
  Node node(OptionsFor(1, {1, 2, 3}), &log, HardState{3, 2});
  EXPECT_EQ(node.term(), 4);
  EXPECT_EQ(node.vote(), kNoNode);
  ASSERT_TRUE(node.HasReady());
  EXPECT_EQ(node.TakeReady().hard_state, (HardState{4, kNoNode}));
}

TEST(RaftOptionsTest, BadOptionsAreNamed) {
  Options options = OptionsFor(1, {1});
  options.election_ticks = 1;
  EXPECT_NE(options.Validate().message().find("election_ticks"), std::string::npos);
  options = OptionsFor(1, {1});
  options.max_inflight = 0;
  EXPECT_NE(options.Validate().message().find("max_inflight"), std::string::npos);
}

}  // namespace
}  // namespace runnel::raft

namespace runnel::raft {
namespace {

void StartWithVoters(Options& options, std::set<NodeId> voters) {
  options.membership = Membership(std::move(voters));
}

TEST(RaftMembershipTest, ALearnerReceivesTheLogWithoutVotingThenIsPromoted) {
  Cluster c(3, [](Options& o) { StartWithVoters(o, {1, 2}); });
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  absl::StatusOr<Proposal> add = c.node(1).ProposeMembership(Membership({1, 2}, {3}));
  ASSERT_TRUE(add.ok()) << add.status();
  ASSERT_TRUE(c.node(1).Propose("data").ok());
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  EXPECT_EQ(c.node(3).membership(), Membership({1, 2}, {3}));
  EXPECT_EQ(c.log(3).LastIndex(), c.log(1).LastIndex()) << "a learner receives the log";
  // A learner never campaigns.
  for (int i = 0; i < 100; ++i) c.node(3).Tick();
  EXPECT_EQ(c.node(3).role(), Role::kFollower);
  EXPECT_TRUE(c.queue().empty() && c.node(3).TakeMessages().empty());
  // Caught up: promote it.
  ASSERT_GE(c.node(1).progress(3)->match(), c.node(1).commit_index());
  ASSERT_TRUE(c.node(1).ProposeMembership(Membership({1, 2, 3})).ok());
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  for (NodeId id = 1; id <= 3; ++id) EXPECT_EQ(c.node(id).membership(), Membership({1, 2, 3}));
  EXPECT_EQ(c.node(1).commit_index(), c.log(1).LastIndex());
}

TEST(RaftMembershipTest, ChangesGoOneVoterAndOneChangeAtATime) {
  Cluster c(5, [](Options& o) { StartWithVoters(o, {1, 2, 3}); });
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  absl::StatusOr<Proposal> two = c.node(1).ProposeMembership(Membership({1, 2, 3, 4, 5}));
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("changes 2 voters"), std::string::npos) << two.status();
  ASSERT_TRUE(c.node(1).ProposeMembership(Membership({1, 2, 3, 4})).ok());
  // The first change is appended (in force on the leader) but not committed.
  EXPECT_EQ(c.node(1).membership(), Membership({1, 2, 3, 4}));
  absl::StatusOr<Proposal> next = c.node(1).ProposeMembership(Membership({1, 2, 3, 4, 5}));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable) << next.status();
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  EXPECT_TRUE(c.node(1).ProposeMembership(Membership({1, 2, 3, 4, 5})).ok());
}

TEST(RaftMembershipTest, ANewLeaderChangesNothingBeforeItCommitsItsTerm) {
  Cluster c(3);
  for (int i = 0; i < 100 && c.node(1).role() == Role::kFollower; ++i) c.node(1).Tick();
  // Carry only the election: the leader's first entry is not acknowledged yet.
  c.Deliver([](const Message& m) { return m.type == MessageType::kAppendResponse; });
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  absl::StatusOr<Proposal> p = c.node(1).ProposeMembership(Membership({1, 2}));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("has not committed an entry of term"), std::string::npos)
      << p.status();
}

TEST(RaftMembershipTest, ARemovedLeaderStepsDownOnceTheRemovalCommitsAndHandsOver) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  ASSERT_TRUE(c.node(1).ProposeMembership(Membership({2, 3})).ok());
  c.Deliver();
  c.node(1).Tick();
  c.Deliver();
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  const bool two = c.node(2).role() == Role::kLeader;
  const bool three = c.node(3).role() == Role::kLeader;
  EXPECT_TRUE(two != three) << "one of the remaining voters leads at once (TimeoutNow)";
  const NodeId leader = two ? 2 : 3;
  ASSERT_TRUE(c.node(leader).Propose("after").ok());
  c.Deliver();
  c.node(leader).Tick();
  c.Deliver();
  EXPECT_EQ(c.node(leader).commit_index(), c.log(leader).LastIndex());
}

TEST(RaftMembershipTest, AChangeRemovedWithATruncatedTailIsUndone) {
  MemoryLog log;
  Entry config = MakeEntry(1, 1, 1, Membership({1, 2}).Encode());
  config.type = EntryType::kConfig;
  log.Append({MakeEntry(0, 0, 1), config});
  Node node(OptionsFor(2, {1, 2, 3}), &log, HardState{1, kNoNode});
  ASSERT_EQ(node.membership(), Membership({1, 2}));
  // The leader of term 2 never had it.
  Message append = MakeMessage(MessageType::kAppend, 3, 2, 2);
  append.index = 0;
  append.log_term = 1;
  append.entries = {MakeEntry(1, 1, 2)};
  node.Step(append);
  EXPECT_EQ(node.membership(), Membership({1, 2, 3}));
  EXPECT_EQ(node.config_index(), kNoIndex);
}

TEST(RaftMembershipTest, ConfigurationsRoundTripAndBadBytesAreNamed) {
  const Membership m({1, 2, 3}, {7});
  EXPECT_EQ(m.Encode(), "voters=1,2,3;learners=7");
  absl::StatusOr<Membership> back = Membership::Decode(m.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
  EXPECT_FALSE(Membership::Decode("voters=1,x;learners=").ok());
  EXPECT_FALSE(Membership::Decode("voters=1;learners=1").ok());
  absl::StatusOr<Membership> bad = Membership::Decode("nodes=1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nodes=1"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace runnel::raft

namespace runnel::raft {
namespace {

TEST(RaftReadIndexTest, AReadIsAnsweredOnlyOnceAQuorumConfirmsTheLeader) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.node(1).RequestRead(1).ok());
  EXPECT_TRUE(c.node(1).TakeReadStates().empty()) << "answered before a quorum confirmed it";
  c.Deliver();
  std::vector<ReadState> states = c.node(1).TakeReadStates();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].id, 1u);
  EXPECT_EQ(states[0].index, commit);
}

TEST(RaftReadIndexTest, ALeaderCutOffAnswersNoReads) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  ASSERT_TRUE(c.node(1).RequestRead(1).ok());
  ASSERT_TRUE(c.node(1).RequestRead(2).ok());
  c.Deliver([](const Message& m) { return m.from == 1 || m.to == 1; });
  EXPECT_TRUE(c.node(1).TakeReadStates().empty());
  // The leader and one follower are a quorum of three.
  Message answer = MakeMessage(MessageType::kHeartbeatResponse, 2, 1, c.node(1).term());
  answer.context = 1;  // confirms read 1, not read 2
  c.node(1).Step(answer);
  std::vector<ReadState> states = c.node(1).TakeReadStates();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].id, 1u);
}

TEST(RaftReadIndexTest, ReadsNeedALeaderThatCommittedItsTerm) {
  Cluster c(3);
  EXPECT_EQ(c.node(2).RequestRead(1).code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 100 && c.node(1).role() == Role::kFollower; ++i) c.node(1).Tick();
  c.Deliver([](const Message& m) { return m.type == MessageType::kAppendResponse; });
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).RequestRead(1).code(), absl::StatusCode::kUnavailable);
}

TEST(RaftReadIndexTest, ASingleNodeAnswersAtOnce) {
  Cluster c(1);
  c.Elect(1);
  ASSERT_TRUE(c.node(1).RequestRead(5).ok());
  std::vector<ReadState> states = c.node(1).TakeReadStates();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].index, c.node(1).commit_index());
}

}  // namespace
}  // namespace runnel::raft

namespace runnel::raft {
namespace {

// Review findings: each test failed on the code before its fix.

TEST(RaftRestartTest, ARestartedNodeSyncsWhatItsLogShowsBeforeAcknowledgingIt) {
  // The process died with [1, 4] in the page cache, not synced; the restarted node sees it.
  MemoryLog log;
  Entry change = MakeEntry(0, 0, 1, "");
  change.type = EntryType::kLeaderChange;
  log.Append({change, MakeEntry(1, 4, 1)});
  Node node(OptionsFor(2, {1, 2, 3}), &log, HardState{1, 1});
  Message append = MakeMessage(MessageType::kAppend, 1, 2, 1);
  append.index = 0;
  append.log_term = 1;
  append.commit = 0;
  append.entries = {MakeEntry(1, 4, 1)};
  node.Step(append);
  EXPECT_TRUE(node.TakeMessages().empty());
  Ready ready = node.TakeReady();
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_EQ(ready.messages[0].index, 4);
  EXPECT_TRUE(ready.sync) << "acknowledged [1, 4] without syncing what the restart found";
}

TEST(RaftRestartTest, ARestartedLeaderCountsItsLogOnlyOnceSynced) {
  MemoryLog log;
  log.Append({MakeEntry(0, 4, 1)});
  Node node(OptionsFor(1, {1}), &log, HardState{1, kNoNode});
  EXPECT_EQ(node.durable_index(), kNoIndex);
  ASSERT_TRUE(node.HasReady());
  EXPECT_TRUE(node.TakeReady().sync);
  node.Advance();
  EXPECT_EQ(node.durable_index(), 4);
}

TEST(RaftReadIndexTest, AReadWhoseHeartbeatWasLostIsConfirmedByTheNextHeartbeats) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  ASSERT_TRUE(c.node(1).RequestRead(1).ok());
  c.Deliver([](const Message& m) { return m.type == MessageType::kHeartbeat && m.context != 0; });
  for (int i = 0; i < 3; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  std::vector<ReadState> states = c.node(1).TakeReadStates();
  ASSERT_EQ(states.size(), 1u) << "the read waits for a heartbeat that will never come";
}

TEST(RaftReadIndexTest, ReadIdsMustGrowWithinATermEvenAfterEarlierReadsAreAnswered) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  ASSERT_TRUE(c.node(1).RequestRead(5).ok());
  c.Deliver();
  ASSERT_EQ(c.node(1).TakeReadStates().size(), 1u);
  // An answer to read 5 still in flight must not confirm a later read numbered below it.
  EXPECT_DEATH((void)c.node(1).RequestRead(3), "read ids must grow");
}

TEST(RaftLeadershipTest, ATransferThatCannotFinishDoesNotKeepACutOffLeaderInPlace) {
  Cluster c(3);
  c.Elect(1);
  c.node(1).Tick();
  c.Deliver();
  // Cut off; the driver keeps asking for a transfer.
  for (int i = 0; i < 60 && c.node(1).role() == Role::kLeader; ++i) {
    (void)c.node(1).TransferLeadership(2);
    c.node(1).Tick();
    c.Flush(1);
    c.queue().clear();
  }
  EXPECT_EQ(c.node(1).role(), Role::kFollower) << "check-quorum should still depose it";
}

TEST(RaftMembershipTest, AVoterJustAddedGetsAnElectionTimeoutBeforeItCountsAsSilent) {
  Cluster c(2, [](Options& o) { StartWithVoters(o, {1}); });
  c.Elect(1);
  for (int i = 0; i < 9; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  ASSERT_TRUE(c.node(1).ProposeMembership(Membership({1, 2})).ok());
  // The check-quorum tick comes before node 2 could answer anything.
  c.node(1).Tick();
  EXPECT_EQ(c.node(1).role(), Role::kLeader) << "deposed by a voter that had no time to answer";
  c.Deliver();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(RaftLogMatchingTest, AFollowerWhoseDiskWasWipedIsCaughtUpByHeartbeatsAlone) {
  // The leader believes node 3 holds everything; its answers to heartbeats say its log is empty,
  // and no new write comes to make an append fail: the heartbeats alone must bring it back.
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  ASSERT_TRUE(c.node(1).Propose("b").ok());
  c.Deliver();
  const Index last = c.log(1).LastIndex();
  ASSERT_EQ(c.node(1).progress(3)->match(), last);
  c.Wipe(3);
  for (int i = 0; i < 5; ++i) {
    c.node(1).Tick();
    c.Deliver();
  }
  EXPECT_EQ(c.log(3).LastIndex(), last);
  EXPECT_EQ(c.node(1).progress(3)->match(), last);
  EXPECT_EQ(c.node(3).commit_index(), c.node(1).commit_index());
}

}  // namespace
}  // namespace runnel::raft
