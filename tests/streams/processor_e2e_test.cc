// The Processor API in the runtime against a real runneld: a user processor counts records per key
// in a store it reaches by name and reports the counts from a wall-clock punctuation, which the
// stream thread runs when the application's clock moves, with no record arriving. The store is
// changelogged on the broker and restored by the next run.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/clock.h"
#include "streams/processor.h"
#include "streams/streams.h"
#include "streams/streams_builder.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/group_broker_fixture.h"

namespace runnel::streams {
namespace {

using std::chrono::milliseconds;
using testing::WaitFor;
using S = std::string;

constexpr int64_t kReportEveryMs = 1000;

// Counts per key in "counts"; every kReportEveryMs of wall-clock time forwards (key, count) of
// every key.
class ReportingCounter : public Processor<S, S, S, S> {
 public:
  absl::Status Init(ProcessorContext<S, S>& context) override {
    context_ = &context;
    using Store = TypedKeyValueStore<S, int64_t>;
    ASSIGN_OR_RETURN(Store store, (context.GetKeyValueStore<S, int64_t>("counts")));
    store_.emplace(std::move(store));
    return context
        .Schedule(
            kReportEveryMs, PunctuationType::kWallClockTime,
            [this](int64_t now) -> absl::Status {
              ASSIGN_OR_RETURN(auto all, store_->All());
              for (const auto& [key, count] : all) {
                RETURN_IF_ERROR(context_->Forward(Record<S, S>{key, std::to_string(count), now}));
              }
              return absl::OkStatus();
            })
        .status();
  }
  absl::Status Process(const Record<S, S>& record) override {
    ASSIGN_OR_RETURN(std::optional<int64_t> count, store_->Get(record.key));
    return store_->Put(record.key, count.value_or(0) + 1);
  }

 private:
  ProcessorContext<S, S>* context_ = nullptr;
  std::optional<TypedKeyValueStore<S, int64_t>> store_;
};

class ProcessorE2eTest : public testing::GroupBrokerFixture {
 protected:
  Topology Counter() {
    StreamsBuilder builder(StoreType::kInMemory);
    builder.AddStateStore(KeyValueStoreBuilder<S, int64_t>::As("counts"));
    builder.Stream<S, S>("in")
        .Process([] { return std::make_unique<ReportingCounter>(); }, {"counts"}, "counter")
        .To("out");
    auto topology = builder.Build();
    EXPECT_TRUE(topology.ok()) << topology.status();
    return *topology;
  }

  StreamsConfig Config() {
    auto config = StreamsConfig::FromProperties({{"application.id", "reporter"},
                                                 {"bootstrap.servers", broker_->address()},
                                                 {"commit.interval.ms", "100"},
                                                 {"state.dir", dir_.Sub("state")}});
    EXPECT_TRUE(config.ok()) << config.status();
    return *config;
  }

  void Produce(const std::vector<std::pair<S, S>>& records) {
    auto producer = client::Producer::Create(
        client::Properties{{"bootstrap.servers", broker_->address()}, {"linger.ms", "1"}});
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::vector<std::future<absl::StatusOr<client::RecordMetadata>>> sent;
    for (const auto& [k, v] : records) {
      sent.push_back((*producer)->Send(client::ProducerRecord{
          .topic = "in", .partition = {}, .key = k, .value = v, .timestamp = -1, .headers = {}}));
    }
    for (auto& f : sent) ASSERT_TRUE(f.get().ok());
    (*producer)->Close();
  }

  // Every record of `topic` (one partition), read until `done` holds or about 20 s passed.
  std::vector<std::pair<S, S>> ReadUntil(
      const std::string& topic,
      const std::function<bool(const std::vector<std::pair<S, S>>&)>& done) {
    std::vector<std::pair<S, S>> out;
    auto consumer = client::Consumer::Create(client::Properties{
        {"bootstrap.servers", broker_->address()}, {"auto.offset.reset", "earliest"}});
    if (!consumer.ok()) return out;
    if (!(*consumer)->Assign({{topic, 0}}).ok()) return out;
    for (int i = 0; i < 100 && !done(out); ++i) {
      auto records = (*consumer)->Poll(200);
      if (!records.ok()) break;
      for (const auto& r : *records)
        out.emplace_back(S(r.key.value_or("")), S(r.value.value_or("")));
    }
    (*consumer)->Close();
    return out;
  }
};

TEST_F(ProcessorE2eTest, AWallClockPunctuationReportsAStoreWithoutNewRecordsAndTheStoreIsRestored) {
  CreateTopic("in", 1);
  CreateTopic("out", 1);
  ManualClock clock;
  {
    Streams streams(Counter(), Config(), clock);
    ASSERT_TRUE(streams.Start().ok());
    ASSERT_TRUE(
        WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
    Produce({{"a", "1"}, {"b", "2"}, {"a", "3"}, {"a", "4"}, {"b", "5"}});
    ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 5; }, milliseconds(10000)));
    // The clock has not moved: no punctuation, no output (looked for during 5 polls).
    EXPECT_TRUE(ReadUntil("out", [polls = 0](const auto&) mutable { return ++polls > 5; }).empty());
    // No record arrives; the thread's loop runs the punctuation once the clock passes it.
    clock.AdvanceMs(kReportEveryMs);
    EXPECT_EQ(ReadUntil("out", [](const auto& r) { return r.size() >= 2; }),
              (std::vector<std::pair<S, S>>{{"a", "3"}, {"b", "2"}}));
    streams.Close();
  }
  // The store's changelog holds each update.
  EXPECT_EQ(
      ReadUntil("reporter-counts-changelog", [](const auto& r) { return r.size() >= 5; }).size(),
      5u);
  // A new run restores the counts from the changelog and goes on from them.
  Streams streams(Counter(), Config(), clock);
  ASSERT_TRUE(streams.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return streams.state() == Streams::State::kRunning; }, milliseconds(20000)));
  Produce({{"a", "6"}});
  ASSERT_TRUE(WaitFor([&] { return streams.metrics().processed == 1; }, milliseconds(10000)));
  clock.AdvanceMs(kReportEveryMs);
  EXPECT_EQ(ReadUntil("out", [](const auto& r) { return r.size() >= 4; }),
            (std::vector<std::pair<S, S>>{{"a", "3"}, {"b", "2"}, {"a", "4"}, {"b", "2"}}));
  streams.Close();
  EXPECT_EQ(streams.state(), Streams::State::kNotRunning);
}

}  // namespace
}  // namespace runnel::streams
