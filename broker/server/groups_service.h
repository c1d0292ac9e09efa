// The Groups gRPC service (proto/runnel/v1/groups.proto): membership through the
// GroupCoordinator, committed offsets through the OffsetStore. CommitOffsets is checked against
// membership and answered from the storage flush thread once the commit is durable; the other
// calls at once. In a cluster every call naming a group is served only while this broker
// coordinates it (CoordinatorShards::Check); others get NOT_COORDINATOR and the like.
#pragma once

#include "broker/group/coordinator_shards.h"
#include "broker/group/group_coordinator.h"
#include "broker/group/offset_store.h"
#include "broker/server/blocking_calls.h"
#include "broker/server/broker_service.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::broker {

class GroupsService final : public v1::Groups::CallbackService {
 public:
  // Borrows everything; it must outlive the service. `shards` is null on a single node, which
  // coordinates every group (FindCoordinator names `identity`).
  // FindCoordinator, which may create __consumer_offsets through the controller, runs on
  // `blocking` (null: on gRPC's threads).
  GroupsService(GroupCoordinator* coordinator, OffsetStore* offsets, const BrokerIdentity* identity,
                CoordinatorShards* shards = nullptr, BlockingCalls* blocking = nullptr)
      : coordinator_(coordinator),
        offsets_(offsets),
        identity_(identity),
        shards_(shards),
        blocking_(blocking) {}

  grpc::ServerUnaryReactor* FindCoordinator(grpc::CallbackServerContext* context,
                                            const v1::FindCoordinatorRequest* request,
                                            v1::FindCoordinatorResponse* response) override;

  grpc::ServerUnaryReactor* ConsumerGroupHeartbeat(
      grpc::CallbackServerContext* context, const v1::ConsumerGroupHeartbeatRequest* request,
      v1::ConsumerGroupHeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* DescribeGroups(grpc::CallbackServerContext* context,
                                           const v1::DescribeGroupsRequest* request,
                                           v1::DescribeGroupsResponse* response) override;

  grpc::ServerUnaryReactor* CommitOffsets(grpc::CallbackServerContext* context,
                                          const v1::CommitOffsetsRequest* request,
                                          v1::CommitOffsetsResponse* response) override;
  grpc::ServerUnaryReactor* FetchOffsets(grpc::CallbackServerContext* context,
                                         const v1::FetchOffsetsRequest* request,
                                         v1::FetchOffsetsResponse* response) override;
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* context,
                                       const v1::ListGroupsRequest* request,
                                       v1::ListGroupsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteGroups(grpc::CallbackServerContext* context,
                                         const v1::DeleteGroupsRequest* request,
                                         v1::DeleteGroupsResponse* response) override;

 private:
  class DeleteCall;

  // NONE when this broker serves `group` now (always on a single node).
  v1::Error Coordinates(const std::string& group) const;
  // The error for a read the OffsetStore refused (`refused`): where the group went, or
  // COORDINATOR_LOAD_IN_PROGRESS.
  v1::Error NotServed(const std::string& group, const absl::Status& refused) const;

  GroupCoordinator* const coordinator_;
  OffsetStore* const offsets_;
  const BrokerIdentity* const identity_;
  CoordinatorShards* const shards_;
  BlockingCalls* const blocking_;
};

}  // namespace runnel::broker
