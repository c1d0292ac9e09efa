// The deserialization and production exception handlers (streams/exception_handlers.h) in the
// TopologyTestDriver: by default a record that does not deserialize or cannot be written fails
// the task naming where it is; LogAndContinue / AlwaysContinue skip and count it and go on; a
// user's handler sees the record and decides; the config keys pick the built-in ones by Kafka's
// class names.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/producer.h"
#include "streams/exception_handlers.h"
#include "streams/internal/producer_collector.h"
#include "streams/streams_builder.h"
#include "streams/streams_config.h"
#include "streams/topology_test_driver.h"
#include "tests/free_port.h"
#include "tests/streams/driver_test_util.h"

namespace runnel::streams {
namespace {

using S = std::string;

using testing::Driver;

S Int64Bytes(int64_t n) { return serdes::Int64().serialize(n); }

// in (String, Int64) -> doubled -> out.
std::unique_ptr<TopologyTestDriver> DoublerDriver(TestDriverOptions options) {
  StreamsBuilder builder;
  builder.Stream<S, int64_t>("in").MapValues([](const int64_t& n) { return n * 2; }).To("out");
  return Driver(builder, std::move(options));
}

std::vector<std::pair<S, int64_t>> Out(TopologyTestDriver* driver, const S& topic = "out") {
  TestOutputTopic<S, int64_t> out(driver, topic, serdes::String(), serdes::Int64());
  auto records = out.ReadKeyValuesToList();
  EXPECT_TRUE(records.ok()) << records.status();
  return records.value_or(std::vector<std::pair<S, int64_t>>{});
}

TEST(DeserializationHandlerTest, ByDefaultAPoisonRecordFailsTheTaskNamingTopicPartitionOffset) {
  TestDriverOptions options;
  options.topic_partitions = {{"in", 3}};
  auto driver = DoublerDriver(options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", "k", Int64Bytes(1), 10, 2).ok());
  const absl::Status s = driver->PipeRaw("in", "k", "abc", 11, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("record in-2@1: cannot deserialize its value"), std::string::npos)
      << s;
  EXPECT_NE(s.message().find("expected 8 bytes"), std::string::npos) << s;
  EXPECT_EQ(Out(driver.get()), (std::vector<std::pair<S, int64_t>>{{"k", 2}}));
}

TEST(DeserializationHandlerTest, LogAndContinueSkipsAndCountsPoisonKeysAndValues) {
  StreamsBuilder builder;
  builder.Stream<int64_t, int64_t>("in").To("copy");
  builder.Stream<S, int64_t>("numbers").GroupByKey().Count().ToStream().To("counts");
  TestDriverOptions options;
  options.deserialization_exception_handler = LogAndContinueExceptionHandler();
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", Int64Bytes(1), Int64Bytes(10), 1).ok());
  ASSERT_TRUE(driver->PipeRaw("in", "not a long", Int64Bytes(20), 2).ok()) << "a bad key";
  ASSERT_TRUE(driver->PipeRaw("in", Int64Bytes(3), "{}", 3).ok()) << "a bad value";
  ASSERT_TRUE(driver->PipeRaw("in", Int64Bytes(4), Int64Bytes(40), 4).ok());
  ASSERT_TRUE(driver->PipeRaw("numbers", "a", Int64Bytes(1), 5).ok());
  ASSERT_TRUE(driver->PipeRaw("numbers", "a", "x", 6).ok());
  ASSERT_TRUE(driver->PipeRaw("numbers", "a", Int64Bytes(2), 7).ok());

  TestOutputTopic<int64_t, int64_t> copy(driver.get(), "copy", serdes::Int64(), serdes::Int64());
  auto copied = copy.ReadKeyValuesToList();
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, (std::vector<std::pair<int64_t, int64_t>>{{1, 10}, {4, 40}}));
  EXPECT_EQ(Out(driver.get(), "counts"), (std::vector<std::pair<S, int64_t>>{{"a", 1}, {"a", 2}}))
      << "the skipped record is not counted";
  EXPECT_EQ(driver->metrics().dropped_records, 3);
  EXPECT_EQ(driver->metrics().processed, 7);
}

TEST(DeserializationHandlerTest, ASkippedRecordDoesNotMoveStreamTime) {
  // A poison record with a far-future timestamp would close the window if it counted.
  StreamsBuilder builder;
  builder.Stream<S, int64_t>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(100))
      .Count()
      .Suppress(Suppressed::UntilWindowCloses())
      .ToStream()
      .Map([](const Windowed<S>& w, const int64_t& n) { return std::make_pair(w.key, n); })
      .To("out");
  TestDriverOptions options;
  options.deserialization_exception_handler = LogAndContinueExceptionHandler();
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", "k", Int64Bytes(1), 10).ok());
  ASSERT_TRUE(driver->PipeRaw("in", "k", "bad", 1000).ok());
  EXPECT_TRUE(Out(driver.get()).empty()) << "the window closed on a skipped record's time";
  ASSERT_TRUE(driver->PipeRaw("in", "k", Int64Bytes(1), 20).ok());
  ASSERT_TRUE(driver->PipeRaw("in", "k", Int64Bytes(1), 100).ok());
  EXPECT_EQ(Out(driver.get()), (std::vector<std::pair<S, int64_t>>{{"k", 2}}));
}

TEST(DeserializationHandlerTest, ATableSkipsAPoisonRowWithLogAndContinueAndFailsWithout) {
  StreamsBuilder builder;
  builder.Table<S, int64_t>("rows", {}, Materialized<S, int64_t>::As("rows-store"))
      .ToStream()
      .To("out");
  TestDriverOptions options;
  options.deserialization_exception_handler = LogAndContinueExceptionHandler();
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("rows", "a", Int64Bytes(1), 1).ok());
  ASSERT_TRUE(driver->PipeRaw("rows", "a", "oops", 2).ok());
  auto rows = driver->KeyValueStoreContents("rows-store");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 1u);
  EXPECT_EQ(Out(driver.get()), (std::vector<std::pair<S, int64_t>>{{"a", 1}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);

  auto failing = Driver(builder);
  ASSERT_NE(failing, nullptr);
  const absl::Status s = failing->PipeRaw("rows", "a", "oops", 2);
  EXPECT_NE(s.message().find("record rows-0@0: cannot deserialize its value"), std::string::npos)
      << s;
}

// A key the table's key serde refuses was stored and only failed when the store's update was
// forwarded (at commit with the cache): the task failed on every restart, LogAndContinue or not.
TEST(DeserializationHandlerTest, ATableSkipsARowWhoseKeyDoesNotDecodeWithLogAndContinue) {
  StreamsBuilder builder;
  builder.Table<int64_t, int64_t>("rows", {}, Materialized<int64_t, int64_t>::As("rows-store"))
      .ToStream()
      .To("out");
  TestDriverOptions options;
  options.deserialization_exception_handler = LogAndContinueExceptionHandler();
  options.commit_every_record = true;
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("rows", Int64Bytes(1), Int64Bytes(10), 1).ok());
  ASSERT_TRUE(driver->PipeRaw("rows", "bad", Int64Bytes(20), 2).ok());
  ASSERT_TRUE(driver->PipeRaw("rows", Int64Bytes(2), Int64Bytes(30), 3).ok());
  auto rows = driver->KeyValueStoreContents("rows-store");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 2u) << "the row with the bad key was stored";
  EXPECT_EQ(driver->metrics().dropped_records, 1);

  auto failing = Driver(builder);
  ASSERT_NE(failing, nullptr);
  const absl::Status s = failing->PipeRaw("rows", "bad", Int64Bytes(20), 2);
  EXPECT_NE(s.message().find("record rows-0@0: cannot deserialize its key"), std::string::npos)
      << s;
}

TEST(DeserializationHandlerTest, AUserHandlerSeesTheRecordAndDecides) {
  std::vector<std::pair<S, ErrorRecord>> seen;
  TestDriverOptions options;
  options.deserialization_exception_handler = [&seen](const S& task_id, const ErrorRecord& record,
                                                      const absl::Status& error) {
    seen.emplace_back(task_id, record);
    EXPECT_NE(error.message().find("expected 8 bytes"), std::string::npos) << error;
    return record.value == "skip" ? HandlerResponse::kContinue : HandlerResponse::kFail;
  };
  options.topic_partitions = {{"in", 2}};
  auto driver = DoublerDriver(options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", "k", "skip", 7, 1).ok());
  const absl::Status s = driver->PipeRaw("in", "k", "fail", 8, 1);
  EXPECT_NE(s.message().find("in-1@1"), std::string::npos) << s;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, "0_1");
  EXPECT_EQ(seen[0].second.topic, "in");
  EXPECT_EQ(seen[0].second.partition, 1);
  EXPECT_EQ(seen[0].second.offset, 0);
  EXPECT_EQ(seen[0].second.key, "k");
  EXPECT_EQ(seen[0].second.timestamp, 7);
  EXPECT_EQ(seen[1].second.offset, 1);
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

// An outage is not the record's fault: AlwaysContinue dropped (and committed past) every record
// that timed out while the brokers were unreachable.
TEST(ProductionHandlerTest, AlwaysContinueDoesNotDropARecordThatFailedOnlyForAnOutage) {
  EXPECT_TRUE(IsRetriableProductionError(absl::DeadlineExceededError("not delivered in time")));
  EXPECT_TRUE(IsRetriableProductionError(absl::UnavailableError("no leader")));
  EXPECT_FALSE(IsRetriableProductionError(absl::InvalidArgumentError("record too large")));
  // A producer of a broker that is not there (nothing listens on the port): the record times out.
  client::ProducerOptions options;
  options.bootstrap_servers = "127.0.0.1:" + std::to_string(runnel::testing::FreePort());
  options.delivery_timeout_ms = 500;
  options.request_timeout_ms = 200;
  options.max_block_ms = 500;
  options.linger_ms = 0;
  auto producer = client::Producer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  internal::ProducerCollector collector(std::move(*producer),
                                        AlwaysContinueProductionExceptionHandler());
  const absl::Status sent =
      collector.Send("out", 0, internal::RawRecord{std::string("k"), std::string("v"), 1});
  const absl::Status flushed = sent.ok() ? collector.Flush() : sent;
  EXPECT_FALSE(flushed.ok()) << "the record was dropped as if it could never be written";
  EXPECT_TRUE(IsRetriableProductionError(flushed)) << flushed;
  EXPECT_EQ(collector.dropped_records(), 0);
}

TEST(ProductionHandlerTest, ByDefaultARecordThatCannotBeWrittenFailsTheTask) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").To("out");
  TestDriverOptions options;
  options.max_request_size = 64;
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", "k", "small", 1).ok());
  const absl::Status s = driver->PipeRaw("in", "k", S(100, 'x'), 2);
  EXPECT_NE(s.message().find("sending to out: record of 125 bytes is larger than "
                             "max.request.size (64)"),
            std::string::npos)
      << s;
  EXPECT_EQ(driver->Records("out").size(), 1u);
}

TEST(ProductionHandlerTest, AlwaysContinueDropsARecordThatCannotBeWrittenAndCountsIt) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in").To("out");
  TestDriverOptions options;
  options.max_request_size = 64;
  options.production_exception_handler = AlwaysContinueProductionExceptionHandler();
  auto driver = Driver(builder, options);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRaw("in", "k", "small", 1).ok());
  ASSERT_TRUE(driver->PipeRaw("in", "k", S(100, 'x'), 2).ok());
  ASSERT_TRUE(driver->PipeRaw("in", "k", "after", 3).ok());
  TestOutputTopic<S, S> out(driver.get(), "out", serdes::String(), serdes::String());
  auto records = out.ReadKeyValuesToList();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(*records, (std::vector<std::pair<S, S>>{{"k", "small"}, {"k", "after"}}));
  EXPECT_EQ(driver->metrics().dropped_records, 1);
}

TEST(ExceptionHandlerConfigTest, KeysNameTheBuiltInHandlersByKafkasClassNames) {
  const ErrorRecord record{
      .topic = "t", .partition = 0, .offset = 5, .key = std::nullopt, .value = "v", .timestamp = 0};
  const absl::Status error = absl::InvalidArgumentError("bad");

  auto defaults = StreamsConfig::FromProperties({{"application.id", "a"}});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->DeserializationHandler()("0_0", record, error), HandlerResponse::kFail);
  EXPECT_FALSE(defaults->ProductionHandler()) << "the default fails without a handler to ask";

  for (const S& name : {S("LogAndContinueExceptionHandler"),
                        S("org.apache.kafka.streams.errors.LogAndContinueExceptionHandler")}) {
    auto c = StreamsConfig::FromProperties(
        {{"application.id", "a"}, {"default.deserialization.exception.handler", name}});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->DeserializationHandler()("0_0", record, error), HandlerResponse::kContinue)
        << name;
  }
  auto fail = StreamsConfig::FromProperties(
      {{"application.id", "a"},
       {"default.deserialization.exception.handler", "LogAndFailExceptionHandler"}});
  ASSERT_TRUE(fail.ok()) << fail.status();
  EXPECT_EQ(fail->DeserializationHandler()("0_0", record, error), HandlerResponse::kFail);

  auto cont = StreamsConfig::FromProperties(
      {{"application.id", "a"},
       {"default.production.exception.handler", "AlwaysContinueProductionExceptionHandler"}});
  ASSERT_TRUE(cont.ok()) << cont.status();
  EXPECT_EQ(cont->ProductionHandler()(record, error), HandlerResponse::kContinue);

  auto unknown = StreamsConfig::FromProperties(
      {{"application.id", "a"}, {"default.deserialization.exception.handler", "Ignore"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("default.deserialization.exception.handler"),
            std::string::npos)
      << unknown.status();

  // A handler given through the C++ API wins over the key.
  StreamsConfig custom = *cont;
  custom.production_exception_handler = [](const ErrorRecord&, const absl::Status&) {
    return HandlerResponse::kFail;
  };
  EXPECT_EQ(custom.ProductionHandler()(record, error), HandlerResponse::kFail);
}

}  // namespace
}  // namespace runnel::streams
