#include "raft/membership.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/check.h"

namespace runnel::raft {

Membership::Membership(std::set<NodeId> voters, std::set<NodeId> learners)
    : voters_(std::move(voters)), learners_(std::move(learners)) {
  for (NodeId id : learners_) {
    RUNNEL_CHECK(!voters_.contains(id), "node %d is both a voter and a learner", id);
  }
}

std::set<NodeId> Membership::Members() const {
  std::set<NodeId> members = voters_;
  members.insert(learners_.begin(), learners_.end());
  return members;
}

Index Membership::QuorumIndex(const std::function<Index(NodeId)>& match) const {
  if (voters_.empty()) return kNoIndex;
  std::vector<Index> matches;
  matches.reserve(voters_.size());
  for (NodeId id : voters_) matches.push_back(match(id));
  // Sorted high to low, the quorum-th value is held by at least a quorum.
  std::sort(matches.begin(), matches.end(), std::greater<>());
  return matches[Quorum() - 1];
}

VoteResult Membership::Tally(const std::function<std::optional<bool>(NodeId)>& answer) const {
  int granted = 0;
  int rejected = 0;
  for (NodeId id : voters_) {
    std::optional<bool> a = answer(id);
    if (!a.has_value()) continue;
    (*a ? granted : rejected)++;
  }
  if (granted >= Quorum()) return VoteResult::kWon;
  if (rejected > static_cast<int>(voters_.size()) - Quorum()) return VoteResult::kLost;
  return VoteResult::kPending;
}

std::string Membership::ToString() const {
  std::string out = "voters {" + absl::StrJoin(voters_, ",") + "}";
  if (!learners_.empty()) out += " learners {" + absl::StrJoin(learners_, ",") + "}";
  return out;
}

}  // namespace runnel::raft
