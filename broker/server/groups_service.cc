#include "broker/server/groups_service.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "broker/server/error_codes.h"

namespace runnel::broker {

v1::Error GroupsService::Coordinates(const std::string& group) const {
  return shards_ == nullptr ? v1::Error() : shards_->Check(group);
}

v1::Error GroupsService::NotServed(const std::string& group, const absl::Status& refused) const {
  v1::Error error = Coordinates(group);
  if (error.code() == v1::NONE) {  // moved between the check and the read: it reloads
    error.set_code(v1::COORDINATOR_LOAD_IN_PROGRESS);
    error.set_message(std::string(refused.message()));
  }
  return error;
}

grpc::ServerUnaryReactor* GroupsService::FindCoordinator(grpc::CallbackServerContext* context,
                                                         const v1::FindCoordinatorRequest* request,
                                                         v1::FindCoordinatorResponse* response) {
  if (!request->group_id().empty() && shards_ != nullptr) {
    return RunBlocking(blocking_, context, [this, request, response] {
      *response = shards_->Find(request->group_id(), offsets_->num_partitions());
    });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->group_id().empty()) {
    SetError(absl::InvalidArgumentError("group_id is empty"), response->mutable_error());
  } else {
    response->set_node_id(identity_->node_id());
    response->set_address(identity_->grpc_addr());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GroupsService::ConsumerGroupHeartbeat(
    grpc::CallbackServerContext* context, const v1::ConsumerGroupHeartbeatRequest* request,
    v1::ConsumerGroupHeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (v1::Error elsewhere = Coordinates(request->group_id()); elsewhere.code() != v1::NONE) {
    *response->mutable_error() = std::move(elsewhere);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Answered once the membership change is durable; a failed write is UNAVAILABLE, which the
  // member retries (the coordinator recognises the repeat). In a cluster it fails when this
  // broker lost the group's offsets partition meanwhile: NOT_COORDINATOR sends the member to the
  // new coordinator, which has the group as its log holds it.
  const bool cluster = shards_ != nullptr;
  coordinator_->Heartbeat(
      *request, context->peer(), response, [reactor, response, cluster](absl::Status s) {
        if (s.ok() || !cluster) {
          reactor->Finish(
              s.ok() ? grpc::Status::OK
                     : grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(s.message())));
          return;
        }
        response->Clear();
        response->mutable_error()->set_code(v1::NOT_COORDINATOR);
        response->mutable_error()->set_message(std::string(s.message()));
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::ServerUnaryReactor* GroupsService::DescribeGroups(grpc::CallbackServerContext* context,
                                                        const v1::DescribeGroupsRequest* request,
                                                        v1::DescribeGroupsResponse* response) {
  for (const std::string& group : request->group_ids()) {
    v1::GroupDescription* description = response->add_groups();
    description->set_group_id(group);
    if (group.empty()) {
      SetError(absl::InvalidArgumentError("group_id is empty"), description->mutable_error());
    } else if (v1::Error elsewhere = Coordinates(group); elsewhere.code() != v1::NONE) {
      *description->mutable_error() = std::move(elsewhere);
    } else if (!coordinator_->Describe(group, description)) {
      description->set_state("Empty");
      if (offsets_->FetchAll(group).empty()) {
        description->mutable_error()->set_code(v1::GROUP_ID_NOT_FOUND);
        description->mutable_error()->set_message("group " + group +
                                                  " has no members and no committed offsets");
      }
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GroupsService::CommitOffsets(grpc::CallbackServerContext* context,
                                                       const v1::CommitOffsetsRequest* request,
                                                       v1::CommitOffsetsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->group_id().empty()) {
    SetError(absl::InvalidArgumentError("group_id is empty"), response->mutable_error());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  if (absl::Status group = OffsetStore::CheckGroupId(request->group_id()); !group.ok()) {
    SetError(group, response->mutable_error());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  if (v1::Error elsewhere = Coordinates(request->group_id()); elsewhere.code() != v1::NONE) {
    *response->mutable_error() = std::move(elsewhere);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  if (v1::Error member = coordinator_->CheckCommit(request->group_id(), request->member_id(),
                                                   request->member_epoch());
      member.code() != v1::NONE) {
    *response->mutable_error() = std::move(member);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Bad entries fail alone; the rest are committed together. `good` indexes response rows.
  std::vector<OffsetCommit> commits;
  std::vector<int> good;
  for (const v1::PartitionOffsetCommit& o : request->offsets()) {
    v1::PartitionCommitResult* row = response->add_partitions();
    row->set_topic(o.topic());
    row->set_partition(o.partition());
    OffsetCommit commit{o.topic(), o.partition(), o.offset(), o.metadata()};
    const absl::Status valid = OffsetStore::Check(commit);
    if (!valid.ok()) {
      SetError(valid, row->mutable_error());
      continue;
    }
    good.push_back(response->partitions_size() - 1);
    commits.push_back(std::move(commit));
  }
  if (commits.empty()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  const bool cluster = shards_ != nullptr;
  auto fail_good = [response, good, cluster](const absl::Status& s) {
    for (int i : good) {
      v1::Error* error = response->mutable_partitions(i)->mutable_error();
      SetError(s, error);
      // In a cluster the write fails when this broker lost the group's offsets partition
      // meanwhile: the member finds the new coordinator and commits again.
      if (cluster && (absl::IsUnavailable(s) || absl::IsFailedPrecondition(s))) {
        error->set_code(v1::NOT_COORDINATOR);
      }
    }
  };
  const absl::Status committed =
      offsets_->Commit(request->group_id(), commits, [reactor, fail_good](absl::Status s) {
        if (!s.ok()) fail_good(s);
        reactor->Finish(grpc::Status::OK);
      });
  if (!committed.ok()) {  // the durable callback will not run
    fail_good(committed);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerUnaryReactor* GroupsService::FetchOffsets(grpc::CallbackServerContext* context,
                                                      const v1::FetchOffsetsRequest* request,
                                                      v1::FetchOffsetsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto add = [response](const std::string& topic, int32_t partition,
                        const std::optional<CommittedOffset>& c) {
    v1::PartitionCommittedOffset* row = response->add_partitions();
    row->set_topic(topic);
    row->set_partition(partition);
    row->set_offset(c.has_value() ? c->offset : -1);
    if (c.has_value()) {
      row->set_metadata(c->metadata);
      row->set_commit_timestamp(c->commit_timestamp);
    }
  };
  if (request->group_id().empty()) {
    SetError(absl::InvalidArgumentError("group_id is empty"), response->mutable_error());
  } else if (v1::Error elsewhere = Coordinates(request->group_id()); elsewhere.code() != v1::NONE) {
    *response->mutable_error() = std::move(elsewhere);
  } else if (request->partitions().empty()) {
    // Checked with the read: a partition unloaded meanwhile must not look like "no offsets".
    const auto all = offsets_->FetchAllServed(request->group_id());
    if (!all.ok()) {
      *response->mutable_error() = NotServed(request->group_id(), all.status());
    } else {
      for (const auto& [key, value] : *all) add(key.topic, key.partition, value);
    }
  } else {
    for (const v1::TopicPartition& tp : request->partitions()) {
      const auto one = offsets_->FetchServed(request->group_id(), tp.topic(), tp.partition());
      if (!one.ok()) {
        response->clear_partitions();
        *response->mutable_error() = NotServed(request->group_id(), one.status());
        break;
      }
      add(tp.topic(), tp.partition(), *one);
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* GroupsService::ListGroups(grpc::CallbackServerContext* context,
                                                    const v1::ListGroupsRequest* /*request*/,
                                                    v1::ListGroupsResponse* response) {
  std::map<std::string, v1::GroupListing> groups;
  for (const std::string& group : offsets_->Groups()) {
    groups[group].set_group_id(group);
    groups[group].set_state("Empty");
  }
  for (v1::GroupListing& listing : coordinator_->List()) {
    groups[listing.group_id()] = std::move(listing);
  }
  for (auto& [id, listing] : groups) *response->add_groups() = std::move(listing);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// Deletes the groups one after another, each answered when its tombstones are durable.
class GroupsService::DeleteCall {
 public:
  DeleteCall(const GroupsService* service, grpc::ServerUnaryReactor* reactor,
             const v1::DeleteGroupsRequest* request, v1::DeleteGroupsResponse* response)
      : service_(service),
        coordinator_(service->coordinator_),
        offsets_(service->offsets_),
        reactor_(reactor),
        request_(request),
        response_(response) {}

  // Deletes group `i` onwards; finishes the RPC after the last. Deletes itself when done.
  void Next(int i) {
    for (; i < request_->group_ids_size(); ++i) {
      const std::string& group = request_->group_ids(i);
      v1::GroupDeletion* result = response_->add_results();
      result->set_group_id(group);
      if (group.empty()) {
        SetError(absl::InvalidArgumentError("group_id is empty"), result->mutable_error());
        continue;
      }
      if (v1::Error elsewhere = service_->Coordinates(group); elsewhere.code() != v1::NONE) {
        *result->mutable_error() = std::move(elsewhere);
        continue;
      }
      if (const int members = coordinator_->MemberCount(group); members > 0) {
        result->mutable_error()->set_code(v1::NON_EMPTY_GROUP);
        result->mutable_error()->set_message(absl::StrCat(
            "group ", group, " has ", members, " active member(s); stop them before deleting it"));
        continue;
      }
      const absl::Status s = offsets_->DeleteGroup(group, [this, i, result](absl::Status done) {
        SetError(done, result->mutable_error());
        Next(i + 1);
      });
      if (s.ok()) return;  // continued by the callback
      SetError(s, result->mutable_error(), v1::GROUP_ID_NOT_FOUND);
    }
    reactor_->Finish(grpc::Status::OK);
    delete this;
  }

 private:
  const GroupsService* const service_;
  GroupCoordinator* const coordinator_;
  OffsetStore* const offsets_;
  grpc::ServerUnaryReactor* const reactor_;
  const v1::DeleteGroupsRequest* const request_;
  v1::DeleteGroupsResponse* const response_;
};

grpc::ServerUnaryReactor* GroupsService::DeleteGroups(grpc::CallbackServerContext* context,
                                                      const v1::DeleteGroupsRequest* request,
                                                      v1::DeleteGroupsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  (new DeleteCall(this, reactor, request, response))->Next(0);
  return reactor;
}

}  // namespace runnel::broker
