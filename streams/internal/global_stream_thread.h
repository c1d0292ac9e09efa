// The runtime's global-store updater (Kafka Streams' GlobalStreamThread): holds every global
// store of the topology (GlobalKTables) whole, in this instance, and keeps it up to date.
//
//   Start: open each global store (in memory, or RocksDB under
//          <state.dir>/<application.id>/global/rocksdb/<store>, emptied first: the topic is the
//          store's changelog and is read whole at every start), assign a consumer without a group
//          every partition of the global topics, and read them from the beginning to the end
//          offsets they have now (the bootstrap), applying each record to its stores; then start
//          the thread
//   thread: poll and apply the records that come after, until Close
//
// The stream threads start after Start returned, so a task never sees a global store that is not
// bootstrapped. A record is applied with GlobalStoreSpec::apply; one whose value does not
// deserialize goes to default.deserialization.exception.handler (asked with task id "global"):
// LogAndContinue skips it and counts it (dropped_records), LogAndFail (the default) fails. Any
// failure — such a record, a store error, a consumer error, a bootstrap that gets no record for
// the stall timeout before it reaches the end offsets — puts the thread in kError with the error
// naming the store and `topic-partition@offset`; the application then goes to ERROR (Kafka
// Streams: a dead global thread fails the instance). The stores stay open (and readable) until
// Close, after the stream threads have stopped.
//
// The stores are written by this thread and read by every stream thread's tasks at once: each is
// a SynchronizedKeyValueStore (state/synchronized_key_value_store.h), and stores() is what the
// tasks are given (TaskEnvironment::global_stores).
//
// Known gap (as ChangelogRestorer's): the consumer's position moves past records it returns, so a
// compacted global topic whose last records were all compacted away never reaches its end offset
// and the bootstrap fails after the stall timeout.
//
// Threading: Start and Close from one thread (Streams'); state(), error(), metrics(), stores()
// and RequestStop from any. `on_state_change` is called on whichever thread changed the state:
// Start's caller during the bootstrap, the global thread afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "client/consumer.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "streams/state/key_value_store.h"
#include "streams/streams_config.h"
#include "streams/topology.h"

namespace runnel::streams::internal {

struct GlobalStreamThreadMetrics {
  int64_t restored_records = 0;  // global-topic records read by the bootstrap
  int64_t applied_records = 0;   // global-topic records read after it (updates)
  int64_t dropped_records = 0;   // of both, skipped by the deserialization exception handler
};

class GlobalStreamThread {
 public:
  enum class State { kCreated, kBootstrapping, kRunning, kStopped, kError };

  // `topology`, `config` and `clock` are borrowed and outlive the thread; the topology has at
  // least one global store. `bootstrap_stall_ms`: a bootstrap that gets no record for this long
  // (by `clock`'s SteadyNow) before reaching the end offsets fails (Unavailable).
  GlobalStreamThread(const Topology* topology, const StreamsConfig* config, const Clock* clock,
                     int64_t bootstrap_stall_ms, std::function<void()> on_state_change);
  // Close().
  ~GlobalStreamThread();
  GlobalStreamThread(const GlobalStreamThread&) = delete;
  GlobalStreamThread& operator=(const GlobalStreamThread&) = delete;

  // Opens the stores, bootstraps them (blocking) and starts the thread. Errors (the thread is
  // then in kError with the same error): NotFound for a global topic that does not exist, bad
  // client settings, the broker's, a store's, a record's (see above). Once only.
  absl::Status Start();
  // Asks the thread to stop after its current Poll; returns at once.
  void RequestStop() { stop_requested_ = true; }
  // Stops and joins the thread, then closes the stores (a task still reading one gets
  // FailedPrecondition: close the stream threads first). Idempotent.
  void Close();

  // The global stores by name, synchronised; what the tasks read. Valid (the map and the stores)
  // from construction until the GlobalStreamThread is destroyed; filled by Start.
  const std::map<std::string, KeyValueStore*>* stores() const { return &store_views_; }

  State state() const { return state_; }
  // Why the thread is in kError (OK otherwise).
  absl::Status error() const;
  GlobalStreamThreadMetrics metrics() const;
  const std::string& name() const { return name_; }

 private:
  // Locks <state.dir>/<application.id>/global (flock, held until Close): FailedPrecondition
  // naming it when another instance on this machine holds it.
  absl::Status LockStateDir();
  absl::Status OpenStores();
  absl::Status Bootstrap();
  void Run();
  // Applies `records` to the stores of their topics; counts them in `*counter`.
  absl::Status Apply(const std::vector<client::ConsumerRecord>& records, int64_t* counter);
  void Fail(absl::Status s);
  void SetState(State s);
  void PublishMetrics();

  const std::string name_;
  const Topology* topology_;
  const StreamsConfig* config_;
  const Clock* const clock_;
  const int64_t bootstrap_stall_ms_;
  std::function<void()> on_state_change_;
  const DeserializationExceptionHandler handler_;

  // Filled by Start before the thread (or any reader) exists; the stores are synchronised.
  std::map<std::string, std::unique_ptr<KeyValueStore>> stores_;  // by store name
  std::map<std::string, KeyValueStore*> store_views_;
  std::map<std::string, std::vector<std::string>> stores_of_topic_;  // topic -> store names
  std::vector<client::TopicPartition> partitions_;
  std::unique_ptr<client::Consumer> consumer_;
  GlobalStreamThreadMetrics counters_;  // written by Start's caller, then by the thread
  bool started_ = false;
  bool closed_ = false;
  int lock_fd_ = -1;  // the state dir's lock, while persistent global stores are open

  std::atomic<bool> stop_requested_{false};
  std::atomic<State> state_{State::kCreated};
  std::thread thread_;

  mutable Mutex mu_;
  GlobalStreamThreadMetrics published_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::streams::internal
