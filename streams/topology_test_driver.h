// TopologyTestDriver: runs a Topology in this process without a broker, for tests. Input piped
// into a topic runs through the tasks at once; output (including repartition and changelog
// topics) is kept in memory and read back with TestOutputTopic. Unlike Kafka Streams' driver it
// runs every task of every partition: a topic may have several partitions, keyed records land
// on murmur2 partitions as with a broker, and repartition topics move records between tasks.
//
// Global stores (GlobalKTables) are held by the driver, as Kafka Streams' driver holds them: a
// record appended to a global table's topic (piped, or written by the topology) updates its store
// at once, before the tasks see anything it causes; every task reads the same store.
//
// Punctuations: a task's stream-time punctuations run after each record of the task that advanced
// its stream time, wall-clock ones when AdvanceWallClockTime moves the clock (never on their own).
//
// After each piped record the driver commits: record caches flush, so every update is visible
// downstream (set commit_every_record = false to have caches flush only when the wall clock
// passes commit_interval_ms, as the runtime does).
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "streams/exception_handlers.h"
#include "streams/internal/stream_task.h"
#include "streams/serde.h"
#include "streams/state/key_value_store.h"
#include "streams/topology.h"

namespace runnel::streams {

struct TestDriverOptions {
  std::string application_id = "test-app";
  int32_t default_partitions = 1;                   // of topics not in topic_partitions
  std::map<std::string, int32_t> topic_partitions;  // user topics (input and output)
  int64_t initial_wall_clock_ms = 0;
  bool commit_every_record = true;
  int64_t commit_interval_ms = 30000;
  size_t cache_max_bytes = 10 * 1024 * 1024;
  std::string state_dir;  // empty: a temporary directory, removed by the driver
  // What a record that does not deserialize or cannot be written does (exception_handlers.h);
  // empty: fail, as LogAndFailExceptionHandler and DefaultProductionExceptionHandler do.
  DeserializationExceptionHandler deserialization_exception_handler;
  ProductionExceptionHandler production_exception_handler;
  // A record the topology writes that is larger than this (24 bytes + key + value, as the
  // producer counts it) cannot be written, as the producer refuses it (max.request.size).
  int64_t max_request_size = 1048576;
  // window.idle.close.ms (streams/README.md, "Idle close"): 0, off, as in the runtime.
  int64_t window_idle_close_ms = 0;
  // With window_idle_close_ms, the wall-clock time up to which the input counts as read to its
  // end, asked at each idle check (-1: not read; records wait). The runtime takes it from its
  // consumer; set it to act out an application that stopped reading (paused, restoring) while
  // the wall clock ran. Empty: every record piped in is read at once, so always.
  std::function<int64_t()> input_caught_up_at_ms;
};

// A record as it sits in a topic.
struct TestRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
};

class TopologyTestDriver {
 public:
  static absl::StatusOr<std::unique_ptr<TopologyTestDriver>> Create(const Topology& topology,
                                                                    TestDriverOptions options = {});
  ~TopologyTestDriver();

  // Appends a record to `topic` (partition by key, as a producer would, unless given) and runs
  // everything it causes.
  absl::Status PipeRaw(const std::string& topic, std::optional<std::string> key,
                       std::optional<std::string> value, int64_t timestamp,
                       std::optional<int32_t> partition = std::nullopt);
  // Moves the wall clock (Kafka's advanceWallClockTime): runs every task's wall-clock
  // punctuations that fell due (each once however many intervals passed; with
  // window_idle_close_ms also the idle advance of stream time) and what they cause; then, with
  // commit_every_record, commits, else commits once commit_interval_ms passed.
  absl::Status AdvanceWallClockTime(int64_t ms);
  int64_t wall_clock_ms() const { return wall_clock_ms_; }

  // Everything written to `topic` so far, in the order it was written (all partitions). Full
  // names: "<application.id>-<store>-changelog", "<application.id>-<name>-repartition".
  const std::vector<TestRecord>& Records(const std::string& topic) const;
  int32_t Partitions(const std::string& topic) const;

  // A store's contents over all its tasks (key -> value as stored), or NotFound if no such store.
  // A global store's contents are its own.
  absl::StatusOr<std::map<std::string, std::string>> KeyValueStoreContents(
      const std::string& store);
  // A window store's contents over all tasks: (key, window start) -> value as stored.
  absl::StatusOr<std::map<std::pair<std::string, int64_t>, std::string>> WindowStoreContents(
      const std::string& store);
  // Metrics summed over the tasks (dropped_records includes the records the production exception
  // handler dropped).
  internal::TaskMetrics metrics() const;
  // The tasks' ids, e.g. "0_0", "0_1", "1_0".
  std::vector<std::string> task_ids() const;

  // Drops every task as a crash would (no flush: what sat in record caches is lost) and starts
  // them again; their stores are restored from the changelog topics. Input piped after this
  // runs on the restored state.
  absl::Status RestartTasks();

  // Flushes and closes the tasks; the driver can no longer be used.
  absl::Status Close();

 private:
  class Collector;
  class Restorer;
  TopologyTestDriver(const Topology& topology, TestDriverOptions options);
  absl::Status CreateTasks();
  absl::Status OpenGlobalStores();
  absl::Status Append(const std::string& topic, std::optional<int32_t> partition,
                      const internal::RawRecord& record);
  absl::Status Drain();
  absl::Status Commit();

  Topology topology_;
  TestDriverOptions options_;
  bool own_state_dir_ = false;
  int64_t wall_clock_ms_;
  int64_t last_commit_ms_;
  std::map<std::string, int32_t> partitions_;  // every topic the topology reads or writes
  std::map<std::string, std::vector<TestRecord>> topics_;
  std::map<std::string, std::vector<int64_t>> next_offset_;
  std::map<std::string, int64_t> round_robin_;
  std::deque<std::pair<std::string, size_t>> pending_;  // (topic, index into topics_) to process
  std::map<std::pair<std::string, int32_t>, internal::StreamTask*> task_of_;  // (source, partition)
  std::unique_ptr<Collector> collector_;
  int64_t dropped_productions_ = 0;  // records the production exception handler dropped
  std::unique_ptr<Restorer> restorer_;
  std::vector<std::unique_ptr<internal::StreamTask>> tasks_;
  std::map<std::string, std::unique_ptr<KeyValueStore>> global_stores_;  // by store name
  std::map<std::string, KeyValueStore*> global_store_views_;             // what the tasks are given
  bool closed_ = false;
};

// Pipes typed records into a topic of a driver (which must outlive it).
template <typename K, typename V>
class TestInputTopic {
 public:
  TestInputTopic(TopologyTestDriver* driver, std::string topic, Serde<K> key_serde,
                 Serde<V> value_serde)
      : driver_(driver),
        topic_(std::move(topic)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status PipeInput(const K& key, const V& value, int64_t timestamp) {
    return driver_->PipeRaw(topic_, key_serde_.serialize(key), value_serde_.serialize(value),
                            timestamp);
  }
  // A record without a key.
  absl::Status PipeValue(const V& value, int64_t timestamp) {
    return driver_->PipeRaw(topic_, std::nullopt, value_serde_.serialize(value), timestamp);
  }
  // A tombstone: a null value (deletes the key from a table).
  absl::Status PipeTombstone(const K& key, int64_t timestamp) {
    return driver_->PipeRaw(topic_, key_serde_.serialize(key), std::nullopt, timestamp);
  }

 private:
  TopologyTestDriver* driver_;
  std::string topic_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
};

// Reads typed records from a topic of a driver (which must outlive it), each once, in the order
// they were written.
template <typename K, typename V>
class TestOutputTopic {
 public:
  struct Read {
    K key{};
    bool key_null = false;   // written without a key (`key` is then K{})
    std::optional<V> value;  // nullopt: a tombstone
    int64_t timestamp = 0;
    int32_t partition = 0;
  };

  TestOutputTopic(const TopologyTestDriver* driver, std::string topic, Serde<K> key_serde,
                  Serde<V> value_serde)
      : driver_(driver),
        topic_(std::move(topic)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  bool IsEmpty() const { return QueueSize() == 0; }
  size_t QueueSize() const { return driver_->Records(topic_).size() - position_; }

  // The next record; NotFound when there is none.
  absl::StatusOr<Read> ReadRecord() {
    const std::vector<TestRecord>& records = driver_->Records(topic_);
    if (position_ >= records.size()) {
      return absl::NotFoundError("no more records in topic " + topic_);
    }
    const TestRecord& r = records[position_++];
    Read out;
    out.timestamp = r.timestamp;
    out.partition = r.partition;
    out.key_null = !r.key.has_value();
    if (r.key.has_value()) {
      auto key = key_serde_.deserialize(*r.key);
      if (!key.ok()) return key.status();
      out.key = std::move(*key);
    }
    if (r.value.has_value()) {
      auto value = value_serde_.deserialize(*r.value);
      if (!value.ok()) return value.status();
      out.value = std::move(*value);
    }
    return out;
  }
  // Every remaining record.
  absl::StatusOr<std::vector<Read>> ReadRecordsToList() {
    std::vector<Read> out;
    while (!IsEmpty()) {
      auto r = ReadRecord();
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  }
  // Every remaining (key, value), tombstones skipped.
  absl::StatusOr<std::vector<std::pair<K, V>>> ReadKeyValuesToList() {
    auto records = ReadRecordsToList();
    if (!records.ok()) return records.status();
    std::vector<std::pair<K, V>> out;
    for (Read& r : *records) {
      if (r.value.has_value()) out.emplace_back(std::move(r.key), std::move(*r.value));
    }
    return out;
  }
  // The last value per key of the remaining records (a tombstone removes the key).
  absl::StatusOr<std::map<K, V>> ReadKeyValuesToMap() {
    auto records = ReadRecordsToList();
    if (!records.ok()) return records.status();
    std::map<K, V> out;
    for (Read& r : *records) {
      if (r.value.has_value()) {
        out.insert_or_assign(std::move(r.key), std::move(*r.value));
      } else {
        out.erase(r.key);
      }
    }
    return out;
  }

 private:
  const TopologyTestDriver* driver_;
  std::string topic_;
  Serde<K> key_serde_;
  Serde<V> value_serde_;
  size_t position_ = 0;
};

}  // namespace runnel::streams
