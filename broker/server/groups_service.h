// The Groups gRPC service (proto/runnel/v1/groups.proto): membership through the
// GroupCoordinator, committed offsets through the OffsetStore. CommitOffsets is checked against
// membership and answered from the storage flush thread once the commit is durable; the other
// calls at once.
#pragma once

#include "broker/group/group_coordinator.h"
#include "broker/group/offset_store.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::broker {

class GroupsService final : public v1::Groups::CallbackService {
 public:
  // Borrows both; they must outlive the service.
  GroupsService(GroupCoordinator* coordinator, OffsetStore* offsets)
      : coordinator_(coordinator), offsets_(offsets) {}

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

  GroupCoordinator* const coordinator_;
  OffsetStore* const offsets_;
};

}  // namespace runnel::broker
