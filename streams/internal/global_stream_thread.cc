#include "streams/internal/global_stream_thread.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/admin.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/state/synchronized_key_value_store.h"

namespace runnel::streams::internal {

namespace {
constexpr int64_t kPollMs = 100;                // how soon a stop request is noticed
constexpr int64_t kBootstrapProgressMs = 5000;  // a bootstrap logs how far it got this often

std::shared_ptr<spdlog::logger> Log() { return logging::Get("streams"); }
}  // namespace

GlobalStreamThread::GlobalStreamThread(const Topology* topology, const StreamsConfig* config,
                                       const Clock* clock, int64_t bootstrap_stall_ms,
                                       std::function<void()> on_state_change)
    : name_(absl::StrCat(config->application_id, "-GlobalStreamThread")),
      topology_(topology),
      config_(config),
      clock_(clock),
      bootstrap_stall_ms_(bootstrap_stall_ms),
      on_state_change_(std::move(on_state_change)),
      handler_(config->DeserializationHandler()) {
  RUNNEL_CHECK(!topology_->global_stores().empty(), "%s: the topology has no global store", name_);
}

GlobalStreamThread::~GlobalStreamThread() { Close(); }

absl::Status GlobalStreamThread::error() const {
  MutexLock lock(&mu_);
  return error_;
}

GlobalStreamThreadMetrics GlobalStreamThread::metrics() const {
  MutexLock lock(&mu_);
  return published_;
}

void GlobalStreamThread::SetState(State s) {
  if (state_.exchange(s) != s && on_state_change_) on_state_change_();
}

void GlobalStreamThread::Fail(absl::Status s) {
  Log()->error("{}: {}", name_, s.ToString());
  {
    MutexLock lock(&mu_);
    if (error_.ok()) error_ = std::move(s);
  }
  SetState(State::kError);
}

void GlobalStreamThread::PublishMetrics() {
  MutexLock lock(&mu_);
  published_ = counters_;
}

absl::Status GlobalStreamThread::Start() {
  RUNNEL_CHECK(!started_ && !closed_, "%s: Start called twice or after Close", name_);
  started_ = true;
  SetState(State::kBootstrapping);
  absl::Status s = OpenStores();
  if (s.ok()) s = Bootstrap();
  PublishMetrics();
  if (!s.ok()) {
    Fail(s);
    return s;
  }
  SetState(State::kRunning);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::Status GlobalStreamThread::LockStateDir() {
  // Another instance of the application on this machine with the same state.dir would empty the
  // directory under this one's open databases (Kafka Streams refuses a state dir in use, too).
  const std::filesystem::path dir =
      std::filesystem::path(config_->state_dir) / config_->application_id / "global";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = (dir / ".lock").string();
  const int fd = ec ? -1 : ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("global stores: cannot create ", path, ": ",
                                            ec ? ec.message() : std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "global stores: ", dir.string(), " is in use by another instance of ",
        config_->application_id, " on this machine; give each instance its own state.dir"));
  }
  lock_fd_ = fd;
  return absl::OkStatus();
}

absl::Status GlobalStreamThread::OpenStores() {
  for (const auto& [name, global] : topology_->global_stores()) {
    std::unique_ptr<KeyValueStore> store;
    if (global.store.persistent) {
      if (lock_fd_ < 0) RETURN_IF_ERROR(LockStateDir());
      // Emptied at every start: the topic, read whole, is the truth. For the same reason the
      // store keeps no write-ahead log.
      const std::filesystem::path dir = std::filesystem::path(config_->state_dir) /
                                        config_->application_id / "global" / "rocksdb" / name;
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      if (!ec) std::filesystem::create_directories(dir.parent_path(), ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("global store ", name, ": cannot empty ",
                                                dir.string(), ": ", ec.message()));
      }
      ASSIGN_OR_RETURN(store,
                       OpenRocksDbKeyValueStore(name, dir.string(), /*write_ahead_log=*/false));
    } else {
      store = NewInMemoryKeyValueStore(name);
    }
    auto synchronized = std::make_unique<SynchronizedKeyValueStore>(std::move(store));
    store_views_[name] = synchronized.get();
    stores_[name] = std::move(synchronized);
    stores_of_topic_[global.topic].push_back(name);
  }
  return absl::OkStatus();
}

absl::Status GlobalStreamThread::Bootstrap() {
  ASSIGN_OR_RETURN(std::unique_ptr<client::Admin> admin,
                   client::Admin::Create({.bootstrap_servers = config_->bootstrap_servers}));
  for (const auto& [topic, stores] : stores_of_topic_) {
    absl::StatusOr<client::TopicDescription> d = admin->DescribeTopic(topic);
    if (absl::IsNotFound(d.status())) {
      return absl::NotFoundError(absl::StrCat("global table topic ", topic, " (store ",
                                              absl::StrJoin(stores, ", "), ") of application ",
                                              config_->application_id, " does not exist"));
    }
    if (!d.ok()) return WithContext(d.status(), absl::StrCat("describing global topic ", topic));
    for (const client::PartitionInfo& p : d->partitions)
      partitions_.push_back({topic, p.partition});
  }

  // Without a group: every partition is this instance's (Kafka's global consumer).
  client::Properties properties = config_->consumer_properties;
  properties.erase("group.remote.assignor");
  properties.erase("group.instance.id");
  properties["bootstrap.servers"] = config_->bootstrap_servers;
  properties["client.id"] = name_ + "-consumer";
  properties["enable.auto.commit"] = "false";
  properties["auto.offset.reset"] = "earliest";
  ASSIGN_OR_RETURN(consumer_, client::Consumer::Create(properties));
  RETURN_IF_ERROR(consumer_->Assign(partitions_));
  RETURN_IF_ERROR(consumer_->SeekToBeginning(partitions_));
  ASSIGN_OR_RETURN(const auto ends, consumer_->EndOffsets(partitions_));

  const auto started = std::chrono::steady_clock::now();  // for the log lines only
  auto last_log = started;
  Log()->info("{}: bootstrapping global store(s) from {} partition(s)", name_, partitions_.size());
  Clock::SteadyPoint last_progress = clock_->SteadyNow();
  // Bounded by the end offsets: each round either reads records or counts towards the stall.
  while (true) {
    size_t at_end = 0;
    std::string behind;  // the first partition not at its end, for the errors
    for (const client::TopicPartition& tp : partitions_) {
      absl::StatusOr<int64_t> position = consumer_->Position(tp);
      if (!position.ok()) {
        return WithContext(position.status(), absl::StrCat("bootstrap of ", client::ToString(tp)));
      }
      if (*position >= ends.at(tp)) {
        ++at_end;
      } else if (behind.empty()) {
        behind = absl::StrCat(client::ToString(tp), " at offset ", *position, " of ", ends.at(tp));
      }
    }
    if (at_end == partitions_.size()) break;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log >= std::chrono::milliseconds(kBootstrapProgressMs)) {
      Log()->info("{}: bootstrap: {} records read, {} of {} partitions at their end offsets", name_,
                  counters_.restored_records + counters_.dropped_records, at_end,
                  partitions_.size());
      last_log = now;
    }
    if (stop_requested_) {
      return absl::CancelledError(
          absl::StrCat("bootstrap of the global stores cancelled (", behind, ")"));
    }
    if (clock_->SteadyNow() - last_progress > std::chrono::milliseconds(bootstrap_stall_ms_)) {
      return absl::UnavailableError(absl::StrCat("bootstrap of the global stores: no records for ",
                                                 bootstrap_stall_ms_, " ms (", behind, ")"));
    }
    absl::StatusOr<std::vector<client::ConsumerRecord>> records = consumer_->Poll(kPollMs);
    if (!records.ok()) return WithContext(records.status(), "bootstrap of the global stores: poll");
    if (records->empty()) continue;
    last_progress = clock_->SteadyNow();
    RETURN_IF_ERROR(Apply(*records, &counters_.restored_records));
    PublishMetrics();
  }
  std::vector<std::string> names;
  for (const auto& [name, store] : store_views_) names.push_back(name);
  Log()->info("{}: bootstrapped global store(s) {}: {} records from {} partition(s) in {} ms",
              name_, absl::StrJoin(names, ", "), counters_.restored_records, partitions_.size(),
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count());
  return absl::OkStatus();
}

absl::Status GlobalStreamThread::Apply(const std::vector<client::ConsumerRecord>& records,
                                       int64_t* counter) {
  for (const client::ConsumerRecord& r : records) {
    const std::string topic(r.topic);
    auto stores = stores_of_topic_.find(topic);
    if (stores == stores_of_topic_.end()) {
      return absl::InternalError(
          absl::StrCat("polled a record of ", topic, ", not a global topic"));
    }
    RawRecord raw;
    if (r.key.has_value()) raw.key = std::string(*r.key);
    if (r.value.has_value()) raw.value = std::string(*r.value);
    raw.timestamp = r.timestamp;
    bool dropped = false;
    for (const std::string& name : stores->second) {
      const absl::Status s = topology_->global_stores().at(name).apply(*stores_.at(name), raw);
      if (s.ok()) continue;
      const ErrorRecord record{.topic = topic,
                               .partition = r.partition,
                               .offset = r.offset,
                               .key = raw.key,
                               .value = raw.value,
                               .timestamp = raw.timestamp};
      const std::string where = absl::StrCat("global store ", name, ": record ", Where(record));
      // InvalidArgument is GlobalStoreSpec::apply's "does not deserialize" (topology.h); any
      // other error is the store's and fails whatever the handler.
      if (!absl::IsInvalidArgument(s)) return WithContext(s, where);
      const absl::Status error = absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
      if (!handler_ || handler_("global", record, error) != HandlerResponse::kContinue) {
        return error;
      }
      dropped = true;
    }
    ++(dropped ? counters_.dropped_records : *counter);
  }
  return absl::OkStatus();
}

void GlobalStreamThread::Run() {
  while (!stop_requested_) {
    absl::StatusOr<std::vector<client::ConsumerRecord>> records = consumer_->Poll(kPollMs);
    absl::Status s = records.status();
    if (!s.ok()) {
      s = WithContext(s, "poll");
    } else if (!records->empty()) {
      s = Apply(*records, &counters_.applied_records);
      PublishMetrics();
    }
    if (!s.ok()) {
      Fail(std::move(s));
      return;
    }
  }
  SetState(State::kStopped);
}

void GlobalStreamThread::Close() {
  if (closed_) return;
  closed_ = true;
  RequestStop();
  if (thread_.joinable()) thread_.join();
  if (consumer_ != nullptr) consumer_->Close();
  for (auto& [name, store] : stores_) store->Close();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the state dir's lock
  lock_fd_ = -1;
  PublishMetrics();
  if (state_ != State::kError) SetState(State::kStopped);
  Log()->info("{}: closed", name_);
}

}  // namespace runnel::streams::internal
