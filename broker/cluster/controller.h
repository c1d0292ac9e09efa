// Controller: the controller leader's duties, served on the inter-broker listener
// (proto/runnel/v1/controller.proto). A broker that does not lead the metadata log answers
// NOT_LEADER naming the leader it knows.
//
// - Brokers heartbeat every --broker-heartbeat-interval-ms: an unknown or changed broker (a new
//   incarnation after a restart, new addresses) is registered (BrokerRecord, which also unfences
//   it); one whose node id is held by another incarnation that still heartbeats is refused (two
//   processes with one node id); one not heard from for --broker-session-timeout-ms is fenced
//   (BrokerFenceRecord). A controller that just took over gives every broker a whole session
//   before fencing it. A broker shutting down cleanly says so (it is fenced at once, and its next
//   start registers without waiting for the old session to expire).
// - Each heartbeat reports the partitions its broker leads (leader, term, in-sync replicas, log
//   end, high watermark); the answer carries every report the controller holds (the newest term
//   of each partition wins), so every broker can say who leads what, one heartbeat late at worst.
// - Idempotent producer ids are granted to brokers in blocks (ProducerIdsRecord), so an id is
//   unique in the whole cluster.
// - Topic create, delete and config changes become metadata records (replicas placed by
//   PlaceReplicas over the unfenced brokers); each call answers once its record is committed and
//   applied here.
// - A partition reassignment is recorded (PartitionReplicasRecord); the partition's leader
//   changes its group's membership (reassignment.h), and once a heartbeat reports the target as
//   the committed membership the controller records it completed.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "broker/cluster/cluster_metadata.h"
#include "broker/cluster/topic_table.h"
#include "common/mutex.h"
#include "runnel/v1/controller.grpc.pb.h"

namespace runnel::broker {

struct ControllerOptions {
  raft::NodeId node_id = raft::kNoNode;
  std::string cluster_id;
  int64_t session_timeout_ms = 6'000;      // broker.session.timeout.ms
  int32_t num_partitions = 1;              // num.partitions: a create asking for 0
  int32_t default_replication_factor = 1;  // default.replication.factor: a create asking for 0
  int32_t max_partitions_per_topic = 10'000;
  int64_t propose_timeout_ms = 10'000;  // a metadata change not committed by then fails
  std::set<raft::NodeId> controllers;   // the metadata log's voters (never unregistered)
};

class Controller final : public v1::Controller::Service {
 public:
  // `metadata` is borrowed (started, outliving this). `inter_broker_addresses` maps every node id
  // of --peers to its inter-broker address (NOT_LEADER answers name the leader by it).
  Controller(ControllerOptions options, ClusterMetadata* metadata,
             std::map<raft::NodeId, std::string> inter_broker_addresses);
  ~Controller() override;  // Stop()

  // Starts the thread that fences silent brokers and registers the cluster id.
  void Start();
  void Stop();

  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::BrokerHeartbeatRequest* request,
                         v1::BrokerHeartbeatResponse* response) override;
  grpc::Status CreateTopics(grpc::ServerContext* context, const v1::CreateTopicsRequest* request,
                            v1::CreateTopicsResponse* response) override;
  grpc::Status CreateInternalTopics(grpc::ServerContext* context,
                                    const v1::CreateTopicsRequest* request,
                                    v1::CreateTopicsResponse* response) override;
  grpc::Status DeleteTopics(grpc::ServerContext* context, const v1::DeleteTopicsRequest* request,
                            v1::DeleteTopicsResponse* response) override;
  grpc::Status AlterConfigs(grpc::ServerContext* context, const v1::AlterConfigsRequest* request,
                            v1::AlterConfigsResponse* response) override;
  grpc::Status AllocateProducerIds(grpc::ServerContext* context,
                                   const v1::AllocateProducerIdsRequest* request,
                                   v1::AllocateProducerIdsResponse* response) override;
  grpc::Status AlterPartitionReassignments(
      grpc::ServerContext* context, const v1::AlterPartitionReassignmentsRequest* request,
      v1::AlterPartitionReassignmentsResponse* response) override;
  grpc::Status UnregisterBroker(grpc::ServerContext* context,
                                const v1::UnregisterBrokerRequest* request,
                                v1::UnregisterBrokerResponse* response) override;

  // The same calls, made directly by this broker when it leads the metadata log.
  v1::BrokerHeartbeatResponse Heartbeat(const v1::BrokerHeartbeatRequest& request);
  v1::CreateTopicsResponse CreateTopics(const v1::CreateTopicsRequest& request);
  // Internal ('__') topics only, marked internal; replication factor 0: min(3, unfenced brokers).
  v1::CreateTopicsResponse CreateInternalTopics(const v1::CreateTopicsRequest& request);
  v1::DeleteTopicsResponse DeleteTopics(const v1::DeleteTopicsRequest& request);
  v1::AlterConfigsResponse AlterConfigs(const v1::AlterConfigsRequest& request);
  v1::AllocateProducerIdsResponse AllocateProducerIds(
      const v1::AllocateProducerIdsRequest& request);
  // Begins each reassignment (a PartitionReplicasRecord); answered once it is recorded.
  v1::AlterPartitionReassignmentsResponse AlterPartitionReassignments(
      const v1::AlterPartitionReassignmentsRequest& request);
  // Removes a fenced broker that hosts nothing (a BrokerUnregisterRecord); refuses a controller.
  v1::UnregisterBrokerResponse UnregisterBroker(const v1::UnregisterBrokerRequest& request);

  // Producer ids granted per AllocateProducerIds call.
  static constexpr int64_t kProducerIdBlock = 1000;

 private:
  using Clock = std::chrono::steady_clock;

  // True when this broker leads the metadata log and committed its barrier in the current term;
  // else fills NOT_LEADER naming the leader (none while the barrier is not committed yet).
  bool Leading(v1::Error* error) const;
  // `internal`: the brokers' own '__' topics (refused otherwise), else clients' (where '__' names
  // are refused).
  void CreateTopic(const v1::NewTopic& request, bool validate_only, bool internal,
                   v1::Error* error);
  // A broker's farewell: forgotten (its next incarnation registers at once) and fenced.
  void ShutDown(const v1::BrokerHeartbeatRequest& request, v1::Error* error);
  // Proposes `records` and waits for them to be committed and applied here; an error names what
  // failed (the record that did not apply, or the timeout).
  absl::Status Commit(std::vector<v1::MetadataRecord> records);
  void Run();
  // On the controller thread, while leading: registers the cluster id, fences the brokers
  // silent for a session and completes reassignments.
  void Sweep();
  // Records complete every reassignment whose partition's leader reported the target as its
  // group's committed membership.
  void CompleteReassignments();

  const ControllerOptions options_;
  ClusterMetadata* const metadata_;
  const std::map<raft::NodeId, std::string> inter_broker_addresses_;

  Mutex changes_mu_;  // one metadata change at a time: each checks the image it then changes

  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The metadata term in which this controller committed its barrier: a record of its own term,
  // which commits (and applies here) every record an earlier leader committed, so the image it
  // answers from is the whole committed log. It answers nothing before (NOT_LEADER, no hint).
  raft::Term ready_term_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Clock::time_point> last_sweep_ ABSL_GUARDED_BY(mu_);
  std::map<raft::NodeId, Clock::time_point> last_heartbeat_ ABSL_GUARDED_BY(mu_);
  std::map<raft::NodeId, std::string> incarnations_ ABSL_GUARDED_BY(mu_);  // heartbeating now
  std::map<std::pair<std::string, int32_t>, v1::PartitionLeader> leaders_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace runnel::broker
