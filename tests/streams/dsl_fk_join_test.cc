// Foreign-key KTable-KTable joins through the driver, which runs the subscription and response
// topics between the two tables' tasks: a left row changing its foreign key (the old association
// dropped), right rows changing and going, left rows going, responses to an older left value
// dropped, and tables that are not co-partitioned. Every expected output was worked out record by
// record from the rules in streams/internal/fk_join_processors.h.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "streams/internal/murmur3.h"
#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams {
namespace {

using S = std::string;
using Out = std::tuple<S, S, int64_t>;  // (key, value or "<tombstone>", timestamp)
constexpr const char* kRegistration =
    "test-app-KTABLE-FK-JOIN-0000000006-subscription-registration-topic";
constexpr const char* kResponse = "test-app-KTABLE-FK-JOIN-0000000006-subscription-response-topic";

S Or(const std::optional<S>& v) { return v.value_or("null"); }

// orders (order id -> "<customer>:<item>") joined on the customer with customers (id -> name)
// -> "out" as "<order>/<name>". "raw" records ("<id>=<order>;<id>=<order>") are written to
// "orders", so that one piped record updates an order twice before any response comes back.
std::unique_ptr<TopologyTestDriver> OrdersWithCustomers(bool left) {
  StreamsBuilder builder;
  builder.Stream<S, S>("raw")
      .FlatMap([](const S&, const S& v) {
        std::vector<std::pair<S, S>> out;
        for (absl::string_view part : absl::StrSplit(v, ';')) {
          std::vector<S> kv = absl::StrSplit(part, '=');
          out.emplace_back(kv[0], kv[1]);
        }
        return out;
      })
      .To("orders");
  KTable<S, S> orders = builder.Table<S, S>(
      "orders", {}, Materialized<S, S>::As("orders-store").WithCachingDisabled());
  KTable<S, S> customers = builder.Table<S, S>("customers");
  auto customer_of = [](const S& order) { return order.substr(0, order.find(':')); };
  KTable<S, S> joined =
      left
          ? orders.LeftJoin(customers, customer_of,
                            [](const S& o, const std::optional<S>& c) { return o + "/" + Or(c); })
          : orders.Join(customers, customer_of, [](const S& o, const S& c) { return o + "/" + c; });
  joined.ToStream().To("out");
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  TestDriverOptions options;
  // Not co-partitioned: the subscription topics take each side's count.
  options.topic_partitions = {{"raw", 1}, {"orders", 3}, {"customers", 2}, {"out", 1}};
  auto driver = TopologyTestDriver::Create(*topology, options);
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

void Pipe(TopologyTestDriver* d, const S& topic, const S& key, std::optional<S> value, int64_t ts) {
  ASSERT_TRUE(d->PipeRaw(topic, key, std::move(value), ts).ok()) << topic << " " << key;
}

std::vector<Out> ReadOut(TopologyTestDriver* d) {
  TestOutputTopic<S, S> out(d, "out", serdes::String(), serdes::String());
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<Out> all;
  if (!records.ok()) return all;
  for (auto& r : *records) all.emplace_back(r.key, r.value.value_or("<tombstone>"), r.timestamp);
  return all;
}

void PipeScenario(TopologyTestDriver* d) {
  Pipe(d, "customers", "c1", "Ann", 1);
  Pipe(d, "orders", "o1", "c1:book", 10);
  Pipe(d, "orders", "o2", "c2:pen", 11);  // c2 has no row yet
  Pipe(d, "customers", "c2", "Bob", 12);
  Pipe(d, "customers", "c1", "Anna", 13);
  Pipe(d, "orders", "o1", "c2:book", 14);  // o1 moves from c1 to c2
  Pipe(d, "customers", "c1", "Ann2", 15);  // nobody references c1 any more
  Pipe(d, "customers", "c2", std::nullopt, 16);
  Pipe(d, "orders", "o2", std::nullopt, 17);
}

TEST(DslForeignKeyJoinTest, InnerJoinFollowsBothSidesAndTheForeignKeyMoving) {
  auto driver = OrdersWithCustomers(false);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->Partitions(kRegistration), 2);
  EXPECT_EQ(driver->Partitions(kResponse), 3);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"o1", "c1:book/Ann", 10},
                                                     {"o2", "c2:pen/Bob", 12},
                                                     {"o1", "c1:book/Anna", 13},
                                                     {"o1", "<tombstone>", 14},
                                                     {"o1", "c2:book/Bob", 14},
                                                     {"o1", "<tombstone>", 16},
                                                     {"o2", "<tombstone>", 16},
                                                     {"o2", "<tombstone>", 17}}));
}

TEST(DslForeignKeyJoinTest, LeftJoinKeepsLeftRowsWithoutARightRow) {
  auto driver = OrdersWithCustomers(true);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"o1", "c1:book/Ann", 10},
                                                     {"o2", "c2:pen/null", 11},
                                                     {"o2", "c2:pen/Bob", 12},
                                                     {"o1", "c1:book/Anna", 13},
                                                     {"o1", "c2:book/Bob", 14},
                                                     {"o1", "c2:book/null", 16},
                                                     {"o2", "c2:pen/null", 16},
                                                     {"o2", "<tombstone>", 17}}));
  // Only o1's subscription to c2 is left (o2 went; o1 left c1).
  auto subscriptions =
      driver->KeyValueStoreContents("KTABLE-FK-JOIN-0000000006-subscription-store");
  ASSERT_TRUE(subscriptions.ok()) << subscriptions.status();
  ASSERT_EQ(subscriptions->size(), 1u);
  EXPECT_EQ(subscriptions->begin()->first, S("\0\0\0\2c2o1", 8));
}

// o3 changes twice (c1:x, then c3:y) before the answer to the first subscription comes back: that
// answer (Ann2 for c1:x) carries the hash of c1:x and is dropped.
TEST(DslForeignKeyJoinTest, ResponsesToAnOlderLeftValueAreDropped) {
  for (const bool left : {false, true}) {
    SCOPED_TRACE(left ? "left join" : "inner join");
    auto driver = OrdersWithCustomers(left);
    ASSERT_NE(driver, nullptr);
    Pipe(driver.get(), "customers", "c1", "Ann2", 15);
    Pipe(driver.get(), "customers", "c3", "Cat", 19);
    Pipe(driver.get(), "raw", "x", "o3=c1:x;o3=c3:y", 20);
    // Three responses went back: (c1:x, Ann2), then for the inner join a null from deleting
    // the c1 subscription, and (c3:y, Cat).
    EXPECT_EQ(driver->Records(kResponse).size(), left ? 2u : 3u);
    if (left) {
      EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"o3", "c3:y/Cat", 20}}));
    } else {
      EXPECT_EQ(ReadOut(driver.get()),
                (std::vector<Out>{{"o3", "<tombstone>", 20}, {"o3", "c3:y/Cat", 20}}));
    }
  }
}

TEST(DslForeignKeyJoinTest, ValueHashIsMurmur3X64Of128Bits) {
  // Reference values of MurmurHash3_x64_128 with seed 0.
  EXPECT_EQ(internal::Murmur3Hash128(""), (std::array<uint64_t, 2>{0, 0}));
  EXPECT_EQ(internal::Murmur3Hash128("hello"),
            (std::array<uint64_t, 2>{0xcbd8a7b341bd9b02ull, 0x5b1e906a48ae1d19ull}));
  EXPECT_EQ(internal::Murmur3Hash128("The quick brown fox jumps over the lazy dog"),
            (std::array<uint64_t, 2>{0xe34bbc7bbc071b6cull, 0x7a433ca9c49a9347ull}));
}

}  // namespace
}  // namespace runnel::streams
