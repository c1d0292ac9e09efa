#include "client/internal/metadata_cache.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/internal/grpc_status.h"
#include "common/check.h"
#include "runnel/v1/broker.grpc.pb.h"

namespace runnel::client::internal {

MetadataCache::MetadataCache(MetadataCacheOptions options, BrokerChannels* channels,
                             const Clock* clock)
    : options_(std::move(options)), channels_(channels), clock_(clock) {
  RUNNEL_CHECK(!options_.bootstrap.empty(), "%s metadata without bootstrap servers", options_.who);
}

std::vector<std::string> MetadataCache::Candidates() const {
  MutexLock lock(&mu_);
  const Clock::SteadyPoint now = clock_->SteadyNow();
  std::vector<std::string> good;
  std::vector<std::pair<Clock::SteadyPoint, std::string>> bad;  // (marked until, address)
  // Read under the lock held above (the analysis does not follow it into the lambda).
  const std::map<std::string, Clock::SteadyPoint>* unreachable_until = &unreachable_until_;
  const auto add = [&](const std::string& address) {
    if (address.empty() || std::find(good.begin(), good.end(), address) != good.end() ||
        std::any_of(bad.begin(), bad.end(), [&](const auto& b) { return b.second == address; })) {
      return;
    }
    auto it = unreachable_until->find(address);
    if (it != unreachable_until->end() && now < it->second) {
      bad.emplace_back(it->second, address);
    } else {
      good.push_back(address);
    }
  };
  for (const auto& [id, address] : brokers_) add(address);
  for (const std::string& address : options_.bootstrap) add(address);
  // The one that failed longest ago first.
  std::stable_sort(bad.begin(), bad.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [until, address] : bad) good.push_back(std::move(address));
  return good;
}

std::string MetadataCache::AnyBroker() const { return Candidates().front(); }

bool MetadataCache::TryOnce(const std::vector<std::string>& topics, v1::MetadataResponse* response,
                            std::string* errors) {
  v1::MetadataRequest request;
  for (const std::string& t : topics) request.add_topics(t);
  // No topics would ask for all of them; a client without topics asks for one it cannot have, so
  // that the answer is the broker list alone.
  if (topics.empty()) request.add_topics("__runnel_no_topic__");
  request.set_allow_auto_topic_creation(options_.allow_auto_topic_creation && !topics.empty());
  for (const std::string& address : Candidates()) {
    v1::Broker::Stub stub(channels_->Get(address));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(options_.request_timeout_ms));
    response->Clear();
    const grpc::Status s = stub.Metadata(&context, request, response);
    if (s.ok()) {
      MutexLock lock(&mu_);
      unreachable_until_.erase(address);
      return true;
    }
    absl::StrAppend(errors, errors->empty() ? "" : "; ", address, ": ", s.error_message());
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      MarkUnreachable(address);
    }
  }
  return false;
}

absl::Status MetadataCache::Refresh(const std::vector<std::string>& topics, int64_t budget_ms) {
  std::vector<std::string> wanted;
  {
    MutexLock lock(&mu_);
    for (const std::string& t : topics) topics_.try_emplace(t);
    wanted = TrackedTopicsLocked();
    last_attempt_ = clock_->SteadyNow();
    update_requested_ = false;
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  std::string errors;
  v1::MetadataResponse response;
  // At most one pass per retry.backoff.ms (at least one pass), bounded by the budget.
  while (true) {
    errors.clear();
    if (TryOnce(wanted, &response, &errors)) {
      MutexLock lock(&mu_);
      Apply(response);
      return absl::OkStatus();
    }
    const auto left = give_up - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        left, std::chrono::milliseconds(std::max<int64_t>(options_.retry_backoff_ms, 1))));
  }
  MutexLock lock(&mu_);
  update_requested_ = true;  // still wanted: the next MaybeRefresh tries again after the backoff
  const absl::Status status = absl::UnavailableError(
      absl::StrCat(options_.who, " metadata: no broker answered (", errors, ")"));
  if (!warned_) log_->warn("{}", std::string(status.message()));
  warned_ = true;
  return status;
}

absl::Status MetadataCache::MaybeRefresh() {
  if (!RefreshDue()) return absl::OkStatus();
  return Refresh({}, 0);
}

bool MetadataCache::RefreshDue() const { return clock_->SteadyNow() >= NextRefresh(); }

Clock::SteadyPoint MetadataCache::NextRefresh() const {
  MutexLock lock(&mu_);
  if (topics_.empty() && !update_requested_) return Clock::SteadyPoint::max();
  Clock::SteadyPoint next = Clock::SteadyPoint::max();
  if (update_requested_) {
    next = last_attempt_ == Clock::SteadyPoint::min()
               ? last_attempt_
               : last_attempt_ + std::chrono::milliseconds(options_.retry_backoff_ms);
  }
  if (!topics_.empty()) {
    const Clock::SteadyPoint aged =
        last_update_ == Clock::SteadyPoint::min()
            ? last_update_
            : last_update_ + std::chrono::milliseconds(options_.metadata_max_age_ms);
    // An aged refresh, like a requested one, waits retry.backoff.ms after a failed attempt.
    const Clock::SteadyPoint backoff =
        last_attempt_ == Clock::SteadyPoint::min()
            ? last_attempt_
            : last_attempt_ + std::chrono::milliseconds(options_.retry_backoff_ms);
    next = std::min(next, std::max(aged, backoff));
  }
  return next;
}

void MetadataCache::RequestUpdate(const std::string& topic) {
  MutexLock lock(&mu_);
  if (!topic.empty()) topics_.try_emplace(topic);
  update_requested_ = true;
}

std::vector<std::string> MetadataCache::TrackedTopicsLocked() const {
  std::vector<std::string> out;
  out.reserve(topics_.size());
  for (const auto& [name, state] : topics_) out.push_back(name);
  return out;
}

void MetadataCache::Apply(const v1::MetadataResponse& response) {
  last_update_ = clock_->SteadyNow();
  if (warned_) log_->info("{} metadata: brokers answer again", options_.who);
  warned_ = false;
  brokers_.clear();
  for (const v1::BrokerInfo& b : response.brokers()) {
    if (!b.fenced() && !b.grpc_addr().empty()) brokers_[b.node_id()] = b.grpc_addr();
  }
  for (const v1::TopicMetadata& t : response.topics()) {
    auto it = topics_.find(t.name());
    if (it == topics_.end()) continue;  // not asked for (the placeholder of a topic-less refresh)
    TopicState& state = it->second;
    state.error = ToStatus(t.error(), "metadata of topic " + t.name());
    if (!state.error.ok()) {
      state.partitions.clear();
      continue;
    }
    if (static_cast<int>(state.partitions.size()) != t.partitions_size()) {
      state.partitions.resize(t.partitions_size());  // a new topic, or partitions added
    }
    for (const v1::PartitionMetadata& p : t.partitions()) {
      if (p.partition() < 0 || p.partition() >= t.partitions_size()) continue;
      PartitionState& ps = state.partitions[p.partition()];
      if (p.leader_epoch() < ps.leader_epoch) continue;  // an answer from before an election
      ps.leader = p.leader();
      ps.leader_epoch = p.leader_epoch();
      if (ps.leader < 0) update_requested_ = true;  // an election is running: look again soon
    }
  }
}

absl::StatusOr<int32_t> MetadataCache::PartitionCount(const std::string& topic, int64_t budget_ms) {
  bool known;
  {
    MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    known = it != topics_.end() && (!it->second.partitions.empty() || !it->second.error.ok());
  }
  if (!known) {
    absl::Status s = Refresh({topic}, budget_ms);
    if (!s.ok()) return s;
  }
  MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return absl::NotFoundError(absl::StrCat("topic ", topic, " is gone"));
  absl::Status error = it->second.error;
  if (error.ok() && it->second.partitions.empty()) {
    error = absl::InternalError(absl::StrCat("metadata for topic ", topic, ": no partitions"));
  }
  if (error.ok()) return static_cast<int32_t>(it->second.partitions.size());
  // A topic that does not exist (or is refused) is not tracked: the next lookup asks again.
  topics_.erase(it);
  if (ErrorCodeOf(error) == v1::UNKNOWN_TOPIC_OR_PARTITION) {
    return absl::NotFoundError(absl::StrCat(
        "topic ", topic, " does not exist",
        options_.allow_auto_topic_creation ? " and the broker does not auto-create topics" : ""));
  }
  return error;
}

std::optional<LeaderInfo> MetadataCache::Leader(const TopicPartition& tp) const {
  MutexLock lock(&mu_);
  auto it = topics_.find(tp.topic);
  if (it == topics_.end() || tp.partition < 0 ||
      tp.partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return std::nullopt;
  }
  const int32_t leader = it->second.partitions[tp.partition].leader;
  auto broker = brokers_.find(leader);
  if (leader < 0 || broker == brokers_.end()) return std::nullopt;
  return LeaderInfo{leader, broker->second};
}

absl::Status MetadataCache::TopicError(const std::string& topic) const {
  MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? absl::OkStatus() : it->second.error;
}

void MetadataCache::OnNotLeader(const TopicPartition& tp, const v1::Error& error) {
  MutexLock lock(&mu_);
  auto it = topics_.find(tp.topic);
  const bool known_partition = it != topics_.end() && tp.partition >= 0 &&
                               tp.partition < static_cast<int32_t>(it->second.partitions.size());
  if (error.leader_addr().empty() || !known_partition) {
    update_requested_ = true;
    return;
  }
  it->second.partitions[tp.partition].leader = error.leader_id();
  brokers_[error.leader_id()] = error.leader_addr();
  log_->debug("{}: {} is led by node {} at {}", options_.who, ToString(tp), error.leader_id(),
              error.leader_addr());
}

void MetadataCache::MarkUnreachable(const std::string& address) {
  MutexLock lock(&mu_);
  unreachable_until_[address] =
      clock_->SteadyNow() + std::chrono::milliseconds(options_.reconnect_backoff_max_ms);
  update_requested_ = true;
}

}  // namespace runnel::client::internal
