// The Admin gRPC service (proto/runnel/v1/admin.proto): topics, their configs, the cluster.
// On a single node every handler answers at once (topic creation does the directory work inline);
// in a cluster the calls that change topics wait for the controller to commit them (the gRPC
// thread blocks, at most the controller's propose timeout).
#pragma once

#include "broker/cluster/cluster_node.h"
#include "broker/partition/partition_manager.h"
#include "broker/server/blocking_calls.h"
#include "broker/server/broker_service.h"
#include "runnel/v1/admin.grpc.pb.h"

namespace runnel::broker {

class AdminService final : public v1::Admin::CallbackService {
 public:
  // Borrows `partitions`, `cluster` (null on a single node), `identity` and `blocking` (the calls
  // that wait for the controller run there; null: on gRPC's threads); they must outlive the
  // service.
  AdminService(PartitionManager* partitions, ClusterNode* cluster, const BrokerIdentity* identity,
               BlockingCalls* blocking = nullptr)
      : partitions_(partitions), cluster_(cluster), identity_(identity), blocking_(blocking) {}

  grpc::ServerUnaryReactor* CreateTopics(grpc::CallbackServerContext* context,
                                         const v1::CreateTopicsRequest* request,
                                         v1::CreateTopicsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteTopics(grpc::CallbackServerContext* context,
                                         const v1::DeleteTopicsRequest* request,
                                         v1::DeleteTopicsResponse* response) override;
  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* context,
                                       const v1::ListTopicsRequest* request,
                                       v1::ListTopicsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeTopics(grpc::CallbackServerContext* context,
                                           const v1::DescribeTopicsRequest* request,
                                           v1::DescribeTopicsResponse* response) override;
  grpc::ServerUnaryReactor* AlterConfigs(grpc::CallbackServerContext* context,
                                         const v1::AlterConfigsRequest* request,
                                         v1::AlterConfigsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeCluster(grpc::CallbackServerContext* context,
                                            const v1::DescribeClusterRequest* request,
                                            v1::DescribeClusterResponse* response) override;
  grpc::ServerUnaryReactor* UnregisterBroker(grpc::CallbackServerContext* context,
                                             const v1::UnregisterBrokerRequest* request,
                                             v1::UnregisterBrokerResponse* response) override;
  grpc::ServerUnaryReactor* AlterPartitionReassignments(
      grpc::CallbackServerContext* context, const v1::AlterPartitionReassignmentsRequest* request,
      v1::AlterPartitionReassignmentsResponse* response) override;

 private:
  PartitionManager* const partitions_;
  ClusterNode* const cluster_;
  const BrokerIdentity* const identity_;
  BlockingCalls* const blocking_;
};

}  // namespace runnel::broker
