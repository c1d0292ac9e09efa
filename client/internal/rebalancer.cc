#include "client/internal/rebalancer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "common/status_macros.h"

namespace runnel::client::internal {

Rebalancer::Rebalancer(const ConsumerOptions& options, CoordinatorStubs* coordinator,
                       SubscriptionState* subscriptions, CommitManager* commits, const Clock* clock)
    : options_(options),
      coordinator_(coordinator),
      subscriptions_(subscriptions),
      commits_(commits),
      clock_(clock) {}

absl::Status Rebalancer::Subscribe(std::vector<std::string> topics, std::string regex,
                                   RebalanceListener* listener) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("subscribe: needs group.id");
  }
  if (membership_ == nullptr && !subscriptions_->empty()) {
    return absl::FailedPreconditionError(
        "subscribe: the consumer has a manual assignment; Assign({}) first");
  }
  if (topics.empty() && regex.empty()) {
    return absl::InvalidArgumentError("subscribe: no topics");
  }
  for (const std::string& topic : topics) {
    if (topic.empty()) return absl::InvalidArgumentError("subscribe: empty topic name");
  }
  if (membership_ != nullptr) RETURN_IF_ERROR(Unsubscribe());
  topics_ = std::move(topics);
  regex_ = std::move(regex);
  listener_ = listener;
  MembershipOptions m;
  m.group_id = options_.group_id;
  m.instance_id = options_.group_instance_id;
  m.client_id = options_.client_id;
  m.assignor = options_.group_remote_assignor;
  m.rebalance_timeout_ms = options_.max_poll_interval_ms;
  m.request_timeout_ms = options_.request_timeout_ms;
  m.retry_backoff_ms = std::max(options_.retry_backoff_ms, 1);
  m.topics = topics_;
  m.regex = regex_;
  membership_ = std::make_unique<GroupMembership>(coordinator_, std::move(m), clock_);
  return absl::OkStatus();
}

std::vector<std::string> Rebalancer::Subscription() const {
  if (membership_ == nullptr) return {};
  if (!regex_.empty()) return {regex_};
  return topics_;
}

std::pair<std::string, int32_t> Rebalancer::Member() const {
  return membership_ != nullptr ? membership_->Identity() : std::pair<std::string, int32_t>{"", -1};
}

void Rebalancer::Revoke(const std::vector<TopicPartition>& revoked) {
  if (revoked.empty()) return;
  if (options_.enable_auto_commit) {
    std::map<TopicPartition, int64_t> offsets;
    for (const TopicPartition& tp : revoked) {
      if (auto position = subscriptions_->Position(tp); position.has_value()) {
        offsets[tp] = *position;
      }
    }
    if (absl::Status s = commits_->Commit(offsets); !s.ok()) {
      log_->warn("consumer: commit before revocation: {}", s.ToString());
    }
  }
  if (listener_ != nullptr) listener_->OnPartitionsRevoked(revoked);
  subscriptions_->Remove(revoked);
}

absl::Status Rebalancer::Reconcile() {
  if (membership_ == nullptr) return absl::OkStatus();
  const absl::Status fatal = membership_->Fatal();
  if (membership_->TakeLost() || !fatal.ok()) {
    if (!subscriptions_->empty()) {
      const std::vector<TopicPartition> lost = subscriptions_->Assignment();
      log_->warn("consumer: group {}: lost {} partition(s)", options_.group_id, lost.size());
      if (listener_ != nullptr) listener_->OnPartitionsLost(lost);
      subscriptions_->Clear();
    }
    membership_->SetOwned({});
  }
  RETURN_IF_ERROR(fatal);
  const std::optional<std::set<TopicPartition>> target = membership_->PendingAssignment();
  if (!target.has_value()) return absl::OkStatus();
  std::vector<TopicPartition> revoked, added;
  for (const auto& [tp, p] : subscriptions_->partitions()) {
    if (!target->contains(tp)) revoked.push_back(tp);
  }
  for (const TopicPartition& tp : *target) {
    if (!subscriptions_->IsAssigned(tp)) added.push_back(tp);
  }
  Revoke(revoked);
  subscriptions_->Add(added);
  membership_->SetOwned(subscriptions_->AssignedSet());
  if (!added.empty() && listener_ != nullptr) listener_->OnPartitionsAssigned(added);
  return absl::OkStatus();
}

absl::Status Rebalancer::Unsubscribe() {
  if (membership_ == nullptr) return absl::OkStatus();
  if (membership_->Fatal().ok()) Revoke(subscriptions_->Assignment());
  subscriptions_->Clear();
  membership_->Leave();
  membership_.reset();
  listener_ = nullptr;
  topics_.clear();
  regex_.clear();
  return absl::OkStatus();
}

}  // namespace runnel::client::internal
