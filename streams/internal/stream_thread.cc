#include "streams/internal/stream_thread.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "client/status.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::streams::internal {

namespace {
constexpr int64_t kPollMs = 100;                  // how soon a stop request is noticed
constexpr int64_t kRestoreStallMs = 60000;        // a restore without progress this long fails
constexpr size_t kMaxCommitMetadataBytes = 4096;  // the broker's offset.metadata.max.bytes

std::shared_ptr<spdlog::logger> Log() { return logging::Get("streams"); }

std::string Names(const std::vector<client::TopicPartition>& partitions) {
  std::vector<std::string> names;
  for (const client::TopicPartition& tp : partitions) names.push_back(client::ToString(tp));
  return absl::StrJoin(names, ",");
}
}  // namespace

// "runnel.streams" then ";stream.time=<ms>" (when known) and ";changelog=<topic>@<end offset>"
// per changelog, in topic order: topic names have no ';', '=' or '@'.
constexpr absl::string_view kCommitMetadataPrefix = "runnel.streams";

std::string TaskCommitMetadata::Encode() const {
  std::string out(kCommitMetadataPrefix);
  if (stream_time >= 0) absl::StrAppend(&out, ";stream.time=", stream_time);
  for (const auto& [topic, end] : changelog_ends)
    absl::StrAppend(&out, ";changelog=", topic, "@", end);
  return out;
}

std::optional<TaskCommitMetadata> TaskCommitMetadata::Decode(std::string_view metadata) {
  absl::string_view rest(metadata.data(), metadata.size());
  if (!absl::ConsumePrefix(&rest, kCommitMetadataPrefix)) return std::nullopt;
  TaskCommitMetadata m;
  for (absl::string_view field : absl::StrSplit(rest, ';', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&field, "stream.time=")) {
      if (!absl::SimpleAtoi(field, &m.stream_time) || m.stream_time < 0) return std::nullopt;
    } else if (absl::ConsumePrefix(&field, "changelog=")) {
      const size_t at = field.rfind('@');
      int64_t end = -1;
      if (at == absl::string_view::npos || !absl::SimpleAtoi(field.substr(at + 1), &end) ||
          end < 0) {
        return std::nullopt;
      }
      m.changelog_ends[std::string(field.substr(0, at))] = end;
    } else {
      return std::nullopt;
    }
  }
  return m;
}

// The group's changes of assignment, applied inside Poll on the thread. A listener cannot
// return an error: the first one becomes the thread's, and the loop fails after the Poll.
class StreamThread::Listener : public client::RebalanceListener {
 public:
  explicit Listener(StreamThread* thread) : thread_(thread) {}

  void OnPartitionsAssigned(const std::vector<client::TopicPartition>& partitions) override {
    if (!thread_->first_error_.ok()) return;
    Log()->info("{}: assigned {}", thread_->name_, Names(partitions));
    thread_->SetState(State::kRebalancing);
    absl::Status s = thread_->CreateTasks(partitions);
    // A restore cut short by Close is not a failure: the tasks were never started.
    if (!s.ok() && !(absl::IsCancelled(s) && thread_->stop_requested_)) {
      thread_->Fail(std::move(s));
    }
  }

  void OnPartitionsRevoked(const std::vector<client::TopicPartition>& partitions) override {
    Log()->info("{}: revoked {}", thread_->name_, Names(partitions));
    if (thread_->first_error_.ok()) {
      thread_->SetState(State::kRebalancing);
      // What was processed is committed before someone else gets the partitions.
      absl::Status s = thread_->Commit();
      if (client::IsNoLongerMember(s)) {
        thread_->rejoin_reason_ = std::move(s);  // handled after the Poll
      } else if (!s.ok()) {
        thread_->Fail(std::move(s));
      }
    }
    thread_->CloseTasks(partitions);
  }

  void OnPartitionsLost(const std::vector<client::TopicPartition>& partitions) override {
    Log()->warn("{}: lost {} (no commit: they may have a new owner)", thread_->name_,
                Names(partitions));
    for (const client::TopicPartition& tp : partitions) thread_->processed_.erase(tp);
    thread_->CloseTasks(partitions);
  }

 private:
  StreamThread* thread_;
};

StreamThread::StreamThread(int index, const Topology* topology, const StreamsConfig* config,
                           const Clock* clock, std::map<std::string, int32_t> subtopology_of,
                           std::string assignor,
                           const std::map<std::string, KeyValueStore*>* global_stores,
                           std::function<void()> on_state_change)
    : index_(index),
      name_(absl::StrCat(config->application_id, "-StreamThread-", index + 1)),
      topology_(topology),
      config_(config),
      clock_(clock),
      subtopology_of_(std::move(subtopology_of)),
      assignor_(std::move(assignor)),
      global_stores_(global_stores),
      on_state_change_(std::move(on_state_change)),
      listener_(std::make_unique<Listener>(this)) {}

StreamThread::~StreamThread() {
  RequestStop();
  Join();
}

absl::Status StreamThread::Start() {
  client::Properties consumer = config_->consumer_properties;
  consumer["bootstrap.servers"] = config_->bootstrap_servers;
  consumer["client.id"] = name_ + "-consumer";
  consumer["group.id"] = config_->application_id;
  consumer["enable.auto.commit"] = "false";
  consumer["auto.offset.reset"] = "earliest";
  consumer["group.remote.assignor"] = assignor_;
  // A static member per thread, as Kafka Streams names them: one id for all would fence each other.
  if (auto it = consumer.find("group.instance.id"); it != consumer.end()) {
    it->second = absl::StrCat(it->second, "-", index_ + 1);
  }
  ASSIGN_OR_RETURN(consumer_, client::Consumer::Create(consumer));

  client::Properties restore = config_->consumer_properties;
  restore.erase("group.remote.assignor");
  restore.erase("group.instance.id");
  restore["bootstrap.servers"] = config_->bootstrap_servers;
  restore["client.id"] = name_ + "-restore-consumer";
  restore["enable.auto.commit"] = "false";
  restore["auto.offset.reset"] = "earliest";
  ASSIGN_OR_RETURN(std::unique_ptr<client::Consumer> restore_consumer,
                   client::Consumer::Create(restore));
  restorer_ =
      std::make_unique<ChangelogRestorer>(std::move(restore_consumer), kRestoreStallMs, clock_,
                                          [this] { return stop_requested_.load(); });

  client::Properties producer = config_->producer_properties;
  producer["bootstrap.servers"] = config_->bootstrap_servers;
  producer["client.id"] = name_ + "-producer";
  ASSIGN_OR_RETURN(std::unique_ptr<client::Producer> p, client::Producer::Create(producer));
  collector_ = std::make_unique<ProducerCollector>(std::move(p), config_->ProductionHandler());

  for (const auto& [topic, subtopology] : subtopology_of_) source_topics_.push_back(topic);
  RETURN_IF_ERROR(consumer_->Subscribe(source_topics_, listener_.get()));
  SetState(State::kStarting);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void StreamThread::Join() {
  if (thread_.joinable()) thread_.join();
}

absl::Status StreamThread::error() const {
  MutexLock lock(&mu_);
  return error_;
}

StreamThreadMetrics StreamThread::metrics() const {
  MutexLock lock(&mu_);
  return published_;
}

void StreamThread::SetState(State s) {
  if (state_.exchange(s) != s && on_state_change_) on_state_change_();
}

void StreamThread::Fail(absl::Status s) {
  if (!first_error_.ok()) return;
  Log()->error("{}: {}", name_, s.ToString());
  first_error_ = std::move(s);
}

void StreamThread::Run() {
  absl::Status s = Loop();
  if (s.ok() && first_error_.ok()) {
    // A clean stop: commit, then leave the group (Close revokes: the listener commits nothing
    // new and closes the tasks).
    s = Commit();
    if (client::IsNoLongerMember(s)) {
      // Someone else may own the partitions already: what was not committed is theirs to redo.
      Log()->warn("{}: final commit refused: {}", name_, std::string(s.message()));
    } else if (!s.ok()) {
      Fail(s);
    }
  } else if (!s.ok()) {
    Fail(s);
  }
  if (!first_error_.ok()) CloseAllTasks();  // dirty: nothing more is committed
  consumer_->Close();
  CloseAllTasks();
  PublishMetrics();
  if (!first_error_.ok()) {
    {
      MutexLock lock(&mu_);
      error_ = first_error_;
    }
    SetState(State::kError);
  } else {
    SetState(State::kStopped);
  }
}

absl::Status StreamThread::Loop() {
  Clock::SteadyPoint last_commit = clock_->SteadyNow();
  const auto commit_interval = std::chrono::milliseconds(config_->commit_interval_ms);
  // Runs until asked to stop or until an error; each round waits at most kPollMs.
  while (!stop_requested_) {
    // Joined before this Poll: the Poll hands over the assignment that came with the join, so
    // afterwards the thread runs its tasks (until the group changes the assignment again).
    const bool joined = consumer_->GroupMember().second > 0;
    absl::StatusOr<std::vector<client::ConsumerRecord>> records = consumer_->Poll(kPollMs);
    RETURN_IF_ERROR(first_error_);  // from a rebalance listener inside Poll
    if (!records.ok()) {
      return WithContext(records.status(), "poll");
    }
    if (!rejoin_reason_.ok()) {
      RETURN_IF_ERROR(Rejoin(std::exchange(rejoin_reason_, absl::OkStatus())));
      continue;  // the records polled belong to the member that was refused
    }
    if (joined && state_ != State::kRunning) SetState(State::kRunning);
    RETURN_IF_ERROR(Process(*records));
    RETURN_IF_ERROR(PunctuateWallClock());
    if (commit_soon_ || clock_->SteadyNow() - last_commit >= commit_interval) {
      commit_soon_ = false;
      absl::Status s = Commit();
      if (client::IsNoLongerMember(s)) s = Rejoin(s);
      RETURN_IF_ERROR(s);
      last_commit = clock_->SteadyNow();
    }
    PublishMetrics();
  }
  return absl::OkStatus();
}

std::optional<StreamThread::TaskKey> StreamThread::TaskOf(const client::TopicPartition& tp) const {
  auto sub = subtopology_of_.find(tp.topic);
  if (sub == subtopology_of_.end()) return std::nullopt;
  return TaskKey{sub->second, tp.partition};
}

std::vector<client::TopicPartition> StreamThread::PartitionsOf(const TaskKey& key) const {
  std::vector<client::TopicPartition> out;
  for (const auto& [topic, subtopology] : subtopology_of_) {
    if (subtopology == key.first) out.push_back({topic, key.second});
  }
  return out;
}

int64_t StreamThread::InputCaughtUpAtMs(const TaskKey& key) const {
  // The consumer reads the real clock; this thread's may be a ManualClock: ages carry over.
  const int64_t consumer_now = Clock::Real().NowMs();
  const int64_t now = clock_->NowMs();
  int64_t at = now;
  for (const client::TopicPartition& tp : PartitionsOf(key)) {
    const std::optional<int64_t> caught_up = consumer_->CaughtUpAtMs(tp);
    if (!caught_up.has_value()) return -1;
    at = std::min(at, now - (consumer_now - *caught_up));
  }
  return at;
}

std::vector<std::string> StreamThread::ChangelogsOf(const TaskKey& key) const {
  std::vector<std::string> out;
  for (const std::string& name :
       topology_->subtopologies()[static_cast<size_t>(key.first)].stores) {
    if (topology_->stores().at(name).logging) {
      out.push_back(Topology::ChangelogTopic(config_->application_id, name));
    }
  }
  return out;
}

absl::StatusOr<std::map<client::TopicPartition, client::OffsetAndMetadata>>
StreamThread::OffsetsToCommit() {
  std::map<client::TopicPartition, client::OffsetAndMetadata> offsets;
  for (const auto& [key, task] : tasks_) {
    TaskCommitMetadata m;
    if (config_->window_idle_close_ms > 0) m.stream_time = task->context().stream_time();
    // After the flush every changelog write is acknowledged: the committed state ends after the
    // last one this task wrote, or where its restore read to, or where its last commit said.
    const std::map<std::string, int64_t>& restored = task->restored_changelog_ends();
    const std::map<std::string, int64_t>& before = committed_ends_[key];
    for (const std::string& topic : ChangelogsOf(key)) {
      int64_t end = -1;
      if (auto it = restored.find(topic); it != restored.end()) end = std::max(end, it->second);
      if (auto it = before.find(topic); it != before.end()) end = std::max(end, it->second);
      if (std::optional<int64_t> acked = collector_->AckedEnd(topic, key.second)) {
        end = std::max(end, *acked);
      }
      if (end >= 0) m.changelog_ends[topic] = end;
    }
    std::string metadata = m.Encode();
    if (metadata.size() > kMaxCommitMetadataBytes) {
      // Too many changelogs to name: the next restore reads them to their ends (as before the
      // first commit).
      m.changelog_ends.clear();
      metadata = m.Encode();
    }
    // A task that never committed commits once it has processed something.
    auto committed = committed_metadata_.find(key);
    const bool changed = committed != committed_metadata_.end() && committed->second != metadata;
    for (const client::TopicPartition& tp : PartitionsOf(key)) {
      auto processed = processed_.find(tp);
      int64_t offset = 0;
      if (processed != processed_.end()) {
        offset = processed->second;
      } else if (changed) {
        // Everything polled is processed: the position is the next offset to process.
        absl::StatusOr<int64_t> position = consumer_->Position(tp);
        if (!position.ok()) continue;
        offset = *position;
      } else {
        continue;
      }
      offsets[tp] = client::OffsetAndMetadata{offset, metadata};
    }
  }
  for (const auto& [tp, next] : processed_) {
    offsets.try_emplace(tp, client::OffsetAndMetadata{next, ""});  // (no task: none are)
  }
  return offsets;
}

std::optional<TaskCommitMetadata> StreamThread::CommittedMetadata(const TaskKey& key) {
  absl::StatusOr<std::map<client::TopicPartition, std::optional<client::OffsetAndMetadata>>>
      committed = consumer_->CommittedWithMetadata(PartitionsOf(key));
  if (!committed.ok()) {
    // Not worth failing the task over: it restores its changelogs to their ends and starts
    // without a stream time, as in the application's first run.
    Log()->warn("{}: task {}_{}: the last commit's metadata is unknown: {}", name_, key.first,
                key.second, committed.status().ToString());
    return std::nullopt;
  }
  // A task's partitions are committed with the same metadata, unless one could not be: the
  // greatest of each.
  std::optional<TaskCommitMetadata> merged;
  for (const auto& [tp, offset] : *committed) {
    if (!offset.has_value()) continue;
    const std::optional<TaskCommitMetadata> m = TaskCommitMetadata::Decode(offset->metadata);
    if (!m.has_value()) continue;
    if (!merged.has_value()) {
      merged = m;
      committed_metadata_[key] = offset->metadata;
      continue;
    }
    merged->stream_time = std::max(merged->stream_time, m->stream_time);
    for (const auto& [topic, end] : m->changelog_ends) {
      int64_t& e = merged->changelog_ends[topic];
      e = std::max(e, end);
    }
  }
  if (merged.has_value()) committed_ends_[key] = merged->changelog_ends;
  return merged;
}

absl::Status StreamThread::Process(const std::vector<client::ConsumerRecord>& records) {
  for (const client::ConsumerRecord& r : records) {
    const std::string topic(r.topic);
    const client::TopicPartition tp{topic, r.partition};
    const std::optional<TaskKey> key = TaskOf(tp);
    if (!key.has_value()) {
      return absl::InternalError(absl::StrCat("polled a record of ", topic, ", not a source"));
    }
    auto task = tasks_.find(*key);
    if (task == tasks_.end()) {
      const std::vector<client::TopicPartition> assigned = consumer_->Assignment();
      if (std::find(assigned.begin(), assigned.end(), tp) == assigned.end()) {
        // Given up in the same Poll: its next owner reads it again from the committed offset.
        Log()->debug("{}: {} is no longer assigned; record at {} skipped", name_,
                     client::ToString(tp), r.offset);
        continue;
      }
      // Still assigned but without a task (a task of several partitions closed when one of them
      // was revoked): the task comes back, restored, before the record runs.
      RETURN_IF_ERROR(CreateTasks({tp}));
      task = tasks_.find(*key);
    }
    RawRecord raw;
    if (r.key.has_value()) raw.key = std::string(*r.key);
    if (r.value.has_value()) raw.value = std::string(*r.value);
    raw.timestamp = r.timestamp;
    absl::Status s = task->second->Process(topic, r.offset, raw);
    if (!s.ok()) {
      return WithContext(s, absl::StrCat("task ", task->second->id(), " processing ", topic, "-",
                                         r.partition, "@", r.offset));
    }
    processed_[tp] = r.offset + 1;
  }
  return absl::OkStatus();
}

absl::Status StreamThread::PunctuateWallClock() {
  for (auto& [key, task] : tasks_) {
    absl::Status s = task->PunctuateWallClock();
    if (!s.ok()) return WithContext(s, absl::StrCat("task ", task->id()));
  }
  return absl::OkStatus();
}

absl::Status StreamThread::Commit() {
  for (auto& [key, task] : tasks_) {
    absl::Status s = task->Flush();
    if (!s.ok()) {
      return WithContext(s, absl::StrCat("task ", task->id(), ": flush"));
    }
  }
  RETURN_IF_ERROR(collector_->Flush());
  // What the tasks emitted is delivered: the removals of emitted buffer entries may reach the
  // changelogs now (TaskContext::RemoveEmitted), durably before the offsets are committed.
  for (auto& [key, task] : tasks_) {
    absl::Status s = task->OutputDelivered();
    if (!s.ok()) return WithContext(s, absl::StrCat("task ", task->id(), ": held tombstones"));
  }
  RETURN_IF_ERROR(collector_->Flush());
  ASSIGN_OR_RETURN(const auto offsets, OffsetsToCommit());
  if (offsets.empty()) return absl::OkStatus();
  absl::Status s = consumer_->CommitWithMetadata(offsets);
  if (!s.ok()) return WithContext(s, "commit");
  processed_.clear();
  for (const auto& [tp, offset] : offsets) {
    const std::optional<TaskKey> key = TaskOf(tp);
    if (key.has_value() && tasks_.contains(*key)) committed_metadata_[*key] = offset.metadata;
  }
  ++commits_;
  return absl::OkStatus();
}

absl::Status StreamThread::Rejoin(const absl::Status& why) {
  Log()->warn("{}: {}; closing every task without a commit and rejoining the group", name_,
              std::string(why.message()));
  processed_.clear();
  CloseAllTasks();
  // Revokes what the consumer still holds (the listener has nothing left to commit or close)
  // and leaves; the new member's partitions start from the committed offsets.
  RETURN_IF_ERROR(consumer_->Unsubscribe());
  ++rejoins_;
  SetState(State::kRebalancing);
  return consumer_->Subscribe(source_topics_, listener_.get());
}

absl::Status StreamThread::CreateTasks(const std::vector<client::TopicPartition>& partitions) {
  const size_t threads = static_cast<size_t>(config_->num_stream_threads);
  for (const client::TopicPartition& tp : partitions) {
    const std::optional<TaskKey> found = TaskOf(tp);
    if (!found.has_value()) {
      return absl::InternalError(absl::StrCat("assigned ", client::ToString(tp), ", not a source"));
    }
    const TaskKey key = *found;
    if (tasks_.contains(key)) continue;  // another source topic of the same task
    TaskEnvironment env;
    env.application_id = config_->application_id;
    env.collector = collector_.get();
    env.changelog_reader = restorer_.get();
    env.state_dir = config_->state_dir;
    env.global_stores = global_stores_;
    env.wall_clock_ms = [clock = clock_] { return clock->NowMs(); };
    env.cache_max_bytes = static_cast<size_t>(config_->cache_max_bytes) / threads;
    env.deserialization_handler = config_->DeserializationHandler();
    env.idle_close_ms = config_->window_idle_close_ms;
    env.input_caught_up_at_ms = [this, key] { return InputCaughtUpAtMs(key); };
    const std::optional<TaskCommitMetadata> committed = CommittedMetadata(key);
    if (committed.has_value()) env.restore_until = committed->changelog_ends;
    const auto start = std::chrono::steady_clock::now();  // for the log line only
    absl::StatusOr<std::unique_ptr<StreamTask>> task =
        StreamTask::Create(topology_, key.first, key.second, std::move(env));
    if (!task.ok()) {
      return WithContext(task.status(), absl::StrCat("creating task ", key.first, "_", key.second));
    }
    if (config_->window_idle_close_ms > 0 && committed.has_value() && committed->stream_time >= 0) {
      absl::Status resumed = (*task)->ResumeStreamTime(committed->stream_time);
      if (!resumed.ok()) {
        (*task)->Close();
        return WithContext(resumed, absl::StrCat("task ", (*task)->id(), ": stream time"));
      }
    }
    if ((*task)->metrics().uncommitted_changelog_keys > 0) {
      commit_soon_ = true;
      Log()->info(
          "{}: task {}: {} changelog key(s) written after the last commit were written "
          "back to their committed values",
          name_, (*task)->id(), (*task)->metrics().uncommitted_changelog_keys);
    }
    Log()->info("{}: task {} created, {} records restored in {} ms", name_, (*task)->id(),
                (*task)->metrics().restored_records,
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count());
    tasks_[key] = *std::move(task);
  }
  return absl::OkStatus();
}

void StreamThread::CloseTasks(const std::vector<client::TopicPartition>& partitions) {
  std::set<TaskKey> keys;
  for (const client::TopicPartition& tp : partitions) {
    if (std::optional<TaskKey> key = TaskOf(tp)) keys.insert(*key);
  }
  CloseTasks(keys);
}

void StreamThread::CloseTasks(const std::set<TaskKey>& keys) {
  for (const TaskKey& key : keys) {
    auto it = tasks_.find(key);
    if (it == tasks_.end()) continue;
    closed_tasks_ += it->second->metrics();
    it->second->Close();
    Log()->info("{}: task {} closed", name_, it->second->id());
    tasks_.erase(it);
    committed_metadata_.erase(key);
    committed_ends_.erase(key);
  }
  // Offsets of partitions whose task is gone are no longer this thread's to commit.
  for (auto it = processed_.begin(); it != processed_.end();) {
    const std::optional<TaskKey> key = TaskOf(it->first);
    const bool owned = key.has_value() && tasks_.contains(*key);
    it = owned ? std::next(it) : processed_.erase(it);
  }
}

void StreamThread::CloseAllTasks() {
  std::set<TaskKey> all;
  for (const auto& [key, task] : tasks_) all.insert(key);
  CloseTasks(all);
}

void StreamThread::PublishMetrics() {
  StreamThreadMetrics m;
  m.tasks = closed_tasks_;
  for (const auto& [key, task] : tasks_) {
    m.tasks += task->metrics();
    m.active_tasks.push_back(task->id());
  }
  m.tasks.dropped_records += collector_->dropped_records();
  m.commits = commits_;
  m.rejoins = rejoins_;
  MutexLock lock(&mu_);
  published_ = std::move(m);
}

}  // namespace runnel::streams::internal
