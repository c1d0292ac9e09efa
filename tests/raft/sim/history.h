// History: the one sequence of committed entries every node of the Raft simulation must agree on,
// built from what the nodes commit, and the safety properties checked against it. The simulated
// state machine is a hash chain of the entries applied, so a snapshot's state can be checked too.
//
// Every check returns an error naming the nodes, indexes and terms involved; the simulation stops
// at the first.
//
// Thread-safety: none (one per simulation).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace runnel::raft::sim {

class History {
 public:
  // The state machine: the state before anything is applied, and after applying `e`.
  static constexpr uint64_t kStartState = 14695981039346656037ULL;
  static uint64_t Apply(uint64_t state, const Entry& e);
  // A snapshot's data is the state in decimal ("" for the start state).
  static uint64_t StateFromSnapshot(const std::string& data);

  // Node `node`, in `term`, knows `e` is committed: it extends the history or is already in it,
  // identically.
  absl::Status Committed(NodeId node, Term term, const Entry& e);
  // A snapshot through `index` holding `state` matches the history's state there.
  absl::Status CheckState(NodeId node, Index index, uint64_t state) const;
  // `node` leads `term`: no other node led it, and its log holds every entry committed in an
  // earlier term (leader completeness).
  absl::Status BecameLeader(NodeId node, Term term, const LogStorage& log);
  // `log`, committed through `commit`, agrees with the history entry for entry.
  absl::Status CheckLog(NodeId node, const LogStorage& log, Index commit) const;

  // The committed entry starting at `first`, and the state after the one ending at `last`.
  const Entry* At(Index first) const;
  std::optional<uint64_t> StateAfter(Index last) const;
  int64_t entries() const { return static_cast<int64_t>(entries_.size()); }
  int64_t leaders() const { return static_cast<int64_t>(leaders_.size()); }

 private:
  struct Record {
    Entry entry;
    Term commit_term;  // the lowest term in which a node knew it was committed
    uint64_t state;    // the state after applying it
  };
  std::vector<Record>::const_iterator EndingAt(Index last) const;

  std::vector<Record> entries_;
  std::map<Term, NodeId> leaders_;
};

}  // namespace runnel::raft::sim
