#include "streams/json_serde.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/streams/serde_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;

TEST(JsonSerdeTest, JsonRoundTripsCompactText) {
  const Serde<nlohmann::json> serde = serdes::Json();
  const nlohmann::json doc = {{"name", "runnel"}, {"n", -3}, {"list", {1, 2.5, nullptr}}};
  EXPECT_EQ(serde.serialize(doc), R"({"list":[1,2.5,null],"n":-3,"name":"runnel"})");
  EXPECT_EQ(RoundTrip(serde, doc), doc);
  EXPECT_EQ(RoundTrip(serde, nlohmann::json("")), nlohmann::json(""));
}

TEST(JsonSerdeTest, JsonMalformedInputIsInvalidArgumentNotAnException) {
  const Serde<nlohmann::json> serde = serdes::Json();
  for (const std::string& bad : {""s, "{"s, "[1,]"s, "\xff"s, "{} trailing"s}) {
    absl::StatusOr<nlohmann::json> r;
    EXPECT_NO_THROW(r = serde.deserialize(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("JSON serde: not JSON"), std::string::npos) << r.status();
  }
}

TEST(JsonSerdeTest, JsonSerializesInvalidUtf8WithoutThrowing) {
  const Serde<nlohmann::json> serde = serdes::Json();
  std::string out;
  EXPECT_NO_THROW(out = serde.serialize(nlohmann::json("a\xff"
                                                       "b")));
  EXPECT_EQ(out,
            "\"a\xef\xbf\xbd"
            "b\"");  // U+FFFD in place of the bad byte
}

struct Trade {
  std::string symbol;
  int64_t quantity = 0;
  double price = 0;
  friend bool operator==(const Trade&, const Trade&) = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Trade, symbol, quantity, price)

TEST(JsonSerdeTest, JsonOfRoundTripsAUserType) {
  const Serde<Trade> serde = serdes::JsonOf<Trade>();
  const Trade trade{"ACME", -5, 12.25};
  EXPECT_EQ(serde.serialize(trade), R"({"price":12.25,"quantity":-5,"symbol":"ACME"})");
  EXPECT_EQ(RoundTrip(serde, trade), trade);
}

TEST(JsonSerdeTest, JsonOfRejectsJsonOfTheWrongShape) {
  const Serde<Trade> serde = serdes::JsonOf<Trade>();
  auto missing = serde.deserialize(R"({"symbol":"ACME"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("does not convert"), std::string::npos);
  auto wrong_type = serde.deserialize(R"({"symbol":1,"quantity":2,"price":3})");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
  auto not_json = serde.deserialize("not json");
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.status().message().find("not JSON"), std::string::npos);
}

TEST(JsonSerdeTest, IncludingItMakesJsonADefaultSerde) {
  EXPECT_EQ(serdes::Default<nlohmann::json>().serialize(nlohmann::json{{"a", 1}}), R"({"a":1})");
}

}  // namespace
}  // namespace runnel::streams
