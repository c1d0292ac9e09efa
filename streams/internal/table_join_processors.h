// The processors behind KTable-KTable joins on the primary key (Kafka Streams' KTableKTableJoin
// family: KTableKTableInnerJoin, KTableKTableLeftJoin with KTableKTableRightJoin for the other
// side, KTableKTableOuterJoin, and KTableKTableJoinMerger).
//
// A join is three nodes: one per side, each taking its own table's changes and looking the key up
// in the other table's store, and a merge node that forwards both sides' results (and, when the
// result is materialized, writes them into its store first). With `this` the side whose row
// changed from `old` to `new` and `other` the other table's current row for the key, the join
// result of a row x of this side is:
//   joiner(x, other)          when x and other both exist;
//   joiner(x, null)           when only x exists and this side is an outer side (the left side of
//                             a left join, either side of an outer join);
//   joiner(null, other)       when only other exists and the other side is an outer side;
//   none                      otherwise.
// The node forwards Change(result(new), result(old)) with timestamp max(this record's, the other
// row's), unless neither result exists (nothing joined before or after: nothing to say). So an
// inner join emits a tombstone when either side's row goes; a left join emits joiner(left, null)
// when the right row goes and a tombstone when the left row goes; an outer join emits a tombstone
// only when both rows are gone. This is Kafka Streams 3.x's rule, which emits the same results
// and, with send-old-values, the same old values (here Change always carries them, so that an
// aggregation downstream can subtract). A change with a null key is dropped and counted
// (dropped_records); table sources drop such rows before they get here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/processor_api_node.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/record.h"
#include "streams/serde.h"

namespace runnel::streams::internal {

// What a KTable-KTable join computes from the left and right rows, either of which may be missing
// (only on an outer side).
template <typename K, typename V1, typename V2, typename VR>
using TableJoiner = std::function<VR(const K&, const std::optional<V1>&, const std::optional<V2>&)>;

// What joiner(a, b), or joiner(key, a, b), returns (as CallJoiner calls it); no type when it
// takes neither, so that an overload whose joiner does not fit drops out.
template <typename F, typename K, typename A, typename B>
using JoinerResult = std::decay_t<
    typename std::conditional_t<std::is_invocable_v<const F&, const A&, const B&>,
                                std::invoke_result<const F&, const A&, const B&>,
                                std::invoke_result<const F&, const K&, const A&, const B&>>::type>;

// Reads a table's current row of `key` (bytes) from its store (values EncodeTimestamped): the
// value and the timestamp of the record that last changed it, or nullopt.
template <typename V>
absl::StatusOr<std::optional<std::pair<V, int64_t>>> GetTableRow(KeyValueStore* store,
                                                                 std::string_view key,
                                                                 const Serde<V>& serde) {
  ASSIGN_OR_RETURN(std::optional<std::string> stored, store->Get(key));
  if (!stored.has_value()) return std::optional<std::pair<V, int64_t>>();
  ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
  ASSIGN_OR_RETURN(V value, serde.deserialize(tv.value));
  return std::optional<std::pair<V, int64_t>>(std::in_place, std::move(value), tv.timestamp);
}

// One side of a KTable-KTable join: kLeft for the left (this) table, else the right (other).
template <typename K, typename V1, typename V2, typename VR, bool kLeft>
class TableTableJoinProcessor
    : public DslProcessor<K, Change<std::conditional_t<kLeft, V1, V2>>, K, Change<VR>> {
 public:
  using VThis = std::conditional_t<kLeft, V1, V2>;
  using VOther = std::conditional_t<kLeft, V2, V1>;
  struct Config {
    std::string other_store;   // the other table's store
    bool this_outer = false;   // this side's rows join without a partner
    bool other_outer = false;  // the other side's rows do
    Serde<K> key_serde;
    Serde<VOther> other_serde;
    TableJoiner<K, V1, V2, VR> joiner;
  };

  TableTableJoinProcessor(Config config) : c_(std::move(config)) {}

  absl::Status Init(ProcessorContext<K, Change<VR>>& context) override {
    RETURN_IF_ERROR(TableTableJoinProcessor::DslProcessor::Init(context));
    other_store_ = this->task().key_value_store(c_.other_store);
    if (other_store_ == nullptr) return absl::InternalError("no key-value store " + c_.other_store);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, Change<VThis>>& record) override {
    if (record.key_null) {
      ++this->task().metrics().dropped_records;
      logging::Get("streams")->debug("{}: table change at {}@{} has a null key; skipped",
                                     this->name(), this->task().topic(), this->task().offset());
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(auto other,
                     GetTableRow(other_store_, c_.key_serde.serialize(record.key), c_.other_serde));
    std::optional<VOther> other_value;
    int64_t timestamp = record.timestamp;
    if (other.has_value()) {
      other_value = std::move(other->first);
      timestamp = std::max(timestamp, other->second);
    }
    Record<K, Change<VR>> out{record.key, {}, timestamp};
    out.value.new_value = Result(record.key, record.value.new_value, other_value);
    out.value.old_value = Result(record.key, record.value.old_value, other_value);
    if (!out.value.new_value.has_value() && !out.value.old_value.has_value()) {
      return absl::OkStatus();
    }
    return this->Forward(out);
  }

 private:
  // The join result of this side's row `mine` with the other side's `theirs` (either may be
  // missing), or nullopt when the pair has none.
  std::optional<VR> Result(const K& key, const std::optional<VThis>& mine,
                           const std::optional<VOther>& theirs) const {
    const bool exists = (mine.has_value() && theirs.has_value()) ||
                        (mine.has_value() && c_.this_outer) ||
                        (theirs.has_value() && c_.other_outer);
    if (!exists) return std::nullopt;
    if constexpr (kLeft) {
      return c_.joiner(key, mine, theirs);
    } else {
      return c_.joiner(key, theirs, mine);
    }
  }

  Config c_;
  KeyValueStore* other_store_ = nullptr;
};

// The output of a KTable-KTable join (Kafka's KTableKTableJoinMerger): with no store, forwards
// both sides' changes as they come; with one, writes each result into it (a missing new value
// deletes the row) and forwards what the store's cache passes on, with the stored previous result
// as the old value.
template <typename K, typename VR>
class TableJoinMergeProcessor : public DslProcessor<K, Change<VR>, K, Change<VR>> {
 public:
  TableJoinMergeProcessor(std::string store, Serde<K> key_serde, Serde<VR> value_serde)
      : store_name_(std::move(store)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status Init(ProcessorContext<K, Change<VR>>& context) override {
    RETURN_IF_ERROR(TableJoinMergeProcessor::DslProcessor::Init(context));
    if (store_name_.empty()) return absl::OkStatus();
    store_ = this->task().key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no key-value store " + store_name_);
    ForwardStoreUpdates<K, VR>([this](const auto& r) { return this->Forward(r); }, &this->task(),
                               store_name_, key_serde_, value_serde_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, Change<VR>>& record) override {
    if (store_ == nullptr) return this->Forward(record);
    const std::string key = key_serde_.serialize(record.key);
    if (record.value.new_value.has_value()) {
      return store_->Put(key, EncodeTimestamped(record.timestamp,
                                                value_serde_.serialize(*record.value.new_value)));
    }
    return store_->Delete(key);
  }

 private:
  std::string store_name_;  // "" when the result is not materialized
  Serde<K> key_serde_;
  Serde<VR> value_serde_;
  KeyValueStore* store_ = nullptr;
};

}  // namespace runnel::streams::internal
