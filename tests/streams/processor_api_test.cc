// The Processor API (streams/processor.h) through the driver: KStream::Process with a user
// processor, Forward (to all children and to a named one), stores by name (changelogged and
// restored), Close, and the errors for stores and children that do not exist.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "streams/internal/dsl_processors.h"
#include "streams/internal/fk_join_processors.h"
#include "streams/internal/global_table_processors.h"
#include "streams/internal/join_processors.h"
#include "streams/internal/session_window_processors.h"
#include "streams/internal/sliding_window_processors.h"
#include "streams/internal/table_join_processors.h"
#include "streams/processor.h"
#include "streams/streams_builder.h"
#include "streams/topology_test_driver.h"

namespace runnel::streams {
namespace {

using S = std::string;

// Counts records per key in store "counts" and forwards (key, count so far).
class CountingProcessor : public Processor<S, S, S, int64_t> {
 public:
  explicit CountingProcessor(int* closed = nullptr) : closed_(closed) {}
  absl::Status Init(ProcessorContext<S, int64_t>& context) override {
    context_ = &context;
    using Store = TypedKeyValueStore<S, int64_t>;
    ASSIGN_OR_RETURN(Store store, (context.GetKeyValueStore<S, int64_t>("counts")));
    store_.emplace(std::move(store));
    return absl::OkStatus();
  }
  absl::Status Process(const Record<S, S>& record) override {
    ASSIGN_OR_RETURN(std::optional<int64_t> count, store_->Get(record.key));
    const int64_t next = count.value_or(0) + 1;
    RETURN_IF_ERROR(store_->Put(record.key, next));
    return context_->Forward(Record<S, int64_t>{record.key, next, record.timestamp});
  }
  void Close() override {
    if (closed_ != nullptr) ++*closed_;
  }

 private:
  int* closed_;
  ProcessorContext<S, int64_t>* context_ = nullptr;
  std::optional<TypedKeyValueStore<S, int64_t>> store_;
};

std::unique_ptr<TopologyTestDriver> CountingDriver(StoreType type, int* closed = nullptr,
                                                   int32_t partitions = 1) {
  StreamsBuilder builder;
  builder.AddStateStore(KeyValueStoreBuilder<S, int64_t>::As("counts").WithStoreType(type));
  builder.Stream<S, S>("in")
      .Process([closed] { return std::make_unique<CountingProcessor>(closed); }, {"counts"})
      .To("out");
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  TestDriverOptions options;
  options.default_partitions = partitions;
  auto driver = TopologyTestDriver::Create(*topology, options);
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

// The output since the last call.
std::vector<std::pair<S, int64_t>> ReadCounts(TestOutputTopic<S, int64_t>& out) {
  auto got = out.ReadKeyValuesToList();
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : std::vector<std::pair<S, int64_t>>{};
}

TEST(ProcessorApiTest, AProcessorKeepsStateInAStoreByNameThatIsChangeloggedAndRestored) {
  for (StoreType type : {StoreType::kInMemory, StoreType::kRocksDb}) {
    auto driver = CountingDriver(type);
    ASSERT_NE(driver, nullptr);
    TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
    TestOutputTopic<S, int64_t> out(driver.get(), "out", serdes::String(), serdes::Int64());
    ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
    ASSERT_TRUE(in.PipeInput("b", "x", 2).ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 3).ok());
    EXPECT_EQ(ReadCounts(out), (std::vector<std::pair<S, int64_t>>{{"a", 1}, {"b", 1}, {"a", 2}}));
    // Every store write went to the store's changelog.
    EXPECT_EQ(driver->Records("test-app-counts-changelog").size(), 3u);
    // A crash loses nothing: the store comes back from its changelog.
    ASSERT_TRUE(driver->RestartTasks().ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 4).ok());
    EXPECT_EQ(ReadCounts(out), (std::vector<std::pair<S, int64_t>>{{"a", 3}}));
    auto contents = driver->KeyValueStoreContents("counts");
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_EQ(contents->size(), 2u);
  }
}

// Counts records per key in tumbling windows of 10 ms (window store "windows", retention 20 ms)
// and in sessions of activity with a gap of 5 ms (session store "sessions", retention 20 ms,
// merging what a record bridges), and forwards "w<start>=<count> s<start>-<end>=<count>".
class WindowedProcessor : public Processor<S, S, S, S> {
 public:
  absl::Status Init(ProcessorContext<S, S>& context) override {
    context_ = &context;
    ASSIGN_OR_RETURN(auto windows, (context.GetWindowStore<S, int64_t>("windows")));
    windows_.emplace(std::move(windows));
    ASSIGN_OR_RETURN(auto sessions, (context.GetSessionStore<S, int64_t>("sessions")));
    sessions_.emplace(std::move(sessions));
    return absl::OkStatus();
  }
  absl::Status Process(const Record<S, S>& record) override {
    const int64_t t = record.timestamp;
    const int64_t start = t - t % 10;
    ASSIGN_OR_RETURN(std::optional<int64_t> in_window, windows_->Fetch(record.key, start));
    const int64_t window_count = in_window.value_or(0) + 1;
    RETURN_IF_ERROR(windows_->Put(record.key, start, window_count));
    int64_t session_start = t, session_end = t, session_count = 1;
    ASSIGN_OR_RETURN(auto overlapping, sessions_->FindSessions(record.key, t - 5, t + 5));
    for (const StoredSession<int64_t>& s : overlapping) {
      session_start = std::min(session_start, s.start);
      session_end = std::max(session_end, s.end);
      session_count += s.value;
      RETURN_IF_ERROR(sessions_->Remove(record.key, s.start, s.end));
    }
    RETURN_IF_ERROR(sessions_->Put(record.key, session_start, session_end, session_count));
    return context_->Forward(
        Record<S, S>{record.key,
                     absl::StrCat("w", start, "=", window_count, " s", session_start, "-",
                                  session_end, "=", session_count),
                     t});
  }

 private:
  ProcessorContext<S, S>* context_ = nullptr;
  std::optional<TypedWindowStore<S, int64_t>> windows_;
  std::optional<TypedSessionStore<S, int64_t>> sessions_;
};

TEST(ProcessorApiTest, AProcessorKeepsWindowsAndSessionsInStoresThatAreRestoredAndExpire) {
  for (StoreType type : {StoreType::kInMemory, StoreType::kRocksDb}) {
    StreamsBuilder builder;
    builder.AddStateStore(WindowStoreBuilder<S, int64_t>::As("windows", 20).WithStoreType(type));
    builder.AddStateStore(SessionStoreBuilder<S, int64_t>::As("sessions", 20).WithStoreType(type));
    builder.Stream<S, S>("in")
        .Process([] { return std::make_unique<WindowedProcessor>(); }, {"windows", "sessions"})
        .To("out");
    auto topology = builder.Build();
    ASSERT_TRUE(topology.ok()) << topology.status();
    auto driver = TopologyTestDriver::Create(*topology);
    ASSERT_TRUE(driver.ok()) << driver.status();
    TestInputTopic<S, S> in(driver->get(), "in", serdes::String(), serdes::String());
    TestOutputTopic<S, S> out(driver->get(), "out", serdes::String(), serdes::String());
    const auto values = [&out] {
      std::vector<S> got;
      auto records = out.ReadKeyValuesToList();
      EXPECT_TRUE(records.ok()) << records.status();
      if (records.ok()) {
        for (auto& [key, value] : *records) got.push_back(value);
      }
      return got;
    };
    ASSERT_TRUE(in.PipeInput("a", "x", 1).ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 4).ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 12).ok());  // a new window; bridges nothing (gap 5)
    ASSERT_TRUE(in.PipeInput("a", "x", 8).ok());   // back in [0, 10); joins both sessions
    EXPECT_EQ(values(),
              (std::vector<S>{"w0=1 s1-1=1", "w0=2 s1-4=2", "w10=1 s12-12=1", "w0=3 s1-12=4"}));
    // The stores come back from their changelogs.
    ASSERT_TRUE((*driver)->RestartTasks().ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 13).ok());
    EXPECT_EQ(values(), (std::vector<S>{"w10=2 s1-13=5"}));
    // Far ahead: the old window and session expired (retention 20 ms behind the latest put).
    ASSERT_TRUE(in.PipeInput("a", "x", 40).ok());
    ASSERT_TRUE(in.PipeInput("a", "x", 5).ok());
    EXPECT_EQ(values(), (std::vector<S>{"w40=1 s40-40=1", "w0=1 s5-5=1"}));
  }
}

TEST(ProcessorApiTest, CloseIsCalledOncePerTaskWhenTheDriverCloses) {
  int closed = 0;
  auto driver = CountingDriver(StoreType::kInMemory, &closed, 3);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(closed, 0);
  ASSERT_TRUE(driver->Close().ok());
  EXPECT_EQ(closed, 3);
}

// Forwards a record whose value is "even" or "odd" to the child of that name, and one whose value
// is "all" to every child.
class RoutingProcessor : public Processor<S, S, S, S> {
 public:
  absl::Status Init(ProcessorContext<S, S>& context) override {
    context_ = &context;
    return absl::OkStatus();
  }
  absl::Status Process(const Record<S, S>& record) override {
    if (record.value == "all") return context_->Forward(record);
    return context_->Forward(record, record.value);
  }

 private:
  ProcessorContext<S, S>* context_ = nullptr;
};

std::unique_ptr<TopologyTestDriver> RoutingDriver() {
  StreamsBuilder builder;
  KStream<S, S> routed =
      builder.Stream<S, S>("in").Process([] { return std::make_unique<RoutingProcessor>(); });
  auto always = [](const S&, const S&) { return true; };
  routed.Filter(always, "even").To("evens");
  routed.Filter(always, "odd").To("odds");
  auto topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  auto driver = TopologyTestDriver::Create(*topology);
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

TEST(ProcessorApiTest, ForwardReachesEveryChildOrTheOneNamed) {
  auto driver = RoutingDriver();
  ASSERT_NE(driver, nullptr);
  TestInputTopic<S, S> in(driver.get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("1", "odd", 1).ok());
  ASSERT_TRUE(in.PipeInput("2", "even", 2).ok());
  ASSERT_TRUE(in.PipeInput("3", "all", 3).ok());
  TestOutputTopic<S, S> evens(driver.get(), "evens", serdes::String(), serdes::String());
  TestOutputTopic<S, S> odds(driver.get(), "odds", serdes::String(), serdes::String());
  EXPECT_EQ(*evens.ReadKeyValuesToList(),
            (std::vector<std::pair<S, S>>{{"2", "even"}, {"3", "all"}}));
  EXPECT_EQ(*odds.ReadKeyValuesToList(),
            (std::vector<std::pair<S, S>>{{"1", "odd"}, {"3", "all"}}));
}

// The DSL's own processors implement the interface a user's does (issue 18 item 3), as Kafka
// Streams' do: each is a Processor<KIn, VIn, KOut, VOut>.
template <typename P, typename KIn, typename VIn, typename KOut, typename VOut>
constexpr bool kIsApiProcessor = std::is_base_of_v<Processor<KIn, VIn, KOut, VOut>, P>;
using I64 = int64_t;
using W = Windowed<S>;
static_assert(kIsApiProcessor<internal::FunctionProcessor<S, S, S, I64>, S, S, S, I64>);
static_assert(kIsApiProcessor<internal::BranchProcessor<S, S>, S, S, S, S>);
static_assert(kIsApiProcessor<internal::AggregateProcessor<S, S, I64>, S, S, S, Change<I64>>);
static_assert(
    kIsApiProcessor<internal::TableAggregateProcessor<S, S, I64>, S, Change<S>, S, Change<I64>>);
static_assert(kIsApiProcessor<internal::WindowAggregateProcessor<S, S, I64>, S, S, W, Change<I64>>);
static_assert(
    kIsApiProcessor<internal::SlidingWindowAggregateProcessor<S, S, I64>, S, S, W, Change<I64>>);
static_assert(
    kIsApiProcessor<internal::SessionWindowAggregateProcessor<S, S, I64>, S, S, W, Change<I64>>);
static_assert(kIsApiProcessor<internal::SuppressProcessor<S, I64>, W, Change<I64>, W, Change<I64>>);
static_assert(kIsApiProcessor<internal::StreamStreamJoinProcessor<S, S, I64, S, true>, S, S, S, S>);
static_assert(kIsApiProcessor<internal::StreamTableJoinProcessor<S, S, I64, S>, S, S, S, S>);
static_assert(
    kIsApiProcessor<internal::StreamGlobalTableJoinProcessor<S, S, S, I64, S>, S, S, S, S>);
static_assert(kIsApiProcessor<internal::TableTableJoinProcessor<S, S, I64, S, true>, S, Change<S>,
                              S, Change<S>>);
static_assert(kIsApiProcessor<internal::TableJoinMergeProcessor<S, S>, S, Change<S>, S, Change<S>>);
static_assert(kIsApiProcessor<internal::SubscriptionSendProcessor<S, S, S>, S, Change<S>, S, S>);
static_assert(kIsApiProcessor<internal::SubscriptionReceiveProcessor, S, S, S, S>);
static_assert(kIsApiProcessor<internal::ForeignTableChangeProcessor<S, I64>, S, Change<I64>, S, S>);
static_assert(kIsApiProcessor<internal::ResponseJoinProcessor<S, S, I64, S>, S, S, S, Change<S>>);

// So one runs where a user's would: under KStream::Process, forwarding through its context.
TEST(ProcessorApiTest, ADslProcessorRunsUnderProcessLikeAUsersProcessor) {
  using Upper = internal::FunctionProcessor<S, S, S, I64>;
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .Process([] {
        return std::make_unique<Upper>(
            [](ProcessorContext<S, I64>& context, const Record<S, S>& r) {
              return context.Forward(
                  Record<S, I64>{r.key, static_cast<I64>(r.value.size()), r.timestamp});
            });
      })
      .To("lengths");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  auto driver = TopologyTestDriver::Create(*topology);
  ASSERT_TRUE(driver.ok()) << driver.status();
  TestInputTopic<S, S> in(driver->get(), "in", serdes::String(), serdes::String());
  ASSERT_TRUE(in.PipeInput("a", "four", 1).ok());
  TestOutputTopic<S, I64> lengths(driver->get(), "lengths", serdes::String(), serdes::Int64());
  EXPECT_EQ(*lengths.ReadKeyValuesToList(), (std::vector<std::pair<S, I64>>{{"a", 4}}));
}

TEST(ProcessorApiTest, ForwardToAChildThatDoesNotExistIsAnErrorNamingTheChildren) {
  auto driver = RoutingDriver();
  ASSERT_NE(driver, nullptr);
  absl::Status s = driver->PipeRaw("in", "k", "prime", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("no child named prime"), std::string::npos) << s;
  EXPECT_NE(s.message().find("[even, odd]"), std::string::npos) << s;
}

TEST(ProcessorApiTest, AStoreNobodyAddedIsABuildErrorNamingIt) {
  StreamsBuilder builder;
  builder.Stream<S, S>("in")
      .Process([] { return std::make_unique<CountingProcessor>(); }, {"counts"}, "counter")
      .To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(
      topology.status().message().find("node counter uses store counts, which was never added"),
      std::string::npos)
      << topology.status();
}

TEST(ProcessorApiTest, AWindowOrSessionStoreWithoutRetentionIsABuildError) {
  StreamsBuilder builder;
  builder.AddStateStore(WindowStoreBuilder<S, int64_t>::As("windows", 0));
  builder.Stream<S, S>("in").To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("store windows: retention_ms is 0; at least 1"),
            std::string::npos)
      << topology.status();
}

TEST(ProcessorApiTest, AStoreNotConnectedOrOfOtherTypesIsAnInitErrorNamingIt) {
  {
    StreamsBuilder builder;
    builder.AddStateStore(KeyValueStoreBuilder<S, int64_t>::As("counts"));
    builder.AddStateStore(KeyValueStoreBuilder<S, int64_t>::As("other"));
    builder.Stream<S, S>("in")
        .Process([] { return std::make_unique<CountingProcessor>(); }, {"other"}, "counter")
        .To("out");
    auto topology = builder.Build();
    ASSERT_TRUE(topology.ok()) << topology.status();
    auto driver = TopologyTestDriver::Create(*topology);
    ASSERT_FALSE(driver.ok());
    EXPECT_NE(driver.status().message().find(
                  "counter: store counts is not connected to this processor (connected: [other]"),
              std::string::npos)
        << driver.status();
  }
  {
    StreamsBuilder builder;
    builder.AddStateStore(KeyValueStoreBuilder<S, S>::As("counts"));  // values are strings
    builder.Stream<S, S>("in")
        .Process([] { return std::make_unique<CountingProcessor>(); }, {"counts"}, "counter")
        .To("out");
    auto topology = builder.Build();
    ASSERT_TRUE(topology.ok()) << topology.status();
    auto driver = TopologyTestDriver::Create(*topology);
    ASSERT_FALSE(driver.ok());
    EXPECT_NE(driver.status().message().find("counter: store counts is not a key-value store added "
                                             "with StreamsBuilder::AddStateStore as a "
                                             "KeyValueStoreBuilder with the key and value types "
                                             "asked for"),
              std::string::npos)
        << driver.status();
  }
}

TEST(ProcessorApiTest, TheStoresOfAProcessorAreInItsSubtopologyDescription) {
  StreamsBuilder builder;
  builder.AddStateStore(KeyValueStoreBuilder<S, int64_t>::As("counts"));
  builder.Stream<S, S>("in")
      .Process([] { return std::make_unique<CountingProcessor>(); }, {"counts"}, "counter")
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_NE(topology->Describe().find("Processor: counter (stores: [counts])"), std::string::npos)
      << topology->Describe();
}

}  // namespace
}  // namespace runnel::streams
