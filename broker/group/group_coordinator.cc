#include "broker/group/group_coordinator.h"

#include <re2/re2.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "broker/group/group_records.h"
#include "broker/group/reconciliation.h"
#include "broker/group/wire.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::broker {
namespace {

constexpr size_t kMaxFencedIds = 64;
constexpr size_t kMaxMemberIdBytes = 255;

void SetGroupError(v1::Error* error, v1::ErrorCode code, std::string message) {
  error->set_code(code);
  error->set_message(std::move(message));
}

// "ipv4:127.0.0.1:5000" -> "127.0.0.1", "ipv6:[::1]:5000" -> "::1"
std::string HostOfPeer(const std::string& peer) {
  std::string host = peer.substr(peer.find(':') + 1);
  host = host.substr(0, host.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

TopicPartitions FromProto(const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& list) {
  TopicPartitions out;
  for (const v1::TopicPartitions& t : list) {
    std::set<int32_t>& partitions = out[t.topic()];
    partitions.insert(t.partitions().begin(), t.partitions().end());
  }
  return out;
}

void ToProto(const TopicPartitions& partitions,
             google::protobuf::RepeatedPtrField<v1::TopicPartitions>* list) {
  for (const auto& [topic, ps] : partitions) {
    if (ps.empty()) continue;
    v1::TopicPartitions* t = list->Add();
    t->set_topic(topic);
    t->mutable_partitions()->Add(ps.begin(), ps.end());
  }
}

GroupCoordinator::GroupCoordinator(const TopicTable* topics, OffsetStore* store,
                                   GroupCoordinatorOptions options)
    : topics_(topics), store_(store), options_(options) {
  std::random_device random;
  member_prefix_ = absl::StrFormat("%08x%08x-", random(), random());
}

GroupCoordinator::~GroupCoordinator() { Stop(); }

void GroupCoordinator::Stop() {
  std::thread expiry;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    expiry = std::move(expiry_thread_);
  }
  stop_cv_.SignalAll();
  round_cv_.SignalAll();
  if (expiry.joinable()) expiry.join();
}

void GroupCoordinator::Start() {
  MutexLock lock(&mu_);
  if (stopping_ || expiry_thread_.joinable()) return;
  expiry_thread_ = std::thread([this] { ExpiryLoop(); });
}

bool GroupCoordinator::CheckRequest(const v1::ConsumerGroupHeartbeatRequest& request,
                                    v1::Error* error) {
  if (request.group_id().empty()) {
    SetGroupError(error, v1::INVALID_REQUEST, "group_id is empty");
    return false;
  }
  if (request.member_epoch() < -2) {
    SetGroupError(error, v1::INVALID_REQUEST,
                  absl::StrCat("member_epoch ", request.member_epoch(),
                               " is not valid (0 joins, -1 and -2 leave)"));
    return false;
  }
  if (request.member_epoch() != 0 && request.member_id().empty()) {
    SetGroupError(error, v1::INVALID_REQUEST,
                  absl::StrCat("member_id is empty but member_epoch is ", request.member_epoch(),
                               " (join with epoch 0 first)"));
    return false;
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"group_id", &request.group_id()},
        {"instance_id", &request.instance_id()},
        {"client_id", &request.client_id()},
        {"subscribed_topic_regex", &request.subscribed_topic_regex()}}) {
    if (value->size() > wire::kMaxStringBytes) {
      SetGroupError(error, v1::INVALID_REQUEST,
                    absl::StrCat(field, " is ", value->size(), " bytes; at most ",
                                 wire::kMaxStringBytes, " are allowed"));
      return false;
    }
  }
  if (request.member_epoch() < 0) return true;  // leaving: the rest does not matter
  const bool has_topics = request.subscribed_topics_size() > 0;
  const bool has_regex = !request.subscribed_topic_regex().empty();
  if (has_topics == has_regex) {
    SetGroupError(error, v1::INVALID_REQUEST,
                  has_topics ? "subscribe to topic names or to a regex, not both"
                             : "the subscription is empty (no topics and no regex)");
    return false;
  }
  for (const std::string& topic : request.subscribed_topics()) {
    if (topic.empty() || topic.size() > wire::kMaxStringBytes) {
      SetGroupError(error, v1::INVALID_REQUEST,
                    topic.empty()
                        ? std::string("subscribed_topics has an empty topic name")
                        : absl::StrCat("subscribed_topics has a topic name of ", topic.size(),
                                       " bytes; at most ", wire::kMaxStringBytes, " are allowed"));
      return false;
    }
  }
  if (has_regex) {
    RE2 regex(request.subscribed_topic_regex(), RE2::Quiet);
    if (!regex.ok()) {
      SetGroupError(error, v1::INVALID_REQUEST,
                    absl::StrCat("subscribed_topic_regex '", request.subscribed_topic_regex(),
                                 "' does not compile: ", regex.error()));
      return false;
    }
  }
  if (!request.server_assignor().empty() && MakeAssignor(request.server_assignor()) == nullptr) {
    SetGroupError(error, v1::UNSUPPORTED_ASSIGNOR,
                  absl::StrCat("server_assignor '", request.server_assignor(),
                               "' is not one of: uniform, range"));
    return false;
  }
  if (request.member_id().size() > kMaxMemberIdBytes) {
    SetGroupError(error, v1::INVALID_REQUEST,
                  absl::StrCat("member_id is ", request.member_id().size(), " bytes; at most ",
                               kMaxMemberIdBytes, " are allowed"));
    return false;
  }
  if (request.rebalance_timeout_ms() < 0) {
    SetGroupError(error, v1::INVALID_REQUEST, "rebalance_timeout_ms is negative");
    return false;
  }
  return true;
}

void GroupCoordinator::Heartbeat(const v1::ConsumerGroupHeartbeatRequest& request,
                                 const std::string& client_host,
                                 v1::ConsumerGroupHeartbeatResponse* response,
                                 std::function<void(absl::Status)> done) {
  if (!CheckRequest(request, response->mutable_error())) {
    done(absl::OkStatus());
    return;
  }
  response->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  absl::Status written;
  {
    MutexLock lock(&mu_);
    HeartbeatLocked(request, client_host, response);
    written = Persist(request.group_id(), &done);
  }
  if (done) done(written);  // nothing to wait for, or the append failed
}

void GroupCoordinator::HeartbeatLocked(const v1::ConsumerGroupHeartbeatRequest& request,
                                       const std::string& client_host,
                                       v1::ConsumerGroupHeartbeatResponse* response) {
  if (request.member_epoch() == 0) {
    Join(groups_[request.group_id()], request, HostOfPeer(client_host), response);
    return;
  }
  auto group_it = groups_.find(request.group_id());
  Group* group = group_it == groups_.end() ? nullptr : &group_it->second;
  Member* found = nullptr;
  if (group != nullptr) {
    auto it = group->members.find(request.member_id());
    if (it != group->members.end()) found = &it->second;
  }
  if (found == nullptr) {
    if (request.member_epoch() < 0) {  // leaving twice is fine
      response->set_member_id(request.member_id());
      response->set_member_epoch(request.member_epoch());
      return;
    }
    // A zombie of a replaced static member: its instance id now belongs to another member id
    // (known after a restart too, as static members are in the group's records), or it is one
    // of the ids replaced since this coordinator started.
    const bool fenced = group != nullptr && (IsFenced(*group, request.member_id()) ||
                                             IsReplacedInstance(*group, request));
    SetGroupError(
        response->mutable_error(), fenced ? v1::FENCED_INSTANCE_ID : v1::UNKNOWN_MEMBER_ID,
        fenced ? absl::StrCat("member ", request.member_id(), " of group ", request.group_id(),
                              " was replaced by a newer member with its "
                              "group.instance.id")
               : absl::StrCat("group ", request.group_id(), " has no member ", request.member_id(),
                              " (its session expired?); rejoin"));
    return;
  }
  Member& member = *found;
  response->set_member_id(member.id);
  if (request.member_epoch() == -1 ||
      (request.member_epoch() == -2 && member.instance_id.empty())) {
    RemoveMember(*group, member.id);
    EraseIfEmpty(request.group_id());
    response->set_member_epoch(-1);
    return;
  }
  const auto now = options_.clock->SteadyNow();
  if (request.member_epoch() == -2) {
    member.left_static = true;
    member.session_deadline = now + std::chrono::milliseconds(options_.session_timeout_ms);
    response->set_member_epoch(-2);
    return;
  }
  const TopicPartitions owned = FromProto(request.owned());
  if (request.member_epoch() != member.epoch) {
    // A member whose last response was lost may still send its previous epoch, as long as it
    // owns nothing it should not.
    TopicPartitions may_own = member.assigned;
    for (const auto& [topic, ps] : member.revoking) may_own[topic].insert(ps.begin(), ps.end());
    const bool lost_response =
        request.member_epoch() == member.previous_epoch && IsSubset(owned, may_own);
    if (!lost_response) {
      SetGroupError(response->mutable_error(), v1::FENCED_MEMBER_EPOCH,
                    absl::StrCat("member ", member.id, " of group ", group->id, " sent epoch ",
                                 request.member_epoch(), " but is at ", member.epoch,
                                 "; it lost its partitions and must rejoin"));
      RemoveMember(*group, member.id);
      EraseIfEmpty(request.group_id());
      return;
    }
  }
  member.session_deadline = now + std::chrono::milliseconds(options_.session_timeout_ms);
  member.left_static = false;
  member.client_host = HostOfPeer(client_host);
  if (UpdateSubscription(member, request)) ++group->epoch;
  RefreshTarget(*group);
  Reconcile(*group, member, owned);
  response->set_member_epoch(member.epoch);
  ToProto(member.assigned, response->mutable_assignment());
}

void GroupCoordinator::Join(Group& group, const v1::ConsumerGroupHeartbeatRequest& request,
                            const std::string& client_host,
                            v1::ConsumerGroupHeartbeatResponse* response) {
  group.id = request.group_id();
  const auto now = options_.clock->SteadyNow();
  Member* member = nullptr;
  auto static_it = request.instance_id().empty() ? group.static_members.end()
                                                 : group.static_members.find(request.instance_id());
  if (static_it != group.static_members.end()) {
    // A static member restarting: the newcomer takes over its predecessor's epoch and
    // partitions; nobody else moves.
    Member successor = std::move(group.members.at(static_it->second));
    const std::string old_id = successor.id;
    group.members.erase(old_id);
    group.fenced_ids.push_back(old_id);
    if (group.fenced_ids.size() > kMaxFencedIds) group.fenced_ids.erase(group.fenced_ids.begin());
    const bool id_free = !request.member_id().empty() && request.member_id() != old_id &&
                         !group.members.contains(request.member_id());
    successor.id = id_free ? request.member_id() : NewMemberId();
    successor.revoking.clear();  // the new process owns nothing yet
    successor.left_static = false;
    if (auto target = group.target.extract(old_id); !target.empty()) {
      target.key() = successor.id;
      group.target.insert(std::move(target));
    }
    static_it->second = successor.id;
    member = &group.members.emplace(successor.id, std::move(successor)).first->second;
    logging::Get("broker")->debug("group {}: static member {} rejoined as {}", group.id,
                                  request.instance_id(), member->id);
  } else {
    std::string id = request.member_id();
    if (!id.empty() && group.members.contains(id)) {
      RemoveMember(group, id);  // it starts over, owning nothing
    }
    if (id.empty()) id = NewMemberId();
    member = &group.members[id];
    member->id = id;
    member->instance_id = request.instance_id();
    if (!member->instance_id.empty()) group.static_members[member->instance_id] = id;
    ++group.epoch;
  }
  member->client_id = request.client_id();
  member->client_host = client_host;
  member->rebalance_timeout_ms = request.rebalance_timeout_ms() > 0 ? request.rebalance_timeout_ms()
                                                                    : kDefaultRebalanceTimeoutMs;
  member->session_deadline = now + std::chrono::milliseconds(options_.session_timeout_ms);
  if (UpdateSubscription(*member, request)) ++group.epoch;
  RefreshTarget(group);
  Reconcile(group, *member, TopicPartitions{});
  response->set_member_id(member->id);
  response->set_member_epoch(member->epoch);
  ToProto(member->assigned, response->mutable_assignment());
}

bool GroupCoordinator::UpdateSubscription(Member& member,
                                          const v1::ConsumerGroupHeartbeatRequest& request) {
  std::vector<std::string> topics(request.subscribed_topics().begin(),
                                  request.subscribed_topics().end());
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  const std::string assignor =
      request.server_assignor().empty() ? kDefaultAssignor : request.server_assignor();
  const bool changed = topics != member.subscribed_topics ||
                       request.subscribed_topic_regex() != member.regex ||
                       assignor != member.assignor;
  if (!changed) return false;
  member.subscribed_topics = std::move(topics);
  member.regex = request.subscribed_topic_regex();
  member.compiled_regex =
      member.regex.empty() ? nullptr : std::make_shared<const RE2>(member.regex, RE2::Quiet);
  member.assignor = assignor;
  return true;
}

void GroupCoordinator::RemoveMember(Group& group, const std::string& member_id) {
  auto it = group.members.find(member_id);
  if (it == group.members.end()) return;
  if (!it->second.instance_id.empty()) group.static_members.erase(it->second.instance_id);
  group.members.erase(it);
  ++group.epoch;
}

void GroupCoordinator::EraseIfEmpty(const std::string& group_id) {
  // Nothing to keep for a group without members: its committed offsets live in the OffsetStore.
  auto it = groups_.find(group_id);
  if (it != groups_.end() && it->second.members.empty()) groups_.erase(it);
}

bool GroupCoordinator::IsFenced(const Group& group, const std::string& member_id) {
  return std::find(group.fenced_ids.begin(), group.fenced_ids.end(), member_id) !=
         group.fenced_ids.end();
}

bool GroupCoordinator::IsReplacedInstance(const Group& group,
                                          const v1::ConsumerGroupHeartbeatRequest& request) {
  if (request.instance_id().empty()) return false;
  auto it = group.static_members.find(request.instance_id());
  return it != group.static_members.end() && it->second != request.member_id();
}

std::set<std::string> GroupCoordinator::ResolveTopics(const Member& member,
                                                      const std::vector<TopicInfo>& topics) const {
  std::set<std::string> out(member.subscribed_topics.begin(), member.subscribed_topics.end());
  if (member.compiled_regex != nullptr) {
    for (const TopicInfo& topic : topics) {
      if (!topic.internal && RE2::FullMatch(topic.name, *member.compiled_regex)) {
        out.insert(topic.name);
      }
    }
  }
  return out;
}

void GroupCoordinator::RefreshTarget(Group& group) {
  const uint64_t version = topics_->version();
  if (group.epoch == group.assignment_epoch && version == group.topics_version) return;
  const std::vector<TopicInfo> topics = topics_->List();
  std::map<std::string, int32_t> by_name;
  for (const TopicInfo& t : topics) by_name[t.name] = t.partitions;
  AssignmentSpec spec;
  std::map<std::string, int32_t> counts;
  std::map<std::string, int> assignor_votes;
  for (const auto& [id, member] : group.members) {
    AssignmentMember& m = spec.members.emplace_back();
    m.member_id = id;
    m.instance_id = member.instance_id;
    m.topics = ResolveTopics(member, topics);
    if (auto it = group.target.find(id); it != group.target.end()) m.current = it->second;
    for (const std::string& topic : m.topics) {
      if (auto it = by_name.find(topic); it != by_name.end()) counts[topic] = it->second;
    }
    ++assignor_votes[member.assignor];
  }
  group.topics_version = version;
  if (counts != group.partition_counts) {
    group.partition_counts = counts;
    if (group.epoch == group.assignment_epoch) ++group.epoch;
  }
  if (group.epoch == group.assignment_epoch) return;
  // The assignor most members ask for (ties: by name), as Kafka picks it.
  std::string assignor = kDefaultAssignor;
  int votes = 0;
  for (const auto& [name, n] : assignor_votes) {
    if (n > votes) std::tie(assignor, votes) = std::tie(name, n);
  }
  group.assignor = assignor;
  spec.partition_counts = std::move(counts);
  group.target = MakeAssignor(assignor)->Assign(spec);
  group.assignment_epoch = group.epoch;
  logging::Get("broker")->debug(
      "group {}: target assignment for epoch {} ({} members, assignor {})", group.id, group.epoch,
      group.members.size(), assignor);
}

void GroupCoordinator::Reconcile(Group& group, Member& member, const TopicPartitions& owned) {
  static const TopicPartitions kNothing;
  auto target_it = group.target.find(member.id);
  const TopicPartitions& target = target_it == group.target.end() ? kNothing : target_it->second;
  const CurrentAssignment current{.epoch = member.epoch,
                                  .previous_epoch = member.previous_epoch,
                                  .assigned = member.assigned,
                                  .revoking = member.revoking};
  const auto held_by_others = [&group, &member](const TopicPartitions& wanted) {
    TopicPartitions taken;
    for (const auto& [id, other] : group.members) {
      if (id == member.id) continue;
      for (const TopicPartitions* set : {&other.assigned, &other.revoking}) {
        for (const auto& [topic, partitions] : *set) {
          if (wanted.contains(topic)) taken[topic].insert(partitions.begin(), partitions.end());
        }
      }
    }
    return taken;
  };
  ReconcileStep step =
      broker::Reconcile(current, owned, target, group.assignment_epoch, held_by_others);
  member.epoch = step.next.epoch;
  member.previous_epoch = step.next.previous_epoch;
  member.assigned = std::move(step.next.assigned);
  member.revoking = std::move(step.next.revoking);
  if (step.revocation_started) {
    member.revoke_deadline =
        options_.clock->SteadyNow() + std::chrono::milliseconds(member.rebalance_timeout_ms);
  }
  // Gaining partitions is the only way to a second owner: checked then (rebalances, not every
  // heartbeat, pay for the walk over the group).
  if (!step.gained.empty()) {
    const std::optional<std::string> twice = SecondOwner(group);
    RUNNEL_CHECK(!twice.has_value(), "group %s: partition %s after reconciling member %s", group.id,
                 *twice, member.id);
  }
}

std::optional<std::string> GroupCoordinator::SecondOwner(const Group& group) {
  std::map<std::pair<std::string_view, int32_t>, std::string_view> owner;
  for (const auto& [id, member] : group.members) {
    for (const TopicPartitions* set : {&member.assigned, &member.revoking}) {
      for (const auto& [topic, partitions] : *set) {
        for (int32_t p : partitions) {
          auto [it, inserted] = owner.try_emplace({topic, p}, id);
          if (!inserted && it->second != id) {
            return absl::StrCat(topic, "-", p, " (members ", std::string(it->second), " and ", id,
                                ")");
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::string GroupCoordinator::State(const Group& group) {
  if (group.members.empty()) return "Empty";
  if (group.epoch != group.assignment_epoch) return "Assigning";
  for (const auto& [id, member] : group.members) {
    auto it = group.target.find(id);
    const bool at_target =
        it == group.target.end() ? member.assigned.empty() : member.assigned == it->second;
    if (member.epoch != group.assignment_epoch || !member.revoking.empty() || !at_target) {
      return "Reconciling";
    }
  }
  return "Stable";
}

std::string GroupCoordinator::NewMemberId() { return absl::StrCat(member_prefix_, ++next_member_); }

v1::Error GroupCoordinator::CheckCommit(const std::string& group, const std::string& member_id,
                                        int32_t member_epoch) const {
  v1::Error error;
  MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (member_id.empty() || member_epoch < 0) {
    if (it != groups_.end()) {
      SetGroupError(&error, v1::UNKNOWN_MEMBER_ID,
                    absl::StrCat("group ", group, " has ", it->second.members.size(),
                                 " active member(s); only members may commit offsets"));
    }
    return error;
  }
  const Member* member = nullptr;
  if (it != groups_.end()) {
    auto m = it->second.members.find(member_id);
    if (m != it->second.members.end()) member = &m->second;
  }
  if (member == nullptr) {
    const bool fenced = it != groups_.end() && IsFenced(it->second, member_id);
    SetGroupError(&error, fenced ? v1::FENCED_INSTANCE_ID : v1::UNKNOWN_MEMBER_ID,
                  absl::StrCat("group ", group, " has no member ", member_id,
                               fenced ? " (replaced by a newer instance)" : " (expired?)",
                               "; its commit is rejected"));
  } else if (member->epoch != member_epoch) {
    SetGroupError(&error, v1::STALE_MEMBER_EPOCH,
                  absl::StrCat("member ", member_id, " of group ", group, " commits with epoch ",
                               member_epoch, " but is at epoch ", member->epoch));
  }
  return error;
}

int GroupCoordinator::MemberCount(const std::string& group) const {
  MutexLock lock(&mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? 0 : static_cast<int>(it->second.members.size());
}

bool GroupCoordinator::Describe(const std::string& group_id,
                                v1::GroupDescription* description) const {
  MutexLock lock(&mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return false;
  const Group& group = it->second;
  description->set_state(State(group));
  description->set_group_epoch(group.epoch);
  description->set_assignment_epoch(group.assignment_epoch);
  description->set_assignor(group.assignor);
  for (const auto& [id, member] : group.members) {
    v1::GroupMember* m = description->add_members();
    m->set_member_id(id);
    m->set_instance_id(member.instance_id);
    m->set_client_id(member.client_id);
    m->set_client_host(member.client_host);
    m->set_member_epoch(member.epoch);
    for (const std::string& t : member.subscribed_topics) m->add_subscribed_topics(t);
    m->set_subscribed_topic_regex(member.regex);
    TopicPartitions owned = member.assigned;
    for (const auto& [topic, ps] : member.revoking) owned[topic].insert(ps.begin(), ps.end());
    ToProto(owned, m->mutable_assignment());
    if (auto t = group.target.find(id); t != group.target.end()) {
      ToProto(t->second, m->mutable_target_assignment());
    }
  }
  return true;
}

std::vector<v1::GroupListing> GroupCoordinator::List() const {
  MutexLock lock(&mu_);
  std::vector<v1::GroupListing> out;
  for (const auto& [id, group] : groups_) {
    v1::GroupListing& listing = out.emplace_back();
    listing.set_group_id(id);
    listing.set_state(State(group));
    listing.set_members(static_cast<int32_t>(group.members.size()));
  }
  return out;
}

void GroupCoordinator::ExpireNow() {
  MutexLock lock(&mu_);
  const Clock::SteadyPoint now = options_.clock->SteadyNow();
  std::vector<std::pair<std::string, std::string>> expired;  // group, member
  for (const auto& [group_id, group] : groups_) {
    for (const auto& [id, member] : group.members) {
      if (now >= member.session_deadline) {
        logging::Get("broker")->info("group {}: member {} expired (no heartbeat for {} ms)",
                                     group_id, id, options_.session_timeout_ms);
        expired.emplace_back(group_id, id);
      } else if (!member.revoking.empty() && now >= member.revoke_deadline) {
        logging::Get("broker")->info(
            "group {}: member {} fenced (did not give up revoked partitions within {} ms)",
            group_id, id, member.rebalance_timeout_ms);
        expired.emplace_back(group_id, id);
      }
    }
  }
  std::set<std::string> changed;
  for (const auto& [group_id, id] : expired) {
    auto it = groups_.find(group_id);
    if (it != groups_.end()) RemoveMember(it->second, id);
    EraseIfEmpty(group_id);
    changed.insert(group_id);
  }
  for (const std::string& group_id : changed) {
    std::function<void(absl::Status)> done = [group_id](absl::Status s) {
      if (!s.ok())
        logging::Get("broker")->error("group {}: writing expired members: {}", group_id,
                                      s.ToString());
    };
    if (absl::Status s = Persist(group_id, &done); !s.ok()) done(s);
  }
}

void GroupCoordinator::ExpiryLoop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      stop_cv_.WaitWithTimeout(&mu_, std::chrono::milliseconds(kExpiryIntervalMs));
      if (stopping_) return;
      ++rounds_begun_;  // before ExpireNow reads the clock
    }
    ExpireNow();
    MutexLock lock(&mu_);
    ++rounds_ended_;
    round_cv_.SignalAll();
  }
}

bool GroupCoordinator::AwaitExpiryRound(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  const int64_t round = rounds_begun_ + 1;  // the next round to begin
  while (rounds_ended_ < round) {
    if (stopping_ || !expiry_thread_.joinable()) return false;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    round_cv_.WaitWithTimeout(&mu_, left);
  }
  return true;
}

}  // namespace runnel::broker
