// Rebalancer: a subscribed Consumer's side of its group's rebalances (Kafka's
// ConsumerMembershipManager reconciliation and ConsumerRebalanceListener calls; client-internal,
// not installed).
//
// Subscribe starts a GroupMembership (client/internal/group_membership.h), whose heartbeat thread
// learns the assignment the coordinator computed. Reconcile, called from Poll on the consumer's
// thread, moves the consumer towards it in two steps, as the coordinator requires:
//   1. revoke the partitions taken away: with enable.auto.commit their positions are committed,
//      then RebalanceListener::OnPartitionsRevoked is called, then they are dropped;
//   2. add the new partitions without a position (the consumer's next position lookup starts them
//      at the group's committed offset, else by auto.offset.reset) and call OnPartitionsAssigned.
// The membership then reports what is owned, which lets the coordinator hand the revoked
// partitions to others. Partitions the change does not touch keep positions and buffered data.
// A fenced member (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH) loses every partition without a commit
// (OnPartitionsLost) and rejoins; a fatal membership error ends in Reconcile's error. Unsubscribe
// revokes everything (committing first) and leaves the group.
//
// Ownership: Consumer::Impl owns it and the SubscriptionState and CommitManager it works on; the
// coordinator stubs and the clock outlive it. The listener is the application's and must outlive
// the subscription. Thread-safety: none; used from the consumer's thread only (the membership has
// its own thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/consumer.h"
#include "client/internal/commit_manager.h"
#include "client/internal/coordinator_stubs.h"
#include "client/internal/group_membership.h"
#include "client/internal/subscription_state.h"
#include "common/clock.h"
#include "common/logging.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client::internal {

class Rebalancer {
 public:
  // `clock` times the membership's heartbeats (group_membership.h).
  Rebalancer(const ConsumerOptions& options, CoordinatorStubs* coordinator,
             SubscriptionState* subscriptions, CommitManager* commits, const Clock* clock);

  // Joins the group for `topics` or `regex` (replacing an earlier subscription). Errors:
  // FailedPrecondition without group.id or with a manual assignment; InvalidArgument for no
  // topics or an empty topic name.
  absl::Status Subscribe(std::vector<std::string> topics, std::string regex,
                         RebalanceListener* listener);
  // Revokes every partition (unless the membership failed) and leaves the group.
  absl::Status Unsubscribe();
  bool subscribed() const { return membership_ != nullptr; }
  // The subscribed topics, or {regex}; empty when not subscribed.
  std::vector<std::string> Subscription() const;
  // The member id and epoch ("" and -1 when not subscribed or not joined yet).
  std::pair<std::string, int32_t> Member() const;

  // Applies what the coordinator decided (losses, revocations, then additions). Errors: what the
  // coordinator reported that ends the membership.
  absl::Status Reconcile();
  // Waits until the membership may have news for Reconcile, or `deadline` (requires subscribed()).
  void WaitForChange(Clock::SteadyPoint deadline) const { membership_->WaitForChange(deadline); }

 private:
  // Commits (with enable.auto.commit) and hands `revoked` to the listener, then drops them.
  void Revoke(const std::vector<TopicPartition>& revoked);

  const ConsumerOptions options_;
  CoordinatorStubs* const coordinator_;
  SubscriptionState* const subscriptions_;
  CommitManager* const commits_;
  const Clock* const clock_;
  const std::shared_ptr<spdlog::logger> log_ = logging::Get("client");
  std::unique_ptr<GroupMembership> membership_;  // null when not subscribed
  std::vector<std::string> topics_;
  std::string regex_;
  RebalanceListener* listener_ = nullptr;
};

}  // namespace runnel::client::internal
