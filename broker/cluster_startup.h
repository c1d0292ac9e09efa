// runneld's cluster wiring: from BrokerOptions (--node-id, --peers, --inter-broker-addr,
// --controllers, --cluster-id, --rack, ...) to a running ClusterNode.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/broker_options.h"
#include "broker/cluster/cluster_node.h"

namespace runnel::broker {

// What is settled before the logs open: the peers, the cluster this data dir belongs to (recorded
// in it), the controllers and the inter-broker listener.
struct ClusterSetup {
  std::vector<RaftPeer> peers;
  std::string cluster_id;
  std::set<raft::NodeId> controllers;
  std::string inter_broker_addr;
  std::string directory_id;  // of the data dir (ResolveDirectoryId)
};

// InvalidArgument naming the flag; FailedPrecondition for a data dir of another cluster or of a
// single-node broker (ResolveClusterId).
absl::StatusOr<ClusterSetup> SetUpCluster(const BrokerOptions& options);

// Starts this broker's ClusterNode. `on_image` gets each new metadata image (on the replication
// thread: it must be quick); `on_fatal` is called when the cluster refuses this broker.
absl::StatusOr<std::unique_ptr<ClusterNode>> StartClusterNode(
    const BrokerOptions& options, ClusterSetup setup, storage::LogManager* logs,
    ProducerStateManager* producer_states, std::function<void(const MetadataImage&)> on_image,
    std::function<void(const absl::Status&)> on_fatal);

}  // namespace runnel::broker
