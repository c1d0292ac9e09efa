// Fetcher (client/internal/fetcher.h) against a real runneld (tests/e2e/broker_process.h) whose
// partitions the test fills batch by batch through the broker's API: records handed out in order
// moving the position, prefetching past what is buffered but never more than two responses per
// partition, retry.backoff.ms after a failed fetch timed by a ManualClock (no sleeps),
// out-of-range answers (past the end, below a log start retention moved) turned into offset
// resets, unknown topics, seeks and pauses.
#include "client/internal/fetcher.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/record/batch_builder.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::client::internal {
namespace {

using runnel::testing::BrokerProcess;
using runnel::testing::RawBrokerClient;
using storage::testing::TempDir;

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};

std::vector<int64_t> Offsets(const std::vector<ConsumerRecord>& records) {
  std::vector<int64_t> out;
  for (const ConsumerRecord& r : records) out.push_back(r.offset);
  return out;
}

class FetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    client_ = std::make_unique<RawBrokerClient>(broker_->address());
    stub_ = v1::Broker::NewStub(
        grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (fetcher_ != nullptr && fetcher_->in_flight()) {
      fetcher_->Cancel();
      Complete();
      fetcher_->Discard();
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  // Bounded waits: a fetch that finds nothing new answers after 100 ms, not 500.
  static ConsumerOptions Options() {
    ConsumerOptions options;
    options.fetch_max_wait_ms = 100;
    options.request_timeout_ms = 20'000;
    return options;
  }

  void Make(const ConsumerOptions& options = Options(),
            AutoOffsetReset reset = AutoOffsetReset::kEarliest) {
    subscriptions_ = std::make_unique<SubscriptionState>(reset);
    MetadataCacheOptions cache;
    cache.bootstrap = {broker_->address()};
    cache.retry_backoff_ms = options.retry_backoff_ms;
    metadata_ = std::make_unique<MetadataCache>(cache, &channels_, &clock_);
    fetcher_ = std::make_unique<Fetcher>(options, metadata_.get(), &channels_, &cq_, &clock_);
  }

  // Appends one batch of `count` records to `tp`, valued "v<offset>" and stamped `timestamp` +
  // offset (1970 by default: no test here keeps time retention on unless it means to).
  void Produce(const TopicPartition& tp, int count, int64_t timestamp = 1000) {
    int64_t& next = next_offset_[tp];
    record::RecordBatchBuilder builder;
    for (int i = 0; i < count; ++i) {
      builder.Append(timestamp + next + i, std::nullopt, absl::StrCat("v", next + i));
    }
    auto built = builder.Build();
    ASSERT_TRUE(built.ok()) << built.status();
    const v1::PartitionProduceResult r =
        client_->Produce(tp.topic, *built, v1::ACKS_ALL, tp.partition);
    ASSERT_EQ(r.error().code(), v1::NONE) << r.error().message();
    ASSERT_EQ(r.base_offset(), next);
    next += count;
  }

  // The log start offset of `tp` (ListOffsets, earliest).
  int64_t LogStart(const TopicPartition& tp) {
    v1::ListOffsetsRequest request;
    v1::PartitionOffsetQuery* q = request.add_partitions();
    q->set_topic(tp.topic);
    q->set_partition(tp.partition);
    q->set_timestamp(kEarliest);
    v1::ListOffsetsResponse response;
    const grpc::Status s =
        client_->broker().ListOffsets(RawBrokerClient::Context().get(), request, &response);
    if (!s.ok() || response.partitions_size() != 1 ||
        response.partitions(0).error().code() != v1::NONE) {
      return -1;
    }
    return response.partitions(0).offset();
  }

  // Waits for the fetch in flight to complete (at most 10 s); true if it did.
  bool Complete() {
    void* tag = nullptr;
    bool ok = false;
    const auto got =
        cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(10));
    return got == grpc::CompletionQueue::GOT_EVENT && fetcher_->OnEvent(tag) && fetcher_->done();
  }

  // Sends a fetch, waits for it and takes its answer.
  absl::Status FetchOnce() {
    fetcher_->MaybeSend(*subscriptions_);
    if (!fetcher_->in_flight()) return absl::InternalError("no fetch was sent");
    if (!Complete()) return absl::DeadlineExceededError("the fetch did not complete in 10 s");
    return fetcher_->TakeCompleted(subscriptions_.get());
  }

  absl::StatusOr<std::vector<ConsumerRecord>> Drain() {
    std::vector<ConsumerRecord> records;
    const absl::Status s = fetcher_->Drain(subscriptions_.get(), &records);
    if (!s.ok()) return s;
    return records;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<RawBrokerClient> client_;
  std::unique_ptr<v1::Broker::Stub> stub_;
  BrokerChannels channels_;
  std::unique_ptr<MetadataCache> metadata_;
  grpc::CompletionQueue cq_;
  ManualClock clock_;
  std::map<TopicPartition, int64_t> next_offset_;
  std::unique_ptr<SubscriptionState> subscriptions_;
  std::unique_ptr<Fetcher> fetcher_;
};

TEST_F(FetcherTest, FetchedRecordsAreHandedOutInOrderAndMoveThePosition) {
  client_->CreateTopic("t");
  for (int i = 0; i < 3; ++i) Produce(kP0, 3);  // batches 0..2, 3..5, 6..8
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 4).ok());
  ASSERT_TRUE(FetchOnce().ok());

  // The broker answers from the batch holding offset 4; the record before it is skipped.
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(Offsets(*records), (std::vector<int64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ((*records)[0].topic, "t");
  EXPECT_EQ((*records)[0].partition, 0);
  EXPECT_EQ((*records)[0].value, "v4");
  EXPECT_EQ((*records)[4].timestamp, 1008);
  EXPECT_EQ(subscriptions_->Position(kP0), 9);
}

// CaughtUpAtMs: when a response last showed the partition with nothing past its position — not
// while fetched records wait to be handed out, nor before any answer since a seek.
TEST_F(FetcherTest, APartitionIsCaughtUpAsOfTheResponseThatShowedNothingPastItsPosition) {
  client_->CreateTopic("t");
  Produce(kP0, 3);
  ConsumerOptions options = Options();
  options.max_poll_records = 2;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  auto caught_up = [&] { return fetcher_->CaughtUpAtMs(kP0, *subscriptions_->Find(kP0)); };
  EXPECT_EQ(caught_up(), std::nullopt) << "no response yet";

  const int64_t first_at = clock_.NowMs();
  ASSERT_TRUE(FetchOnce().ok());  // 0..2, high watermark 3
  EXPECT_EQ(caught_up(), std::nullopt) << "fetched records wait";
  ASSERT_TRUE(Drain().ok());  // 0..1
  EXPECT_EQ(caught_up(), std::nullopt) << "one record waits";
  clock_.AdvanceMs(700);
  ASSERT_TRUE(Drain().ok());  // 2: read to the high watermark of the response at first_at
  EXPECT_EQ(caught_up(), first_at);

  clock_.AdvanceMs(300);
  Produce(kP0, 1);
  ASSERT_TRUE(FetchOnce().ok());  // 3, high watermark 4
  EXPECT_EQ(caught_up(), std::nullopt);
  ASSERT_TRUE(Drain().ok());
  EXPECT_EQ(caught_up(), first_at + 1000);
  clock_.AdvanceMs(500);
  ASSERT_TRUE(FetchOnce().ok());  // nothing new (after fetch.max.wait.ms)
  EXPECT_EQ(caught_up(), first_at + 1500);

  ASSERT_TRUE(subscriptions_->Seek(kP0, 1).ok());
  EXPECT_EQ(caught_up(), std::nullopt) << "no response since the seek";
}

TEST_F(FetcherTest, PrefetchingStopsAtTwoBufferedResponsesPerPartition) {
  client_->CreateTopic("t");
  for (int i = 0; i < 4; ++i) Produce(kP0, 3);  // batches 0..2, 3..5, 6..8, 9..11
  ConsumerOptions options = Options();
  options.max_poll_records = 4;
  options.max_partition_fetch_bytes = 1;  // the first batch is always whole: one per response
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  ASSERT_TRUE(FetchOnce().ok());  // 0..2
  ASSERT_TRUE(FetchOnce().ok());  // 3..5: starts past what is buffered
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());

  auto records = Drain();  // max.poll.records: 0..3, which empties the first response
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(subscriptions_->Position(kP0), 4);
  ASSERT_TRUE(FetchOnce().ok());  // from 6, past the response still buffered
  records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST_F(FetcherTest, AFailedFetchIsRetriedAfterRetryBackoffNotBefore) {
  ConsumerOptions options = Options();
  options.retry_backoff_ms = 100;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  subscriptions_->SetPosition(kP0, 0);
  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();  // the fetch finds no broker: UNAVAILABLE
  ASSERT_TRUE(FetchOnce().ok());                       // the failure is logged, not returned

  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  clock_.AdvanceMs(99);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  clock_.AdvanceMs(1);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_TRUE(fetcher_->in_flight());
}

TEST_F(FetcherTest, AnOffsetPastTheEndAsksForAnOffsetResetAndStopsFetchingThePartition) {
  client_->CreateTopic("t");
  Produce(kP0, 3);
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 500).ok());
  ASSERT_TRUE(FetchOnce().ok());
  const auto resets = subscriptions_->PendingResets();
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets.at(kP0).query, kEarliest);
  EXPECT_EQ(resets.at(kP0).why, "offset 500 is out of range for t-0 (log 0..3)");
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
}

TEST_F(FetcherTest, AnOffsetRetentionDeletedAsksForAnOffsetReset) {
  // 60 s: the 1970 records below are past it at once, the recent ones stay for the whole test.
  client_->CreateTopic("t", 1, {{"retention.ms", "60000"}});
  Produce(kP0, 3);
  Produce(kP0, 3);  // 0..5, stamped in 1970: past retention.ms at once
  // The broker's maintenance (every second) deletes them; a bounded wait for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (LogStart(kP0) != 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(LogStart(kP0), 6);
  Produce(kP0, 3, absl::ToUnixMillis(absl::Now()) - 6);  // 6..8, recent: kept

  Make(Options(), AutoOffsetReset::kLatest);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 2).ok());
  ASSERT_TRUE(FetchOnce().ok());
  const auto resets = subscriptions_->PendingResets();
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets.at(kP0).query, kLatest);
  EXPECT_EQ(resets.at(kP0).why, "offset 2 is out of range for t-0 (log 6..9)");
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());

  // The consumer looks the offset up and sets it: fetching goes on from there.
  subscriptions_->SetPosition(kP0, 6);
  ASSERT_TRUE(FetchOnce().ok());
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{6, 7, 8}));
}

TEST_F(FetcherTest, AnOutOfRangeAnswerUnderAutoOffsetResetNoneIsAnError) {
  client_->CreateTopic("t");
  Produce(kP0, 3);
  Make(Options(), AutoOffsetReset::kNone);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 500).ok());
  const absl::Status s = FetchOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(),
            "offset 500 is out of range for t-0 (log 0..3) and auto.offset.reset is none");
  EXPECT_EQ(subscriptions_->Position(kP0), 500);
}

TEST_F(FetcherTest, AnUnknownTopicIsNotFound) {
  Make();
  ASSERT_TRUE(subscriptions_->Assign({{"nope", 0}}).ok());
  subscriptions_->SetPosition({"nope", 0}, 0);
  const absl::Status s = FetchOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("fetch nope-0"), std::string::npos) << s;
}

TEST_F(FetcherTest, ASeekDropsWhatIsBufferedAndWhatIsInFlight) {
  client_->CreateTopic("t");
  for (int i = 0; i < 4; ++i) Produce(kP0, 3);  // 0..11
  ConsumerOptions options = Options();
  options.max_partition_fetch_bytes = 1;  // one batch per response
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  ASSERT_TRUE(FetchOnce().ok());                   // 0..2 buffered
  fetcher_->MaybeSend(*subscriptions_);            // 3..5 in flight
  ASSERT_TRUE(subscriptions_->Seek(kP0, 9).ok());  // before the answer is taken
  ASSERT_TRUE(Complete());
  ASSERT_TRUE(fetcher_->TakeCompleted(subscriptions_.get()).ok());
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
  EXPECT_EQ(subscriptions_->Position(kP0), 9);

  ASSERT_TRUE(FetchOnce().ok());
  records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(Offsets(*records), (std::vector<int64_t>{9, 10, 11}));
  EXPECT_EQ((*records)[0].value, "v9");
}

TEST_F(FetcherTest, APausedPartitionIsNeitherFetchedNorDrainedButKeepsWhatIsBuffered) {
  client_->CreateTopic("t", 2);
  for (const TopicPartition& tp : {kP0, kP1}) {
    Produce(tp, 3);
    Produce(tp, 3);  // 0..2, 3..5 in each
  }
  ConsumerOptions options = Options();
  options.max_partition_fetch_bytes = 1;  // one batch per partition and response
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0, kP1}).ok());
  subscriptions_->SetPosition(kP0, 0);
  subscriptions_->SetPosition(kP1, 0);
  ASSERT_TRUE(FetchOnce().ok());  // 0..2 of both
  ASSERT_TRUE(subscriptions_->SetPaused({kP1}, true).ok());
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{0, 1, 2}));
  for (const ConsumerRecord& r : *records) EXPECT_EQ(r.partition, 0);

  ASSERT_TRUE(FetchOnce().ok());  // t-0 only: t-1 is paused, so its 3..5 stays on the broker

  ASSERT_TRUE(subscriptions_->SetPaused({kP1}, false).ok());
  std::vector<int64_t> from_p0;
  std::vector<int64_t> from_p1;
  for (int i = 0; i < 2; ++i) {
    records = Drain();
    ASSERT_TRUE(records.ok()) << records.status();
    for (const ConsumerRecord& r : *records) {
      (r.partition == 0 ? from_p0 : from_p1).push_back(r.offset);
    }
  }
  EXPECT_EQ(from_p0, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(from_p1, (std::vector<int64_t>{0, 1, 2}));  // what was buffered, and no more
  EXPECT_EQ(subscriptions_->Position(kP1), 3);
}

}  // namespace
}  // namespace runnel::client::internal
