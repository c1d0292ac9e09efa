// GlobalKTables in the runtime against a real runneld: the global stream thread bootstraps every
// partition of a global topic into each instance before processing starts, applies later updates
// (rows changed, added, deleted) so that stream records processed after them see them, rebuilds
// the store from the topic at every start, and sends a global record that does not deserialize to
// the deserialization exception handler (LogAndContinue skips and counts it; the default puts the
// application in ERROR naming the record, at start or while running).
//
// The topology: orders (key: order id, value "<product id>:<quantity>") joined through a key
// mapper with the global table of product prices (key: product id, value: Int64 price) ->
// "totals" (key: order id, value: quantity * price). The global topic has more partitions than
// the orders topic, so no instance could join without the whole table. Every output record is
// checked against the prices this test produced (PriceModel), not against the topology.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "streams/serde.h"
#include "streams/streams.h"
#include "streams/streams_builder.h"
#include "tests/e2e/group_broker_fixture.h"
#include "tests/streams/streams_e2e_util.h"

namespace runnel::streams {
namespace {

using std::chrono::milliseconds;
using testing::Out;
using testing::Rec;
using testing::WaitFor;
using S = std::string;

constexpr int32_t kOrderPartitions = 2;
constexpr int32_t kProductPartitions = 5;

int64_t Quantity(const S& order) {
  int64_t q = 0;
  EXPECT_TRUE(absl::SimpleAtoi(order.substr(order.find(':') + 1), &q)) << order;
  return q;
}

Topology OrderTotals(StoreType store_type) {
  StreamsBuilder builder;
  GlobalKTable<S, int64_t> prices = builder.GlobalTable<S, int64_t>(
      "products", {}, Materialized<S, int64_t>::As("prices").WithStoreType(store_type));
  builder.Stream<S, S>("orders")
      .Join(
          prices, [](const S& order) { return order.substr(0, order.find(':')); },
          [](const S& order, const int64_t& price) {
            return std::to_string(Quantity(order) * price);
          })
      .To("totals");
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  return *topology;
}

// The product prices as this test wrote them to "products", and the orders' expected totals.
class PriceModel {
 public:
  // A price record (nullopt: a tombstone, the product goes).
  Rec Price(const S& product, std::optional<int64_t> price, std::optional<int32_t> partition = {}) {
    if (price.has_value()) {
      prices_[product] = *price;
    } else {
      prices_.erase(product);
    }
    return Rec{product, price.has_value() ? serdes::Int64().serialize(*price) : S(), 1000,
               partition};
  }
  // An order of `quantity` of `product`: its expected total is recorded when the product has a
  // price now (an inner join drops the others).
  Rec Order(const S& id, const S& product, int64_t quantity) {
    if (auto it = prices_.find(product); it != prices_.end()) {
      expected_[id] = std::to_string(quantity * it->second);
    } else {
      dropped_.push_back(id);
    }
    return Rec{id, absl::StrCat(product, ":", quantity), 2000, std::nullopt};
  }
  const std::map<S, S>& expected() const { return expected_; }
  const std::vector<S>& dropped() const { return dropped_; }

 private:
  std::map<S, int64_t> prices_;
  std::map<S, S> expected_;  // order id -> total
  std::vector<S> dropped_;   // orders without a price when produced
};

class GlobalTableE2eTest : public testing::GroupBrokerFixture {
 protected:
  void SetUp() override {
    GroupBrokerFixture::SetUp();
    CreateTopic("orders", kOrderPartitions);
    CreateTopic("products", kProductPartitions);
    CreateTopic("totals", 1);
  }

  client::Properties Client() const { return {{"bootstrap.servers", broker_->address()}}; }

  StreamsConfig Config(const S& app, const S& instance, bool log_and_continue = false) {
    client::Properties p = {{"application.id", app},
                            {"bootstrap.servers", broker_->address()},
                            {"commit.interval.ms", "100"},
                            {"state.dir", dir_.Sub(instance)}};
    if (log_and_continue) {
      p["default.deserialization.exception.handler"] = "LogAndContinueExceptionHandler";
    }
    auto config = StreamsConfig::FromProperties(p);
    EXPECT_TRUE(config.ok()) << config.status();
    return *config;
  }

  // A tombstone needs a null value, which testing::Produce cannot send.
  void ProduceTombstone(const S& topic, const S& key) {
    auto producer = client::Producer::Create(Client());
    ASSERT_TRUE(producer.ok()) << producer.status();
    auto sent = (*producer)->Send(client::ProducerRecord{.topic = topic,
                                                         .partition = {},
                                                         .key = key,
                                                         .value = std::nullopt,
                                                         .timestamp = 1000,
                                                         .headers = {}});
    EXPECT_TRUE(sent.get().ok());
    (*producer)->Close();
  }

  void ProducePrices(PriceModel& model,
                     const std::vector<std::pair<S, std::optional<int64_t>>>& prices) {
    std::vector<Rec> records;
    for (const auto& [product, price] : prices) {
      Rec r = model.Price(product, price);
      if (!price.has_value()) {
        ProduceTombstone("products", product);
        continue;
      }
      records.push_back(std::move(r));
    }
    if (!records.empty()) testing::Produce(Client(), "products", records);
  }

  // Waits (up to 30 s) until "totals" holds a total for every expected order, then checks every
  // record in it against `model`: each total is the expected one (a record processed twice after
  // a rebalance repeats the same total), and no order without a price has one.
  void ExpectTotals(const PriceModel& model) {
    std::vector<Out> out;
    std::map<S, S> latest;
    WaitFor(
        [&] {
          out = testing::ReadAll(*admin_, Client(), "totals");
          latest.clear();
          for (const Out& o : out) latest[o.key] = o.value;
          return latest.size() >= model.expected().size();
        },
        milliseconds(30000), milliseconds(200));
    EXPECT_EQ(latest, model.expected());
    for (const Out& o : out) {
      auto it = model.expected().find(o.key);
      if (it == model.expected().end()) {
        ADD_FAILURE() << "order " << o.key << " has total " << o.value << ", expected none";
      } else {
        EXPECT_EQ(o.value, it->second) << "order " << o.key << " at totals@" << o.offset;
      }
    }
  }

  static void WaitRunning(Streams& streams) {
    ASSERT_TRUE(
        WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(30000)))
        << StateName(streams.state()) << " " << streams.error();
  }
};

TEST_F(GlobalTableE2eTest, TwoInstancesJoinEveryPartitionOfTheGlobalTableAndSeeItsUpdates) {
  PriceModel model;
  std::vector<std::pair<S, std::optional<int64_t>>> initial;
  for (int i = 0; i < 20; ++i) initial.emplace_back(absl::StrCat("p", i), 10 + i);
  ProducePrices(model, initial);

  const Topology topology = OrderTotals(StoreType::kInMemory);
  Streams a(topology, Config("totals-app", "a"));
  Streams b(topology, Config("totals-app", "b"));
  ASSERT_TRUE(a.Start().ok()) << a.error();
  // Start returns with the global store whole.
  EXPECT_EQ(a.metrics().global_restored_records, 20);
  ASSERT_TRUE(b.Start().ok()) << b.error();
  EXPECT_EQ(b.metrics().global_restored_records, 20);
  // One orders partition each: each instance joins its orders with products of all partitions.
  ASSERT_TRUE(WaitFor(
      [&] {
        return a.state() == Streams::State::kRunning && b.state() == Streams::State::kRunning &&
               a.metrics().active_tasks.size() == 1 && b.metrics().active_tasks.size() == 1;
      },
      milliseconds(30000)))
      << StateName(a.state()) << " " << StateName(b.state());

  std::vector<Rec> orders;
  for (int i = 0; i < 120; ++i) {
    // p20..p23 have no price yet: those orders are dropped.
    orders.push_back(model.Order(absl::StrCat("o", i), absl::StrCat("p", i % 24), 1 + i % 7));
  }
  testing::Produce(Client(), "orders", orders);
  ExpectTotals(model);
  ASSERT_EQ(model.dropped().size(), 20u);
  EXPECT_TRUE(WaitFor([&] { return a.metrics().processed + b.metrics().processed == 120; },
                      milliseconds(10000)))
      << a.metrics().processed << " + " << b.metrics().processed;
  EXPECT_GT(a.metrics().processed, 0);
  EXPECT_GT(b.metrics().processed, 0);

  // Updates after the start: a price changes, a product comes, one goes. Once both instances
  // have applied them, later orders see them.
  ProducePrices(model, {{"p3", 1000}, {"p21", 7}, {"p5", std::nullopt}});
  ASSERT_TRUE(WaitFor(
      [&] {
        return a.metrics().global_applied_records == 3 && b.metrics().global_applied_records == 3;
      },
      milliseconds(20000)))
      << a.metrics().global_applied_records << " " << b.metrics().global_applied_records;
  orders.clear();
  for (int i = 120; i < 240; ++i) {
    orders.push_back(model.Order(absl::StrCat("o", i), absl::StrCat("p", i % 24), 1 + i % 7));
  }
  testing::Produce(Client(), "orders", orders);
  ExpectTotals(model);
  EXPECT_EQ(model.expected().at("o123"), "5000") << "o123 orders 5 of p3 at its new price";
  EXPECT_TRUE(WaitFor([&] { return a.metrics().processed + b.metrics().processed == 240; },
                      milliseconds(10000)))
      << a.metrics().processed << " + " << b.metrics().processed;

  a.Close();
  b.Close();
  EXPECT_TRUE(a.error().ok()) << a.error();
  EXPECT_TRUE(b.error().ok()) << b.error();
  EXPECT_EQ(a.state(), Streams::State::kNotRunning);
}

TEST_F(GlobalTableE2eTest, ARestartRebuildsThePersistentGlobalStoreFromTheTopic) {
  PriceModel model;
  ProducePrices(model, {{"p1", 5}, {"p2", 6}, {"p3", 7}});
  const Topology topology = OrderTotals(StoreType::kRocksDb);
  {
    Streams streams(topology, Config("restart-app", "a"));
    ASSERT_TRUE(streams.Start().ok()) << streams.error();
    WaitRunning(streams);
    testing::Produce(Client(), "orders", {model.Order("o1", "p1", 2), model.Order("o2", "p3", 1)});
    ExpectTotals(model);
    streams.Close();
    EXPECT_TRUE(streams.error().ok()) << streams.error();
  }
  // While the application is down the table changes; its RocksDB files still hold the old rows.
  ProducePrices(model, {{"p1", 50}, {"p3", std::nullopt}, {"p4", 8}});
  Streams streams(topology, Config("restart-app", "a"));
  ASSERT_TRUE(streams.Start().ok()) << streams.error();
  EXPECT_EQ(streams.metrics().global_restored_records, 6)
      << "3 prices, an update, a tombstone, a new row";
  WaitRunning(streams);
  testing::Produce(Client(), "orders",
                   {model.Order("o3", "p1", 2), model.Order("o4", "p3", 1),
                    model.Order("o5", "p4", 3), model.Order("o6", "p2", 1)});
  ExpectTotals(model);
  EXPECT_EQ(model.expected().at("o3"), "100");
  EXPECT_FALSE(model.expected().contains("o4")) << "p3 was deleted while the app was down";
  streams.Close();
  EXPECT_TRUE(streams.error().ok()) << streams.error();

  // The store is emptied at start, not merely written over: with the topic deleted and created
  // again holding one row, the rows the RocksDB files still hold are gone.
  ASSERT_TRUE(admin_->DeleteTopic("products").ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return admin_
            ->CreateTopic({.name = "products", .partitions = kProductPartitions, .configs = {}})
            .ok();
      },
      milliseconds(20000)));
  PriceModel fresh;
  testing::Produce(Client(), "products", {fresh.Price("p9", 9)});
  Streams emptied(topology, Config("restart-app", "a"));
  ASSERT_TRUE(emptied.Start().ok()) << emptied.error();
  EXPECT_EQ(emptied.metrics().global_restored_records, 1);
  WaitRunning(emptied);
  // o7 (p1, which only the old files hold) must not join; o8 (p9) must, and comes after it.
  testing::Produce(Client(), "orders", {fresh.Order("o7", "p1", 1)});
  testing::Produce(Client(), "orders", {fresh.Order("o8", "p9", 2)});
  std::vector<Out> totals;
  ASSERT_TRUE(WaitFor(
      [&] {
        totals = testing::ReadAll(*admin_, Client(), "totals");
        for (const Out& o : totals) {
          if (o.key == "o8") return true;
        }
        return false;
      },
      milliseconds(30000), milliseconds(200)));
  for (const Out& o : totals) {
    EXPECT_NE(o.key, "o7") << "joined with a row the old RocksDB files held: " << o.value;
    if (o.key == "o8") {
      EXPECT_EQ(o.value, "18");
    }
  }
  emptied.Close();
  EXPECT_TRUE(emptied.error().ok()) << emptied.error();
}

// A second instance on the same state.dir emptied the first one's global RocksDB directory under
// its open database.
TEST_F(GlobalTableE2eTest, ASecondInstanceOnTheSameStateDirIsRefusedAndTheFirstCarriesOn) {
  PriceModel model;
  ProducePrices(model, {{"p1", 5}});
  const Topology topology = OrderTotals(StoreType::kRocksDb);
  Streams first(topology, Config("shared-dir-app", "same"));
  ASSERT_TRUE(first.Start().ok()) << first.error();
  WaitRunning(first);
  Streams second(topology, Config("shared-dir-app", "same"));
  const absl::Status refused = second.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("give each instance its own state.dir"), std::string::npos)
      << refused;
  second.Close();
  testing::Produce(Client(), "orders", {model.Order("o1", "p1", 2)});
  ExpectTotals(model);
  EXPECT_EQ(first.state(), Streams::State::kRunning) << first.error();
  first.Close();
  // Released at close: the next instance starts.
  Streams third(topology, Config("shared-dir-app", "same"));
  EXPECT_TRUE(third.Start().ok()) << third.error();
  third.Close();
}

TEST_F(GlobalTableE2eTest, LogAndContinueSkipsAndCountsAPoisonGlobalRecord) {
  PriceModel model;
  // One poison record (3 bytes for the Int64 price) in the bootstrap, between two good ones.
  testing::Produce(
      Client(), "products",
      {model.Price("p1", 10), Rec{"p2", "abc", 1000, std::nullopt}, model.Price("p3", 30)});
  Streams streams(OrderTotals(StoreType::kInMemory), Config("skip-app", "a", true));
  ASSERT_TRUE(streams.Start().ok()) << streams.error();
  EXPECT_EQ(streams.metrics().global_restored_records, 2);
  EXPECT_EQ(streams.metrics().dropped_records, 1);
  WaitRunning(streams);
  // And one among the updates: p1's row keeps its price.
  testing::Produce(Client(), "products",
                   {Rec{"p1", "xyz", 1000, std::nullopt}, model.Price("p2", 20)});
  // (The two are in different partitions: they may come in different polls.)
  ASSERT_TRUE(WaitFor(
      [&] {
        const Streams::Metrics m = streams.metrics();
        return m.global_applied_records == 1 && m.dropped_records == 2;
      },
      milliseconds(20000)))
      << streams.metrics().global_applied_records << " " << streams.metrics().dropped_records;
  testing::Produce(
      Client(), "orders",
      {model.Order("o1", "p1", 1), model.Order("o2", "p2", 2), model.Order("o3", "p3", 3)});
  ExpectTotals(model);
  EXPECT_EQ(model.expected().at("o1"), "10");
  EXPECT_NE(streams.state(), Streams::State::kError) << streams.error();
  streams.Close();
  EXPECT_TRUE(streams.error().ok()) << streams.error();
}

TEST_F(GlobalTableE2eTest, WithTheDefaultHandlerAPoisonGlobalRecordPutsTheAppInError) {
  PriceModel model;
  // The good rows in partition 0; the poison will be the first record of partition 4.
  testing::Produce(Client(), "products", {model.Price("p1", 10, 0), model.Price("p2", 20, 0)});
  {
    Streams streams(OrderTotals(StoreType::kInMemory), Config("fail-app", "a"));
    ASSERT_TRUE(streams.Start().ok()) << streams.error();
    WaitRunning(streams);
    testing::Produce(Client(), "orders", {model.Order("o1", "p1", 1)});
    ExpectTotals(model);
    testing::Produce(Client(), "products", {Rec{"p2", "abc", 1000, 4}});
    ASSERT_TRUE(
        WaitFor([&] { return streams.state() == Streams::State::kError; }, milliseconds(20000)))
        << StateName(streams.state());
    const absl::Status error = streams.error();
    EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
    EXPECT_NE(error.message().find("global store prices: record products-4@0"), std::string::npos)
        << error;
    EXPECT_NE(error.message().find("expected 8 bytes"), std::string::npos) << error;
    // The stream threads are stopped too.
    EXPECT_TRUE(
        WaitFor([&] { return streams.metrics().active_tasks.empty(); }, milliseconds(20000)));
    streams.Close();
    EXPECT_EQ(streams.state(), Streams::State::kError);
  }
  // The poison is still in the topic: the next start fails in its bootstrap, naming it.
  Streams again(OrderTotals(StoreType::kInMemory), Config("fail-app", "a"));
  const absl::Status s = again.Start();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("products-4@0"), std::string::npos) << s;
  EXPECT_EQ(again.state(), Streams::State::kError);
  EXPECT_EQ(again.error().code(), s.code()) << again.error();
  again.Close();
  EXPECT_EQ(again.state(), Streams::State::kError);
}

TEST_F(GlobalTableE2eTest, AMissingGlobalTopicFailsStartNamingIt) {
  StreamsBuilder builder;
  GlobalKTable<S, S> table = builder.GlobalTable<S, S>("nowhere");
  builder.Stream<S, S>("orders")
      .Join(
          table, [](const S& v) { return v; }, [](const S& v, const S& t) { return v + t; })
      .To("totals");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  Streams streams(*topology, Config("missing-app", "a"));
  const absl::Status s = streams.Start();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("global table topic nowhere"), std::string::npos) << s;
  EXPECT_EQ(streams.state(), Streams::State::kError);
}

}  // namespace
}  // namespace runnel::streams
