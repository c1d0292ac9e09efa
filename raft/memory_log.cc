#include "raft/memory_log.h"

#include <algorithm>

#include "common/check.h"

namespace runnel::raft {

size_t MemoryLog::Find(Index index) const {
  RUNNEL_CHECK(index >= start_index_ && index <= LastIndex(), "index %d outside the log [%d, %d]",
               index, start_index_, LastIndex());
  // The first entry whose last is >= index covers it.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), index,
                             [](const Entry& e, Index i) { return e.last < i; });
  return static_cast<size_t>(it - entries_.begin());
}

std::optional<Term> MemoryLog::TermAt(Index index) const {
  if (index == start_index_ - 1) return start_term_;
  if (index < start_index_ || index > LastIndex()) return std::nullopt;
  return entries_[Find(index)].term;
}

Index MemoryLog::TermStart(Index index) const {
  if (index == start_index_ - 1) return index;
  const Term term = entries_[Find(index)].term;
  // Terms never decrease: the first entry with this term starts the run.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), term,
                             [](const Entry& e, Term t) { return e.term < t; });
  return it->first;
}

std::optional<Index> MemoryLog::LastIndexAtOrBelowTerm(Term term) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), term,
                             [](Term t, const Entry& e) { return t < e.term; });
  if (it != entries_.begin()) return std::prev(it)->last;
  if (start_term_ <= term) return start_index_ - 1;
  return std::nullopt;
}

Index MemoryLog::EntryStart(Index index) const { return entries_[Find(index)].first; }

std::vector<Entry> MemoryLog::Read(Index from, int64_t max_bytes) const {
  size_t position = Find(from);
  RUNNEL_CHECK(entries_[position].first == from, "read from %d inside entry [%d, %d]", from,
               entries_[position].first, entries_[position].last);
  std::vector<Entry> out;
  int64_t bytes = 0;
  for (; position < entries_.size(); ++position) {
    const Entry& entry = entries_[position];
    bytes += static_cast<int64_t>(entry.data.size());
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(entry);
  }
  return out;
}

void MemoryLog::Append(std::vector<Entry> entries) {
  for (Entry& entry : entries) {
    RUNNEL_CHECK(entry.first == LastIndex() + 1 && entry.last >= entry.first,
                 "append of [%d, %d] after last index %d", entry.first, entry.last, LastIndex());
    const Term last_term = entries_.empty() ? start_term_ : entries_.back().term;
    RUNNEL_CHECK(entry.term >= last_term, "append of term %d after term %d at %d", entry.term,
                 last_term, entry.first);
    bytes_ += static_cast<int64_t>(entry.data.size());
    if (entry.type == EntryType::kConfig) configs_[entry.first] = entry.data;
    entries_.push_back(std::move(entry));
  }
}

void MemoryLog::TruncateAfter(Index index) {
  RUNNEL_CHECK(index >= start_index_ - 1, "truncate after %d below the log start %d", index,
               start_index_);
  while (!entries_.empty() && entries_.back().last > index) {
    RUNNEL_CHECK(entries_.back().first > index, "truncate after %d inside entry [%d, %d]", index,
                 entries_.back().first, entries_.back().last);
    bytes_ -= static_cast<int64_t>(entries_.back().data.size());
    configs_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

void MemoryLog::ResetTo(Index index, Term term, const std::string& snapshot,
                        const std::string& config) {
  entries_.clear();
  configs_.clear();
  start_config_ = config;
  bytes_ = 0;
  start_index_ = index + 1;
  start_term_ = term;
  snapshot_ = snapshot;
}

std::optional<LogStorage::ConfigRecord> MemoryLog::LastConfig() const {
  if (!configs_.empty()) return ConfigRecord{configs_.rbegin()->first, configs_.rbegin()->second};
  if (!start_config_.empty()) return ConfigRecord{start_index_ - 1, start_config_};
  return std::nullopt;
}

void MemoryLog::CompactThrough(Index index, std::string snapshot) {
  if (index < start_index_) return;
  const size_t position = Find(index);
  RUNNEL_CHECK(entries_[position].last == index, "compact through %d inside entry [%d, %d]", index,
               entries_[position].first, entries_[position].last);
  start_term_ = entries_[position].term;
  for (size_t i = 0; i <= position; ++i) {
    bytes_ -= static_cast<int64_t>(entries_.front().data.size());
    if (entries_.front().type == EntryType::kConfig) {
      start_config_ = entries_.front().data;
      configs_.erase(entries_.front().first);
    }
    entries_.pop_front();
  }
  start_index_ = index + 1;
  snapshot_ = std::move(snapshot);
}

}  // namespace runnel::raft
