#include "broker/cluster_startup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/cluster/cluster_identity.h"
#include "common/status_macros.h"

namespace runnel::broker {

absl::StatusOr<ClusterSetup> SetUpCluster(const BrokerOptions& options) {
  ClusterSetup setup;
  ASSIGN_OR_RETURN(setup.peers, ParsePeers(options.peers));
  const auto self = std::find_if(setup.peers.begin(), setup.peers.end(),
                                 [&](const RaftPeer& p) { return p.id == options.node_id; });
  if (self == setup.peers.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--peers does not list this broker's --node-id ", options.node_id,
                     " (list every broker, this one included, as ID@HOST:PORT)"));
  }
  // The listener binds --inter-broker-addr (e.g. 0.0.0.0:7071); the others dial the --peers entry.
  setup.inter_broker_addr =
      options.inter_broker_addr.empty() ? self->address : options.inter_broker_addr;
  ASSIGN_OR_RETURN(setup.controllers, ParseControllers(options.controllers, setup.peers));
  ASSIGN_OR_RETURN(setup.cluster_id,
                   ResolveClusterId(options.data_dir, options.cluster_id, setup.peers));
  ASSIGN_OR_RETURN(setup.directory_id, ResolveDirectoryId(options.data_dir));
  return setup;
}

absl::StatusOr<std::unique_ptr<ClusterNode>> StartClusterNode(
    const BrokerOptions& options, ClusterSetup setup, storage::LogManager* logs,
    ProducerStateManager* producer_states, std::function<void(const MetadataImage&)> on_image,
    std::function<void(const absl::Status&)> on_fatal) {
  ASSIGN_OR_RETURN(const storage::LogConfig defaults, options.LogDefaults());
  ClusterNodeOptions node;
  node.node_id = options.node_id;
  node.cluster_id = setup.cluster_id;
  node.peers = std::move(setup.peers);
  node.controllers = std::move(setup.controllers);
  node.inter_broker_addr = std::move(setup.inter_broker_addr);
  node.directory_id = std::move(setup.directory_id);
  node.rack = options.rack;
  node.heartbeat_interval_ms = options.broker_heartbeat_interval_ms;
  node.leader_imbalance_check_interval_ms = options.leader_imbalance_check_interval_ms;
  node.replication.replica_lag_time_max_ms = options.replica_lag_time_max_ms;
  node.leader_imbalance_per_broker_percentage = options.leader_imbalance_per_broker_percentage;
  node.controller.session_timeout_ms = options.broker_session_timeout_ms;
  node.controller.num_partitions = options.num_partitions;
  node.controller.default_replication_factor = options.default_replication_factor;
  node.controller.max_partitions_per_topic = options.max_partitions_per_topic;
  return ClusterNode::Create(
      std::move(node), logs, producer_states,
      [defaults](const TopicMetadata& topic) -> absl::StatusOr<storage::LogConfig> {
        ASSIGN_OR_RETURN(const storage::LogConfigOverrides overrides,
                         storage::ParseLogConfigOverrides(topic.info.configs));
        return overrides.ApplyTo(defaults);
      },
      [on_image = std::move(on_image)](std::shared_ptr<const MetadataImage> image) {
        on_image(*image);
      },
      std::move(on_fatal));
}

}  // namespace runnel::broker
