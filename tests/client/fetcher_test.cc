// Fetcher (client/internal/fetcher.h) against an in-process fake broker
// (tests/client/fake_broker.h) that answers each Fetch as the test says: records handed out in
// order, prefetching past what is buffered but never more than two responses per partition,
// retry.backoff.ms after a failure timed by a ManualClock (no sleeps), out-of-range answers turned
// into offset resets, seeks and pauses, corrupt batches.
#include "client/internal/fetcher.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/record/batch_builder.h"
#include "tests/client/fake_broker.h"

namespace runnel::client::internal {
namespace {

using testing::FakeBroker;

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};

// `count` records from `base`, valued "v<offset>".
std::string Batch(int64_t base, int count) {
  record::RecordBatchBuilder builder({.base_offset = base});
  for (int i = 0; i < count; ++i) {
    const std::string value = absl::StrCat("v", base + i);
    builder.Append(1000 + base + i, std::nullopt, value);
  }
  auto built = builder.Build();
  EXPECT_TRUE(built.ok()) << built.status();
  return built.ok() ? *built : std::string();
}

// Answers every partition asked for with three records from the offset asked for.
grpc::Status ThreeRecordsEach(int, const v1::FetchRequest& request, v1::FetchResponse* response) {
  for (const v1::PartitionFetch& f : request.partitions()) {
    v1::PartitionFetchResult* r = response->add_partitions();
    r->set_topic(f.topic());
    r->set_partition(f.partition());
    r->set_records(Batch(f.offset(), 3));
  }
  return grpc::Status::OK;
}

// Answers every partition asked for with `code`.
FakeBroker::FetchFn ErrorEach(v1::ErrorCode code) {
  return [code](int, const v1::FetchRequest& request, v1::FetchResponse* response) {
    for (const v1::PartitionFetch& f : request.partitions()) {
      v1::PartitionFetchResult* r = response->add_partitions();
      r->set_topic(f.topic());
      r->set_partition(f.partition());
      r->mutable_error()->set_code(code);
      r->mutable_error()->set_message(v1::ErrorCode_Name(code));
      r->set_log_start_offset(0);
      r->set_high_watermark(50);
    }
    return grpc::Status::OK;
  };
}

std::vector<int64_t> Offsets(const std::vector<ConsumerRecord>& records) {
  std::vector<int64_t> out;
  for (const ConsumerRecord& r : records) out.push_back(r.offset);
  return out;
}

class FetcherTest : public ::testing::Test {
 protected:
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

  void Make(const ConsumerOptions& options = ConsumerOptions(),
            AutoOffsetReset reset = AutoOffsetReset::kEarliest) {
    subscriptions_ = std::make_unique<SubscriptionState>(reset);
    fetcher_ = std::make_unique<Fetcher>(options, broker_.address(), stub_.get(), &cq_, &clock_);
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

  FakeBroker broker_;
  const std::unique_ptr<v1::Broker::Stub> stub_ = broker_.BrokerStub();
  grpc::CompletionQueue cq_;
  ManualClock clock_;
  std::unique_ptr<SubscriptionState> subscriptions_;
  std::unique_ptr<Fetcher> fetcher_;
};

TEST_F(FetcherTest, FetchedRecordsAreHandedOutInOrderAndMoveThePosition) {
  broker_.OnFetch(ThreeRecordsEach);
  ConsumerOptions options;
  options.fetch_min_bytes = 7;
  options.fetch_max_wait_ms = 250;
  options.max_partition_fetch_bytes = 4096;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 5).ok());
  ASSERT_TRUE(FetchOnce().ok());

  const auto sent = broker_.fetches();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].min_bytes(), 7);
  EXPECT_EQ(sent[0].max_wait_ms(), 250);
  ASSERT_EQ(sent[0].partitions_size(), 1);
  EXPECT_EQ(sent[0].partitions(0).offset(), 5);
  EXPECT_EQ(sent[0].partitions(0).max_bytes(), 4096);

  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ((*records)[0].topic, "t");
  EXPECT_EQ((*records)[0].value, "v5");
  EXPECT_EQ((*records)[2].timestamp, 1007);
  EXPECT_EQ(subscriptions_->Position(kP0), 8);
}

TEST_F(FetcherTest, PrefetchingStopsAtTwoBufferedResponsesPerPartition) {
  broker_.OnFetch(ThreeRecordsEach);
  ConsumerOptions options;
  options.max_poll_records = 4;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  ASSERT_TRUE(FetchOnce().ok());  // 0..2
  ASSERT_TRUE(FetchOnce().ok());  // 3..5: starts past what is buffered
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  EXPECT_EQ(broker_.fetches().back().partitions(0).offset(), 3);

  auto records = Drain();  // max.poll.records: 0..3, which empties the first response
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(subscriptions_->Position(kP0), 4);
  ASSERT_TRUE(FetchOnce().ok());
  EXPECT_EQ(broker_.fetches().back().partitions(0).offset(), 6);
}

TEST_F(FetcherTest, AFailedFetchIsRetriedAfterRetryBackoffNotBefore) {
  broker_.OnFetch([](int, const v1::FetchRequest&, v1::FetchResponse*) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "broker restarting");
  });
  ConsumerOptions options;
  options.retry_backoff_ms = 100;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  subscriptions_->SetPosition(kP0, 0);
  ASSERT_TRUE(FetchOnce().ok());  // the failure is logged, not returned

  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  clock_.AdvanceMs(99);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  clock_.AdvanceMs(1);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_TRUE(fetcher_->in_flight());
}

TEST_F(FetcherTest, APartitionErrorAlsoHoldsTheNextFetchBackForRetryBackoff) {
  broker_.OnFetch(ErrorEach(v1::NOT_LEADER));
  ConsumerOptions options;
  options.retry_backoff_ms = 100;
  Make(options);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  subscriptions_->SetPosition(kP0, 0);
  ASSERT_TRUE(FetchOnce().ok());
  clock_.AdvanceMs(99);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
  clock_.AdvanceMs(1);
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_TRUE(fetcher_->in_flight());
}

TEST_F(FetcherTest, AnOutOfRangeAnswerAsksForAnOffsetResetAndStopsFetchingThePartition) {
  broker_.OnFetch(ErrorEach(v1::OFFSET_OUT_OF_RANGE));
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 500).ok());
  ASSERT_TRUE(FetchOnce().ok());
  const auto resets = subscriptions_->PendingResets();
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets.at(kP0).query, kEarliest);
  EXPECT_EQ(resets.at(kP0).why, "offset 500 is out of range for t-0 (log 0..50)");
  fetcher_->MaybeSend(*subscriptions_);
  EXPECT_FALSE(fetcher_->in_flight());
}

TEST_F(FetcherTest, AnOutOfRangeAnswerUnderAutoOffsetResetNoneIsAnError) {
  broker_.OnFetch(ErrorEach(v1::OFFSET_OUT_OF_RANGE));
  Make(ConsumerOptions(), AutoOffsetReset::kNone);
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 500).ok());
  const absl::Status s = FetchOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(),
            "offset 500 is out of range for t-0 (log 0..50) and auto.offset.reset is none");
  EXPECT_EQ(subscriptions_->Position(kP0), 500);
}

TEST_F(FetcherTest, AnUnknownTopicIsNotFound) {
  broker_.OnFetch(ErrorEach(v1::UNKNOWN_TOPIC_OR_PARTITION));
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  subscriptions_->SetPosition(kP0, 0);
  const absl::Status s = FetchOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("fetch t-0"), std::string::npos) << s;
}

TEST_F(FetcherTest, ASeekDropsWhatIsBufferedAndWhatIsInFlight) {
  broker_.OnFetch(ThreeRecordsEach);
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  ASSERT_TRUE(FetchOnce().ok());                     // 0..2 buffered
  fetcher_->MaybeSend(*subscriptions_);              // 3..5 in flight
  ASSERT_TRUE(subscriptions_->Seek(kP0, 100).ok());  // before the answer is taken
  ASSERT_TRUE(Complete());
  ASSERT_TRUE(fetcher_->TakeCompleted(subscriptions_.get()).ok());
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
  EXPECT_EQ(subscriptions_->Position(kP0), 100);

  ASSERT_TRUE(FetchOnce().ok());
  EXPECT_EQ(broker_.fetches().back().partitions(0).offset(), 100);
  records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{100, 101, 102}));
}

TEST_F(FetcherTest, APausedPartitionIsNeitherFetchedNorDrainedButKeepsWhatIsBuffered) {
  broker_.OnFetch(ThreeRecordsEach);
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0, kP1}).ok());
  subscriptions_->SetPosition(kP0, 0);
  subscriptions_->SetPosition(kP1, 10);
  ASSERT_TRUE(FetchOnce().ok());  // both
  ASSERT_TRUE(subscriptions_->SetPaused({kP1}, true).ok());
  auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{0, 1, 2}));

  ASSERT_TRUE(FetchOnce().ok());
  const v1::FetchRequest second = broker_.fetches().back();
  ASSERT_EQ(second.partitions_size(), 1);
  EXPECT_EQ(second.partitions(0).partition(), 0);

  ASSERT_TRUE(subscriptions_->SetPaused({kP1}, false).ok());
  std::vector<int64_t> from_p1;
  for (int i = 0; i < 2; ++i) {
    records = Drain();
    ASSERT_TRUE(records.ok()) << records.status();
    for (const ConsumerRecord& r : *records) {
      if (r.partition == 1) from_p1.push_back(r.offset);
    }
  }
  EXPECT_EQ(from_p1, (std::vector<int64_t>{10, 11, 12}));
}

TEST_F(FetcherTest, ACorruptBatchIsReportedUntilASeekPassesIt) {
  broker_.OnFetch([](int, const v1::FetchRequest& request, v1::FetchResponse* response) {
    const v1::PartitionFetch& f = request.partitions(0);
    std::string bytes = Batch(f.offset(), 3);
    if (f.offset() == 0) bytes.back() ^= 0x5a;  // the batch at 0 fails its CRC
    v1::PartitionFetchResult* r = response->add_partitions();
    r->set_topic(f.topic());
    r->set_partition(f.partition());
    r->set_records(bytes);
    return grpc::Status::OK;
  });
  Make();
  ASSERT_TRUE(subscriptions_->Assign({kP0}).ok());
  ASSERT_TRUE(subscriptions_->Seek(kP0, 0).ok());
  ASSERT_TRUE(FetchOnce().ok());
  for (int i = 0; i < 2; ++i) {
    const auto records = Drain();
    EXPECT_EQ(records.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(records.status().message(), "batch at offset 0 of t-0 fails its CRC check");
    EXPECT_EQ(subscriptions_->Position(kP0), 0);
  }
  ASSERT_TRUE(subscriptions_->Seek(kP0, 3).ok());
  ASSERT_TRUE(FetchOnce().ok());
  const auto records = Drain();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Offsets(*records), (std::vector<int64_t>{3, 4, 5}));
}

}  // namespace
}  // namespace runnel::client::internal
