// Streams: runs a Topology against a broker, as Kafka Streams' KafkaStreams does.
//
//   absl::StatusOr<StreamsConfig> config = StreamsConfig::FromProperties(
//       {{"application.id", "wordcount"}, {"bootstrap.servers", "127.0.0.1:7070"}});
//   Streams streams(*topology, *config);
//   RETURN_IF_ERROR(streams.Start());
//   ...
//   streams.Close();
//
// Start checks that the user's source topics exist, creates the internal topics the topology
// needs — "<application.id>-<name>-repartition" (as many partitions as planned, see
// internal/partition_plan.h) and the compacted "<application.id>-<store>-changelog" — or checks
// the partition counts of those that exist, bootstraps the global stores (GlobalKTables: the
// global stream thread, internal/global_stream_thread.h, reads every partition of their topics
// to the end before Start goes on, then keeps them up to date) and starts num.stream.threads
// stream threads (internal/stream_thread.h). Every thread is a member of the consumer group
// application.id, so tasks (one per sub-topology and partition) spread over the threads of every
// instance running the same application id; when an instance goes away its tasks move to the
// others, which restore the tasks' stores from their changelogs. Processing is at-least-once.
//
// Task placement: a sub-topology that reads several topics needs partition p of each in the same
// task; the runtime then asks the coordinator for the range assignor (which gives partition p of
// same-sized topics to the same member) and refuses to start when those topics' partition counts
// differ. Otherwise it asks for the uniform (sticky) assignor, which moves fewest tasks.
//
// States (Kafka's): kCreated -> kRebalancing (threads joining, or tasks being created, restored
// or closed) <-> kRunning -> kPendingShutdown -> kNotRunning; kError when a thread failed, the
// global stream thread included (the others are then stopped too). The state listener runs on the
// thread that made the change (a stream thread, or the caller of Start / Close), one call at a
// time; it may call state() and metrics(), not Close.
//
// Time: commit.interval.ms, the tasks' wall-clock time and the restore stall timeout are read from
// a Clock (common/clock.h): Clock::Real(), or one given to the constructor (Kafka Streams' Time),
// so a test moves a ManualClock instead of waiting. The threads' consumers and producers keep the
// real clock (internal/stream_thread.h says why).
//
// Thread-safety: Start, Close and the destructor from one thread; state() and metrics() from any.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "streams/streams_config.h"
#include "streams/topology.h"

namespace runnel::streams {

namespace internal {
class GlobalStreamThread;
class StreamThread;
}  // namespace internal

class Streams {
 public:
  enum class State { kCreated, kRebalancing, kRunning, kPendingShutdown, kNotRunning, kError };
  using StateListener = std::function<void(State new_state, State old_state)>;

  struct Metrics {
    int64_t processed = 0;             // records run through tasks (since Start)
    int64_t dropped_late_records = 0;  // arrived after their window closed
    int64_t dropped_records = 0;       // e.g. a null key or value reaching an aggregation
    int64_t restored_records = 0;      // changelog records read into stores
    int64_t commits = 0;
    int64_t rejoins = 0;  // a thread was fenced, closed its tasks and joined the group again
    // Global stores (GlobalKTables): records of their topics read into them by Start's bootstrap,
    // and applied after it; those the deserialization handler skipped are in dropped_records.
    int64_t global_restored_records = 0;
    int64_t global_applied_records = 0;
    std::vector<std::string> active_tasks;  // ids ("<sub-topology>_<partition>"), sorted
  };

  // Copies `topology` and `config`.
  Streams(const Topology& topology, StreamsConfig config);
  // The same with time read from `clock`, which is borrowed and must outlive the Streams.
  Streams(const Topology& topology, StreamsConfig config, const Clock& clock);
  // A temporary clock would be destroyed while the threads still read it: refused.
  Streams(const Topology&, StreamsConfig, const Clock&&) = delete;
  // Close().
  ~Streams();
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;

  // Set before Start.
  void SetStateListener(StateListener listener);

  // Errors: InvalidArgument for a bad config, NotFound for a missing source or global topic,
  // FailedPrecondition for an internal topic with the wrong partition count, for source topics
  // of one sub-topology with different partition counts, or when called twice or after Close; the
  // broker's errors as they come. A global store's bootstrap that fails (a record that does not
  // deserialize under LogAndFail, no progress for 60 s) is returned and leaves the application
  // in kError.
  absl::Status Start();
  // Stops the threads: each commits what it processed, closes its tasks and leaves the group,
  // so its tasks move at once; then the global stream thread. Idempotent.
  void Close();

  State state() const;
  // Why the application is in kError (OK otherwise): the first failed thread's error.
  absl::Status error() const;
  Metrics metrics() const;

 private:
  absl::Status CreateInternalTopics();
  // Recomputes the state from the threads' and tells the listener.
  void OnThreadStateChange();
  void SetState(State s);
  void SetStateLocked(State s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(listener_mu_);
  std::vector<internal::StreamThread*> Threads() const;
  internal::GlobalStreamThread* GlobalThread() const;

  const Topology topology_;
  const StreamsConfig config_;
  const Clock* const clock_;
  std::map<std::string, int32_t> subtopology_of_;  // source topic (full name) -> sub-topology
  std::string assignor_;
  bool started_ = false;
  bool closed_ = false;

  Mutex listener_mu_;  // serialises the listener's calls
  StateListener listener_ ABSL_GUARDED_BY(listener_mu_);
  mutable Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kCreated;
  // Set once in Start, with global stores only; outlives the stream threads, whose tasks read its
  // stores (members are destroyed in reverse order).
  std::unique_ptr<internal::GlobalStreamThread> global_thread_ ABSL_GUARDED_BY(mu_);
  // Filled once in Start, before any thread runs; destroyed (joined) last.
  std::vector<std::unique_ptr<internal::StreamThread>> threads_ ABSL_GUARDED_BY(mu_);
};

const char* StateName(Streams::State state);

}  // namespace runnel::streams
