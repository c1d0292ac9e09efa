#include "common/config_def.h"

#include <algorithm>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace runnel::config {
namespace {

absl::Status Bad(const KeySpec& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key.name, ": ", why));
}

// The names of an enum's choices, or a string's, "a, b, c".
std::string ChoiceList(const KeySpec& key) {
  if (key.type == Type::kEnum) {
    return absl::StrJoin(key.choices, ", ",
                         [](std::string* out, const auto& choice) { out->append(choice.first); });
  }
  return absl::StrJoin(key.string_rule.choices, ", ");
}

// A bound within the type's own limits, so an int32 key without a minimum reports the type's.
int64_t MinOf(const KeySpec& key) {
  if (key.min) return *key.min;
  return key.type == Type::kInt32 ? std::numeric_limits<int32_t>::min()
                                  : std::numeric_limits<int64_t>::min();
}
int64_t MaxOf(const KeySpec& key) {
  if (key.max) return *key.max;
  return key.type == Type::kInt32 ? std::numeric_limits<int32_t>::max()
                                  : std::numeric_limits<int64_t>::max();
}

absl::Status CheckInt(const KeySpec& key, int64_t v) {
  if (v < MinOf(key)) return Bad(key, absl::StrCat(v, " must be at least ", MinOf(key)));
  if (v > MaxOf(key)) return Bad(key, absl::StrCat(v, " must be at most ", MaxOf(key)));
  return absl::OkStatus();
}

std::string TypeName(const KeySpec& key) {
  std::string type;
  switch (key.type) {
    case Type::kInt32:
      type = "int32";
      break;
    case Type::kInt64:
      type = "int64";
      break;
    case Type::kDouble:
      type = "double";
      break;
    case Type::kBool:
      type = "bool";
      break;
    case Type::kString:
      type = "string";
      break;
    case Type::kEnum:
      type = "enum";
      break;
  }
  if (key.unit == Unit::kMs) absl::StrAppend(&type, " (ms)");
  if (key.unit == Unit::kBytes) absl::StrAppend(&type, " (bytes)");
  return type;
}

std::string Code(const std::string& text) { return absl::StrCat("`", text, "`"); }

std::string Range(std::optional<std::string> min, std::optional<std::string> max) {
  if (min && max) return absl::StrCat(Code(*min), " to ", Code(*max));
  if (min) return absl::StrCat("at least ", Code(*min));
  if (max) return absl::StrCat("at most ", Code(*max));
  return "any";
}

std::string ValidValues(const KeySpec& key) {
  auto text = [](const auto& v) -> std::optional<std::string> {
    if (!v) return std::nullopt;
    return absl::StrCat(*v);
  };
  auto codes = [](const auto& names) {
    return absl::StrJoin(
        names, ", ", [](std::string* out, const std::string& name) { out->append(Code(name)); });
  };
  switch (key.type) {
    case Type::kInt32:
    case Type::kInt64:
      return Range(text(key.min), text(key.max));
    case Type::kDouble:
      return Range(text(key.min_double), text(key.max_double));
    case Type::kBool:
      return "`true`, `false`";
    case Type::kString:
      if (!key.string_rule.choices.empty()) {
        return absl::StrCat(codes(key.string_rule.choices),
                            key.string_rule.required ? "" : ", or empty");
      }
      return key.string_rule.required ? "not empty" : "any";
    case Type::kEnum: {
      std::vector<std::string> names;
      for (const auto& [name, value] : key.choices) names.push_back(name);
      return codes(names);
    }
  }
  return "any";
}

// A table cell: no '|' and no line break may end it early.
std::string Cell(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}});
}

}  // namespace

absl::Status ParseValue(const KeySpec& key, const std::string& text, Value* out) {
  switch (key.type) {
    case Type::kInt32:
    case Type::kInt64: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(text, &v))
        return Bad(key, absl::StrCat("'", text, "' is not an integer"));
      // Past the field's type it cannot even be stored; past the key's range Validate says so.
      if (key.type == Type::kInt32 &&
          (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
        // The key's range names the bound; a range wider than the field still must not store it.
        if (absl::Status range = CheckInt(key, v); !range.ok()) return range;
        return Bad(key, absl::StrCat(v, " does not fit a 32-bit integer"));
      }
      *out = v;
      return absl::OkStatus();
    }
    case Type::kDouble: {
      double v = 0;
      if (!absl::SimpleAtod(text, &v))
        return Bad(key, absl::StrCat("'", text, "' is not a number"));
      *out = v;
      return absl::OkStatus();
    }
    case Type::kBool:
      // "true" or "false" only, as Kafka.
      if (text == "true" || text == "false") {
        *out = text == "true";
        return absl::OkStatus();
      }
      return Bad(key, absl::StrCat("'", text, "' is not true or false"));
    case Type::kString:
      *out = std::string(text);
      return absl::OkStatus();
    case Type::kEnum:
      for (const auto& [name, value] : key.choices) {
        if (name == text) {
          *out = value;
          return absl::OkStatus();
        }
      }
      return Bad(key, absl::StrCat("'", text, "' is not one of ", ChoiceList(key)));
  }
  return Bad(key, "unknown type");
}

absl::Status CheckValue(const KeySpec& key, const Value& value) {
  switch (key.type) {
    case Type::kInt32:
    case Type::kInt64:
      return CheckInt(key, std::get<int64_t>(value));
    case Type::kDouble: {
      // Written so that NaN fails both.
      const double v = std::get<double>(value);
      if (key.min_double && !(v >= *key.min_double)) {
        return Bad(key, absl::StrCat(v, " must be at least ", *key.min_double));
      }
      if (key.max_double && !(v <= *key.max_double)) {
        return Bad(key, absl::StrCat(v, " must be at most ", *key.max_double));
      }
      return absl::OkStatus();
    }
    case Type::kBool:
      return absl::OkStatus();
    case Type::kString: {
      const std::string& v = std::get<std::string>(value);
      if (v.empty())
        return key.string_rule.required ? Bad(key, "must not be empty") : absl::OkStatus();
      const auto& choices = key.string_rule.choices;
      if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
        return Bad(key, absl::StrCat("'", v, "' is not one of ", ChoiceList(key)));
      }
      return absl::OkStatus();
    }
    case Type::kEnum:
      for (const auto& [name, v] : key.choices) {
        if (v == std::get<int64_t>(value)) return absl::OkStatus();
      }
      return Bad(key, absl::StrCat("value ", std::get<int64_t>(value), " is not one of ",
                                   ChoiceList(key)));
  }
  return absl::OkStatus();
}

std::string FormatValue(const KeySpec& key, const Value& value) {
  if (key.type == Type::kEnum) {
    for (const auto& [name, v] : key.choices) {
      if (v == std::get<int64_t>(value)) return name;
    }
  }
  return std::visit(
      [](const auto& v) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) {
          return v ? "true" : "false";
        } else {
          return absl::StrCat(v);
        }
      },
      value);
}

std::string MarkdownHeader() {
  return "| Key | Type | Default | Valid values | Description |\n|---|---|---|---|---|\n";
}

std::string MarkdownRow(const KeySpec& key, const std::optional<Value>& value) {
  std::string default_text = "(unset)";
  if (value) {
    const std::string text = FormatValue(key, *value);
    default_text = text.empty() ? "(empty)" : Code(text);
  }
  std::string doc = key.doc;
  if (!key.aliases.empty()) {
    absl::StrAppend(
        &doc, " Also accepted as ",
        absl::StrJoin(key.aliases, ", ",
                      [](std::string* out, const std::string& alias) { out->append(Code(alias)); }),
        ".");
  }
  return absl::StrCat("| ", Code(key.name), " | ", TypeName(key), " | ", Cell(default_text), " | ",
                      Cell(ValidValues(key)), " | ", Cell(doc), " |\n");
}

std::string MarkdownPrefixRow(const std::string& prefix, const std::string& doc) {
  return absl::StrCat("| ", Code(absl::StrCat(prefix, "*")), " | string | | any | ", Cell(doc),
                      " |\n");
}

}  // namespace runnel::config
