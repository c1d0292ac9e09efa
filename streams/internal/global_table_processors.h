// GlobalKTable's two halves: how a record of its topic updates the global store (Kafka Streams'
// global KTableSource, run by the GlobalStreamThread), and the KStream-GlobalKTable join
// (KStreamGlobalKTableJoin, a KStreamKTableJoinProcessor whose key comes from a key mapper).
//
// The global store holds the topic's latest value per key, EncodeTimestamped as every table store
// (docs/FORMAT.md section 22); a tombstone deletes the key, a record without a key is skipped.
//
// A stream record joins the global store's current row for key_mapper(key, value): the join reads
// whatever the store holds when the record is processed (the table is read whole before
// processing starts; updates that arrive later apply as they come), so no co-partitioning is
// needed. A record with a null value is dropped and counted (dropped_records). A record with a
// null key is still looked up (its key mapper gets K{}, as Kafka Streams' gets null, KIP-962).
// Inner joins drop a record whose mapped key has no row; left joins call the joiner with nullopt.
// The result keeps the stream record's key and timestamp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/processor_api_node.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/internal/table_join_processors.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/serde.h"

namespace runnel::streams::internal {

// GlobalStoreSpec::apply for a table of V: checks that the value deserializes, takes the event
// time from `extractor` (or the record), writes the row or deletes it.
template <typename V>
std::function<absl::Status(KeyValueStore&, const RawRecord&)> GlobalTableApplier(
    std::string topic, Serde<V> value_serde, TimestampExtractor extractor) {
  return [topic = std::move(topic), value_serde = std::move(value_serde),
          extractor = std::move(extractor)](KeyValueStore& store,
                                            const RawRecord& raw) -> absl::Status {
    if (!raw.key.has_value()) return absl::OkStatus();  // a table row needs a key
    if (!raw.value.has_value()) return store.Delete(*raw.key);
    if (auto value = value_serde.deserialize(*raw.value); !value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("global table topic ", topic,
                       ": cannot deserialize a value: ", value.status().message()));
    }
    const int64_t timestamp =
        extractor ? extractor(raw.key, raw.value, raw.timestamp) : raw.timestamp;
    return store.Put(*raw.key, EncodeTimestamped(timestamp, *raw.value));
  };
}

// A KStream-GlobalKTable join (inner, or left with `left`).
template <typename K, typename V, typename KG, typename VG, typename VR>
class StreamGlobalTableJoinProcessor : public DslProcessor<K, V, K, VR> {
 public:
  using KeyMapper = std::function<KG(const K&, const V&)>;
  using Joiner = std::function<VR(const K&, const V&, const std::optional<VG>&)>;
  struct Config {
    std::string global_store;
    bool left = false;
    Serde<KG> table_key_serde;
    Serde<VG> table_value_serde;
    KeyMapper key_mapper;
    Joiner joiner;
  };

  StreamGlobalTableJoinProcessor(Config config) : c_(std::move(config)) {}

  absl::Status Init(ProcessorContext<K, VR>& context) override {
    RETURN_IF_ERROR(StreamGlobalTableJoinProcessor::DslProcessor::Init(context));
    store_ = this->task().global_store(c_.global_store);
    if (store_ == nullptr) return absl::InternalError("no global store " + c_.global_store);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (record.value_null) {
      ++this->task().metrics().dropped_records;
      logging::Get("streams")->debug("{}: record at {}@{} has a null value; skipped", this->name(),
                                     this->task().topic(), this->task().offset());
      return absl::OkStatus();
    }
    const KG table_key = c_.key_mapper(record.key, record.value);
    ASSIGN_OR_RETURN(auto row, GetTableRow(store_, c_.table_key_serde.serialize(table_key),
                                           c_.table_value_serde));
    if (!row.has_value() && !c_.left) return absl::OkStatus();
    std::optional<VG> value;
    if (row.has_value()) value = std::move(row->first);
    return this->Forward(Record<K, VR>{record.key, c_.joiner(record.key, record.value, value),
                                       record.timestamp, record.key_null});
  }

 private:
  Config c_;
  KeyValueStore* store_ = nullptr;
};

}  // namespace runnel::streams::internal
