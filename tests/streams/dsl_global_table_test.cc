// KStream-GlobalKTable joins through the driver: a key mapper picks the table row, the table is
// updated (and a row deleted) between stream records, the topics need not be co-partitioned, and
// the driver holds the global store whole. Every expected output was worked out record by record
// from the rules in streams/internal/global_table_processors.h.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams {
namespace {

using S = std::string;
using Out = std::tuple<S, S, int64_t>;  // (key or "<null>", value, timestamp)

S Or(const std::optional<S>& v) { return v.value_or("null"); }

// orders (key: order id, value "<product>:<quantity>") joined with the global table of products
// -> "out", values "<order>/<product name>".
std::unique_ptr<TopologyTestDriver> OrdersWithProducts(bool left, StoreType store_type) {
  StreamsBuilder builder;
  GlobalKTable<S, S> products = builder.GlobalTable<S, S>(
      "products", {}, Materialized<S, S>::As("products-store").WithStoreType(store_type));
  KStream<S, S> orders = builder.Stream<S, S>("orders");
  auto product_of = [](const S& order) { return order.substr(0, order.find(':')); };
  if (left) {
    orders
        .LeftJoin(
            products, product_of,
            [](const S& order, const std::optional<S>& name) { return order + "/" + Or(name); })
        .To("out");
  } else {
    orders
        .Join(products, product_of,
              [](const S& order, const S& name) { return order + "/" + name; })
        .To("out");
  }
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  TestDriverOptions options;
  // Not co-partitioned, and need not be.
  options.topic_partitions = {{"orders", 3}, {"products", 2}, {"out", 1}};
  auto driver = TopologyTestDriver::Create(*topology, options);
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

void Pipe(TopologyTestDriver* d, const S& topic, std::optional<S> key, std::optional<S> value,
          int64_t ts) {
  ASSERT_TRUE(d->PipeRaw(topic, std::move(key), std::move(value), ts).ok()) << topic << "@" << ts;
}

void PipeScenario(TopologyTestDriver* d) {
  Pipe(d, "products", "p1", "apple", 1);
  Pipe(d, "orders", "o1", "p1:2", 10);
  Pipe(d, "orders", "o2", "p2:1", 11);  // no such product yet
  Pipe(d, "products", "p2", "pear", 12);
  Pipe(d, "orders", "o3", "p2:5", 13);
  Pipe(d, "products", "p1", "green apple", 14);
  Pipe(d, "orders", "o4", "p1:1", 15);
  Pipe(d, "products", "p1", std::nullopt, 16);  // p1 deleted
  Pipe(d, "orders", "o5", "p1:3", 17);
  Pipe(d, "orders", std::nullopt, "p2:9", 18);        // no key: the mapper still finds p2
  Pipe(d, "orders", "o6", std::nullopt, 19);          // no value: dropped
  Pipe(d, "products", std::nullopt, "nameless", 20);  // no key: not a row
}

std::vector<Out> ReadOut(TopologyTestDriver* d) {
  TestOutputTopic<S, S> out(d, "out", serdes::String(), serdes::String());
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<Out> all;
  if (!records.ok()) return all;
  for (auto& r : *records) {
    all.emplace_back(r.key_null ? "<null>" : r.key, r.value.value_or("<tombstone>"), r.timestamp);
  }
  return all;
}

TEST(DslGlobalTableTest, InnerJoinLooksUpTheMappedKeyInTheCurrentTable) {
  auto driver = OrdersWithProducts(false, StoreType::kInMemory);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"o1", "p1:2/apple", 10},
                                                     {"o3", "p2:5/pear", 13},
                                                     {"o4", "p1:1/green apple", 15},
                                                     {"<null>", "p2:9/pear", 18}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(DslGlobalTableTest, LeftJoinKeepsRecordsWhoseMappedKeyHasNoRow) {
  auto driver = OrdersWithProducts(true, StoreType::kRocksDb);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  EXPECT_EQ(ReadOut(driver.get()), (std::vector<Out>{{"o1", "p1:2/apple", 10},
                                                     {"o2", "p2:1/null", 11},
                                                     {"o3", "p2:5/pear", 13},
                                                     {"o4", "p1:1/green apple", 15},
                                                     {"o5", "p1:3/null", 17},
                                                     {"<null>", "p2:9/pear", 18}}));
}

TEST(DslGlobalTableTest, TheGlobalStoreHoldsEveryPartitionOfItsTopic) {
  auto driver = OrdersWithProducts(true, StoreType::kInMemory);
  ASSERT_NE(driver, nullptr);
  PipeScenario(driver.get());
  // p2 is on one partition of "products" and every order task found it; p1 was deleted.
  auto contents = driver->KeyValueStoreContents("products-store");
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, (std::map<S, S>{{"p2", internal::EncodeTimestamped(12, "pear")}}));
  // Orders went to all three tasks, and each joined.
  EXPECT_EQ(driver->task_ids(), (std::vector<S>{"0_0", "0_1", "0_2"}));
}

TEST(DslGlobalTableTest, TheKeyMapperAndJoinerMayTakeTheStreamKey) {
  StreamsBuilder builder;
  GlobalKTable<S, S> regions = builder.GlobalTable<S, S>("regions");
  builder.Stream<S, S>("events")
      .Join(
          regions, [](const S& key, const S&) { return key.substr(0, 2); },
          [](const S& key, const S& event, const S& region) {
            return key + ":" + event + "@" + region;
          },
          "enrich")
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_NE(topology->Describe().find("Processor: enrich (stores: [])"), std::string::npos);
  EXPECT_NE(topology->Describe().find("Global store: KTABLE-SOURCE-0000000000-STATE-STORE "
                                      "(source: KTABLE-SOURCE-0000000000, topic: regions)"),
            std::string::npos)
      << topology->Describe();
  auto driver = TopologyTestDriver::Create(*topology);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TopologyTestDriver* d = driver->get();
  Pipe(d, "regions", "eu", "Europe", 1);
  Pipe(d, "events", "eu-7", "login", 2);
  Pipe(d, "regions", "eu", "EU", 3);
  Pipe(d, "events", "eu-8", "logout", 4);
  Pipe(d, "events", "us-1", "login", 5);  // no region "us"
  EXPECT_EQ(ReadOut(d),
            (std::vector<Out>{{"eu-7", "eu-7:login@Europe", 2}, {"eu-8", "eu-8:logout@EU", 4}}));
}

TEST(DslGlobalTableTest, AGlobalStoreNameMustNotBeTakenByAnotherStore) {
  StreamsBuilder builder;
  builder.Table<S, S>("a", {}, Materialized<S, S>::As("shared"));
  builder.GlobalTable<S, S>("b", {}, Materialized<S, S>::As("shared"));
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_EQ(topology.status().message(), "two stores are named shared; store names must be unique");
}

}  // namespace
}  // namespace runnel::streams
