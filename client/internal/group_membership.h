// GroupMembership: a consumer's membership of its group (client-internal; the Consumer uses it
// for Subscribe). A background thread heartbeats the coordinator (Groups.ConsumerGroupHeartbeat,
// KIP-848 style) every heartbeat interval the coordinator asks for, and at once when the owned
// partitions change. The coordinator's answer is the assignment the member may own; the
// consumer's Poll reconciles towards it (revokes, then assigns) and reports back with SetOwned.
//
// When the coordinator fences the member (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH — e.g. its
// session expired while the process was stalled), the member's partitions are lost: Poll drops
// them (TakeLost) and the thread rejoins with epoch 0. FENCED_INSTANCE_ID (another process took
// the group.instance.id), UNSUPPORTED_ASSIGNOR and INVALID_REQUEST stop the membership: Fatal()
// reports them.
//
// Time: the heartbeat interval, the retry backoff and WaitForChange's deadline are read from the
// Clock (SteadyNow); the waits themselves are real, at most the time the clock says is left, so
// with a ManualClock a heartbeat falls due only once the clock has moved (and the thread has woken,
// within the interval it last waited).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "client/internal/coordinator_stubs.h"
#include "client/types.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::client {

struct MembershipOptions {
  std::string group_id;
  std::string instance_id;  // group.instance.id
  std::string client_id;
  std::string assignor;                   // group.remote.assignor; empty: the broker's default
  int32_t rebalance_timeout_ms = 300000;  // max.poll.interval.ms
  int32_t request_timeout_ms = 30000;
  int32_t retry_backoff_ms = 100;
  std::vector<std::string> topics;  // the subscription: names, or
  std::string regex;                // a regular expression
};

class GroupMembership {
 public:
  // Starts heartbeating (joining) at once, with the broker `coordinator` names (another after one
  // is unreachable). `coordinator` and `clock` must outlive the membership.
  GroupMembership(internal::CoordinatorStubs* coordinator, MembershipOptions options,
                  const Clock* clock);
  ~GroupMembership();  // Leave()s if still a member

  // The partitions the coordinator lets this member own, when it differs from what the member
  // reported owning; std::nullopt when there is nothing to reconcile.
  std::optional<std::set<TopicPartition>> PendingAssignment() const;
  // What the consumer owns now; triggers an immediate heartbeat when it changed.
  void SetOwned(const std::set<TopicPartition>& owned);
  // True once after the member was fenced: the consumer must drop every partition (without
  // committing) and call SetOwned({}); the member then rejoins.
  bool TakeLost();
  // The first unrecoverable error, if any.
  absl::Status Fatal() const;

  // The member id and epoch to commit with ("" and -1 before the first join completes).
  std::pair<std::string, int32_t> Identity() const;

  // Leaves the group (epoch -1; -2 for a static member, whose partitions then wait for its
  // return for the session timeout) and stops heartbeating. Idempotent.
  void Leave();

  // Waits until PendingAssignment/TakeLost/Fatal may have something new, or `deadline`.
  void WaitForChange(Clock::SteadyPoint deadline) const;

 private:
  void Run();
  void HeartbeatOnce();

  internal::CoordinatorStubs* const coordinator_;
  const MembershipOptions options_;
  const Clock* const clock_;

  mutable Mutex mu_;
  mutable CondVar cv_;  // wakes the heartbeat thread and WaitForChange
  std::string member_id_ ABSL_GUARDED_BY(mu_);
  int32_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  std::set<TopicPartition> owned_ ABSL_GUARDED_BY(mu_);
  std::optional<std::set<TopicPartition>> assignment_ ABSL_GUARDED_BY(mu_);  // last answer
  bool lost_ ABSL_GUARDED_BY(mu_) = false;  // fenced; waiting for the consumer to drop all
  bool heartbeat_now_ ABSL_GUARDED_BY(mu_) = true;
  int32_t interval_ms_ ABSL_GUARDED_BY(mu_) = 3000;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool left_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace runnel::client
