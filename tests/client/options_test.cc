// The producer's, consumer's and admin client's settings as Kafka-named properties: defaults
// written once, every range of the table checked, errors naming key and value.
#include <gtest/gtest.h>

#include <string>

#include "client/admin.h"
#include "client/consumer.h"
#include "client/consumer_options.h"
#include "client/producer.h"
#include "client/producer_options.h"
#include "common/clock.h"
#include "common/config_def.h"

namespace runnel::client {
namespace {

template <typename Options>
std::string ErrorOf(const Properties& properties) {
  auto parsed = Options::FromProperties(properties);
  EXPECT_FALSE(parsed.ok());
  return std::string(parsed.status().message());
}

TEST(ClientOptionsTest, EmptyPropertiesGiveTheStructsDefaults) {
  auto producer = ProducerOptions::FromProperties({});
  ASSERT_TRUE(producer.ok()) << producer.status();
  EXPECT_EQ(ProducerConfigDef().ToProperties(*producer),
            ProducerConfigDef().ToProperties(ProducerOptions{}));
  EXPECT_EQ(ProducerConfigDef().ToProperties(*producer).count("enable.idempotence"), 0u)
      << "unset by default: Kafka 3's rule decides";
  auto consumer = ConsumerOptions::FromProperties({});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  EXPECT_EQ(ConsumerConfigDef().ToProperties(*consumer).at("auto.offset.reset"), "latest");
  auto admin = AdminOptions::FromProperties({});
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->request_timeout_ms, 30000);
}

TEST(ClientOptionsTest, RangesAreCheckedForPropertiesAndForFieldsSetDirectly) {
  EXPECT_EQ(ErrorOf<ProducerOptions>({{"batch.size", "0"}}), "batch.size: 0 must be at least 1");
  EXPECT_EQ(ErrorOf<ProducerOptions>({{"linger.ms", "3000000000"}}),
            "linger.ms: 3000000000 must be at most 2147483647");
  EXPECT_EQ(ErrorOf<ProducerOptions>({{"bootstrap.servers", ""}}),
            "bootstrap.servers: must not be empty");
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"max.poll.records", "0"}}),
            "max.poll.records: 0 must be at least 1");
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"group.remote.assignor", "sticky"}}),
            "group.remote.assignor: 'sticky' is not one of uniform, range");
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"group.instance.id", "i"}}),
            "group.instance.id: set without group.id");
  EXPECT_EQ(ErrorOf<AdminOptions>({{"request.timeout.ms", "0"}}),
            "request.timeout.ms: 0 must be at least 1");
  ConsumerOptions direct;
  direct.fetch_max_wait_ms = -1;
  EXPECT_EQ(direct.Validate().message(), "fetch.max.wait.ms: -1 must be at least 0");
}

TEST(ClientOptionsTest, UnknownKeysAndBadValuesNameTheComponentKeyAndValue) {
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"group.idd", "g"}}), "group.idd: unknown consumer setting");
  EXPECT_EQ(ErrorOf<AdminOptions>({{"timeout.ms", "1"}}), "timeout.ms: unknown admin setting");
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"check.crcs", "yes"}}),
            "check.crcs: 'yes' is not true or false");
  EXPECT_EQ(ErrorOf<ConsumerOptions>({{"auto.offset.reset", "smallest"}}),
            "auto.offset.reset: 'smallest' is not one of earliest, latest, none");
  EXPECT_EQ(ErrorOf<ProducerOptions>({{"compression.type", "brotli"}}),
            "compression.type: 'brotli' is not one of none, gzip, snappy, lz4, zstd");
  EXPECT_EQ(ErrorOf<AdminOptions>({{"request.timeout.ms", "soon"}}),
            "request.timeout.ms: 'soon' is not an integer");
}

// A clock is borrowed for the client's whole life: a temporary one does not compile.
template <typename C>
concept ProducerTakes = requires(const ProducerOptions& options, C&& clock) {
  Producer::Create(options, std::forward<C>(clock));
};
template <typename C>
concept ConsumerTakes = requires(const ConsumerOptions& options, C&& clock) {
  Consumer::Create(options, std::forward<C>(clock));
};
static_assert(ProducerTakes<ManualClock&> && !ProducerTakes<ManualClock>);
static_assert(ConsumerTakes<ManualClock&> && !ConsumerTakes<ManualClock>);

TEST(ClientOptionsTest, AnInt32SettingPastItsTypeIsRefused) {
  auto parsed = ProducerOptions::FromProperties(
      {{"bootstrap.servers", "127.0.0.1:1"}, {"linger.ms", "3000000000"}});
  ASSERT_FALSE(parsed.ok()) << "linger.ms stored as " << parsed->linger_ms;
  EXPECT_NE(parsed.status().message().find("linger.ms"), std::string::npos) << parsed.status();
}

}  // namespace
}  // namespace runnel::client
