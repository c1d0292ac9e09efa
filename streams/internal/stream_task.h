// A task: one instance of a sub-topology for one partition of its source topics, with its own
// processor nodes, state stores (restored from their changelogs when it starts) and stream time.
// Both the runtime (Streams) and the TopologyTestDriver run tasks; what differs is where output
// goes (RecordCollector), where changelogs are read from (ChangelogReader) and the clock.
//
// A task and its context are used by one thread at a time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/exception_handlers.h"
#include "streams/internal/processor_node.h"
#include "streams/punctuation.h"
#include "streams/state/changelog.h"
#include "streams/state/key_value_store.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

// Where a task's output records go.
class RecordCollector {
 public:
  virtual ~RecordCollector() = default;
  // Sends a record to `topic` (a full name). A partition of nullopt means: chosen by Kafka's
  // default partitioner (murmur2 of the key bytes; spread for a null key).
  virtual absl::Status Send(const std::string& topic, std::optional<int32_t> partition,
                            const RawRecord& record) = 0;
};

// Reads a changelog partition from its start to its current end.
class ChangelogReader {
 public:
  virtual ~ChangelogReader() = default;
  // The records before offset `until` (all of them when `until` is negative or past the end)
  // come to `apply` in batches, in offset order; the keys of the records from `until` to the end
  // come to `tail` once, in offset order (nothing when there are none). Returns the end offset
  // it read to.
  virtual absl::StatusOr<int64_t> Restore(
      const std::string& topic, int32_t partition, int64_t until,
      const std::function<absl::Status(const std::vector<ChangelogRecord>&)>& apply,
      const std::function<absl::Status(const std::vector<std::string>&)>& tail) = 0;
};

struct TaskEnvironment {
  std::string application_id;
  RecordCollector* collector = nullptr;         // outlives the task
  ChangelogReader* changelog_reader = nullptr;  // outlives the task; null: nothing to restore
  std::string state_dir;                        // persistent stores live under it
  std::function<int64_t()> wall_clock_ms;
  size_t cache_max_bytes = 10 * 1024 * 1024;  // statestore.cache.max.bytes, for this task
  // The instance's global stores by name (GlobalKTables), which the task only reads; borrowed,
  // outlive the task. Null: none.
  const std::map<std::string, KeyValueStore*>* global_stores = nullptr;
  // default.deserialization.exception.handler; empty: fail (LogAndFail without the log).
  DeserializationExceptionHandler deserialization_handler;
  // window.idle.close.ms: once no record has advanced the task's stream time for this long of
  // wall-clock time, stream time follows the wall clock (StreamTask::Create); 0: never.
  int64_t idle_close_ms = 0;
  // With idle_close_ms: up to when (wall-clock ms) the task's input is known to hold nothing it
  // has not processed (every source partition read to its high watermark as of then); -1: not
  // known, records may wait. Stream time follows the wall clock only up to then, so a pause of
  // the application (a restore, a failover, the process stopped) is not taken for idle input.
  // Null: the input is always read (the TopologyTestDriver's).
  std::function<int64_t()> input_caught_up_at_ms;
  // By changelog topic: the end offset of the task's changelog partition at its last commit
  // (StreamThread keeps it with the committed offsets). A store is restored up to there only: what
  // a dead instance wrote after its last commit is not committed state — its input is processed
  // again from the committed offsets — and each key it touched is written back to its committed
  // value, so the changelog ends in the committed state again. A changelog not named: restored to
  // its end.
  std::map<std::string, int64_t> restore_until;
};

struct TaskMetrics {
  int64_t processed = 0;
  int64_t dropped_late_records = 0;  // arrived after their window closed (end + grace)
  int64_t dropped_records = 0;       // null key or value in an aggregation, keyless table row,
                                     // invalid timestamp, a record skipped or dropped by an
                                     // exception handler
  int64_t restored_records = 0;
  // Keys of changelog records written after the last commit by an instance that died, written
  // back to their committed values when the task was restored (TaskEnvironment::restore_until).
  int64_t uncommitted_changelog_keys = 0;

  TaskMetrics& operator+=(const TaskMetrics& other) {
    processed += other.processed;
    dropped_late_records += other.dropped_late_records;
    dropped_records += other.dropped_records;
    restored_records += other.restored_records;
    uncommitted_changelog_keys += other.uncommitted_changelog_keys;
    return *this;
  }
};

// Writes a task's store changes to its partition of their changelog topics. A store cannot return
// the collector's error through the ChangelogSink interface, so the first one is kept until the
// task takes it after the write.
//
// A tombstone announced by HoldNextDelete (TaskContext::RemoveEmitted) is held until SendHeld; a
// later value of the same key is sent at once and drops the held tombstone (it would otherwise
// overwrite that value in the changelog). A crash loses the held ones, so the restore brings their
// entries back.
class TaskChangelogSink : public ChangelogSink {
 public:
  TaskChangelogSink(RecordCollector* collector, std::string application_id, int32_t partition)
      : collector_(collector), application_id_(std::move(application_id)), partition_(partition) {}
  // The next tombstone of `key` in `store_name` waits for SendHeld (a value sent first for the
  // key cancels this).
  void HoldNextDelete(const std::string& store_name, std::string key);
  void Send(const std::string& store_name, const ChangelogRecord& record) override;
  // Sends the held tombstones: the emissions they follow have been delivered.
  void SendHeld();
  absl::Status TakeError() { return std::exchange(error_, absl::OkStatus()); }

 private:
  void SendNow(const std::string& store_name, const ChangelogRecord& record);

  RecordCollector* collector_;
  std::string application_id_;
  int32_t partition_;
  std::map<std::string, std::set<std::string>> announced_;              // store -> keys
  std::map<std::string, std::map<std::string, ChangelogRecord>> held_;  // store -> key -> tombstone
  absl::Status error_;
};

// What a node sees of its task.
class TaskContext {
 public:
  const std::string& application_id() const { return env_.application_id; }
  const std::string& task_id() const { return task_id_; }
  int32_t partition() const { return partition_; }
  // The record being processed: its source topic (full name) and offset.
  const std::string& topic() const { return topic_; }
  int64_t offset() const { return offset_; }
  // The largest timestamp the task has processed (Kafka's stream time); -1 before any.
  int64_t stream_time() const { return stream_time_; }
  int64_t wall_clock_ms() const { return env_.wall_clock_ms(); }

  // The task's stores by name; null when the node did not declare the store.
  KeyValueStore* key_value_store(const std::string& name);
  WindowStore* window_store(const std::string& name);
  SessionStore* session_store(const std::string& name);
  // A global store (read only: only the instance's global-store updater writes it), or null.
  KeyValueStore* global_store(const std::string& name);
  // Called with the updates a store's record cache passes on when it is flushed (or, without a
  // cache, at every write).
  // A listener's error fails the flush (or the write) that called it.
  using KeyValueFlushListener = std::function<absl::Status(
      const std::string& key, const std::optional<std::string>& new_value,
      const std::optional<std::string>& old_value)>;
  using WindowFlushListener = std::function<absl::Status(
      const std::string& key, int64_t window_start, const std::optional<std::string>& new_value,
      const std::optional<std::string>& old_value)>;
  void SetFlushListener(const std::string& store, KeyValueFlushListener listener);
  void SetFlushListener(const std::string& store, WindowFlushListener listener);
  // Deletes `key` from key-value store `name` because the node has just emitted its entry (a
  // suppressed window that closed, a join's unmatched record): the store forgets it now, the
  // changelog only at the next commit, once the emission is delivered (and before the offsets are
  // committed, so a kill after the commit emits nothing twice). The emission and the tombstone go
  // to different partitions, and a crash could deliver the tombstone but not the emission; held
  // back, the entry comes back with the restore and the replayed input emits it again. Other
  // deletes (a retracted session's, a matched record's) go at once: holding them would restore
  // entries the replay never retracts again. `name` must not be cached (Internal otherwise).
  absl::Status RemoveEmitted(const std::string& name, std::string_view key);

  const Topology& topology() const { return *topology_; }
  RecordCollector& collector() { return *env_.collector; }
  // A topic name as the topology has it -> its full name (repartition topics are prefixed).
  std::string ResolveTopic(const std::string& topic) const {
    return topology_->ResolveTopic(env_.application_id, topic);
  }
  TaskMetrics& metrics() { return metrics_; }

  // For source nodes: the record being processed (`raw`) does not deserialize (`what`: "key" or
  // "value"; `why`: the serde's error). Asks the deserialization handler: OK means skip the record
  // (counted in dropped_records; its offset is committed like any other), an error (naming
  // topic-partition@offset) fails the task.
  absl::Status OnUndecodable(const RawRecord& raw, const char* what, const absl::Status& why);

  // For source nodes: the event time of the record being processed; advances stream time.
  void ObserveTimestamp(int64_t timestamp) {
    timestamp_ = timestamp;
    if (timestamp <= stream_time_) return;
    stream_time_ = timestamp;
    if (env_.idle_close_ms > 0) {
      advanced_at_stream_time_ = timestamp;
      advanced_at_wall_clock_ = env_.wall_clock_ms();
    }
  }

  // Schedules `punctuator` every `interval_ms` (>= 1) of stream time or wall-clock time on behalf
  // of node `owner` (named in errors); streams/punctuation.h has the rules. InvalidArgument for
  // a non-positive interval or an empty punctuator.
  absl::StatusOr<Cancellable> Schedule(const std::string& owner, int64_t interval_ms,
                                       PunctuationType type, Punctuator punctuator);
  // Stops punctuation `id` (what Cancellable::Cancel calls); unknown ids are ignored.
  void CancelPunctuation(int64_t id);

 private:
  friend class StreamTask;
  TaskContext(const Topology* topology, TaskEnvironment env, std::string task_id, int32_t partition)
      : topology_(topology),
        env_(std::move(env)),
        task_id_(std::move(task_id)),
        partition_(partition) {}

  const Topology* topology_;
  TaskEnvironment env_;
  std::string task_id_;
  int32_t partition_;
  TaskChangelogSink* changelog_sink_ = nullptr;  // the task's, once its stores are open
  std::string topic_;
  int64_t offset_ = -1;
  int64_t timestamp_ = 0;  // of the record being processed
  int64_t stream_time_ = -1;
  TaskMetrics metrics_;
  // When stream time last grew through a record: to what, and at which wall-clock time (kept
  // only with idle_close_ms).
  int64_t advanced_at_stream_time_ = -1;
  int64_t advanced_at_wall_clock_ = 0;
  struct PunctuationSchedule {
    std::string owner;
    PunctuationType type = PunctuationType::kStreamTime;
    int64_t interval_ms = 1;
    int64_t next = 0;  // due when the time reaches it
    Punctuator punctuator;
  };
  std::map<int64_t, PunctuationSchedule> punctuations_;  // by id, in scheduling order
  int64_t next_punctuation_id_ = 0;
  std::map<std::string, std::unique_ptr<KeyValueStore>> kv_stores_;
  std::map<std::string, std::unique_ptr<WindowStore>> window_stores_;
  std::map<std::string, std::unique_ptr<SessionStore>> session_stores_;  // no record cache
  std::map<std::string, KeyValueFlushListener> kv_listeners_;
  std::map<std::string, WindowFlushListener> window_listeners_;
  absl::Status listener_error_;  // the first error of a flush listener, until taken
};

class StreamTask {
 public:
  // Instantiates sub-topology `subtopology` for `partition`: opens its stores (persistent ones
  // under <state_dir>/<application.id>/<task id>/), restores them from their changelogs, creates
  // and wires its nodes and initialises them. The task id is "<subtopology>_<partition>".
  static absl::StatusOr<std::unique_ptr<StreamTask>> Create(const Topology* topology,
                                                            int32_t subtopology, int32_t partition,
                                                            TaskEnvironment env);
  ~StreamTask();

  const std::string& id() const { return context_.task_id(); }
  int32_t partition() const { return context_.partition(); }
  // The full names of the topics the task reads.
  std::vector<std::string> source_topics() const;

  // Runs one record of `topic` (a full name) through the sub-topology.
  absl::Status Process(const std::string& topic, int64_t offset, const RawRecord& record);
  // Flushes the record caches (their updates flow downstream and into changelogs) and the
  // stores; afterwards the task's output is with the collector and offsets may be committed.
  absl::Status Flush();
  // Called at a commit once what the task emitted is delivered (after Flush and the collector's
  // flush), before the offsets are committed: the changelog's held tombstones go out
  // (TaskContext::RemoveEmitted).
  absl::Status OutputDelivered();
  // Closes nodes and stores (without flushing: call Flush first for a clean close).
  void Close();

  // Runs the wall-clock punctuations due at the environment's wall-clock time (each at most
  // once); with idle_close_ms, this is also when an idle task's stream time follows the wall
  // clock. The runtime calls it after each Poll, the TopologyTestDriver when its clock moves.
  absl::Status PunctuateWallClock();
  // window.idle.close.ms: a new task takes up the stream time its previous incarnation committed
  // (StreamThread stores it with the offsets) — stream time `stream_time` from now on the wall
  // clock, and every node is told (ProcessorNode::AdvanceStreamTime) — so a record that was late
  // before a restart is late after it. Nothing if stream time is already there.
  absl::Status ResumeStreamTime(int64_t stream_time);

  const TaskMetrics& metrics() const { return context_.metrics_; }
  // By changelog topic: the end offset the restore of the task's partition read to.
  const std::map<std::string, int64_t>& restored_changelog_ends() const {
    return restored_changelog_ends_;
  }
  TaskContext& context() { return context_; }

 private:
  StreamTask(const Topology* topology, TaskEnvironment env, std::string id, int32_t partition)
      : topology_(topology), context_(topology, std::move(env), std::move(id), partition) {}
  absl::Status OpenStores(const Topology::Subtopology& subtopology);
  absl::Status CreateNodes(const Topology::Subtopology& subtopology);
  // The errors stores and their listeners could not return where they happened.
  absl::Status TakeErrors();
  // Runs each punctuation of `type` due at `now` once, in (due time, scheduling) order, with no
  // current record; reschedules it to the first boundary after `now` (Kafka's
  // PunctuationSchedule#next).
  absl::Status Punctuate(PunctuationType type, int64_t now);
  // window.idle.close.ms: when stream time last grew at wall-clock time W to T and the wall clock
  // reads `now` >= W + idle_close_ms, stream time becomes T + (now - W): caches are flushed, every
  // node is told (ProcessorNode::AdvanceStreamTime), then stream-time punctuations run.
  absl::Status AdvanceIdleStreamTime(int64_t now);

  const Topology* topology_;
  std::unique_ptr<TaskChangelogSink> changelog_sink_;  // used by the stores in context_
  TaskContext context_;
  std::vector<std::unique_ptr<ProcessorNode>> nodes_;  // in topology order
  std::map<std::string, SourceNode*> sources_;         // by full topic name
  std::vector<std::string> store_order_;
  std::map<std::string, int64_t> restored_changelog_ends_;
  bool closed_ = false;
};

}  // namespace runnel::streams::internal
