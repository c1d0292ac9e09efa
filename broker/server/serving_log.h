// ServingLog: the log a client call (produce, fetch, list offsets) may use for a partition on
// this broker. On a single node that is the partition's log; in a cluster it is this broker's
// replica when it leads the partition, and otherwise a NOT_LEADER answer naming the leader
// (error_codes.h), so the client goes there.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "broker/cluster/cluster_node.h"
#include "broker/partition/partition_manager.h"
#include "storage/log.h"

namespace runnel::broker {

// `cluster` is null on a single node. With `allow_auto_create` a missing topic is created when
// auto-creation is on (in a cluster by the controller, with the default replication factor). A
// cluster's broker that has not caught up with the metadata log answers a topic it does not know
// yet with NOT_LEADER (no leader named: retry), not as unknown.
absl::StatusOr<std::shared_ptr<storage::Log>> ServingLog(PartitionManager& partitions,
                                                         ClusterNode* cluster,
                                                         const std::string& topic,
                                                         int32_t partition, bool allow_auto_create);

// The NOT_LEADER answer for a partition this broker does not lead.
absl::Status NotLeaderFor(const ClusterNode& cluster, const std::string& topic, int32_t partition,
                          const PartitionRoute& route);

}  // namespace runnel::broker
