// The processors behind the joins: windowed KStream-KStream joins (Kafka Streams'
// KStreamKStreamJoin with its outer-join store, KIP-633 semantics) and KStream-KTable joins
// (KStreamKTableJoinProcessor).
//
// KStream-KStream. A join is two nodes, one per side, each with its side's window store (keyed
// by (key, record timestamp), the value the list of that key's values at that timestamp:
// JoinValueList) and, for left and outer joins, a shared key-value store of the records still
// waiting for a partner (OuterJoinKey). With `before`, `after` and `grace` from JoinWindows and
// stream time = the largest timestamp either side has seen (the larger of the two window stores'
// stream times), a record at t on the left side (on the right, swap before and after):
//   1. advances stream time, then emits every waiting record whose window has closed (below);
//   2. is dropped and counted (dropped_records) if its value is null, or its key is null and
//      its side is not an outer side; an outer side's record with a null key is emitted at once,
//      unmatched (KIP-962);
//   3. is late if t + after + grace < stream time: dropped and counted (dropped_late_records),
//      and written to the side's late-records topic if StreamJoined names one;
//   4. is added to its window store, and joins each record of the other store with the same key
//      and a timestamp in [t - before, t + after] — when the other side is an outer side, only
//      those whose own window is still open (a right record at t': t' + before + grace >= stream
//      time); each pair is emitted with timestamp max(t, t') and takes the partner out of the
//      waiting store;
//   5. if nothing joined and its side is an outer side, waits in the outer store.
// A waiting left record at t is emitted unmatched, with timestamp t and a null right value, once
// stream time > t + after + grace (a right one once stream time > t' + before + grace), in
// (timestamp, left before right, key) order. Since an outer-side partner whose window has closed
// is skipped in step 4, a record emitted unmatched is never joined later (Kafka Streams 3.x may
// join such a record with an out-of-order partner after it emitted it unmatched; here the partner
// skips it). An inner side's records join as in Kafka Streams. After a restart the stores are
// restored from their changelogs and stream time starts at the latest timestamp in the window
// stores.
//
// KStream-KTable. A stream record looks up the table's current value for its key in the table's
// store; table updates emit nothing. A record with a null value is dropped and counted; one with
// a null key is dropped and counted by an inner join and joined with no table value by a left
// join (KIP-962). The result has the stream record's timestamp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/processor_api_node.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/join_windows.h"
#include "streams/record.h"
#include "streams/serde.h"

namespace runnel::streams::internal {

// Calls a user's joiner as joiner(a, b) or, if it takes the key, joiner(key, a, b)
// (Kafka's ValueJoiner and ValueJoinerWithKey).
template <typename F, typename K, typename A, typename B>
auto CallJoiner(const F& joiner, const K& key, const A& a, const B& b) {
  if constexpr (std::is_invocable_v<const F&, const A&, const B&>) {
    return joiner(a, b);
  } else {
    return joiner(key, a, b);
  }
}

// The values of one key at one timestamp in a join window store (docs/FORMAT.md section 22,
// "Join stores"): each value as a 4-byte big-endian length, then its bytes. Kafka's join stores
// keep duplicates too.
inline void AppendJoinValue(std::string* list, std::string_view value) {
  AppendBigEndian<uint32_t>(list, static_cast<uint32_t>(value.size()));
  list->append(value);
}

inline absl::StatusOr<std::vector<std::string_view>> SplitJoinValues(std::string_view list) {
  std::vector<std::string_view> values;
  while (!list.empty()) {
    if (list.size() < 4) {
      return absl::DataLossError(
          absl::StrCat("join store value list has ", list.size(), " stray bytes at its end"));
    }
    const uint32_t size = LoadBigEndian<uint32_t>(list.data());
    if (list.size() - 4 < size) {
      return absl::DataLossError(absl::StrCat("join store value of ", size,
                                              " bytes overruns its list (", list.size() - 4,
                                              " bytes left)"));
    }
    values.push_back(list.substr(4, size));
    list.remove_prefix(4 + size);
  }
  return values;
}

// The key of a record waiting in an outer-join store (docs/FORMAT.md section 22): its timestamp
// (8 bytes, big-endian, sign bit flipped, as window starts), one byte for its side (0 left,
// 1 right), then its key's bytes; so the store is in (timestamp, side, key) order.
inline std::string OuterJoinTimePrefix(int64_t timestamp) {
  std::string out;
  AppendBigEndian<uint64_t>(&out, static_cast<uint64_t>(timestamp) ^ (1ull << 63));
  return out;
}

inline std::string OuterJoinKey(int64_t timestamp, bool left, std::string_view key) {
  std::string out = OuterJoinTimePrefix(timestamp);
  out.push_back(left ? '\0' : '\1');
  out.append(key);
  return out;
}

struct OuterJoinKeyParts {
  int64_t timestamp = 0;
  bool left = true;
  std::string_view key;
};

inline absl::StatusOr<OuterJoinKeyParts> SplitOuterJoinKey(std::string_view bytes) {
  if (bytes.size() < 9 || (bytes[8] != 0 && bytes[8] != 1)) {
    return absl::DataLossError(absl::StrCat("outer join store key of ", bytes.size(),
                                            " bytes: needs a timestamp and a side byte (0 or 1)"));
  }
  return OuterJoinKeyParts{
      static_cast<int64_t>(LoadBigEndian<uint64_t>(bytes.data()) ^ (1ull << 63)), bytes[8] == 0,
      bytes.substr(9)};
}

// What a KStream-KStream join node computes: the joined value of a left and a right value, either
// of which may be missing (only on an outer side).
template <typename K, typename V1, typename V2, typename VR>
using StreamJoiner =
    std::function<VR(const K&, const std::optional<V1>&, const std::optional<V2>&)>;

// One side of a KStream-KStream join: kLeft for the left (this) stream, else the right (other).
template <typename K, typename V1, typename V2, typename VR, bool kLeft>
class StreamStreamJoinProcessor : public DslProcessor<K, std::conditional_t<kLeft, V1, V2>, K, VR>,
                                  public StreamTimeFollower {
 public:
  using VThis = std::conditional_t<kLeft, V1, V2>;
  using VOther = std::conditional_t<kLeft, V2, V1>;
  struct Config {
    std::string this_store;
    std::string other_store;
    std::string outer_store;  // "" for an inner join
    JoinWindows windows = JoinWindows::OfTimeDifferenceWithNoGrace(0);
    bool outer = false;  // this side's unmatched records are emitted (left side of a left join)
    bool other_outer = false;  // the other side's are
    Serde<K> key_serde;
    Serde<V1> left_serde;
    Serde<V2> right_serde;
    StreamJoiner<K, V1, V2, VR> joiner;
    // Beyond Kafka Streams: this side's late records are also written here ("": nowhere).
    std::string late_topic;
  };

  StreamStreamJoinProcessor(Config config) : c_(std::move(config)) {}

  absl::Status Init(ProcessorContext<K, VR>& context) override {
    RETURN_IF_ERROR(StreamStreamJoinProcessor::DslProcessor::Init(context));
    this_store_ = this->task().window_store(c_.this_store);
    other_store_ = this->task().window_store(c_.other_store);
    if (this_store_ == nullptr) return absl::InternalError("no window store " + c_.this_store);
    if (other_store_ == nullptr) return absl::InternalError("no window store " + c_.other_store);
    if (!c_.outer_store.empty()) {
      outer_store_ = this->task().key_value_store(c_.outer_store);
      if (outer_store_ == nullptr) return absl::InternalError("no store " + c_.outer_store);
    }
    // A restored store has no stream time: take the latest timestamp it holds.
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> all, this_store_->All());
    if (!all.empty()) this_store_->ObserveStreamTime(all.back().window_start);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, VThis>& record) override {
    const int64_t t = record.timestamp;
    this_store_->ObserveStreamTime(t);
    const int64_t now = std::max(this_store_->stream_time(), other_store_->stream_time());
    RETURN_IF_ERROR(EmitClosed(now));
    if (record.value_null || (record.key_null && !c_.outer)) {
      ++this->task().metrics().dropped_records;
      logging::Get("streams")->debug("{}: record at {}@{} has a null {}; skipped", this->name(),
                                     this->task().topic(), this->task().offset(),
                                     record.value_null ? "value" : "key");
      return absl::OkStatus();
    }
    if (record.key_null) {
      return this->Forward(Record<K, VR>{K{}, Join(K{}, record.value, std::nullopt), t, true});
    }
    if (t + ThisLookahead() + c_.windows.grace_ms() < now) {
      ++this->task().metrics().dropped_late_records;
      logging::Get("streams")->debug(
          "{}: record at {}@{} (timestamp {}) is late: its join window closed at {} (stream time "
          "{}); dropped",
          this->name(), this->task().topic(), this->task().offset(), t,
          t + ThisLookahead() + c_.windows.grace_ms(), now);
      if (c_.late_topic.empty()) return absl::OkStatus();
      return this->task().collector().Send(
          c_.late_topic, std::nullopt,
          RawRecord{c_.key_serde.serialize(record.key), ThisSerde().serialize(record.value), t});
    }
    const std::string key = c_.key_serde.serialize(record.key);
    const std::string value = ThisSerde().serialize(record.value);
    RETURN_IF_ERROR(Append(this_store_, key, t, value));

    // The other side's records in this record's window: [t - before, t + after] seen from the
    // left, [t - after, t + before] from the right.
    const int64_t from = std::max<int64_t>(0, t - ThisLookbehind());
    const int64_t to = std::max<int64_t>(0, t + ThisLookahead());
    ASSIGN_OR_RETURN(std::vector<WindowStore::Entry> others, other_store_->Fetch(key, from, to));
    bool joined = false;
    for (const WindowStore::Entry& other : others) {
      const int64_t other_t = other.window_start;
      // A partner on an outer side whose window has closed was emitted unmatched (or is about to
      // be, by EmitClosed above): it joins nothing more. On an inner side it still joins, as in
      // Kafka Streams.
      if (c_.other_outer && other_t + ThisLookbehind() + c_.windows.grace_ms() < now) continue;
      ASSIGN_OR_RETURN(std::vector<std::string_view> values, SplitJoinValues(other.value));
      if (outer_store_ != nullptr) {
        // The partner no longer waits (if it did: a delete is a changelog record).
        const std::string waiting_key = OuterJoinKey(other_t, !kLeft, key);
        ASSIGN_OR_RETURN(std::optional<std::string> waiting, outer_store_->Get(waiting_key));
        if (waiting.has_value()) RETURN_IF_ERROR(outer_store_->Delete(waiting_key));
      }
      for (std::string_view bytes : values) {
        ASSIGN_OR_RETURN(VOther other_value, OtherSerde().deserialize(bytes));
        joined = true;
        RETURN_IF_ERROR(this->Forward(
            Record<K, VR>{record.key, Join(record.key, record.value, std::move(other_value)),
                          std::max(t, other_t)}));
      }
    }
    if (!joined && c_.outer) {
      const std::string outer_key = OuterJoinKey(t, kLeft, key);
      ASSIGN_OR_RETURN(std::optional<std::string> waiting, outer_store_->Get(outer_key));
      std::string list = waiting.value_or("");
      AppendJoinValue(&list, value);
      RETURN_IF_ERROR(outer_store_->Put(outer_key, list));
    }
    return absl::OkStatus();
  }

  // Both sides are told; the first emits what closed, the second finds nothing left.
  absl::Status AdvanceStreamTime(int64_t stream_time) override {
    this_store_->ObserveStreamTime(stream_time);
    return EmitClosed(std::max(this_store_->stream_time(), other_store_->stream_time()));
  }

 private:
  // How far this side's record looks back and ahead into the other side.
  int64_t ThisLookbehind() const { return kLeft ? c_.windows.before_ms() : c_.windows.after_ms(); }
  int64_t ThisLookahead() const { return kLeft ? c_.windows.after_ms() : c_.windows.before_ms(); }
  const auto& ThisSerde() const {
    if constexpr (kLeft) {
      return c_.left_serde;
    } else {
      return c_.right_serde;
    }
  }
  const auto& OtherSerde() const {
    if constexpr (kLeft) {
      return c_.right_serde;
    } else {
      return c_.left_serde;
    }
  }

  // The joined value of this side's `mine` and the other side's `theirs` (nullopt: unmatched).
  VR Join(const K& key, std::optional<VThis> mine, std::optional<VOther> theirs) const {
    if constexpr (kLeft) {
      return c_.joiner(key, mine, theirs);
    } else {
      return c_.joiner(key, theirs, mine);
    }
  }

  static absl::Status Append(WindowStore* store, const std::string& key, int64_t t,
                             std::string_view value) {
    ASSIGN_OR_RETURN(std::optional<std::string> list, store->Fetch(key, t));
    std::string updated = list.value_or("");
    AppendJoinValue(&updated, value);
    return store->Put(key, t, updated);
  }

  // Emits the waiting records whose window closed by stream time `now`: a left one at t once
  // now > t + after + grace, a right one once now > t + before + grace.
  absl::Status EmitClosed(int64_t now) {
    if (outer_store_ == nullptr) return absl::OkStatus();
    const JoinWindows& w = c_.windows;
    const int64_t lookahead = std::min(w.before_ms(), w.after_ms());
    const int64_t latest = now - w.grace_ms() - lookahead - 1;  // no waiting record after it closed
    if (latest < 0) return absl::OkStatus();
    // Every key with a timestamp <= latest sorts below the 8 bytes of latest + 1.
    ASSIGN_OR_RETURN(std::vector<KeyValue> waiting,
                     outer_store_->Range("", OuterJoinTimePrefix(latest + 1)));
    for (const KeyValue& kv : waiting) {
      ASSIGN_OR_RETURN(OuterJoinKeyParts parts, SplitOuterJoinKey(kv.key));
      const int64_t close = parts.timestamp + (parts.left ? w.after_ms() : w.before_ms());
      if (close + w.grace_ms() >= now) continue;
      ASSIGN_OR_RETURN(K key, c_.key_serde.deserialize(parts.key));
      ASSIGN_OR_RETURN(std::vector<std::string_view> values, SplitJoinValues(kv.value));
      for (std::string_view bytes : values) {
        Record<K, VR> out{key, VR{}, parts.timestamp};
        if (parts.left) {
          ASSIGN_OR_RETURN(V1 v, c_.left_serde.deserialize(bytes));
          out.value = c_.joiner(key, v, std::nullopt);
        } else {
          ASSIGN_OR_RETURN(V2 v, c_.right_serde.deserialize(bytes));
          out.value = c_.joiner(key, std::nullopt, v);
        }
        RETURN_IF_ERROR(this->Forward(out));
      }
      RETURN_IF_ERROR(this->task().RemoveEmitted(c_.outer_store, kv.key));
    }
    return absl::OkStatus();
  }

  Config c_;
  WindowStore* this_store_ = nullptr;
  WindowStore* other_store_ = nullptr;
  KeyValueStore* outer_store_ = nullptr;  // null for an inner join
};

// A KStream-KTable join (inner, or left with `left`): looks each stream record's key up in the
// table's store (values EncodeTimestamped, as tables store them).
template <typename K, typename V, typename VT, typename VR>
class StreamTableJoinProcessor : public DslProcessor<K, V, K, VR> {
 public:
  using Joiner = std::function<VR(const K&, const V&, const std::optional<VT>&)>;
  StreamTableJoinProcessor(std::string table_store, bool left, Serde<K> key_serde,
                           Serde<VT> table_serde, Joiner joiner)
      : store_name_(std::move(table_store)),
        left_(left),
        key_serde_(std::move(key_serde)),
        table_serde_(std::move(table_serde)),
        joiner_(std::move(joiner)) {}

  absl::Status Init(ProcessorContext<K, VR>& context) override {
    RETURN_IF_ERROR(StreamTableJoinProcessor::DslProcessor::Init(context));
    store_ = this->task().key_value_store(store_name_);
    if (store_ == nullptr) return absl::InternalError("no key-value store " + store_name_);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<K, V>& record) override {
    if (record.value_null || (record.key_null && !left_)) {
      ++this->task().metrics().dropped_records;
      logging::Get("streams")->debug("{}: record at {}@{} has a null {}; skipped", this->name(),
                                     this->task().topic(), this->task().offset(),
                                     record.value_null ? "value" : "key");
      return absl::OkStatus();
    }
    std::optional<VT> row;
    if (!record.key_null) {
      ASSIGN_OR_RETURN(std::optional<std::string> stored,
                       store_->Get(key_serde_.serialize(record.key)));
      if (stored.has_value()) {
        ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
        ASSIGN_OR_RETURN(row, table_serde_.deserialize(tv.value));
      }
    }
    if (!row.has_value() && !left_) return absl::OkStatus();
    return this->Forward(Record<K, VR>{record.key, joiner_(record.key, record.value, row),
                                       record.timestamp, record.key_null});
  }

 private:
  std::string store_name_;
  bool left_;
  Serde<K> key_serde_;
  Serde<VT> table_serde_;
  Joiner joiner_;
  KeyValueStore* store_ = nullptr;
};

}  // namespace runnel::streams::internal
