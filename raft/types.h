// The words of the Raft core (docs/ARCHITECTURE.md section 3): indexes, terms, entries, messages
// and the state a node keeps on disk.
//
// Indexes are Kafka offsets. An entry covers a range of offsets [first, last] (a RecordBatch v2
// batch covers one offset per record), the next entry starts at last + 1, and every offset of an
// entry carries the entry's term (the batch's partitionLeaderEpoch). So "the term at index i" is
// the term of the entry covering i, and two logs that hold an entry with the same term covering i
// hold the same entry (Raft's log matching, per offset). Index 0 is the first offset of a new
// log; kNoIndex (-1) is "before everything". Term 0 is "no term": the first leader has term 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace runnel::raft {

using Index = int64_t;
using Term = int64_t;
using NodeId = int32_t;

inline constexpr Index kNoIndex = -1;
inline constexpr NodeId kNoNode = -1;

enum class EntryType : uint8_t {
  kData = 0,          // an application batch (records)
  kLeaderChange = 1,  // appended by each new leader (KRaft's LeaderChangeMessage): commits its term
  kConfig = 2,        // a membership change (Membership::Encode)
};

struct Entry {
  Index first = 0;
  Index last = 0;  // >= first
  Term term = 0;
  EntryType type = EntryType::kData;
  std::string data;

  int64_t count() const { return last - first + 1; }
  friend bool operator==(const Entry&, const Entry&) = default;
};

// What a node must have on disk, synced, before it answers a vote or an append (Raft figure 2's
// currentTerm and votedFor).
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  friend bool operator==(const HardState&, const HardState&) = default;
};

enum class MessageType : uint8_t {
  kPreVote,            // index/log_term: the candidate's last entry; term: the term it would take
  kPreVoteResponse,    // reject
  kVote,               // as kPreVote, in the candidate's own term
  kVoteResponse,       // reject
  kAppend,             // index/log_term: the entry before `entries`; commit
  kAppendResponse,     // !reject: index = the follower's match. reject: index = the rejected prev,
                       // hint_index/hint_term = the follower's conflicting term and its first index
  kHeartbeat,          // commit (at most the follower's match); index: the leader's commit
  kHeartbeatResponse,  // index: the follower's last index
  kSnapshot,           // index/log_term: the last index the snapshot covers; data
  kTimeoutNow,         // leadership transfer: campaign now, past the leader lease
};

const char* MessageTypeName(MessageType type);

// A linearizable read the leader confirmed (ReadIndex): once the state machine has applied `index`,
// a read of it reflects every write committed before the read was asked.
struct ReadState {
  uint64_t id = 0;
  Index index = kNoIndex;
};

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  Index index = kNoIndex;
  Term log_term = 0;
  Index commit = kNoIndex;
  std::vector<Entry> entries;
  bool reject = false;
  Index hint_index = kNoIndex;
  Term hint_term = 0;
  bool transfer = false;  // a vote asked after kTimeoutNow: granted past the leader lease
  uint64_t context = 0;   // kHeartbeat(Response): the ReadIndex request it confirms (0: none)
  std::string data;       // kSnapshot: the state machine's snapshot (empty for a partition log)
  std::string config;     // kSnapshot: the membership in force at `index` (Membership::Encode)
  // kPreVote/kVote: the data directory the candidate's state records for the receiver
  // (Options::recorded_directory; empty: none recorded).
  std::string voter_directory;
};

}  // namespace runnel::raft
