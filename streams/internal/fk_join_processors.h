// The processors behind the foreign-key KTable-KTable join (Kafka Streams' foreignkeyjoin
// package: SubscriptionSendProcessorSupplier, SubscriptionReceiveProcessorSupplier with
// SubscriptionJoinProcessorSupplier, ForeignTableJoinProcessorSupplier, ResponseJoinProcessor-
// Supplier). The right table need not be co-partitioned with the left: the left side subscribes
// to foreign keys through the subscription-registration topic (keyed by foreign key, so it lands
// with the right table's row), and the right side answers through the subscription-response topic
// (keyed by primary key, so it lands with the left row). Byte layouts: docs/FORMAT.md section 22.
//
//   left change (pk: old -> new)      SubscriptionSendProcessor: new fk = extractor(new);
//     when the old row had another fk (or the row went): to the old fk, "delete" (inner joins,
//     and any join whose row went: DELETE_KEY_AND_PROPAGATE, which answers with a null; a left
//     join whose row moved: DELETE_KEY_NO_PROPAGATE); when the row exists: to the new fk,
//     PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE (left) or PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE
//     (inner). Each carries the pk and the 128-bit murmur3 hash of the new value's bytes (none
//     when the row went).
//   subscription (fk, pk)             SubscriptionReceiveProcessor: kept in the subscription
//     store under (fk, pk), or deleted; then answers pk with the right row of fk as the
//     instruction says.
//   right change (fk: old -> new)     ForeignTableChangeProcessor: answers every pk subscribed to
//     fk with the new right value (or null when the row went).
//   response (pk, hash, right value)  ResponseJoinProcessor: drops it if the hash is not that of
//     the left row's current value (a stale answer to an older subscription); else emits
//     joiner(left, right), or a tombstone when there is no right value (inner) or no left row.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/big_endian.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "streams/internal/default_serde.h"
#include "streams/internal/murmur3.h"
#include "streams/internal/processor_api_node.h"
#include "streams/internal/processor_node.h"
#include "streams/internal/stream_task.h"
#include "streams/record.h"
#include "streams/serde.h"

namespace runnel::streams::internal {

enum class SubscriptionInstruction : uint8_t {
  kDeleteKeyAndPropagate = 0,
  kDeleteKeyNoPropagate = 1,
  kPropagateNullIfNoForeignValue = 2,
  kPropagateOnlyIfForeignValue = 3,
};

using ValueHash = std::optional<std::array<uint64_t, 2>>;

inline ValueHash HashValue(std::string_view bytes) { return Murmur3Hash128(bytes); }

inline void AppendHash(std::string* out, const ValueHash& hash) {
  out->push_back(hash.has_value() ? '\1' : '\0');
  if (hash.has_value()) {
    AppendBigEndian<uint64_t>(out, (*hash)[0]);
    AppendBigEndian<uint64_t>(out, (*hash)[1]);
  }
}

// Reads a hash from the front of `bytes` and removes it.
inline absl::StatusOr<ValueHash> TakeHash(std::string_view* bytes, const char* what) {
  if (bytes->empty() || static_cast<uint8_t>((*bytes)[0]) > 1 ||
      ((*bytes)[0] == 1 && bytes->size() < 17)) {
    return absl::DataLossError(absl::StrCat(what, " of ", bytes->size(),
                                            " bytes: needs a hash flag (0 or 1) and its hash"));
  }
  ValueHash hash;
  if ((*bytes)[0] == 1) {
    hash = std::array<uint64_t, 2>{LoadBigEndian<uint64_t>(bytes->data() + 1),
                                   LoadBigEndian<uint64_t>(bytes->data() + 9)};
    bytes->remove_prefix(17);
  } else {
    bytes->remove_prefix(1);
  }
  return hash;
}

// A subscription (the registration topic's value, and the subscription store's):
// instruction (1) | hash flag (1) [| hash (16)] | primary key bytes.
struct Subscription {
  SubscriptionInstruction instruction = SubscriptionInstruction::kPropagateOnlyIfForeignValue;
  ValueHash hash;
  std::string primary_key;
};

inline std::string EncodeSubscription(const Subscription& s) {
  std::string out(1, static_cast<char>(s.instruction));
  AppendHash(&out, s.hash);
  out += s.primary_key;
  return out;
}

inline absl::StatusOr<Subscription> DecodeSubscription(std::string_view bytes) {
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) > 3) {
    return absl::DataLossError("subscription without a valid instruction byte (0..3)");
  }
  Subscription s;
  s.instruction = static_cast<SubscriptionInstruction>(bytes[0]);
  bytes.remove_prefix(1);
  ASSIGN_OR_RETURN(s.hash, TakeHash(&bytes, "subscription"));
  s.primary_key = std::string(bytes);
  return s;
}

// A response (the response topic's value): hash flag (1) [| hash (16)] | value flag (1) [| the
// right value's bytes].
inline std::string EncodeResponse(const ValueHash& hash,
                                  const std::optional<std::string_view>& value) {
  std::string out;
  AppendHash(&out, hash);
  out.push_back(value.has_value() ? '\1' : '\0');
  if (value.has_value()) out.append(*value);
  return out;
}

struct Response {
  ValueHash hash;
  std::optional<std::string> value;
};

inline absl::StatusOr<Response> DecodeResponse(std::string_view bytes) {
  Response r;
  ASSIGN_OR_RETURN(r.hash, TakeHash(&bytes, "subscription response"));
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) > 1) {
    return absl::DataLossError("subscription response without a valid value flag (0 or 1)");
  }
  if (bytes[0] == 1) r.value = std::string(bytes.substr(1));
  return r;
}

// The subscription store's key (Kafka's CombinedKey): fk length (4, big-endian) | fk | pk, so
// that one foreign key's subscriptions are a key range.
inline std::string SubscriptionPrefix(std::string_view fk) {
  std::string out;
  AppendBigEndian<uint32_t>(&out, static_cast<uint32_t>(fk.size()));
  out.append(fk);
  return out;
}

// Left table changes -> subscriptions, forwarded as bytes (fk, subscription) to the
// registration topic's sink.
template <typename K, typename V, typename KO>
class SubscriptionSendProcessor : public DslProcessor<K, Change<V>, std::string, std::string> {
 public:
  struct Config {
    std::function<KO(const V&)> extractor;
    bool left = false;
    Serde<K> key_serde;
    Serde<V> value_serde;
    Serde<KO> foreign_key_serde;
  };
  SubscriptionSendProcessor(Config config) : c_(std::move(config)) {}

  absl::Status Process(const Record<K, Change<V>>& record) override {
    if (record.key_null) {
      ++this->task().metrics().dropped_records;
      return absl::OkStatus();
    }
    const std::string pk = c_.key_serde.serialize(record.key);
    const std::optional<V>& now = record.value.new_value;
    const std::optional<V>& before = record.value.old_value;
    ValueHash hash;
    std::optional<std::string> new_fk;
    if (now.has_value()) {
      hash = HashValue(c_.value_serde.serialize(*now));
      new_fk = c_.foreign_key_serde.serialize(c_.extractor(*now));
    }
    if (before.has_value()) {
      const std::string old_fk = c_.foreign_key_serde.serialize(c_.extractor(*before));
      if (old_fk != new_fk) {
        const auto instruction = c_.left && now.has_value()
                                     ? SubscriptionInstruction::kDeleteKeyNoPropagate
                                     : SubscriptionInstruction::kDeleteKeyAndPropagate;
        RETURN_IF_ERROR(Send(old_fk, {instruction, hash, pk}, record.timestamp));
      }
    }
    if (!new_fk.has_value()) return absl::OkStatus();
    return Send(*new_fk,
                {c_.left ? SubscriptionInstruction::kPropagateNullIfNoForeignValue
                         : SubscriptionInstruction::kPropagateOnlyIfForeignValue,
                 hash, pk},
                record.timestamp);
  }

 private:
  absl::Status Send(const std::string& fk, const Subscription& s, int64_t timestamp) {
    return this->Forward(Record<std::string, std::string>{fk, EncodeSubscription(s), timestamp});
  }
  Config c_;
};

// Reads a table row's bytes and timestamp from its store.
inline absl::StatusOr<std::optional<std::pair<std::string, int64_t>>> GetRowBytes(
    KeyValueStore* store, std::string_view key) {
  ASSIGN_OR_RETURN(std::optional<std::string> stored, store->Get(key));
  if (!stored.has_value()) return std::optional<std::pair<std::string, int64_t>>();
  ASSIGN_OR_RETURN(TimestampedBytes tv, DecodeTimestamped(*stored));
  return std::optional<std::pair<std::string, int64_t>>(std::in_place, std::string(tv.value),
                                                        tv.timestamp);
}

// Subscriptions (bytes fk -> subscription) -> the subscription store, and responses (bytes pk ->
// response) to the response topic's sink.
class SubscriptionReceiveProcessor
    : public DslProcessor<std::string, std::string, std::string, std::string> {
 public:
  SubscriptionReceiveProcessor(std::string subscription_store, std::string right_store)
      : subscription_store_name_(std::move(subscription_store)),
        right_store_name_(std::move(right_store)) {}

  absl::Status Init(ProcessorContext<std::string, std::string>& context) override {
    RETURN_IF_ERROR(SubscriptionReceiveProcessor::DslProcessor::Init(context));
    subscriptions_ = this->task().key_value_store(subscription_store_name_);
    right_ = this->task().key_value_store(right_store_name_);
    if (subscriptions_ == nullptr || right_ == nullptr) {
      return absl::InternalError(
          absl::StrCat("no store ", subscription_store_name_, " or ", right_store_name_));
    }
    return absl::OkStatus();
  }

  absl::Status Process(const Record<std::string, std::string>& record) override {
    if (record.key_null || record.value_null) {
      return absl::DataLossError(absl::StrCat("subscription at ", this->task().topic(), "@",
                                              this->task().offset(), " has no key or value"));
    }
    ASSIGN_OR_RETURN(Subscription s, DecodeSubscription(record.value));
    const std::string key = SubscriptionPrefix(record.key) + s.primary_key;
    using I = SubscriptionInstruction;
    if (s.instruction == I::kDeleteKeyAndPropagate || s.instruction == I::kDeleteKeyNoPropagate) {
      RETURN_IF_ERROR(subscriptions_->Delete(key));
    } else {
      RETURN_IF_ERROR(subscriptions_->Put(key, record.value));
    }
    if (s.instruction == I::kDeleteKeyNoPropagate) return absl::OkStatus();
    std::optional<std::pair<std::string, int64_t>> row;
    if (s.instruction != I::kDeleteKeyAndPropagate) {
      ASSIGN_OR_RETURN(row, GetRowBytes(right_, record.key));
    }
    if (!row.has_value() && s.instruction == I::kPropagateOnlyIfForeignValue) {
      return absl::OkStatus();
    }
    std::optional<std::string_view> value;
    int64_t timestamp = record.timestamp;
    if (row.has_value()) {
      value = row->first;
      timestamp = std::max(timestamp, row->second);
    }
    return this->Forward(
        Record<std::string, std::string>{s.primary_key, EncodeResponse(s.hash, value), timestamp});
  }

 private:
  std::string subscription_store_name_;
  std::string right_store_name_;
  KeyValueStore* subscriptions_ = nullptr;
  KeyValueStore* right_ = nullptr;
};

// Right table changes -> a response to every primary key subscribed to the changed foreign key.
template <typename KO, typename VO>
class ForeignTableChangeProcessor : public DslProcessor<KO, Change<VO>, std::string, std::string> {
 public:
  ForeignTableChangeProcessor(std::string subscription_store, Serde<KO> key_serde,
                              Serde<VO> value_serde)
      : subscription_store_name_(std::move(subscription_store)),
        key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  absl::Status Init(ProcessorContext<std::string, std::string>& context) override {
    RETURN_IF_ERROR(ForeignTableChangeProcessor::DslProcessor::Init(context));
    subscriptions_ = this->task().key_value_store(subscription_store_name_);
    if (subscriptions_ == nullptr) {
      return absl::InternalError("no store " + subscription_store_name_);
    }
    return absl::OkStatus();
  }

  absl::Status Process(const Record<KO, Change<VO>>& record) override {
    if (record.key_null) return absl::OkStatus();
    if (!record.value.new_value.has_value() && !record.value.old_value.has_value()) {
      return absl::OkStatus();
    }
    const std::string prefix = SubscriptionPrefix(key_serde_.serialize(record.key));
    // Every key starting with `prefix` sorts in [prefix, PrefixEnd(prefix)].
    ASSIGN_OR_RETURN(std::vector<KeyValue> subscribed,
                     subscriptions_->Range(prefix, PrefixEnd(prefix)));
    std::optional<std::string> value;
    if (record.value.new_value.has_value()) {
      value = value_serde_.serialize(*record.value.new_value);
    }
    for (const KeyValue& kv : subscribed) {
      if (kv.key.compare(0, prefix.size(), prefix) != 0) continue;
      ASSIGN_OR_RETURN(Subscription s, DecodeSubscription(kv.value));
      std::optional<std::string_view> view;
      if (value.has_value()) view = *value;
      RETURN_IF_ERROR(this->Forward(Record<std::string, std::string>{
          s.primary_key, EncodeResponse(s.hash, view), record.timestamp}));
    }
    return absl::OkStatus();
  }

 private:
  // The smallest string above every string that starts with `prefix`, less one: `prefix` with its
  // last byte below 0xff incremented and the rest cut (all-0xff prefixes: no bound but the max).
  static std::string PrefixEnd(std::string prefix) {
    while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
    if (prefix.empty()) return std::string(1024, '\xff');
    prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
    return prefix;  // itself a key of another foreign key at most: filtered by the caller
  }

  std::string subscription_store_name_;
  Serde<KO> key_serde_;
  Serde<VO> value_serde_;
  KeyValueStore* subscriptions_ = nullptr;
};

// Responses (bytes pk -> response) -> join results, against the left row's current value.
template <typename K, typename V, typename VO, typename VR>
class ResponseJoinProcessor : public DslProcessor<std::string, std::string, K, Change<VR>> {
 public:
  struct Config {
    std::string left_store;
    bool left = false;
    Serde<K> key_serde;
    Serde<V> value_serde;
    Serde<VO> foreign_value_serde;
    std::function<VR(const K&, const V&, const std::optional<VO>&)> joiner;
  };
  ResponseJoinProcessor(Config config) : c_(std::move(config)) {}

  absl::Status Init(ProcessorContext<K, Change<VR>>& context) override {
    RETURN_IF_ERROR(ResponseJoinProcessor::DslProcessor::Init(context));
    left_ = this->task().key_value_store(c_.left_store);
    if (left_ == nullptr) return absl::InternalError("no store " + c_.left_store);
    return absl::OkStatus();
  }

  absl::Status Process(const Record<std::string, std::string>& record) override {
    if (record.key_null || record.value_null) {
      return absl::DataLossError(absl::StrCat("subscription response at ", this->task().topic(),
                                              "@", this->task().offset(), " has no key or value"));
    }
    ASSIGN_OR_RETURN(Response response, DecodeResponse(record.value));
    ASSIGN_OR_RETURN(auto row, GetRowBytes(left_, record.key));
    const ValueHash current = row.has_value() ? HashValue(row->first) : ValueHash();
    if (current != response.hash) {
      logging::Get("streams")->debug("{}: stale subscription response at {}@{}; dropped",
                                     this->name(), this->task().topic(), this->task().offset());
      return absl::OkStatus();
    }
    Record<K, Change<VR>> out{K{}, {}, record.timestamp};
    ASSIGN_OR_RETURN(out.key, c_.key_serde.deserialize(record.key));
    if (row.has_value() && (response.value.has_value() || c_.left)) {
      ASSIGN_OR_RETURN(V left_value, c_.value_serde.deserialize(row->first));
      std::optional<VO> right_value;
      if (response.value.has_value()) {
        ASSIGN_OR_RETURN(right_value, c_.foreign_value_serde.deserialize(*response.value));
      }
      out.value.new_value = c_.joiner(out.key, left_value, right_value);
    }
    return this->Forward(out);
  }

 private:
  Config c_;
  KeyValueStore* left_ = nullptr;
};

}  // namespace runnel::streams::internal
