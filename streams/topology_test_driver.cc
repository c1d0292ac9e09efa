#include "streams/topology_test_driver.h"

#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/partitioner.h"
#include "common/status_macros.h"
#include "streams/internal/partition_plan.h"

namespace runnel::streams {

namespace {
constexpr int kMaxDrainSteps = 10'000'000;  // a topology that feeds itself forever is a bug
}  // namespace

class TopologyTestDriver::Collector : public internal::RecordCollector {
 public:
  explicit Collector(TopologyTestDriver* driver) : driver_(driver) {}
  absl::Status Send(const std::string& topic, std::optional<int32_t> partition,
                    const internal::RawRecord& record) override {
    const TestDriverOptions& options = driver_->options_;
    const int64_t footprint = 24 + static_cast<int64_t>(record.key.value_or("").size() +
                                                        record.value.value_or("").size());
    if (footprint <= options.max_request_size) return driver_->Append(topic, partition, record);
    const absl::Status error = absl::InvalidArgumentError(
        absl::StrCat("sending to ", topic, ": record of ", footprint,
                     " bytes is larger than max.request.size (", options.max_request_size, ")"));
    const ErrorRecord failed{.topic = topic,
                             .partition = partition,
                             .offset = -1,
                             .key = record.key,
                             .value = record.value,
                             .timestamp = record.timestamp};
    if (!options.production_exception_handler ||
        options.production_exception_handler(failed, error) != HandlerResponse::kContinue) {
      return error;
    }
    ++driver_->dropped_productions_;
    return absl::OkStatus();
  }

 private:
  TopologyTestDriver* driver_;
};

class TopologyTestDriver::Restorer : public internal::ChangelogReader {
 public:
  explicit Restorer(TopologyTestDriver* driver) : driver_(driver) {}
  absl::StatusOr<int64_t> Restore(
      const std::string& topic, int32_t partition, int64_t until,
      const std::function<absl::Status(const std::vector<ChangelogRecord>&)>& apply,
      const std::function<absl::Status(const std::vector<std::string>&)>& tail) override {
    std::vector<ChangelogRecord> batch;
    std::vector<std::string> tail_keys;
    int64_t end = 0;
    for (const TestRecord& r : driver_->Records(topic)) {
      if (r.partition != partition) continue;
      end = r.offset + 1;
      if (!r.key.has_value()) {
        return absl::DataLossError(
            absl::StrCat("changelog ", topic, "@", r.offset, " has a record without a key"));
      }
      if (until >= 0 && r.offset >= until) {
        tail_keys.push_back(*r.key);
      } else {
        batch.push_back(ChangelogRecord{*r.key, r.value, r.timestamp});
      }
    }
    if (!batch.empty()) RETURN_IF_ERROR(apply(batch));
    if (!tail_keys.empty()) RETURN_IF_ERROR(tail(tail_keys));
    return end;
  }

 private:
  TopologyTestDriver* driver_;
};

TopologyTestDriver::TopologyTestDriver(const Topology& topology, TestDriverOptions options)
    : topology_(topology),
      options_(std::move(options)),
      wall_clock_ms_(options_.initial_wall_clock_ms),
      last_commit_ms_(wall_clock_ms_),
      collector_(std::make_unique<Collector>(this)),
      restorer_(std::make_unique<Restorer>(this)) {}

TopologyTestDriver::~TopologyTestDriver() {
  if (!closed_) {
    for (auto& task : tasks_) task->Close();
    tasks_.clear();
    for (auto& [name, store] : global_stores_) store->Close();
  }
  if (own_state_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(options_.state_dir, ec);
  }
}

absl::StatusOr<std::unique_ptr<TopologyTestDriver>> TopologyTestDriver::Create(
    const Topology& topology, TestDriverOptions options) {
  if (options.window_idle_close_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("window_idle_close_ms is ", options.window_idle_close_ms, "; at least 0"));
  }
  if (options.default_partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("default_partitions is ", options.default_partitions, "; at least 1"));
  }
  for (const auto& [topic, n] : options.topic_partitions) {
    if (n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic ", topic, " has ", n, " partitions; at least 1"));
    }
  }
  std::unique_ptr<TopologyTestDriver> driver(new TopologyTestDriver(topology, std::move(options)));
  TestDriverOptions& o = driver->options_;
  if (o.state_dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "runnel-streams-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError("cannot create a temporary state directory " + pattern);
    }
    o.state_dir = pattern;
    driver->own_state_dir_ = true;
  }
  // Partition counts: user topics as configured, internal ones as the runtime would create them.
  ASSIGN_OR_RETURN(const internal::PartitionPlan plan,
                   internal::PlanPartitions(
                       driver->topology_, o.application_id,
                       [&o](const std::string& topic) -> absl::StatusOr<int32_t> {
                         auto it = o.topic_partitions.find(topic);
                         return it == o.topic_partitions.end() ? o.default_partitions : it->second;
                       }));
  driver->partitions_.insert(plan.source_partitions.begin(), plan.source_partitions.end());
  driver->partitions_.insert(plan.changelog_topics.begin(), plan.changelog_topics.end());
  RETURN_IF_ERROR(driver->OpenGlobalStores());
  RETURN_IF_ERROR(driver->CreateTasks());
  return driver;
}

absl::Status TopologyTestDriver::OpenGlobalStores() {
  for (const auto& [name, global] : topology_.global_stores()) {
    std::unique_ptr<KeyValueStore> store;
    if (global.store.persistent) {
      // The topics start empty, and so does the store.
      const std::filesystem::path dir = std::filesystem::path(options_.state_dir) /
                                        options_.application_id / "global" / "rocksdb" / name;
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::filesystem::create_directories(dir.parent_path(), ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("global store ", name, ": cannot create ",
                                                dir.string(), ": ", ec.message()));
      }
      ASSIGN_OR_RETURN(store, OpenRocksDbKeyValueStore(name, dir.string()));
    } else {
      store = NewInMemoryKeyValueStore(name);
    }
    global_store_views_[name] = store.get();
    global_stores_[name] = std::move(store);
  }
  return absl::OkStatus();
}

absl::Status TopologyTestDriver::CreateTasks() {
  for (const Topology::Subtopology& s : topology_.subtopologies()) {
    int32_t tasks = 0;
    for (const std::string& topic : s.source_topics) {
      tasks =
          std::max(tasks, partitions_.at(topology_.ResolveTopic(options_.application_id, topic)));
    }
    for (int32_t p = 0; p < tasks; ++p) {
      internal::TaskEnvironment env;
      env.application_id = options_.application_id;
      env.collector = collector_.get();
      env.changelog_reader = restorer_.get();
      env.state_dir = options_.state_dir;
      env.wall_clock_ms = [this] { return wall_clock_ms_; };
      env.cache_max_bytes = options_.cache_max_bytes;
      env.global_stores = &global_store_views_;
      env.deserialization_handler = options_.deserialization_exception_handler;
      env.idle_close_ms = options_.window_idle_close_ms;
      env.input_caught_up_at_ms = options_.input_caught_up_at_ms;
      ASSIGN_OR_RETURN(std::unique_ptr<internal::StreamTask> task,
                       internal::StreamTask::Create(&topology_, s.id, p, std::move(env)));
      for (const std::string& topic : task->source_topics()) {
        task_of_[{topic, p}] = task.get();
      }
      tasks_.push_back(std::move(task));
    }
  }
  return absl::OkStatus();
}

absl::Status TopologyTestDriver::RestartTasks() {
  if (closed_) return absl::FailedPreconditionError("the driver is closed");
  for (auto& task : tasks_) task->Close();
  tasks_.clear();
  task_of_.clear();
  pending_.clear();
  return CreateTasks();
}

int32_t TopologyTestDriver::Partitions(const std::string& topic) const {
  auto it = partitions_.find(topic);
  if (it != partitions_.end()) return it->second;
  auto configured = options_.topic_partitions.find(topic);
  return configured == options_.topic_partitions.end() ? options_.default_partitions
                                                       : configured->second;
}

const std::vector<TestRecord>& TopologyTestDriver::Records(const std::string& topic) const {
  static const std::vector<TestRecord> kNone;
  auto it = topics_.find(topic);
  return it == topics_.end() ? kNone : it->second;
}

absl::Status TopologyTestDriver::Append(const std::string& topic, std::optional<int32_t> partition,
                                        const internal::RawRecord& record) {
  const int32_t partitions = Partitions(topic);
  int32_t p;
  if (partition.has_value()) {
    p = *partition;
  } else if (record.key.has_value()) {
    p = client::PartitionForKey(*record.key, partitions);
  } else {
    p = static_cast<int32_t>(round_robin_[topic]++ % partitions);
  }
  if (p < 0 || p >= partitions) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic ", topic, " has no partition ", p, " (0..", partitions - 1, ")"));
  }
  std::vector<int64_t>& offsets = next_offset_[topic];
  offsets.resize(partitions, 0);
  std::vector<TestRecord>& log = topics_[topic];
  log.push_back(TestRecord{p, offsets[p]++, record.key, record.value, record.timestamp});
  for (const auto& [name, global] : topology_.global_stores()) {
    if (global.topic != topic) continue;
    absl::Status s = global.apply(*global_stores_.at(name), record);
    if (!s.ok()) return WithContext(s, absl::StrCat("updating global store ", name));
  }
  if (task_of_.contains({topic, p})) pending_.emplace_back(topic, log.size() - 1);
  return absl::OkStatus();
}

absl::Status TopologyTestDriver::Drain() {
  for (int step = 0; !pending_.empty(); ++step) {
    if (step == kMaxDrainSteps) {
      return absl::ResourceExhaustedError(absl::StrCat("the topology produced records for ",
                                                       kMaxDrainSteps, " steps without settling"));
    }
    auto [topic, index] = pending_.front();
    pending_.pop_front();
    const TestRecord& r = topics_.at(topic)[index];
    internal::StreamTask* task = task_of_.at({topic, r.partition});
    RETURN_IF_ERROR(task->Process(topic, r.offset, {r.key, r.value, r.timestamp}));
  }
  return absl::OkStatus();
}

absl::Status TopologyTestDriver::Commit() {
  // A flush may emit records that other tasks process and whose caches then need a flush.
  for (int round = 0; round < 100; ++round) {
    for (auto& task : tasks_) RETURN_IF_ERROR(task->Flush());
    if (pending_.empty()) {
      last_commit_ms_ = wall_clock_ms_;
      for (auto& task : tasks_) RETURN_IF_ERROR(task->OutputDelivered());
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(Drain());
  }
  return absl::ResourceExhaustedError("commit: flushing kept producing records for 100 rounds");
}

absl::Status TopologyTestDriver::PipeRaw(const std::string& topic, std::optional<std::string> key,
                                         std::optional<std::string> value, int64_t timestamp,
                                         std::optional<int32_t> partition) {
  if (closed_) return absl::FailedPreconditionError("the driver is closed");
  RETURN_IF_ERROR(
      Append(topic, partition, internal::RawRecord{std::move(key), std::move(value), timestamp}));
  RETURN_IF_ERROR(Drain());
  if (options_.commit_every_record) return Commit();
  return absl::OkStatus();
}

absl::Status TopologyTestDriver::AdvanceWallClockTime(int64_t ms) {
  if (ms < 0) return absl::InvalidArgumentError(absl::StrCat("cannot go back ", -ms, " ms"));
  if (closed_) return absl::FailedPreconditionError("the driver is closed");
  wall_clock_ms_ += ms;
  for (auto& task : tasks_) {
    RETURN_IF_ERROR(task->PunctuateWallClock());
    RETURN_IF_ERROR(Drain());
  }
  if (options_.commit_every_record ||
      wall_clock_ms_ - last_commit_ms_ >= options_.commit_interval_ms) {
    return Commit();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> TopologyTestDriver::KeyValueStoreContents(
    const std::string& store) {
  std::map<std::string, std::string> out;
  if (auto global = global_stores_.find(store); global != global_stores_.end()) {
    ASSIGN_OR_RETURN(std::vector<KeyValue> all, global->second->All());
    for (KeyValue& kv : all) out[std::move(kv.key)] = std::move(kv.value);
    return out;
  }
  bool found = false;
  for (auto& task : tasks_) {
    KeyValueStore* s = task->context().key_value_store(store);
    if (s == nullptr) continue;
    found = true;
    ASSIGN_OR_RETURN(std::vector<KeyValue> all, s->All());
    for (KeyValue& kv : all) out[std::move(kv.key)] = std::move(kv.value);
  }
  if (!found) return absl::NotFoundError("no key-value store " + store);
  return out;
}

absl::StatusOr<std::map<std::pair<std::string, int64_t>, std::string>>
TopologyTestDriver::WindowStoreContents(const std::string& store) {
  std::map<std::pair<std::string, int64_t>, std::string> out;
  bool found = false;
  for (auto& task : tasks_) {
    WindowStore* s = task->context().window_store(store);
    if (s == nullptr) continue;
    found = true;
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> all, s->All());
    for (WindowStore::Entry& e : all) out[{std::move(e.key), e.window_start}] = std::move(e.value);
  }
  if (!found) return absl::NotFoundError("no window store " + store);
  return out;
}

internal::TaskMetrics TopologyTestDriver::metrics() const {
  internal::TaskMetrics sum;
  for (const auto& task : tasks_) sum += task->metrics();
  sum.dropped_records += dropped_productions_;
  return sum;
}

std::vector<std::string> TopologyTestDriver::task_ids() const {
  std::vector<std::string> out;
  for (const auto& task : tasks_) out.push_back(task->id());
  return out;
}

absl::Status TopologyTestDriver::Close() {
  if (closed_) return absl::OkStatus();
  absl::Status s = Commit();
  for (auto& task : tasks_) task->Close();
  for (auto& [name, store] : global_stores_) store->Close();
  closed_ = true;
  return s;
}

}  // namespace runnel::streams
