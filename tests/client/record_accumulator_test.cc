// RecordAccumulator without a network: linger, batch.size, max.request.size, per-partition
// sequences, retries in send order, delivery.timeout.ms and buffer.memory accounting, each
// driven by the `now_ms` the test passes.
#include "client/internal/record_accumulator.h"

#include <string>
#include <vector>

#include "common/record/record_batch.h"
#include "gtest/gtest.h"

namespace runnel::client::internal {
namespace {

constexpr int64_t kProducerId = 7;
constexpr int16_t kEpoch = 0;
constexpr int64_t kT0 = 1'000'000;

ProducerOptions Options() {
  ProducerOptions o;
  o.linger_ms = 5;
  o.batch_size = 1024;
  o.retry_backoff_ms = 100;
  o.delivery_timeout_ms = 120'000;
  o.enable_idempotence = true;
  return o;
}

ProducerRecord Record(const std::string& topic, std::string value) {
  ProducerRecord r;
  r.topic = topic;
  r.value = std::move(value);
  return r;
}

RecordAccumulator::Appended Add(RecordAccumulator& acc, const TopicPartition& tp, int64_t now_ms,
                                size_t value_bytes = 10, int64_t footprint = 100) {
  return acc.Append(tp, now_ms, Record(tp.topic, std::string(value_bytes, 'v')), {}, footprint,
                    nullptr, now_ms);
}

// What the producer does with a drained batch before it goes out: encode it, once (a resent batch
// goes out with the bytes of its first sending).
std::vector<BatchPtr> DrainAndEncode(RecordAccumulator& acc, int64_t now_ms,
                                     int64_t* wake = nullptr, bool send_now = false) {
  std::vector<BatchPtr> out;
  const int64_t w = acc.Drain(now_ms, send_now, kProducerId, kEpoch, &out);
  if (wake != nullptr) *wake = w;
  for (BatchPtr& b : out) {
    if (b->encoded.empty()) b->encoded = *b->builder.Build();
  }
  return out;
}

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};

TEST(RecordAccumulatorTest, ABatchIsSentAfterLingerMsNotBefore) {
  RecordAccumulator acc(Options());
  EXPECT_TRUE(Add(acc, kP0, kT0).new_batch);
  EXPECT_FALSE(Add(acc, kP0, kT0 + 1).new_batch) << "the second record joins the open batch";
  int64_t wake = 0;
  EXPECT_TRUE(DrainAndEncode(acc, kT0 + 4, &wake).empty());
  EXPECT_EQ(wake, kT0 + 5) << "the sender is told when the linger ends";
  const std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->completions.size(), 2u);
}

TEST(RecordAccumulatorTest, SendNowIgnoresLinger) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0);
  EXPECT_EQ(DrainAndEncode(acc, kT0, nullptr, /*send_now=*/true).size(), 1u);
}

TEST(RecordAccumulatorTest, ABatchWithNoRoomForTheNextRecordIsReadyAtOnce) {
  RecordAccumulator acc(Options());
  ASSERT_TRUE(Add(acc, kP0, kT0, 100).new_batch);
  int records = 1;
  while (records < 100 && !Add(acc, kP0, kT0, 100).new_batch) ++records;
  EXPECT_GT(records, 5) << "batch.size is 1024 bytes";
  EXPECT_LT(records, 10);
  const std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0);
  ASSERT_EQ(sent.size(), 1u) << "the closed batch goes at once; the new one lingers";
  EXPECT_EQ(sent[0]->completions.size(), static_cast<size_t>(records));
  EXPECT_LE(sent[0]->encoded.size(), 1024u);
}

TEST(RecordAccumulatorTest, ARecordOfBatchSizeFillsItsOwnBatch) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0, 10);
  const RecordAccumulator::Appended big = Add(acc, kP0, kT0, 2000);
  EXPECT_TRUE(big.new_batch);
  EXPECT_TRUE(big.batch_full);
  EXPECT_EQ(DrainAndEncode(acc, kT0).size(), 2u) << "both closed: neither waits for linger.ms";
}

TEST(RecordAccumulatorTest, ARequestHoldsAtMostMaxRequestSizeUnlessOneBatchIsLarger) {
  ProducerOptions options = Options();
  options.max_request_size = 1500;
  RecordAccumulator acc(options);
  Add(acc, kP0, kT0, 1000);
  Add(acc, kP1, kT0, 1000);
  int64_t wake = 0;
  std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5, &wake);
  EXPECT_EQ(sent.size(), 1u);
  EXPECT_EQ(wake, kT0 + 5) << "the rest is ready now: the sender looks again at once";
  EXPECT_EQ(DrainAndEncode(acc, kT0 + 5).size(), 1u);

  // A batch larger than max.request.size still goes, alone: records are never split.
  Add(acc, kP0, kT0 + 10, 2000);
  Add(acc, kP1, kT0 + 10, 10);
  sent = DrainAndEncode(acc, kT0 + 15);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GT(sent[0]->encoded.size(), 1500u);
  EXPECT_EQ(DrainAndEncode(acc, kT0 + 15).size(), 1u) << "the other partition's in the next";
}

TEST(RecordAccumulatorTest, IdempotentBatchesGetConsecutiveSequencesAndAtMostFiveGoOut) {
  RecordAccumulator acc(Options());
  for (int b = 0; b < 7; ++b) {
    for (int r = 0; r < 3; ++r) Add(acc, kP0, kT0);
    acc.Append(kP0, kT0, Record("t", std::string(2000, 'x')), {}, 100, nullptr, kT0);  // closes
  }
  std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(sent.size(), 5u) << "the broker deduplicates a producer's last 5 batches only";
  int32_t expected = 0;
  for (const BatchPtr& b : sent) {
    EXPECT_EQ(b->base_sequence, expected);
    expected += static_cast<int32_t>(b->completions.size());
  }
  EXPECT_TRUE(DrainAndEncode(acc, kT0 + 5).empty());
  acc.Returned(kP0);
  acc.Acknowledged(*sent[0]);
  const std::vector<BatchPtr> next = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]->base_sequence, expected);
}

TEST(RecordAccumulatorTest, RetriedBatchesGoOutAgainInSequenceOrderAfterTheBackoff) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0);
  std::vector<BatchPtr> first = DrainAndEncode(acc, kT0 + 5);
  Add(acc, kP0, kT0 + 10);
  std::vector<BatchPtr> second = DrainAndEncode(acc, kT0 + 15);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  const int32_t first_sequence = first[0]->base_sequence;
  const int32_t second_sequence = second[0]->base_sequence;
  Add(acc, kP0, kT0 + 20);  // never sent yet

  // The first fails retriably; the second, still out, must not be overtaken by new batches.
  acc.Returned(kP0);
  acc.Requeue(std::move(first[0]), kT0 + 30);
  EXPECT_TRUE(DrainAndEncode(acc, kT0 + 500).empty()) << "resync: wait for the outstanding batch";
  // The second comes back out of order because the first is being resent: retried behind it.
  EXPECT_TRUE(acc.BehindAResend(*second[0]));
  acc.Returned(kP0);
  acc.Requeue(std::move(second[0]), kT0 + 40);

  EXPECT_TRUE(DrainAndEncode(acc, kT0 + 129).empty()) << "retry.backoff.ms has not passed";
  const std::vector<BatchPtr> resent = DrainAndEncode(acc, kT0 + 140);
  ASSERT_EQ(resent.size(), 3u);
  EXPECT_EQ(resent[0]->base_sequence, first_sequence);
  EXPECT_EQ(resent[1]->base_sequence, second_sequence);
  EXPECT_EQ(resent[2]->base_sequence, second_sequence + 1) << "the new batch after both";
  EXPECT_EQ(resent[0]->attempts, 1);
}

TEST(RecordAccumulatorTest, ABatchIsRetriedWhileItHasAttemptsAndTimeLeft) {
  ProducerOptions options = Options();
  options.retries = 2;
  RecordAccumulator acc(options);
  Add(acc, kP0, kT0);
  std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(sent.size(), 1u);
  ProducerBatch& batch = *sent[0];
  EXPECT_TRUE(acc.CanRetry(batch, kT0 + options.delivery_timeout_ms - 1));
  EXPECT_FALSE(acc.CanRetry(batch, kT0 + options.delivery_timeout_ms))
      << "delivery.timeout.ms counts from the batch's creation";
  batch.attempts = 2;
  EXPECT_FALSE(acc.CanRetry(batch, kT0 + 10)) << "retries=2 used up";
}

TEST(RecordAccumulatorTest, QueuedBatchesExpireAtDeliveryTimeoutMs) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0);
  Add(acc, kP1, kT0 + 1000);
  std::vector<BatchPtr> expired;
  acc.Expire(kT0 + 120'000 - 1, &expired);
  EXPECT_TRUE(expired.empty());
  acc.Expire(kT0 + 120'000, &expired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->tp, kP0);
}

TEST(RecordAccumulatorTest, BufferMemoryIsHeldUntilTheBatchIsReleased) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0, 10, 100);
  Add(acc, kP0, kT0, 10, 150);
  Add(acc, kP1, kT0, 10, 70);
  EXPECT_EQ(acc.buffered_bytes(), 320);
  const uint64_t flush_end = acc.next_batch_id();
  std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(acc.buffered_bytes(), 320) << "sent is not yet done";
  acc.Returned(sent[0]->tp);
  acc.Release(*sent[0]);
  EXPECT_TRUE(acc.HasIncompleteBefore(flush_end));
  acc.Returned(sent[1]->tp);
  acc.Release(*sent[1]);
  EXPECT_EQ(acc.buffered_bytes(), 0);
  EXPECT_FALSE(acc.HasIncomplete());
}

TEST(RecordAccumulatorTest, RenumberingAfterANewProducerIdStartsEveryPartitionAtZero) {
  RecordAccumulator acc(Options());
  Add(acc, kP0, kT0);
  Add(acc, kP0, kT0);
  std::vector<BatchPtr> sent = DrainAndEncode(acc, kT0 + 5);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->base_sequence, 0);
  acc.Returned(kP0);
  acc.Acknowledged(*sent[0]);
  acc.Release(*sent[0]);
  Add(acc, kP0, kT0 + 10);
  sent = DrainAndEncode(acc, kT0 + 15);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->base_sequence, 2);
  acc.Returned(kP0);
  acc.Requeue(std::move(sent[0]), kT0 + 20);

  acc.Renumber(kProducerId + 1, 0);
  sent = DrainAndEncode(acc, kT0 + 200);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->base_sequence, 0);
  const auto view = record::RecordBatchView::Parse(sent[0]->encoded);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->producer_id(), kProducerId + 1);
  EXPECT_EQ(view->base_sequence(), 0);
}

}  // namespace
}  // namespace runnel::client::internal
