#include "client/internal/group_membership.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/internal/grpc_status.h"
#include "common/logging.h"

namespace runnel::client {
namespace {

std::set<TopicPartition> FromProto(
    const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& list) {
  std::set<TopicPartition> out;
  for (const v1::TopicPartitions& t : list) {
    for (int32_t p : t.partitions()) out.insert({t.topic(), p});
  }
  return out;
}

void ToProto(const std::set<TopicPartition>& partitions,
             google::protobuf::RepeatedPtrField<v1::TopicPartitions>* list) {
  v1::TopicPartitions* current = nullptr;
  for (const TopicPartition& tp : partitions) {  // sorted by topic, then partition
    if (current == nullptr || current->topic() != tp.topic) {
      current = list->Add();
      current->set_topic(tp.topic);
    }
    current->add_partitions(tp.partition);
  }
}

}  // namespace

GroupMembership::GroupMembership(internal::CoordinatorStubs* coordinator, MembershipOptions options,
                                 const Clock* clock)
    : coordinator_(coordinator), options_(std::move(options)), clock_(clock) {
  // Our own member id, as KIP-848 clients choose theirs: a join whose answer is lost and is
  // sent again is then recognised as the same member rather than adding a second one.
  std::random_device random;
  member_id_ =
      absl::StrCat(options_.client_id.empty() ? "consumer" : options_.client_id, "-",
                   absl::Hex(static_cast<uint64_t>(random()) << 32 | random(), absl::kZeroPad16),
                   absl::Hex(static_cast<uint64_t>(random()) << 32 | random(), absl::kZeroPad16));
  if (member_id_.size() > 255) member_id_ = member_id_.substr(member_id_.size() - 255);
  thread_ = std::thread([this] { Run(); });
}

GroupMembership::~GroupMembership() { Leave(); }

std::optional<std::set<TopicPartition>> GroupMembership::PendingAssignment() const {
  MutexLock lock(&mu_);
  if (lost_ || !assignment_.has_value() || *assignment_ == owned_) return std::nullopt;
  return assignment_;
}

void GroupMembership::SetOwned(const std::set<TopicPartition>& owned) {
  MutexLock lock(&mu_);
  if (owned == owned_ && !lost_) return;
  owned_ = owned;
  lost_ = false;
  heartbeat_now_ = true;
  cv_.SignalAll();
}

bool GroupMembership::TakeLost() {
  MutexLock lock(&mu_);
  if (!lost_) return false;
  assignment_.reset();
  return true;  // lost_ stays set until SetOwned({}) confirms the partitions are dropped
}

absl::Status GroupMembership::Fatal() const {
  MutexLock lock(&mu_);
  return fatal_;
}

std::pair<std::string, int32_t> GroupMembership::Identity() const {
  MutexLock lock(&mu_);
  if (!joined_) return {"", -1};
  return {member_id_, epoch_};
}

void GroupMembership::WaitForChange(Clock::SteadyPoint deadline) const {
  MutexLock lock(&mu_);
  const uint64_t seen = changes_;
  while (changes_ == seen && !stopping_) {
    const auto now = clock_->SteadyNow();
    if (now >= deadline) return;
    cv_.WaitWithTimeout(&mu_, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  }
}

void GroupMembership::Run() {
  auto next = clock_->SteadyNow();
  while (true) {
    v1::ConsumerGroupHeartbeatRequest request;
    {
      MutexLock lock(&mu_);
      while (!stopping_ &&
             (lost_ || !fatal_.ok() || (!heartbeat_now_ && clock_->SteadyNow() < next))) {
        const auto wait =
            lost_ || !fatal_.ok()
                ? std::chrono::milliseconds(1000)
                : std::chrono::ceil<std::chrono::milliseconds>(next - clock_->SteadyNow());
        cv_.WaitWithTimeout(&mu_, std::max(wait, std::chrono::milliseconds(1)));
      }
      if (stopping_) return;
      heartbeat_now_ = false;
      request.set_group_id(options_.group_id);
      request.set_member_id(member_id_);
      request.set_member_epoch(epoch_);
      request.set_instance_id(options_.instance_id);
      request.set_client_id(options_.client_id);
      request.set_rebalance_timeout_ms(options_.rebalance_timeout_ms);
      request.set_server_assignor(options_.assignor);
      for (const std::string& t : options_.topics) request.add_subscribed_topics(t);
      request.set_subscribed_topic_regex(options_.regex);
      ToProto(owned_, request.mutable_owned());
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(options_.request_timeout_ms));
    v1::ConsumerGroupHeartbeatResponse response;
    const internal::CoordinatorStubs::Target target = coordinator_->Current();
    const grpc::Status s = target.stub->ConsumerGroupHeartbeat(&context, request, &response);
    coordinator_->Report(target.address, s);
    // Another broker is tried next (a dead bootstrap entry is not worth a warning then).
    const bool moved = !s.ok() && coordinator_->Current().address != target.address;
    // The coordinator moved with its offsets partition's leadership, or is loading the group.
    const bool elsewhere = s.ok() && coordinator_->ReportError(target.address, response.error());

    MutexLock lock(&mu_);
    if (elsewhere) {
      logging::Get("client")->debug("consumer: heartbeat of group {}: {}; trying again",
                                    options_.group_id, response.error().message());
      next = clock_->SteadyNow() + std::chrono::milliseconds(options_.retry_backoff_ms);
      continue;
    }
    if (!s.ok()) {
      // The broker restarting or unreachable: keep trying. If this lasts past the session
      // timeout, the coordinator has dropped us and says so when it answers again.
      const std::string why = RpcError(s, target.address, "heartbeat").ToString();
      if (moved) {
        logging::Get("client")->debug("consumer: heartbeat of group {}: {}; trying another broker",
                                      options_.group_id, why);
      } else {
        logging::Get("client")->warn("consumer: heartbeat of group {}: {}", options_.group_id, why);
      }
      next = clock_->SteadyNow() + std::chrono::milliseconds(options_.retry_backoff_ms);
      continue;
    }
    switch (response.error().code()) {
      case v1::NONE: {
        member_id_ = response.member_id();
        epoch_ = response.member_epoch();
        joined_ = true;
        interval_ms_ = std::max(response.heartbeat_interval_ms(), 1);
        std::set<TopicPartition> assignment = FromProto(response.assignment());
        if (assignment != owned_ || !assignment_.has_value() || assignment != *assignment_) {
          ++changes_;
          cv_.SignalAll();
        }
        assignment_ = std::move(assignment);
        break;
      }
      case v1::UNKNOWN_MEMBER_ID:
      case v1::FENCED_MEMBER_EPOCH:
        // Our partitions may already belong to someone else: drop them all, then rejoin.
        logging::Get("client")->warn("consumer: group {}: {}; rejoining", options_.group_id,
                                     response.error().message());
        epoch_ = 0;
        joined_ = false;
        if (!owned_.empty()) lost_ = true;
        assignment_.reset();
        heartbeat_now_ = true;
        ++changes_;
        cv_.SignalAll();
        break;
      default:
        fatal_ = ToStatus(response.error(), "group " + options_.group_id + " heartbeat");
        if (fatal_.ok()) fatal_ = absl::InternalError("heartbeat failed without an error code");
        if (!owned_.empty()) lost_ = true;
        joined_ = false;
        ++changes_;
        cv_.SignalAll();
        break;
    }
    next = clock_->SteadyNow() + std::chrono::milliseconds(interval_ms_);
  }
}

void GroupMembership::Leave() {
  v1::ConsumerGroupHeartbeatRequest request;
  {
    MutexLock lock(&mu_);
    if (left_) return;
    left_ = true;
    stopping_ = true;
    cv_.SignalAll();
  }
  thread_.join();
  {
    MutexLock lock(&mu_);
    if (!joined_) return;
    joined_ = false;
    request.set_group_id(options_.group_id);
    request.set_member_id(member_id_);
    request.set_member_epoch(options_.instance_id.empty() ? -1 : -2);
    request.set_instance_id(options_.instance_id);
  }
  // A coordinator that moved says where it went: a few tries, each bounded.
  grpc::Status s;
  v1::ConsumerGroupHeartbeatResponse response;
  internal::CoordinatorStubs::Target target;
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(std::min(options_.request_timeout_ms, 5000)));
    response.Clear();
    target = coordinator_->Current();
    s = target.stub->ConsumerGroupHeartbeat(&context, request, &response);
    coordinator_->Report(target.address, s);
    if (!s.ok() || !coordinator_->ReportError(target.address, response.error())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
  }
  if (!s.ok() || response.error().code() != v1::NONE) {
    logging::Get("client")->warn(
        "consumer: leaving group {}: {}", options_.group_id,
        s.ok() ? response.error().message() : RpcError(s, target.address, "leave").ToString());
  }
}

}  // namespace runnel::client
