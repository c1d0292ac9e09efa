#include "common/config_def.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <optional>
#include <string>

namespace runnel::config {
namespace {

enum class Color { kRed, kGreen };

struct Options {
  int32_t batch_size = 16;
  int64_t retention_ms = 1000;
  double ratio = 0.5;
  bool check = true;
  std::string name;
  std::string assignor;
  Color color = Color::kRed;
  std::map<std::string, std::string> extra;
};

// The same keys with every field optional, as a topic's overrides of a config.
struct Overrides {
  std::optional<int32_t> batch_size;
  std::optional<int64_t> retention_ms;
  std::optional<double> ratio;
  std::optional<bool> check;
  std::optional<std::string> name;
  std::optional<std::string> assignor;
  std::optional<Color> color;
  std::map<std::string, std::string> extra;
};

template <typename O>
const ConfigDef<O>& Def() {
  static const auto* def = [] {
    auto* d = new ConfigDef<O>("unknown test setting");
    d->Int("batch.size", &O::batch_size, AtLeast(0), Unit::kBytes, "Bytes per batch.");
    d->Int("retention.ms", &O::retention_ms, Between(-1, 100000), Unit::kMs,
           "How long; -1 | forever.");
    d->Alias("retention.time");
    d->Double("ratio", &O::ratio, Between(0.0, 1.0), "A share.");
    d->Bool("check", &O::check, "Check it.");
    d->String("name", &O::name, NotEmpty(), "A name.");
    d->String("assignor", &O::assignor, OneOf({"uniform", "range"}), "Empty: the broker's.");
    d->Enum("color", &O::color,
            {{"red", Color::kRed}, {"green", Color::kGreen}, {"verde", Color::kGreen}},
            "Its color.");
    d->Prefix("extra.", &O::extra, "Passed on.");
    return d;
  }();
  return *def;
}

// Parse then Validate, as every FromProperties does.
absl::Status ParseAndValidate(const std::map<std::string, std::string>& properties, Options* out) {
  if (absl::Status s = Def<Options>().Parse(properties, out); !s.ok()) return s;
  return Def<Options>().Validate(*out);
}

std::string ErrorOf(const std::map<std::string, std::string>& properties) {
  Options o;
  o.name = "n";
  const absl::Status s = ParseAndValidate(properties, &o);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  return std::string(s.message());
}

TEST(ConfigDefTest, EveryTypeIsParsedIntoItsField) {
  Options o;
  ASSERT_TRUE(ParseAndValidate({{"batch.size", "64"},
                                {"retention.ms", "-1"},
                                {"ratio", "0.25"},
                                {"check", "false"},
                                {"name", "x"},
                                {"assignor", "range"},
                                {"color", "green"},
                                {"extra.a.b", "c"}},
                               &o)
                  .ok());
  EXPECT_EQ(o.batch_size, 64);
  EXPECT_EQ(o.retention_ms, -1);
  EXPECT_EQ(o.ratio, 0.25);
  EXPECT_FALSE(o.check);
  EXPECT_EQ(o.name, "x");
  EXPECT_EQ(o.assignor, "range");
  EXPECT_EQ(o.color, Color::kGreen);
  EXPECT_EQ(o.extra, (std::map<std::string, std::string>{{"a.b", "c"}}));
}

TEST(ConfigDefTest, AValueNotOfTheKeysTypeIsRefusedNamingKeyAndValue) {
  EXPECT_EQ(ErrorOf({{"retention.ms", "abc"}}), "retention.ms: 'abc' is not an integer");
  EXPECT_EQ(ErrorOf({{"retention.ms", "99999999999999999999"}}),
            "retention.ms: '99999999999999999999' is not an integer");
  EXPECT_EQ(ErrorOf({{"ratio", "half"}}), "ratio: 'half' is not a number");
  EXPECT_EQ(ErrorOf({{"check", "yes"}}), "check: 'yes' is not true or false");
}

TEST(ConfigDefTest, AValueOutOfRangeIsRefusedNamingTheBound) {
  EXPECT_EQ(ErrorOf({{"batch.size", "-1"}}), "batch.size: -1 must be at least 0");
  EXPECT_EQ(ErrorOf({{"retention.ms", "-2"}}), "retention.ms: -2 must be at least -1");
  EXPECT_EQ(ErrorOf({{"retention.ms", "100001"}}), "retention.ms: 100001 must be at most 100000");
  EXPECT_EQ(ErrorOf({{"ratio", "1.5"}}), "ratio: 1.5 must be at most 1");
  EXPECT_EQ(ErrorOf({{"ratio", "nan"}}), "ratio: nan must be at least 0");
  // An int32 field cannot hold it: refused by Parse, before anything is stored.
  Options o;
  EXPECT_EQ(Def<Options>().Parse({{"batch.size", "3000000000"}}, &o).message(),
            "batch.size: 3000000000 must be at most 2147483647");
  EXPECT_EQ(o.batch_size, 16);
  // Validate checks fields set directly too.
  o.name = "n";
  o.batch_size = -5;
  EXPECT_EQ(Def<Options>().Validate(o).message(), "batch.size: -5 must be at least 0");
}

TEST(ConfigDefTest, AnUnknownKeyIsRefusedWithTheTablesMessage) {
  EXPECT_EQ(ErrorOf({{"batch.sise", "1"}}), "batch.sise: unknown test setting");
  // A prefix alone is no key of its own.
  EXPECT_EQ(ErrorOf({{"extra", "1"}}), "extra: unknown test setting");
}

TEST(ConfigDefTest, EnumChoicesAreNamedAndAnAliasWritesBackAsTheFirstName) {
  EXPECT_EQ(ErrorOf({{"color", "blue"}}), "color: 'blue' is not one of red, green, verde");
  Options o;
  o.name = "n";
  ASSERT_TRUE(ParseAndValidate({{"color", "verde"}}, &o).ok());
  EXPECT_EQ(o.color, Color::kGreen);
  EXPECT_EQ(Def<Options>().ToProperties(o).at("color"), "green");
}

TEST(ConfigDefTest, StringRulesRefuseEmptyRequiredValuesAndUnlistedChoices) {
  EXPECT_EQ(ErrorOf({{"name", ""}}), "name: must not be empty");
  EXPECT_EQ(ErrorOf({{"assignor", "sticky"}}), "assignor: 'sticky' is not one of uniform, range");
  Options o;
  EXPECT_TRUE(ParseAndValidate({{"name", "n"}, {"assignor", ""}}, &o).ok());
}

TEST(ConfigDefTest, AnAliasSetsTheSameField) {
  Options o;
  ASSERT_TRUE(Def<Options>().Parse({{"retention.time", "7"}}, &o).ok());
  EXPECT_EQ(o.retention_ms, 7);
  EXPECT_EQ(Def<Options>().FindSpec("retention.time"), Def<Options>().FindSpec("retention.ms"));
}

TEST(ConfigDefTest, PropertiesRoundTripThroughParse) {
  Options o;
  o.batch_size = 7, o.ratio = 0.125, o.check = false, o.name = "a", o.color = Color::kGreen;
  o.extra["x"] = "y";
  const std::map<std::string, std::string> p = Def<Options>().ToProperties(o);
  EXPECT_EQ(p.at("ratio"), "0.125");
  EXPECT_EQ(p.at("check"), "false");
  EXPECT_EQ(p.at("extra.x"), "y");
  Options back;
  ASSERT_TRUE(ParseAndValidate(p, &back).ok());
  EXPECT_EQ(Def<Options>().ToProperties(back), p);
}

TEST(ConfigDefTest, UnsetOptionalFieldsAreSkippedAndCopySetKeysCopiesOnlyTheSetOnes) {
  Overrides over;
  EXPECT_TRUE(Def<Overrides>().Validate(over).ok()) << "name is required, but not given";
  EXPECT_TRUE(Def<Overrides>().ToProperties(over).empty());
  ASSERT_TRUE(Def<Overrides>().Parse({{"retention.ms", "5"}, {"color", "green"}}, &over).ok());
  EXPECT_EQ(Def<Overrides>().ToProperties(over),
            (std::map<std::string, std::string>{{"color", "green"}, {"retention.ms", "5"}}));
  over.batch_size = -1;
  EXPECT_EQ(Def<Overrides>().Validate(over).message(), "batch.size: -1 must be at least 0");
  over.batch_size.reset();

  Options o;
  Def<Options>().CopySetKeys(Def<Overrides>(), over, &o);
  EXPECT_EQ(o.retention_ms, 5);
  EXPECT_EQ(o.color, Color::kGreen);
  EXPECT_EQ(o.batch_size, 16) << "not set in the overrides, so left alone";

  Overrides all;
  Def<Overrides>().CopySetKeys(Def<Options>(), o, &all);
  EXPECT_EQ(all.batch_size, 16);
  EXPECT_EQ(all.name, "");
}

TEST(ConfigDefTest, MarkdownHasOneRowPerKeyWithTypeDefaultRangeAndDoc) {
  EXPECT_EQ(Def<Options>().Markdown(),
            "| Key | Type | Default | Valid values | Description |\n"
            "|---|---|---|---|---|\n"
            "| `batch.size` | int32 (bytes) | `16` | at least `0` | Bytes per batch. |\n"
            "| `retention.ms` | int64 (ms) | `1000` | `-1` to `100000` | How long; -1 \\| "
            "forever. Also accepted as `retention.time`. |\n"
            "| `ratio` | double | `0.5` | `0` to `1` | A share. |\n"
            "| `check` | bool | `true` | `true`, `false` | Check it. |\n"
            "| `name` | string | (empty) | not empty | A name. |\n"
            "| `assignor` | string | (empty) | `uniform`, `range`, or empty | Empty: the broker's. "
            "|\n"
            "| `color` | enum | `red` | `red`, `green`, `verde` | Its color. |\n"
            "| `extra.*` | string | | any | Passed on. |\n");
  // Overrides have no defaults of their own.
  EXPECT_NE(Def<Overrides>().Markdown().find("| `batch.size` | int32 (bytes) | (unset) |"),
            std::string::npos);
}

}  // namespace
}  // namespace runnel::config

namespace runnel::config {
namespace {

TEST(ConfigDefTest, AnInt32PastItsTypeIsRefusedEvenWhenItsRangeIsWider) {
  struct Wide {
    int32_t count = 7;
  };
  ConfigDef<Wide> def("unknown wide setting");
  def.Int("count", &Wide::count, Between(int64_t{0}, std::numeric_limits<int64_t>::max()),
          Unit::kNone, "A count whose table range is wider than its field.");
  Wide wide;
  absl::Status status = def.Parse({{"count", "3000000000"}}, &wide);
  ASSERT_FALSE(status.ok()) << "stored as " << wide.count;
  EXPECT_NE(status.message().find("does not fit a 32-bit integer"), std::string::npos) << status;
  EXPECT_EQ(wide.count, 7);
}

}  // namespace
}  // namespace runnel::config
