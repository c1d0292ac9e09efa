// ClusterNode: one broker's membership of a cluster (runneld with --peers; docs/ARCHITECTURE.md
// section 3). It owns the replication machinery — the inter-broker transport, the replication
// thread (ReplicaManager), the metadata log (ClusterMetadata), the replica reconciler and, on
// controllers, the Controller service — and tells the client-facing services what they need:
// where a partition's leader is (Lookup), the cluster's brokers and topics (image), and the admin
// calls, which it hands to the controller leader (itself, or over the inter-broker listener).
//
// A heartbeat thread registers this broker with the controller leader and keeps it unfenced,
// reporting the partitions it leads; the answer tells it who leads the partitions it does not
// host.
//
// Lifetime: Create, then SetGrpcAddress once the client listener is bound (heartbeats start then),
// then Stop before the logs close.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/cluster/cluster_metadata.h"
#include "broker/cluster/controller.h"
#include "broker/cluster/replica_reconciler.h"
#include "broker/replication/raft_transport.h"
#include "broker/replication/replica_manager.h"
#include "common/mutex.h"
#include "runnel/v1/controller.grpc.pb.h"
#include "storage/log_manager.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace runnel::broker {

struct ClusterNodeOptions {
  raft::NodeId node_id = raft::kNoNode;
  std::string cluster_id;
  std::vector<RaftPeer> peers;         // every broker, this one included
  std::set<raft::NodeId> controllers;  // voters of the metadata log
  std::string inter_broker_addr;       // this broker's inter-broker listener
  // The data dir's id (cluster_identity.h): the controller records when it first registered, so
  // a replica this broker must create anew for a partition older than its data dir is known to
  // have lost its Raft state (a wiped broker) and catches up before it votes.
  std::string directory_id;
  std::string rack;
  int64_t heartbeat_interval_ms = 500;  // broker.heartbeat.interval.ms
  // Preferred-leader balancing (leader_balance.h): how often this broker looks (0: never; Kafka's
  // auto.leader.rebalance.enable=false) and the imbalance it tolerates.
  int64_t leader_imbalance_check_interval_ms = 300'000;  // leader.imbalance.check.interval.ms
  int32_t leader_imbalance_per_broker_percentage = 10;   // leader.imbalance.per.broker.percentage
  ControllerOptions controller;       // node_id and cluster_id are taken from above
  ReplicaManagerOptions replication;  // node_id is taken from above
};

// Where a partition is served, as this broker knows it.
struct PartitionRoute {
  std::shared_ptr<storage::Log> log;       // this broker's replica, if it hosts one
  bool leader = false;                     // this broker leads it (then `log` is set)
  raft::NodeId leader_id = raft::kNoNode;  // kNoNode: none known
  std::string leader_addr;                 // its client (gRPC) address
  raft::Term term = 0;
  std::vector<raft::NodeId> replicas;  // from the metadata image, the preferred leader first
  // A reassignment in progress: the target's brokers not among `replicas`, and the reverse.
  std::vector<raft::NodeId> adding;
  std::vector<raft::NodeId> removing;
  std::vector<raft::NodeId> in_sync;  // as the leader last reported them
  int64_t log_start = -1;             // as the leader last reported them (-1: unknown)
  int64_t log_end = -1;
  int64_t high_watermark = -1;
  // As the leader: whether an entry of its term is committed (ReplicaStatus::TermCommitted);
  // until then its high watermark may be below the one the previous leader gave out.
  bool term_committed = false;
};

// What /metrics shows of a cluster's broker (ClusterNode::Stats).
struct ClusterStats {
  int64_t replicas = 0;          // partitions replicated here (the metadata log not counted)
  int64_t leaders = 0;           // of them, led here
  int64_t under_replicated = 0;  // led here, with fewer replicas in sync than voters
  int64_t offline = 0;           // partitions of the image with no leader known here
  int64_t brokers = 0;           // registered
  int64_t fenced_brokers = 0;
  bool controller_leader = false;
  bool metadata_caught_up = false;
  int64_t raft_messages_refused = 0;  // malformed or of unknown groups (ReplicaManager)
  RaftTransportStats transport;
};

class ClusterNode {
 public:
  // Borrows `logs` and `producer_states` (outliving this). `log_config` gives a topic's log
  // config (the broker defaults with its overrides). `on_image` gets every new metadata image
  // (on the replication thread: it must only hand it on). `on_fatal` is called once when this
  // broker must stop (the controller refuses it: a node id held by another live broker).
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Create(
      ClusterNodeOptions options, storage::LogManager* logs, ProducerStateManager* producer_states,
      std::function<absl::StatusOr<storage::LogConfig>(const TopicMetadata&)> log_config,
      std::function<void(std::shared_ptr<const MetadataImage>)> on_image,
      std::function<void(const absl::Status&)> on_fatal);
  ~ClusterNode();  // Stop()

  // The client listener's address, registered with the controller; heartbeats start now.
  void SetGrpcAddress(const std::string& address);
  // A clean shutdown's first step (Kafka's controlled shutdown), while the services still run:
  // hands every leadership this broker holds to an in-sync replica (waiting at most `limit` for
  // the moves), stops heartbeating and tells the controller it is leaving (it is fenced at once,
  // so its next start registers without waiting for this session to expire).
  void HandOver(std::chrono::milliseconds limit);
  // Stops heartbeats, the controller, the reconciler, the replication thread and the transport
  // (produce requests waiting are answered Unavailable). Logs stay open.
  void Stop();

  raft::NodeId node_id() const { return options_.node_id; }
  const std::string& cluster_id() const { return options_.cluster_id; }
  const std::set<raft::NodeId>& controllers() const { return options_.controllers; }
  // The newest metadata image, once `on_image` has taken it.
  std::shared_ptr<const MetadataImage> image() const;
  raft::NodeId controller_leader() const { return metadata_->leader(); }
  ReplicaManager& replicas() { return *replicas_; }

  // The counts /metrics shows; reads every partition's state (call it per scrape, not per request).
  ClusterStats Stats() const;

  // Whether this broker's metadata image has caught up with the cluster's: its metadata log's
  // high watermark reached what the controller's was at a heartbeat answer. Until then, a topic
  // missing from the image may exist (a broker just started, or wiped, has not applied it yet).
  bool MetadataCaughtUp() const;

  // NotFound when the topic or partition does not exist in the metadata image.
  absl::StatusOr<PartitionRoute> Lookup(const std::string& topic, int32_t partition) const;
  // Lookup, repeated (every 10 ms) while no leader is known, for at most `limit`: a partition just
  // created elects its first leader within an election timeout or two. The route may still name
  // no leader (kNoNode) when `limit` passed.
  absl::StatusOr<PartitionRoute> AwaitLeader(const std::string& topic, int32_t partition,
                                             std::chrono::milliseconds limit) const;

  // The admin calls that change metadata, answered by the controller leader (forwarded to it when
  // this broker is not it). Each answers once this broker's own image has the change, so a call
  // made here right after sees it.
  v1::CreateTopicsResponse CreateTopics(const v1::CreateTopicsRequest& request);
  // Creates the brokers' own internal topic `name` ('__') if it does not exist (replicas:
  // min(3, unfenced brokers)); OK once this broker's image has it, whoever created it. Blocks up to
  // the propose timeout; errors name what the controller answered.
  absl::Status EnsureInternalTopic(const std::string& name, int32_t partitions,
                                   const std::map<std::string, std::string>& configs);
  v1::DeleteTopicsResponse DeleteTopics(const v1::DeleteTopicsRequest& request);
  v1::AlterConfigsResponse AlterConfigs(const v1::AlterConfigsRequest& request);
  // Begins partition reassignments (the controller records them; the partitions' leaders carry
  // them out). Answers once each began; errors per partition name what was refused.
  v1::AlterPartitionReassignmentsResponse AlterPartitionReassignments(
      const v1::AlterPartitionReassignmentsRequest& request);
  // Removes a stopped broker's registration (the controller refuses a live one, one hosting a
  // partition, a controller). Answers once this broker's image no longer lists it.
  v1::UnregisterBrokerResponse UnregisterBroker(const v1::UnregisterBrokerRequest& request);
  // A block of producer ids granted to this broker by the controller: [first, first + count).
  absl::StatusOr<std::pair<int64_t, int64_t>> AllocateProducerIds();

 private:
  ClusterNode(ClusterNodeOptions options, storage::LogManager* logs,
              std::function<void(const absl::Status&)> on_fatal);

  // Calls the controller leader's Controller service (`local` when this broker is it, else
  // `remote` over the inter-broker listener), following NOT_LEADER answers and trying another
  // controller when one does not answer within `call_limit`, for at most `limit` in all.
  template <typename Response, typename Local, typename Remote>
  Response OnController(Local local, Remote remote, std::chrono::milliseconds call_limit,
                        std::chrono::milliseconds limit);
  template <typename Response, typename Local, typename Remote>
  Response OnController(Local local, Remote remote) {
    const std::chrono::milliseconds limit(options_.controller.propose_timeout_ms);
    return OnController<Response>(std::move(local), std::move(remote), limit, limit);
  }
  std::unique_ptr<v1::Controller::Stub> StubFor(raft::NodeId id);
  void RunHeartbeats();
  void StopHeartbeats();
  // A heartbeat (a farewell with `shutting_down`) and what its answer says.
  void Heartbeat(bool shutting_down = false);
  // Hands the partitions this broker leads to their preferred leaders where leader_balance.h says
  // so; the number of transfers started.
  int BalanceLeaders();
  // Fills `led` (this broker's heartbeat report of partition `tp`, which it leads) with the
  // reassignment of `tp` in `image` when the group's committed membership is its target.
  void ReportReassignment(const MetadataImage& image, const storage::TopicPartition& tp,
                          const ReplicaStatus& status, v1::PartitionLeader* led);
  // Takes the next step (reassignment.h) of every reassignment of a partition this broker leads;
  // the number of membership changes proposed.
  int DriveReassignments();

  const ClusterNodeOptions options_;
  storage::LogManager* const logs_;
  const std::function<void(const absl::Status&)> on_fatal_;
  const std::string incarnation_id_;
  std::map<raft::NodeId, std::string> inter_broker_addresses_;

  std::unique_ptr<ReplicaManager> replicas_;
  std::unique_ptr<RaftTransport> transport_;
  std::unique_ptr<ClusterMetadata> metadata_;
  std::unique_ptr<ReplicaReconciler> reconciler_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<grpc::Server> server_;  // the inter-broker listener

  mutable Mutex mu_;
  CondVar cv_;
  std::string grpc_addr_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const MetadataImage> image_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool heartbeats_stopped_ ABSL_GUARDED_BY(mu_) = false;  // HandOver said farewell
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  raft::NodeId heartbeat_target_ ABSL_GUARDED_BY(mu_) = raft::kNoNode;
  // Partition leaders as the controller last reported them.
  std::map<std::pair<std::string, int32_t>, v1::PartitionLeader> leaders_ ABSL_GUARDED_BY(mu_);
  // When the controller first refused this broker's registration (a duplicate node id).
  std::optional<std::chrono::steady_clock::time_point> refused_since_ ABSL_GUARDED_BY(mu_);
  // The controller's metadata high watermark at the first heartbeat answer (-1: none yet), and
  // whether this broker's got there (it only ever turns true).
  int64_t metadata_target_ ABSL_GUARDED_BY(mu_) = -1;
  mutable std::atomic<bool> metadata_caught_up_{false};
  std::thread heartbeat_thread_;
};

}  // namespace runnel::broker
