#include "client/internal/subscription_state.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace runnel::client::internal {

absl::Status SubscriptionState::Assign(const std::vector<TopicPartition>& partitions) {
  std::map<TopicPartition, Partition> next;
  for (const TopicPartition& tp : partitions) {
    if (tp.topic.empty()) return absl::InvalidArgumentError("assign: empty topic name");
    if (tp.partition < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("assign: partition ", tp.partition, " of ", tp.topic, " is negative"));
    }
    auto it = partitions_.find(tp);
    next[tp] = it != partitions_.end() ? std::move(it->second) : Partition{};
  }
  partitions_ = std::move(next);
  return absl::OkStatus();
}

void SubscriptionState::Add(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) partitions_.try_emplace(tp);
}

void SubscriptionState::Remove(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) partitions_.erase(tp);
}

std::vector<TopicPartition> SubscriptionState::Assignment() const {
  std::vector<TopicPartition> out;
  out.reserve(partitions_.size());
  for (const auto& [tp, p] : partitions_) out.push_back(tp);
  return out;
}

std::set<TopicPartition> SubscriptionState::AssignedSet() const {
  std::set<TopicPartition> out;
  for (const auto& [tp, p] : partitions_) out.insert(tp);
  return out;
}

const SubscriptionState::Partition* SubscriptionState::Find(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

SubscriptionState::Partition* SubscriptionState::FindMutable(const TopicPartition& tp) {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

absl::Status SubscriptionState::Seek(const TopicPartition& tp, int64_t offset) {
  if (!IsAssigned(tp)) {
    return absl::FailedPreconditionError(
        absl::StrCat("seek: partition ", ToString(tp), " is not assigned"));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("seek: offset ", offset, " for ", ToString(tp), " is negative"));
  }
  SetPosition(tp, offset);
  return absl::OkStatus();
}

void SubscriptionState::SetPosition(const TopicPartition& tp, int64_t offset) {
  Partition* p = FindMutable(tp);
  if (p == nullptr) return;
  p->position = offset;
  p->reset.reset();
  p->epoch = ++last_epoch_;
}

void SubscriptionState::Advance(const TopicPartition& tp, int64_t next) {
  if (Partition* p = FindMutable(tp); p != nullptr) p->position = next;
}

std::optional<int64_t> SubscriptionState::Position(const TopicPartition& tp) const {
  const Partition* p = Find(tp);
  return p != nullptr ? p->position : std::nullopt;
}

std::map<TopicPartition, int64_t> SubscriptionState::Positions() const {
  std::map<TopicPartition, int64_t> offsets;
  for (const auto& [tp, p] : partitions_) {
    if (p.position.has_value()) offsets[tp] = *p.position;
  }
  return offsets;
}

absl::Status SubscriptionState::SetPaused(const std::vector<TopicPartition>& partitions,
                                          bool paused) {
  for (const TopicPartition& tp : partitions) {
    if (!IsAssigned(tp)) {
      return absl::FailedPreconditionError(absl::StrCat(paused ? "pause" : "resume", ": partition ",
                                                        ToString(tp), " is not assigned"));
    }
  }
  for (const TopicPartition& tp : partitions) FindMutable(tp)->paused = paused;
  return absl::OkStatus();
}

std::vector<TopicPartition> SubscriptionState::Paused() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, p] : partitions_) {
    if (p.paused) out.push_back(tp);
  }
  return out;
}

std::vector<TopicPartition> SubscriptionState::WithoutPosition() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, p] : partitions_) {
    if (!p.position.has_value()) out.push_back(tp);
  }
  return out;
}

absl::StatusOr<std::map<TopicPartition, int64_t>> SubscriptionState::ResetQueries() const {
  std::map<TopicPartition, int64_t> queries;
  for (const auto& [tp, p] : partitions_) {
    if (p.position.has_value()) continue;
    if (auto_offset_reset_ == AutoOffsetReset::kNone) {
      return absl::FailedPreconditionError(absl::StrCat(
          "partition ", ToString(tp), " has no position and auto.offset.reset is none"));
    }
    queries[tp] = auto_offset_reset_ == AutoOffsetReset::kEarliest ? kEarliest : kLatest;
  }
  return queries;
}

absl::Status SubscriptionState::RequestReset(const TopicPartition& tp, const std::string& why) {
  if (auto_offset_reset_ == AutoOffsetReset::kNone) {
    return absl::OutOfRangeError(absl::StrCat(why, " and auto.offset.reset is none"));
  }
  Partition* p = FindMutable(tp);
  if (p == nullptr) return absl::OkStatus();
  p->reset = OffsetReset{
      .query = auto_offset_reset_ == AutoOffsetReset::kEarliest ? kEarliest : kLatest,
      .why = why,
  };
  return absl::OkStatus();
}

std::map<TopicPartition, SubscriptionState::OffsetReset> SubscriptionState::PendingResets() const {
  std::map<TopicPartition, OffsetReset> out;
  for (const auto& [tp, p] : partitions_) {
    if (p.reset.has_value()) out[tp] = *p.reset;
  }
  return out;
}

void SubscriptionState::CancelResets() {
  for (auto& [tp, p] : partitions_) p.reset.reset();
}

}  // namespace runnel::client::internal
