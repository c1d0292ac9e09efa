// A stream thread of the runtime (Kafka Streams' StreamThread): one std::thread with its own
// group member (a client::Consumer subscribed to every source topic of the topology, group.id =
// application.id), its own producer (through a ProducerCollector) and its own restore consumer.
// It runs the tasks of the partitions the group coordinator gives it:
//
//   loop: Poll -> run each record through the task of its (sub-topology, partition)
//         (stream-time punctuations after each record that advanced a task's stream time)
//         -> every task's wall-clock punctuations that fell due, records or not
//         every commit.interval.ms: flush every task (record caches flow downstream and into
//         changelogs), flush the producer (everything acknowledged), commit the offsets
//         processed — at-least-once: offsets are committed only after the output they caused
//   assigned partitions: create their tasks (stores restored from the changelogs)
//   revoked partitions:  commit as above, then close their tasks
//   lost partitions:     close their tasks without committing (someone else may own them)
//   a commit refused because the member was fenced (client::IsNoLongerMember; e.g. processing
//   or a restore stalled past max.poll.interval.ms, so the partitions may be someone else's):
//                        close every task without committing, leave and join again, as Kafka
//                        Streams handles a TaskMigratedException; what was not committed is
//                        processed again
//
// Any other processing, producing or commit error stops the thread in state kError, its tasks
// closed without a commit (what was not committed is processed again by the next owner).
//
// Time: the commit interval, the tasks' wall-clock time and the restore stall timeout are read
// from the Clock the thread is given (Kafka Streams' Time). Its consumers and producer keep the
// real clock, as Kafka Streams' clients do: Poll's 100 ms wait is how soon a stop request is
// noticed, which a ManualClock nobody moves would stretch for ever. So with a ManualClock, a
// commit falls due within one Poll (100 ms of real time) of the clock passing commit.interval.ms.
//
// Threading: the public methods may be called from any thread; everything else runs on the
// thread itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/consumer.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "streams/internal/changelog_restorer.h"
#include "streams/internal/producer_collector.h"
#include "streams/internal/stream_task.h"
#include "streams/streams_config.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

struct StreamThreadMetrics {
  TaskMetrics tasks;  // summed over the thread's tasks, open and closed
  int64_t commits = 0;
  int64_t rejoins = 0;                    // after a commit refused for fencing
  std::vector<std::string> active_tasks;  // task ids, e.g. "0_1"
};

// What a stream thread commits as the metadata of a task's source offsets (docs/FORMAT.md
// section 20).
struct TaskCommitMetadata {
  int64_t stream_time = -1;                       // with window.idle.close.ms; -1: none
  std::map<std::string, int64_t> changelog_ends;  // by changelog topic, after the commit's flush

  std::string Encode() const;
  // nullopt for metadata of another format (or none).
  static std::optional<TaskCommitMetadata> Decode(std::string_view metadata);
};

class StreamThread {
 public:
  enum class State { kCreated, kStarting, kRebalancing, kRunning, kStopped, kError };

  // `topology`, `config` and `clock` are borrowed and outlive the thread. `subtopology_of` maps
  // each source topic (full name) to the sub-topology reading it. `global_stores` (borrowed,
  // outlives the thread; null when the topology has none) are the instance's global stores,
  // which the tasks read (TaskEnvironment::global_stores). `on_state_change` is called on the
  // thread after each change of state().
  StreamThread(int index, const Topology* topology, const StreamsConfig* config, const Clock* clock,
               std::map<std::string, int32_t> subtopology_of, std::string assignor,
               const std::map<std::string, KeyValueStore*>* global_stores,
               std::function<void()> on_state_change);
  ~StreamThread();
  StreamThread(const StreamThread&) = delete;
  StreamThread& operator=(const StreamThread&) = delete;

  // Creates the clients and starts the thread. Errors: bad client settings.
  absl::Status Start();
  // Asks the thread to commit, close its tasks and leave the group; returns at once.
  void RequestStop() { stop_requested_ = true; }
  // Waits for the thread to end (after RequestStop, or after an error).
  void Join();

  State state() const { return state_; }
  // Why the thread is in kError (OK otherwise).
  absl::Status error() const;
  StreamThreadMetrics metrics() const;
  const std::string& name() const { return name_; }

 private:
  class Listener;
  using TaskKey = std::pair<int32_t, int32_t>;  // (sub-topology, partition)

  void Run();
  absl::Status Loop();
  void SetState(State s);
  // The task reading `tp`; nullopt when its topic is not a source of the topology.
  std::optional<TaskKey> TaskOf(const client::TopicPartition& tp) const;
  // TaskEnvironment::input_caught_up_at_ms of task `key`, on this thread's clock: the earliest
  // time a fetch showed one of its source partitions read to the high watermark; -1 when one is
  // not (records wait, or no fetch answered since it was assigned).
  int64_t InputCaughtUpAtMs(const TaskKey& key) const;
  // The source partitions of task `key`.
  std::vector<client::TopicPartition> PartitionsOf(const TaskKey& key) const;
  // The changelog topics of task `key`'s logged stores.
  std::vector<std::string> ChangelogsOf(const TaskKey& key) const;
  // What Commit stores, after the flush: processed_, each offset with its task's commit metadata
  // (its changelogs' end offsets, and with window.idle.close.ms its stream time; docs/FORMAT.md
  // section 20) — also for a task that processed nothing since the last commit but whose metadata
  // changed (a punctuation or an idle advance wrote or moved something).
  absl::StatusOr<std::map<client::TopicPartition, client::OffsetAndMetadata>> OffsetsToCommit();
  // Task `key`'s last commit metadata (none: nothing known, e.g. the application's first run or a
  // lookup that failed, which is logged).
  std::optional<TaskCommitMetadata> CommittedMetadata(const TaskKey& key);
  absl::Status Process(const std::vector<client::ConsumerRecord>& records);
  // Every task's wall-clock punctuations (and idle stream-time advance) due now.
  absl::Status PunctuateWallClock();
  // Flushes tasks and output and commits what was processed since the last commit.
  absl::Status Commit();
  // After a commit refused because the member was fenced (`why`): see the header comment.
  absl::Status Rejoin(const absl::Status& why);
  absl::Status CreateTasks(const std::vector<client::TopicPartition>& partitions);
  // Closes the tasks of `partitions` (or `keys`) as they are: commit first for a clean close.
  void CloseTasks(const std::vector<client::TopicPartition>& partitions);
  void CloseTasks(const std::set<TaskKey>& keys);
  void CloseAllTasks();
  void Fail(absl::Status s);
  void PublishMetrics();

  const int index_;
  const std::string name_;
  const Topology* topology_;
  const StreamsConfig* config_;
  const Clock* const clock_;
  const std::map<std::string, int32_t> subtopology_of_;
  const std::string assignor_;
  const std::map<std::string, KeyValueStore*>* const global_stores_;
  std::function<void()> on_state_change_;

  std::unique_ptr<client::Consumer> consumer_;
  std::unique_ptr<ProducerCollector> collector_;
  std::unique_ptr<ChangelogRestorer> restorer_;
  std::unique_ptr<Listener> listener_;
  std::map<TaskKey, std::unique_ptr<StreamTask>> tasks_;
  std::map<client::TopicPartition, int64_t> processed_;  // next offset, since the last commit
  std::map<TaskKey, std::string> committed_metadata_;    // of each task's last commit
  // The changelog ends each task's last commit recorded when it was created (never recorded
  // lower again: a restore reading to a lagging high watermark must not move them back).
  std::map<TaskKey, std::map<std::string, int64_t>> committed_ends_;
  bool commit_soon_ = false;  // a task wrote changelog records back: commit their ends now
  absl::Status first_error_;  // of the thread's own work (set on the thread)
  TaskMetrics closed_tasks_;  // metrics of the tasks already closed
  int64_t commits_ = 0;
  int64_t rejoins_ = 0;
  std::vector<std::string> source_topics_;
  absl::Status rejoin_reason_;  // a listener's commit was refused for fencing: rejoin after Poll

  std::atomic<bool> stop_requested_{false};
  std::atomic<State> state_{State::kCreated};
  std::thread thread_;

  mutable Mutex mu_;
  StreamThreadMetrics published_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::streams::internal
