// The Groups gRPC service (proto/runnel/v1/groups.proto) over the OffsetStore. CommitOffsets is
// answered from the storage flush thread once the commit is durable; FetchOffsets at once.
#pragma once

#include "broker/group/offset_store.h"
#include "runnel/v1/groups.grpc.pb.h"

namespace runnel::broker {

class GroupsService final : public v1::Groups::CallbackService {
 public:
  // Borrows `offsets`; it must outlive the service.
  explicit GroupsService(OffsetStore* offsets) : offsets_(offsets) {}

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

  OffsetStore* const offsets_;
};

}  // namespace runnel::broker
