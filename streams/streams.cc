#include "streams/streams.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/admin.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/global_stream_thread.h"
#include "streams/internal/partition_plan.h"
#include "streams/internal/stream_thread.h"

namespace runnel::streams {

namespace {
// A global store's bootstrap that gets no record this long before its end offsets fails (the
// stream threads' restores have the same limit).
constexpr int64_t kGlobalBootstrapStallMs = 60000;

std::shared_ptr<spdlog::logger> Log() { return logging::Get("streams"); }

// Creates `topic` with `partitions` and `configs`, or checks the partition count of the one that
// exists (another instance may have created it first).
absl::Status EnsureTopic(client::Admin& admin, const std::string& topic, int32_t partitions,
                         int32_t replication_factor,
                         const std::map<std::string, std::string>& configs) {
  absl::Status created =
      admin.CreateTopic(client::TopicSpec{.name = topic,
                                          .partitions = partitions,
                                          .replication_factor = replication_factor,
                                          .configs = configs});
  if (created.ok()) {
    Log()->info("created internal topic {} with {} partitions", topic, partitions);
    return absl::OkStatus();
  }
  if (!absl::IsAlreadyExists(created)) {
    return WithContext(created, absl::StrCat("creating internal topic ", topic));
  }
  ASSIGN_OR_RETURN(client::TopicDescription existing, admin.DescribeTopic(topic));
  if (static_cast<int32_t>(existing.partitions.size()) != partitions) {
    return absl::FailedPreconditionError(
        absl::StrCat("internal topic ", topic, " has ", existing.partitions.size(),
                     " partitions, the topology needs ", partitions,
                     " (delete it, or the application's internal topics, to start afresh)"));
  }
  return absl::OkStatus();
}
}  // namespace

const char* StateName(Streams::State state) {
  switch (state) {
    case Streams::State::kCreated:
      return "CREATED";
    case Streams::State::kRebalancing:
      return "REBALANCING";
    case Streams::State::kRunning:
      return "RUNNING";
    case Streams::State::kPendingShutdown:
      return "PENDING_SHUTDOWN";
    case Streams::State::kNotRunning:
      return "NOT_RUNNING";
    case Streams::State::kError:
      return "ERROR";
  }
  return "?";
}

Streams::Streams(const Topology& topology, StreamsConfig config)
    : Streams(topology, std::move(config), Clock::Real()) {}

Streams::Streams(const Topology& topology, StreamsConfig config, const Clock& clock)
    : topology_(topology), config_(std::move(config)), clock_(&clock) {}

Streams::~Streams() { Close(); }

void Streams::SetStateListener(StateListener listener) {
  MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

Streams::State Streams::state() const {
  MutexLock lock(&mu_);
  return state_;
}

std::vector<internal::StreamThread*> Streams::Threads() const {
  MutexLock lock(&mu_);
  std::vector<internal::StreamThread*> out;
  for (const auto& thread : threads_) out.push_back(thread.get());
  return out;
}

internal::GlobalStreamThread* Streams::GlobalThread() const {
  MutexLock lock(&mu_);
  return global_thread_.get();
}

void Streams::SetState(State s) {
  MutexLock serial(&listener_mu_);
  SetStateLocked(s);
}

void Streams::SetStateLocked(State s) {
  State old;
  {
    MutexLock lock(&mu_);
    if (state_ == s) return;
    if (state_ == State::kError) return;  // an application that failed stays failed
    old = std::exchange(state_, s);
  }
  Log()->info("{}: state {} -> {}", config_.application_id, StateName(old), StateName(s));
  if (listener_) listener_(s, old);
}

absl::Status Streams::CreateInternalTopics() {
  ASSIGN_OR_RETURN(std::unique_ptr<client::Admin> admin,
                   client::Admin::Create({.bootstrap_servers = config_.bootstrap_servers}));
  auto user_partitions = [&](const std::string& topic) -> absl::StatusOr<int32_t> {
    absl::StatusOr<client::TopicDescription> d = admin->DescribeTopic(topic);
    if (absl::IsNotFound(d.status())) {
      return absl::NotFoundError(absl::StrCat("source topic ", topic, " of application ",
                                              config_.application_id, " does not exist"));
    }
    if (!d.ok()) return d.status();
    return static_cast<int32_t>(d->partitions.size());
  };
  ASSIGN_OR_RETURN(const internal::PartitionPlan plan,
                   internal::PlanPartitions(topology_, config_.application_id, user_partitions));
  bool multi_source = false;
  for (const Topology::Subtopology& s : topology_.subtopologies()) {
    std::map<std::string, int32_t> counts;
    for (const std::string& topic : s.source_topics) {
      const std::string full = topology_.ResolveTopic(config_.application_id, topic);
      counts[full] = plan.source_partitions.at(full);
      subtopology_of_[full] = s.id;
    }
    if (counts.size() < 2) continue;
    multi_source = true;
    for (const auto& [topic, n] : counts) {
      if (n != counts.begin()->second) {
        std::vector<std::string> shown;
        for (const auto& [t, c] : counts) shown.push_back(absl::StrCat(t, " (", c, ")"));
        return absl::FailedPreconditionError(
            absl::StrCat("sub-topology ", s.id, " reads topics with different partition counts: ",
                         absl::StrJoin(shown, ", "), "; they must be co-partitioned"));
      }
    }
  }
  assignor_ = multi_source ? "range" : "uniform";
  // Repartition topics keep records however old their event times (Kafka Streams sets
  // retention.ms -1 on them too, KIP-284): time retention would drop records not processed yet.
  for (const auto& [topic, n] : plan.repartition_topics) {
    RETURN_IF_ERROR(
        EnsureTopic(*admin, topic, n, config_.replication_factor, {{"retention.ms", "-1"}}));
  }
  for (const auto& [topic, n] : plan.changelog_topics) {
    RETURN_IF_ERROR(
        EnsureTopic(*admin, topic, n, config_.replication_factor, {{"cleanup.policy", "compact"}}));
  }
  return absl::OkStatus();
}

absl::Status Streams::Start() {
  if (started_ || closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("Streams::Start: ", closed_ ? "closed" : "already started"));
  }
  started_ = true;
  RETURN_IF_ERROR(config_.Validate());
  if (topology_.subtopologies().empty()) {
    return absl::InvalidArgumentError("the topology has no source: nothing to run");
  }
  RETURN_IF_ERROR(CreateInternalTopics());
  SetState(State::kRebalancing);
  const std::map<std::string, KeyValueStore*>* global_stores = nullptr;
  if (!topology_.global_stores().empty()) {
    // The global stores are whole before any task can read them (Kafka Streams' GlobalStreamThread
    // bootstraps before the stream threads start).
    internal::GlobalStreamThread* global;
    {
      MutexLock lock(&mu_);
      global_thread_ = std::make_unique<internal::GlobalStreamThread>(
          &topology_, &config_, clock_, kGlobalBootstrapStallMs, [this] { OnThreadStateChange(); });
      global = global_thread_.get();
    }
    absl::Status s = global->Start();
    if (!s.ok()) {
      Close();
      return WithContext(s, global->name());
    }
    global_stores = global->stores();
  }
  {
    // Every thread exists before the first one starts: the state callbacks read them all.
    MutexLock lock(&mu_);
    for (int i = 0; i < config_.num_stream_threads; ++i) {
      threads_.push_back(std::make_unique<internal::StreamThread>(
          i, &topology_, &config_, clock_, subtopology_of_, assignor_, global_stores,
          [this] { OnThreadStateChange(); }));
    }
  }
  for (internal::StreamThread* thread : Threads()) {
    absl::Status s = thread->Start();
    if (!s.ok()) {
      Close();
      return WithContext(s, thread->name());
    }
  }
  Log()->info("{}: started {} stream thread(s) on {} sub-topologies", config_.application_id,
              config_.num_stream_threads, topology_.subtopologies().size());
  return absl::OkStatus();
}

void Streams::OnThreadStateChange() {
  using ThreadState = internal::StreamThread::State;
  // One decision at a time: reading the threads' states and setting the application's must not
  // interleave with another thread's (or Close's), or an older view could win.
  MutexLock serial(&listener_mu_);
  internal::GlobalStreamThread* global = GlobalThread();
  bool failed = global != nullptr && global->state() == internal::GlobalStreamThread::State::kError;
  bool rebalancing = false;
  const std::vector<internal::StreamThread*> threads = Threads();
  for (internal::StreamThread* thread : threads) {
    const ThreadState s = thread->state();
    failed |= s == ThreadState::kError;
    rebalancing |=
        s == ThreadState::kCreated || s == ThreadState::kStarting || s == ThreadState::kRebalancing;
  }
  if (failed) {
    for (internal::StreamThread* thread : threads) thread->RequestStop();
    if (global != nullptr) global->RequestStop();
    SetStateLocked(State::kError);
    return;
  }
  // The global stores bootstrapping, before the stream threads exist: still kRebalancing.
  if (threads.empty()) return;
  const State now = state();
  if (now == State::kPendingShutdown || now == State::kNotRunning) return;
  SetStateLocked(rebalancing ? State::kRebalancing : State::kRunning);
}

void Streams::Close() {
  if (closed_) return;
  closed_ = true;
  if (!started_) {
    SetState(State::kNotRunning);
    return;
  }
  SetState(State::kPendingShutdown);
  const std::vector<internal::StreamThread*> threads = Threads();
  for (internal::StreamThread* thread : threads) thread->RequestStop();
  for (internal::StreamThread* thread : threads) thread->Join();
  // After the stream threads: their tasks read the global stores until they close.
  if (internal::GlobalStreamThread* global = GlobalThread()) global->Close();
  SetState(State::kNotRunning);
  Log()->info("{}: closed", config_.application_id);
}

absl::Status Streams::error() const {
  if (internal::GlobalStreamThread* global = GlobalThread()) {
    absl::Status s = global->error();
    if (!s.ok()) return s;
  }
  for (internal::StreamThread* thread : Threads()) {
    absl::Status s = thread->error();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

Streams::Metrics Streams::metrics() const {
  Metrics out;
  for (internal::StreamThread* thread : Threads()) {
    internal::StreamThreadMetrics m = thread->metrics();
    out.processed += m.tasks.processed;
    out.dropped_late_records += m.tasks.dropped_late_records;
    out.dropped_records += m.tasks.dropped_records;
    out.restored_records += m.tasks.restored_records;
    out.commits += m.commits;
    out.rejoins += m.rejoins;
    out.active_tasks.insert(out.active_tasks.end(), m.active_tasks.begin(), m.active_tasks.end());
  }
  std::sort(out.active_tasks.begin(), out.active_tasks.end());
  if (internal::GlobalStreamThread* global = GlobalThread()) {
    const internal::GlobalStreamThreadMetrics m = global->metrics();
    out.global_restored_records = m.restored_records;
    out.global_applied_records = m.applied_records;
    out.dropped_records += m.dropped_records;
  }
  return out;
}

}  // namespace runnel::streams
