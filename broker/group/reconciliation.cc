#include "broker/group/reconciliation.h"

namespace runnel::broker {

ReconcileStep Reconcile(
    const CurrentAssignment& current, const TopicPartitions& owned, const TopicPartitions& target,
    int32_t target_epoch,
    const std::function<TopicPartitions(const TopicPartitions& wanted)>& held_by_others) {
  ReconcileStep step{.next = current, .revocation_started = false, .gained = {}};
  CurrentAssignment& next = step.next;
  if (!next.revoking.empty()) {
    if (Intersects(owned, next.revoking)) return step;  // 1: still giving them up
    next.revoking.clear();
  }
  if (next.epoch == target_epoch && next.assigned == target) return step;  // stable
  TopicPartitions revoke = Minus(next.assigned, target);
  if (!revoke.empty()) {  // 2
    next.assigned = Minus(next.assigned, revoke);
    next.revoking = std::move(revoke);
    step.revocation_started = true;
    return step;
  }
  if (next.epoch != target_epoch) {  // 3
    next.previous_epoch = next.epoch;
    next.epoch = target_epoch;
  }
  const TopicPartitions wanted = Minus(target, next.assigned);
  if (wanted.empty()) return step;
  step.gained = Minus(wanted, held_by_others(wanted));
  AddAll(&next.assigned, step.gained);
  return step;
}

}  // namespace runnel::broker
