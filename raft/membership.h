// Membership: who votes in a Raft group and what a quorum of them decides. Voters count towards
// elections and commits; learners receive the log but never vote (a replica being added catches up
// as a learner first, so the group never waits on it).
//
// Thread-safety: a value type; not synchronised.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "raft/types.h"

namespace runnel::raft {

enum class VoteResult { kPending, kWon, kLost };

class Membership {
 public:
  Membership() = default;
  Membership(std::set<NodeId> voters, std::set<NodeId> learners = {});

  const std::set<NodeId>& voters() const { return voters_; }
  const std::set<NodeId>& learners() const { return learners_; }
  bool IsVoter(NodeId id) const { return voters_.contains(id); }
  bool IsMember(NodeId id) const { return voters_.contains(id) || learners_.contains(id); }
  // Every member, voters first.
  std::set<NodeId> Members() const;
  int Quorum() const { return static_cast<int>(voters_.size()) / 2 + 1; }

  // The highest index a quorum of voters has, given each voter's match index.
  Index QuorumIndex(const std::function<Index(NodeId)>& match) const;
  // An election's state given the answers so far (granted: true, rejected: false; absent: none).
  VoteResult Tally(const std::function<std::optional<bool>(NodeId)>& answer) const;

  std::string ToString() const;
  // The bytes of a kConfig entry: "voters=1,2,3;learners=4" (docs/FORMAT.md).
  std::string Encode() const;
  static absl::StatusOr<Membership> Decode(std::string_view data);
  // Whether `next` may follow this configuration in one step (the single-server rule, Raft thesis
  // section 4.1): at most one voter added or removed, learners changed freely, at least one voter
  // left. Any two majorities of such neighbours overlap, so no joint phase is needed.
  absl::Status CheckSingleStep(const Membership& next) const;
  friend bool operator==(const Membership&, const Membership&) = default;

 private:
  std::set<NodeId> voters_;
  std::set<NodeId> learners_;
};

}  // namespace runnel::raft
