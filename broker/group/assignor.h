// Server-side partition assignors for consumer groups (KIP-848): given the members of a group,
// what each subscribes to and what each owns now, compute every member's target partitions. The
// group coordinator runs one whenever membership, subscriptions or partition counts change.
//
//   range    Kafka's RangeAssignor, per topic: the topic's subscribers ordered by instance id
//            (member id for dynamic members), its partitions cut into contiguous ranges, the first
//            (partitions % subscribers) subscribers taking one extra. Ignores current ownership.
//   uniform  Kafka's UniformAssignor: sticky and balanced. Members keep what they own where they
//            still may, unowned partitions go to the least loaded subscriber, then partitions move
//            from the most loaded members to subscribers with at least two fewer, until none can.
//
// Pure functions of the spec: deterministic (the same spec, in any member order, gives the same
// assignment), no I/O, no shared state; Assign may be called concurrently from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/group/topic_partitions.h"

namespace runnel::broker {

struct AssignmentMember {
  std::string member_id;
  std::string instance_id;       // group.instance.id of a static member, else empty
  std::set<std::string> topics;  // the topics its subscription resolves to (may include topics
                                 // that do not exist)
  TopicPartitions current;       // its current target assignment, the starting point for stickiness
};

struct AssignmentSpec {
  std::vector<AssignmentMember> members;            // any order; member ids unique
  std::map<std::string, int32_t> partition_counts;  // every existing subscribed topic -> partition
                                                    // count
};

// member id -> its target partitions. Every member of the spec appears (possibly with an empty
// map); every partition of a topic at least one member subscribes to is assigned to exactly one
// subscribed member. Topics missing from partition_counts, and partitions of `current` that no
// longer exist, are assigned to nobody. A member's map holds only topics it was given partitions
// of.
using GroupAssignment = std::map<std::string, TopicPartitions>;

class Assignor {
 public:
  virtual ~Assignor() = default;
  // The name members ask for it by (ConsumerGroupHeartbeat's ServerAssignor).
  virtual std::string_view name() const = 0;
  virtual GroupAssignment Assign(const AssignmentSpec& spec) const = 0;
};

// "range" or "uniform"; nullptr for any other name.
std::unique_ptr<Assignor> MakeAssignor(std::string_view name);
inline constexpr char kDefaultAssignor[] = "uniform";  // Kafka's default for the consumer protocol

}  // namespace runnel::broker
