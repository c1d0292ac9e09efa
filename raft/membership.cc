#include "raft/membership.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
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

std::string Membership::Encode() const {
  return "voters=" + absl::StrJoin(voters_, ",") + ";learners=" + absl::StrJoin(learners_, ",");
}

namespace {

// Splits at `separator`, keeping empty pieces (Debian's Abseil splits only absl::string_view).
std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    pieces.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return pieces;
    start = end + 1;
  }
}

}  // namespace

absl::StatusOr<Membership> Membership::Decode(std::string_view data) {
  std::set<NodeId> sets[2];
  const std::vector<std::string_view> parts = Split(data, ';');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("configuration '%s': expected 'voters=...;learners=...'", data));
  }
  constexpr std::string_view kNames[2] = {"voters=", "learners="};
  for (int i = 0; i < 2; ++i) {
    std::string_view part = parts[i];
    if (part.substr(0, kNames[i].size()) != kNames[i]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "configuration '%s': part %d does not start with '%s'", data, i + 1, kNames[i]));
    }
    part.remove_prefix(kNames[i].size());
    if (part.empty()) continue;
    for (std::string_view id_text : Split(part, ',')) {
      NodeId id;
      if (!absl::SimpleAtoi(std::string(id_text), &id) || id < 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("configuration '%s': '%s' is not a node id", data, id_text));
      }
      sets[i].insert(id);
    }
  }
  for (NodeId id : sets[1]) {
    if (sets[0].contains(id)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("configuration '%s': node %d is both a voter and a learner", data, id));
    }
  }
  return Membership(std::move(sets[0]), std::move(sets[1]));
}

absl::Status Membership::CheckSingleStep(const Membership& next) const {
  if (next.voters_.empty()) {
    return absl::InvalidArgumentError("a configuration needs at least one voter");
  }
  int changed = 0;
  for (NodeId id : voters_) changed += next.voters_.contains(id) ? 0 : 1;
  for (NodeId id : next.voters_) changed += voters_.contains(id) ? 0 : 1;
  if (changed > 1) {
    return absl::InvalidArgumentError(absl::StrFormat("%s -> %s changes %d voters; one at a time",
                                                      ToString(), next.ToString(), changed));
  }
  return absl::OkStatus();
}

}  // namespace runnel::raft
