// The fetch path through a real runneld: a read held up by a slow disk (io_fault_shim.c stalls
// pread on one partition's files) stalls neither long polls of other partitions nor producers of
// its own partition; and consumers that stop reading (SIGSTOP) cannot make the broker hold more
// fetch-response memory than --fetch-memory-bytes, and all finish once they read again; no more
// than --fetch-max-parked long polls wait at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/record/batch_builder.h"
#include "tests/e2e/child_process.h"
#include "tests/fault/faulty_broker.h"

namespace runnel {
namespace {

using std::chrono::milliseconds;
using testing::Batch;
using testing::ChildProcess;
using testing::Gauge;
using testing::RawBrokerClient;
using testing::WaitFor;
using FetchPathTest = testing::FaultyBrokerTest;

// Reproduced before: every long-poll fetch read on the one io thread, under the partition's
// reader lock, so one read stuck on a slow disk held up every other consumer's long poll (until
// their deadline) and every producer of that partition.
TEST_F(FetchPathTest, ASlowReadStallsNeitherOtherPartitionsNorItsProducers) {
  StartFaultyBroker("pread=-1", "/slow-0/", /*once=*/false);  // -1: stall while triggered
  client_->CreateTopic("slow");
  client_->CreateTopic("fast");
  ASSERT_EQ(client_->Produce("slow", Batch("s1")).error().code(), v1::NONE);
  ASSERT_EQ(client_->Produce("fast", Batch("f1")).error().code(), v1::NONE);

  FaultsOn();
  RawBrokerClient slow_reader(broker_->address());
  auto slow = std::async(std::launch::async, [&slow_reader] {
    return slow_reader.Fetch("slow", 0, 0, /*max_wait_ms=*/500);
  });
  ASSERT_TRUE(WaitFor([&] { return InjectedFaults().find("pread") != std::string::npos; },
                      milliseconds(20'000)))
      << "the slow partition's read never reached the disk";

  // The stalled read holds neither the other fetches nor the partition's lock.
  const v1::PartitionFetchResult fast = client_->Fetch("fast", 0, 0, /*max_wait_ms=*/500);
  EXPECT_EQ(fast.error().code(), v1::NONE) << fast.error().message();
  EXPECT_EQ(storage::testing::DecodeAll(fast.records()).size(), 1u);
  const v1::PartitionFetchResult waiting = client_->Fetch("fast", 1, 0, /*max_wait_ms=*/200);
  EXPECT_EQ(waiting.error().code(), v1::NONE) << "a long poll with nothing to read times out";
  const v1::PartitionProduceResult produced = client_->Produce("slow", Batch("s2"));
  EXPECT_EQ(produced.error().code(), v1::NONE) << produced.error().message();
  EXPECT_EQ(produced.base_offset(), 1);
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the slow read was not stalled while the others ran";

  FaultsOff();
  const v1::PartitionFetchResult slow_result = slow.get();
  EXPECT_EQ(slow_result.error().code(), v1::NONE) << slow_result.error().message();
  EXPECT_FALSE(storage::testing::DecodeAll(slow_result.records()).empty());
}

// The peak resident set of process `pid` (VmHWM) in bytes, -1 if unknown.
int64_t PeakResidentBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib * 1024;
  }
  return -1;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // shadow memory and quarantines make RSS say little
#else
constexpr bool kSanitized = false;
#endif

// Reproduced before: nothing bounded the fetch responses the broker held. A consumer that stops
// reading leaves its response in the broker until it has been sent; 10 stopped consumers whose
// long polls were answered with 24 MiB each grew runneld's resident set by 314 MB. Now the
// responses in flight hold at most --fetch-memory-bytes (plus a batch per fetch thread), the
// fetches that find it spent wait (and are answered empty at their deadline), and every consumer
// reads everything once they all read again.
TEST_F(FetchPathTest, ConsumersThatStopReadingStayWithinTheFetchMemoryCap) {
  constexpr int64_t kCap = 32 << 20;
  constexpr int kPartitions = 24;
  constexpr int kBatchesPerPartition = 12;
  constexpr int kRecordsPerBatch = 10;
  constexpr int kConsumers = 10;
  constexpr int kRecords = kPartitions * kBatchesPerPartition * kRecordsPerBatch;
  broker_ = std::make_unique<testing::BrokerProcess>(
      dir_.Sub("data"), std::vector<std::string>{"--fetch-memory-bytes", absl::StrCat(kCap),
                                                 "--fetch-max-bytes", absl::StrCat(kCap)});
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  client_ = std::make_unique<RawBrokerClient>(broker_->address());
  client_->CreateTopic("wide", kPartitions);

  // The consumers start on the empty topic and long-poll it; then they stop reading (SIGSTOP)
  // with their long polls parked in the broker.
  std::vector<std::unique_ptr<ChildProcess>> consumers;
  const auto out = [this](int i) { return dir_.Sub(absl::StrCat("consumer-", i, ".out")); };
  const auto err = [this](int i) { return dir_.Sub(absl::StrCat("consumer-", i, ".err")); };
  for (int i = 0; i < kConsumers; ++i) {
    consumers.push_back(std::make_unique<ChildProcess>());
    ASSERT_TRUE(consumers.back()->Start(
        {std::string(RUNNEL_BIN_DIR) + "/runnel", "--brokers", broker_->address(), "consume",
         "wide", "--from-beginning", "--num", absl::StrCat(kRecords), "--format", "%o\\n",
         // Long polls that wait for most of the topic: each is answered with about 24 MiB.
         "--consumer-property", absl::StrCat("fetch.min.bytes=", 16 << 20), "--consumer-property",
         "fetch.max.wait.ms=10000"},
        "", out(i), err(i)));
  }
  ASSERT_TRUE(WaitFor(
      [&] { return Gauge(broker_->http_port(), "runnel_fetch_requests_total") >= kConsumers; },
      milliseconds(30'000)))
      << "the consumers did not start fetching";
  std::this_thread::sleep_for(milliseconds(300));  // every one is in a long poll by now
  for (auto& consumer : consumers) ::kill(consumer->pid(), SIGSTOP);
  const int64_t rss_before = PeakResidentBytes(broker_->pid());
  ASSERT_GT(rss_before, 0);

  // 24 partitions x 12 batches x 10 records of 10 KiB: each long poll wakes to a 24 MiB answer.
  const auto produce_wave = [&] {
    const std::string value(10 << 10, 'v');
    for (int p = 0; p < kPartitions; ++p) {
      for (int b = 0; b < kBatchesPerPartition; ++b) {
        record::RecordBatchBuilder builder;
        for (int r = 0; r < kRecordsPerBatch; ++r) builder.Append(1000, "k", value);
        ASSERT_EQ(client_->Produce("wide", *builder.Build(), v1::ACKS_ALL, p).error().code(),
                  v1::NONE);
      }
    }
  };
  produce_wave();
  // Let the woken long polls read (the others wait for memory, up to their 10 s).
  std::this_thread::sleep_for(milliseconds(1000));
  const int64_t held = Gauge(broker_->http_port(), "runnel_fetch_memory_bytes");
  const int64_t peak = Gauge(broker_->http_port(), "runnel_fetch_memory_peak_bytes");
  const int64_t rss_after = PeakResidentBytes(broker_->pid());
  std::cerr << "fetch memory held " << held << ", peak " << peak << "; runneld peak RSS "
            << rss_before << " -> " << rss_after << "\n";
  // A read returns its first batch whole: at most one batch (~100 KiB) past the cap per thread.
  constexpr int64_t kSlack = 4 * (1 << 20);
  EXPECT_GE(held, kCap / 2) << "the stopped consumers' answers are not held";
  EXPECT_LE(held, kCap + kSlack);
  EXPECT_LE(peak, kCap + kSlack);
  if (!kSanitized) {
    EXPECT_LT(rss_after - rss_before, int64_t{160} << 20)
        << "runneld's peak resident set grew from " << rss_before << " to " << rss_after;
  }

  for (auto& consumer : consumers) ::kill(consumer->pid(), SIGCONT);
  // A second wave, so that no consumer's last fetch waits out its fetch.min.bytes: each stops
  // after the first wave's records.
  produce_wave();
  for (int i = 0; i < kConsumers; ++i) {
    const std::optional<int> status = consumers[i]->SignalAndWait(0, milliseconds(60'000));
    EXPECT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "consumer " << i << ": " << testing::DescribeStatus(status) << "\n"
        << testing::ReadFile(err(i));
    const std::string printed = testing::ReadFile(out(i));
    EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), kRecords) << "consumer " << i;
  }
  // The answers still in flight to consumers that exited are dropped with their connections.
  EXPECT_TRUE(WaitFor([&] { return Gauge(broker_->http_port(), "runnel_fetch_memory_bytes") == 0; },
                      milliseconds(20'000)))
      << Gauge(broker_->http_port(), "runnel_fetch_memory_bytes") << " bytes still held";
}

// The long polls parked at once are bounded: one past --fetch-max-parked is refused at once,
// naming the flag (the client backs off and fetches again), and its place is free again when a
// parked one is answered.
TEST_F(FetchPathTest, LongPollsPastTheParkedLimitAreRefusedNamingIt) {
  StartPlainBroker({"--fetch-max-parked", "2"});
  client_->CreateTopic("quiet");
  std::vector<std::unique_ptr<RawBrokerClient>> readers;
  std::vector<std::future<v1::PartitionFetchResult>> parked;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(std::make_unique<RawBrokerClient>(broker_->address()));
    parked.push_back(std::async(std::launch::async, [reader = readers.back().get()] {
      return reader->Fetch("quiet", 0, 0, /*max_wait_ms=*/60'000);
    }));
  }
  ASSERT_TRUE(WaitFor([&] { return Gauge(broker_->http_port(), "runnel_fetch_parked") == 2; },
                      milliseconds(10'000)))
      << "parked: " << Gauge(broker_->http_port(), "runnel_fetch_parked");

  v1::FetchRequest request;
  request.set_max_wait_ms(15'000);
  v1::PartitionFetch* p = request.add_partitions();
  p->set_topic("quiet");
  p->set_max_bytes(1 << 20);
  v1::FetchResponse response;
  const auto sent = std::chrono::steady_clock::now();
  const grpc::Status refused =
      client_->broker().Fetch(RawBrokerClient::Context().get(), request, &response);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(10)) << "it waited";
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("--fetch-max-parked"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(Gauge(broker_->http_port(), "runnel_fetch_parked_refused_total"), 1);

  // A record answers both parked polls; then a long poll parks again, to its deadline.
  ASSERT_EQ(client_->Produce("quiet", Batch("news")).error().code(), v1::NONE);
  for (auto& f : parked) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    const v1::PartitionFetchResult woken = f.get();
    EXPECT_EQ(woken.error().code(), v1::NONE) << woken.error().message();
    EXPECT_EQ(storage::testing::DecodeAll(woken.records()).size(), 1u);
  }
  EXPECT_EQ(Gauge(broker_->http_port(), "runnel_fetch_parked"), 0);
  const v1::PartitionFetchResult waited = client_->Fetch("quiet", 1, 0, /*max_wait_ms=*/300);
  EXPECT_EQ(waited.error().code(), v1::NONE) << waited.error().message();
  EXPECT_TRUE(waited.records().empty());
  EXPECT_EQ(Gauge(broker_->http_port(), "runnel_fetch_parked_refused_total"), 1);
}

}  // namespace
}  // namespace runnel
