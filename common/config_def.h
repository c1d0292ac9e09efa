// ConfigDef: one table per settings struct (Kafka's ConfigDef, Redpanda's config::property). Each
// key is described once -- its Kafka-style name, type, allowed range or choices and doc string --
// and bound to a field of the struct, whose initialiser is the key's default. From the table come
// the parsing of key=value properties, the range checks of Validate(), the rendering back to
// properties and the markdown table in docs/CONFIG.md.
//
//   const ConfigDef<ProducerOptions>& ProducerConfigDef() {
//     static const auto* def = [] {
//       auto* d = new ConfigDef<ProducerOptions>("unknown producer setting");
//       d->Int("linger.ms", &ProducerOptions::linger_ms, AtLeast(0), Unit::kMs,
//              "How long a batch waits for more records.");
//       return d;
//     }();
//     return *def;
//   }
//
// A field is either plain (`T O::*`) or optional (`std::optional<T> O::*`, a topic override):
// an unset optional is "not given", skipped by Validate and ToProperties. Field types: int32_t,
// int64_t, double, bool, std::string, an enum (Enum), std::map<std::string, std::string> (Prefix).
//
// Errors are InvalidArgument naming key and value (docs/ARCHITECTURE.md section 9):
//   "linger.ms: 'soon' is not an integer"       (Parse: not of the key's type)
//   "linger.ms: -1 must be at least 0"          (Validate, and Parse for the type's own limits)
//   "acks: '2' is not one of 0, 1, all, -1"     (Parse: not a choice)
//   "linger.mss: unknown producer setting"      (Parse: the message given to the constructor)
//
// Building is single-threaded; a built ConfigDef is immutable and its const methods may be called
// from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "common/check.h"

namespace runnel::config {

enum class Type { kInt32, kInt64, kDouble, kBool, kString, kEnum };
// What an integer counts, for the docs: a duration in milliseconds or a size in bytes.
enum class Unit { kNone, kMs, kBytes };

// A key's value, type-erased: integers and enums as int64_t (an enum by its underlying value).
using Value = std::variant<int64_t, double, bool, std::string>;

// A key's allowed values, besides its type's. Written with the helpers below:
// `AtLeast(0)`, `Between(14, kInt32Max)`, `NotEmpty()`, `OneOf({"uniform", "range"})`.
struct IntRange {
  std::optional<int64_t> min;
  std::optional<int64_t> max;
};
struct DoubleRange {
  std::optional<double> min;
  std::optional<double> max;
};
struct StringRule {
  bool required = false;             // the empty string is refused
  std::vector<std::string> choices;  // when not empty: a non-empty value must be one of these
};
inline IntRange AnyInt() { return IntRange{std::nullopt, std::nullopt}; }
inline IntRange AtLeast(int64_t min) { return IntRange{min, std::nullopt}; }
// Integers give an IntRange, floating point a DoubleRange.
template <typename A, typename B>
auto Between(A min, B max) {
  if constexpr (std::is_floating_point_v<A> || std::is_floating_point_v<B>) {
    return DoubleRange{static_cast<double>(min), static_cast<double>(max)};
  } else {
    return IntRange{static_cast<int64_t>(min), static_cast<int64_t>(max)};
  }
}
inline StringRule AnyString() { return StringRule{false, {}}; }
inline StringRule NotEmpty() { return StringRule{true, {}}; }
// One of `choices`; the empty string too unless `required`.
inline StringRule OneOf(std::vector<std::string> choices, bool required = false) {
  return StringRule{required, std::move(choices)};
}

// One key's description; the part of the table that does not depend on the struct.
struct KeySpec {
  std::string name;
  std::vector<std::string> aliases;  // other names Parse accepts for the key
  Type type = Type::kString;
  Unit unit = Unit::kNone;
  std::optional<int64_t> min, max;                       // kInt32, kInt64 (in the type's limits)
  std::optional<double> min_double, max_double;          // kDouble
  StringRule string_rule;                                // kString
  std::vector<std::pair<std::string, int64_t>> choices;  // kEnum: name -> value; a value's
                                                         // first name is the one written back
  std::string doc;
};

// The struct-independent work of a ConfigDef (config_def.cc), on one key.
// `text` as the key's type, within the type's own limits and (kEnum) among its choices.
absl::Status ParseValue(const KeySpec& key, const std::string& text, Value* out);
// The key's range, required and choices rules.
absl::Status CheckValue(const KeySpec& key, const Value& value);
// The property text of a value: ParseValue(FormatValue(v)) == v (doubles: 6 significant digits).
std::string FormatValue(const KeySpec& key, const Value& value);
// "| `name` | type | default | valid values | doc |"; `value` is the default, nullopt for none.
std::string MarkdownRow(const KeySpec& key, const std::optional<Value>& value);
// A row for keys with a prefix passed on to another component.
std::string MarkdownPrefixRow(const std::string& prefix, const std::string& doc);
// The table's header row and separator, ending in a newline.
std::string MarkdownHeader();

// How a key reads and writes its field: get() is nullopt for an unset optional field.
template <typename O>
struct Binding {
  std::function<std::optional<Value>(const O&)> get;
  std::function<void(O*, const Value&)> set;
};

namespace internal {

template <typename T>
struct Unoptional {
  using type = T;
  static constexpr bool kOptional = false;
};
template <typename T>
struct Unoptional<std::optional<T>> {
  using type = T;
  static constexpr bool kOptional = true;
};

template <typename T>
Value ToValue(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return static_cast<int64_t>(v);
  } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
    return static_cast<int64_t>(v);
  } else {
    return Value(v);
  }
}

template <typename T>
T FromValue(const Value& v) {
  if constexpr (std::is_enum_v<T> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
    return static_cast<T>(std::get<int64_t>(v));
  } else {
    return std::get<T>(v);
  }
}

}  // namespace internal

// Binds a plain or optional field of O.
template <typename O, typename F>
Binding<O> Bind(F O::*field) {
  using T = typename internal::Unoptional<F>::type;
  Binding<O> b;
  b.get = [field](const O& o) -> std::optional<Value> {
    if constexpr (internal::Unoptional<F>::kOptional) {
      if (!(o.*field).has_value()) return std::nullopt;
      return internal::ToValue<T>(*(o.*field));
    } else {
      return internal::ToValue<T>(o.*field);
    }
  };
  b.set = [field](O* o, const Value& v) { o->*field = internal::FromValue<T>(v); };
  return b;
}

template <typename O>
class ConfigDef {
 public:
  // `unknown_key` ends the error for a key not in the table: "<key>: <unknown_key>".
  explicit ConfigDef(std::string unknown_key) : unknown_key_(std::move(unknown_key)) {}
  ConfigDef(const ConfigDef&) = delete;
  ConfigDef& operator=(const ConfigDef&) = delete;

  // F: int32_t or int64_t, plain or optional.
  template <typename F>
  ConfigDef& Int(std::string name, F O::*field, IntRange range, Unit unit, std::string doc) {
    using T = typename internal::Unoptional<F>::type;
    static_assert(std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>);
    KeySpec k = Spec(std::move(name), std::is_same_v<T, int32_t> ? Type::kInt32 : Type::kInt64,
                     std::move(doc));
    k.min = range.min, k.max = range.max, k.unit = unit;
    return Add(std::move(k), Bind(field));
  }
  template <typename F>
  ConfigDef& Double(std::string name, F O::*field, DoubleRange range, std::string doc) {
    KeySpec k = Spec(std::move(name), Type::kDouble, std::move(doc));
    k.min_double = range.min, k.max_double = range.max;
    return Add(std::move(k), Bind(field));
  }
  template <typename F>
  ConfigDef& Bool(std::string name, F O::*field, std::string doc) {
    return Add(Spec(std::move(name), Type::kBool, std::move(doc)), Bind(field));
  }
  template <typename F>
  ConfigDef& String(std::string name, F O::*field, StringRule rule, std::string doc) {
    KeySpec k = Spec(std::move(name), Type::kString, std::move(doc));
    k.string_rule = std::move(rule);
    return Add(std::move(k), Bind(field));
  }
  // F: an enum type E, plain or optional; `choices` name its values (several names may share one).
  template <typename F, typename E = typename internal::Unoptional<F>::type>
  ConfigDef& Enum(std::string name, F O::*field, std::vector<std::pair<std::string, E>> choices,
                  std::string doc) {
    KeySpec k = Spec(std::move(name), Type::kEnum, std::move(doc));
    for (auto& [text, value] : choices) k.choices.emplace_back(text, static_cast<int64_t>(value));
    return Add(std::move(k), Bind(field));
  }
  // An enum kept its own way (one setting held in several fields): `binding` reads and writes the
  // value of E as int64_t.
  template <typename E>
  ConfigDef& Enum(std::string name, Binding<O> binding,
                  std::vector<std::pair<std::string, E>> choices, std::string doc) {
    KeySpec k = Spec(std::move(name), Type::kEnum, std::move(doc));
    for (auto& [text, value] : choices) k.choices.emplace_back(text, static_cast<int64_t>(value));
    return Add(std::move(k), std::move(binding));
  }
  // Keys "<prefix><rest>" go to (*field)[rest], checked by whoever reads the map.
  ConfigDef& Prefix(std::string prefix, std::map<std::string, std::string> O::*field,
                    std::string doc) {
    prefixes_.push_back({std::move(prefix), field, std::move(doc)});
    return *this;
  }
  // Another name for the key added last.
  ConfigDef& Alias(std::string alias) {
    keys_.back().spec.aliases.push_back(std::move(alias));
    return *this;
  }
  // Any key with its own binding (a setting stored across several fields).
  ConfigDef& Add(KeySpec spec, Binding<O> binding) {
    keys_.push_back({std::move(spec), std::move(binding)});
    return *this;
  }

  // Sets each key of `properties` (in map order) in *out; stops at the first unknown key or value
  // not of its key's type. Ranges are Validate's.
  absl::Status Parse(const std::map<std::string, std::string>& properties, O* out) const {
    for (const auto& [key, text] : properties) {
      if (absl::Status s = Set(key, text, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status Set(const std::string& key, const std::string& text, O* out) const {
    if (const Key* k = Find(key)) {
      Value v;
      if (absl::Status s = ParseValue(k->spec, text, &v); !s.ok()) return s;
      k->binding.set(out, v);
      return absl::OkStatus();
    }
    for (const PrefixKey& p : prefixes_) {
      if (key.starts_with(p.prefix)) {
        (out->*p.field)[key.substr(p.prefix.size())] = std::string(text);
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError(key + ": " + unknown_key_);
  }
  // Every key's range and rules, in table order; the first failure.
  absl::Status Validate(const O& o) const {
    for (const Key& k : keys_) {
      if (const std::optional<Value> v = k.binding.get(o)) {
        if (absl::Status s = CheckValue(k.spec, *v); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
  // The set keys of `o` as properties (prefixed maps included); Parse reads them back.
  std::map<std::string, std::string> ToProperties(const O& o) const {
    std::map<std::string, std::string> out;
    for (const Key& k : keys_) {
      if (const std::optional<Value> v = k.binding.get(o))
        out[k.spec.name] = FormatValue(k.spec, *v);
    }
    for (const PrefixKey& p : prefixes_) {
      for (const auto& [key, value] : o.*p.field) out[p.prefix + key] = value;
    }
    return out;
  }
  // The markdown table of every key, defaults from O{}.
  std::string Markdown() const {
    const O defaults{};
    std::string out = MarkdownHeader();
    for (const Key& k : keys_) out += MarkdownRow(k.spec, k.binding.get(defaults));
    for (const PrefixKey& p : prefixes_) out += MarkdownPrefixRow(p.prefix, p.doc);
    return out;
  }
  // For each key set in `from`, sets it in `*to`. Both tables must have the same keys in the
  // same order (the same table built for two structs: a config and its overrides).
  template <typename From>
  void CopySetKeys(const ConfigDef<From>& from_def, const From& from, O* to) const;

  const KeySpec* FindSpec(const std::string& key) const {
    const Key* k = Find(key);
    return k == nullptr ? nullptr : &k->spec;
  }
  size_t size() const { return keys_.size(); }
  const KeySpec& spec(size_t i) const { return keys_[i].spec; }
  const Binding<O>& binding(size_t i) const { return keys_[i].binding; }

 private:
  struct Key {
    KeySpec spec;
    Binding<O> binding;
  };
  struct PrefixKey {
    std::string prefix;
    std::map<std::string, std::string> O::*field;
    std::string doc;
  };

  static KeySpec Spec(std::string name, Type type, std::string doc) {
    KeySpec k;
    k.name = std::move(name), k.type = type, k.doc = std::move(doc);
    return k;
  }
  const Key* Find(const std::string& key) const {
    for (const Key& k : keys_) {
      if (k.spec.name == key) return &k;
      for (const std::string& alias : k.spec.aliases) {
        if (alias == key) return &k;
      }
    }
    return nullptr;
  }

  std::string unknown_key_;
  std::vector<Key> keys_;
  std::vector<PrefixKey> prefixes_;
};

template <typename O>
template <typename From>
void ConfigDef<O>::CopySetKeys(const ConfigDef<From>& from_def, const From& from, O* to) const {
  RUNNEL_CHECK(from_def.size() == size(), "CopySetKeys: tables of %d and %d keys", from_def.size(),
               size());
  for (size_t i = 0; i < size(); ++i) {
    RUNNEL_CHECK(from_def.spec(i).name == spec(i).name, "CopySetKeys: key %d is %s and %s", i,
                 from_def.spec(i).name, spec(i).name);
    if (const std::optional<Value> v = from_def.binding(i).get(from)) keys_[i].binding.set(to, *v);
  }
}

}  // namespace runnel::config
