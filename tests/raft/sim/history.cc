#include "tests/raft/sim/history.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace runnel::raft::sim {

uint64_t History::Apply(uint64_t state, const Entry& e) {
  // FNV-1a over the entry: two nodes agree on their state exactly when they applied the same
  // entries.
  auto mix = [&state](const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
      state ^= bytes[i];
      state *= 1099511628211ULL;
    }
  };
  mix(&e.first, sizeof e.first);
  mix(&e.last, sizeof e.last);
  mix(&e.term, sizeof e.term);
  mix(&e.type, sizeof e.type);
  mix(e.data.data(), e.data.size());
  return state;
}

uint64_t History::StateFromSnapshot(const std::string& data) {
  return data.empty() ? kStartState : std::stoull(data);
}

std::vector<History::Record>::const_iterator History::EndingAt(Index last) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), last,
                             [](const Record& c, Index i) { return c.entry.last < i; });
  if (it != entries_.end() && it->entry.last != last) return entries_.end();
  return it;
}

const Entry* History::At(Index first) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), first,
                             [](const Record& c, Index i) { return c.entry.first < i; });
  if (it == entries_.end() || it->entry.first != first) return nullptr;
  return &it->entry;
}

std::optional<uint64_t> History::StateAfter(Index last) const {
  auto it = EndingAt(last);
  if (it == entries_.end()) return std::nullopt;
  return it->state;
}

absl::Status History::Committed(NodeId node, Term term, const Entry& e) {
  const Index end = entries_.empty() ? kNoIndex : entries_.back().entry.last;
  if (e.first > end) {
    if (e.first != end + 1) {
      return absl::InternalError(absl::StrFormat("n%d committed [%d, %d] leaving a gap after %d",
                                                 node, e.first, e.last, end));
    }
    const uint64_t before = entries_.empty() ? kStartState : entries_.back().state;
    entries_.push_back(Record{e, term, Apply(before, e)});
    return absl::OkStatus();
  }
  auto it = std::lower_bound(entries_.begin(), entries_.end(), e.first,
                             [](const Record& c, Index i) { return c.entry.first < i; });
  if (it == entries_.end() || it->entry.first != e.first || !(it->entry == e)) {
    return absl::InternalError(absl::StrFormat(
        "n%d applies [%d, %d] term %d where the history holds %s", node, e.first, e.last, e.term,
        it == entries_.end() || it->entry.first != e.first
            ? std::string("another entry boundary")
            : absl::StrFormat("[%d, %d] term %d", it->entry.first, it->entry.last,
                              it->entry.term)));
  }
  it->commit_term = std::min(it->commit_term, term);
  return absl::OkStatus();
}

absl::Status History::CheckState(NodeId node, Index index, uint64_t state) const {
  if (index == kNoIndex && state == kStartState) return absl::OkStatus();
  auto it = EndingAt(index);
  if (it == entries_.end() || it->state != state) {
    return absl::InternalError(absl::StrFormat(
        "n%d's snapshot through %d is not the history's state there (history ends at %d)", node,
        index, entries_.empty() ? kNoIndex : entries_.back().entry.last));
  }
  return absl::OkStatus();
}

absl::Status History::BecameLeader(NodeId node, Term term, const LogStorage& log) {
  auto [it, inserted] = leaders_.emplace(term, node);
  if (!inserted && it->second != node) {
    return absl::InternalError(
        absl::StrFormat("two leaders in term %d: n%d and n%d", term, it->second, node));
  }
  for (const Record& c : entries_) {
    if (c.commit_term >= term || c.entry.last < log.StartIndex()) continue;
    if (log.TermAt(c.entry.last) != c.entry.term || log.EntryStart(c.entry.last) != c.entry.first) {
      return absl::InternalError(absl::StrFormat(
          "n%d leads term %d without entry [%d, %d] of term %d, committed in term %d", node, term,
          c.entry.first, c.entry.last, c.entry.term, c.commit_term));
    }
  }
  return absl::OkStatus();
}

absl::Status History::CheckLog(NodeId node, const LogStorage& log, Index commit) const {
  for (const Record& c : entries_) {
    if (c.entry.last < log.StartIndex() || c.entry.last > commit) continue;
    if (log.EntryStart(c.entry.first) != c.entry.first ||
        !(log.Read(c.entry.first, 0).front() == c.entry)) {
      return absl::InternalError(absl::StrFormat(
          "n%d's committed log differs from the history at %d", node, c.entry.first));
    }
  }
  return absl::OkStatus();
}

}  // namespace runnel::raft::sim
