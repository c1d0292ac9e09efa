// Reconciliation: one step of a consumer-group member from what it owns towards its target
// assignment (KIP-848; Kafka's CurrentAssignmentBuilder). A pure function: the group coordinator
// keeps the state, calls it on every heartbeat and join, and starts the revoke deadline when it
// says a revocation started.
//
// The rules, in order:
// 1. A member still reporting partitions it was told to revoke changes nothing (it must let go).
// 2. Partitions it holds that the target does not are to be revoked: moved from `assigned` to
//    `revoking`, its epoch unchanged. It is told to give them up and gets nothing new meanwhile.
// 3. Otherwise it moves to the target's epoch and gains the target's partitions that no other
//    member holds (assigned or revoking); the others come in a later step, once their owner has
//    let go. So a partition never has two owners.
#pragma once

#include <cstdint>
#include <functional>

#include "broker/group/topic_partitions.h"

namespace runnel::broker {

// A member's current assignment, as reconciliation reads and writes it.
struct CurrentAssignment {
  int32_t epoch = 0;
  int32_t previous_epoch = -1;
  TopicPartitions assigned;  // what the member may own now
  TopicPartitions revoking;  // told to give up, not yet confirmed

  friend bool operator==(const CurrentAssignment&, const CurrentAssignment&) = default;
};

struct ReconcileStep {
  CurrentAssignment next;
  bool revocation_started = false;  // rule 2 applied: the revoke deadline starts now
  TopicPartitions gained;           // added to `assigned` by rule 3
};

// `owned`: what the member reports to own; `target`/`target_epoch`: the group's target for it;
// `held_by_others(wanted)`: which of `wanted` other members hold (assigned or revoking), asked
// only when the member wants partitions it does not have.
ReconcileStep Reconcile(
    const CurrentAssignment& current, const TopicPartitions& owned, const TopicPartitions& target,
    int32_t target_epoch,
    const std::function<TopicPartitions(const TopicPartitions& wanted)>& held_by_others);

}  // namespace runnel::broker
