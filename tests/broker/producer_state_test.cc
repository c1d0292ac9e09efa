#include "broker/partition/producer_state.h"

#include <gtest/gtest.h>

#include <limits>

#include "common/record/batch_builder.h"

namespace runnel::broker {
namespace {

constexpr int32_t kMaxSequence = std::numeric_limits<int32_t>::max();

BatchSequence Batch(int64_t producer_id, int32_t base, int32_t last, int16_t epoch = 0) {
  return {producer_id, epoch, base, last};
}

// Checks `batch` expecting "append", then records it at `base_offset`.
void AppendOk(ProducerStateTable* table, const BatchSequence& batch, int64_t base_offset) {
  auto verdict = table->Check(batch);
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  ASSERT_FALSE(verdict->has_value())
      << "unexpected duplicate of offset " << (*verdict)->base_offset;
  const int64_t records = int64_t{batch.last_sequence} - batch.base_sequence + 1;
  table->Record(batch, base_offset, base_offset + (records > 0 ? records - 1 : 0), 1000);
}

std::string BuildBatch(int64_t producer_id, int16_t epoch, int32_t base_sequence, int records) {
  record::RecordBatchBuilder builder(
      {.producer_id = producer_id, .producer_epoch = epoch, .base_sequence = base_sequence});
  for (int i = 0; i < records; ++i) builder.Append(1000 + i, "k", "v" + std::to_string(i));
  return *builder.Build();
}

TEST(ProducerStateTest, InOrderBatchesAreAppendedAndUnknownProducersStartAnywhere) {
  ProducerStateTable table;
  AppendOk(&table, Batch(7, 40, 44), 0);  // unknown: any sequence starts it
  AppendOk(&table, Batch(7, 45, 45), 5);
  AppendOk(&table, Batch(7, 46, 49), 6);
  AppendOk(&table, Batch(8, 0, 9), 10);  // another producer, its own sequence
  ASSERT_EQ(table.producers().size(), 2u);
  const ProducerEntry& entry = table.producers().at(7);
  EXPECT_EQ(entry.epoch, 0);
  ASSERT_EQ(entry.batches.size(), 3u);
  EXPECT_EQ(entry.batches.back(), (ProducerBatch{46, 49, 6, 9}));
}

TEST(ProducerStateTest, DuplicatesOfTheLastFiveReturnTheirOriginalOffsets) {
  ProducerStateTable table;
  for (int i = 0; i < 6; ++i) AppendOk(&table, Batch(3, i * 10, i * 10 + 9), 100 + i * 10);
  // Batches 1..5 are retained; each retry is answered with the offsets it got the first time.
  for (int i = 1; i < 6; ++i) {
    auto verdict = table.Check(Batch(3, i * 10, i * 10 + 9));
    ASSERT_TRUE(verdict.ok()) << verdict.status();
    ASSERT_TRUE(verdict->has_value()) << "batch " << i;
    EXPECT_EQ((*verdict)->base_offset, 100 + i * 10);
    EXPECT_EQ((*verdict)->last_offset, 100 + i * 10 + 9);
  }
  // The 6th-oldest is forgotten: a retry of it is out of order, not a duplicate.
  auto oldest = table.Check(Batch(3, 0, 9));
  EXPECT_EQ(oldest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CauseOf<ProducerError>(oldest.status()), ProducerError::kOutOfOrderSequence);
  EXPECT_EQ(table.producers().at(3).batches.size(), ProducerStateTable::kRetainedBatches);
}

TEST(ProducerStateTest, GapsAndPartialOverlapsAreOutOfOrderNamingTheSequences) {
  ProducerStateTable table;
  AppendOk(&table, Batch(1, 0, 4), 0);
  auto gap = table.Check(Batch(1, 7, 9));
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(CauseOf<ProducerError>(gap.status()), ProducerError::kOutOfOrderSequence);
  EXPECT_NE(gap.status().message().find("expected 5, received 7"), absl::string_view::npos)
      << gap.status();
  EXPECT_NE(gap.status().message().find("producer 1"), absl::string_view::npos);
  // Same base as a retained batch but another end: not that batch, and not the next one.
  EXPECT_EQ(CauseOf<ProducerError>(table.Check(Batch(1, 0, 3)).status()),
            ProducerError::kOutOfOrderSequence);
  EXPECT_EQ(CauseOf<ProducerError>(table.Check(Batch(1, 3, 6)).status()),
            ProducerError::kOutOfOrderSequence);
  AppendOk(&table, Batch(1, 5, 5), 5);  // the refusals changed nothing
}

TEST(ProducerStateTest, SequencesWrapFromInt32MaxToZero) {
  EXPECT_EQ(record::IncrementSequence(kMaxSequence, 1), 0);
  EXPECT_EQ(record::IncrementSequence(kMaxSequence - 1, 3), 1);
  EXPECT_EQ(record::IncrementSequence(5, 0), 5);
  // A batch of 3 records starting at INT32_MAX - 1 ends at sequence 0 (as Kafka counts).
  const std::string bytes = BuildBatch(9, 0, kMaxSequence - 1, 3);
  auto sequence = BatchSequence::FromBatch(*record::RecordBatchView::Parse(bytes));
  ASSERT_TRUE(sequence.ok()) << sequence.status();
  EXPECT_EQ(sequence->last_sequence, 0);

  ProducerStateTable table;
  AppendOk(&table, Batch(9, kMaxSequence - 4, kMaxSequence - 2), 0);
  AppendOk(&table, *sequence, 3);
  AppendOk(&table, Batch(9, 1, 4), 6);
  auto retry = table.Check(*sequence);
  ASSERT_TRUE(retry.ok() && retry->has_value());
  EXPECT_EQ((*retry)->base_offset, 3);
}

TEST(ProducerStateTest, AnOlderEpochIsFencedAndANewerOneRestartsAtZero) {
  ProducerStateTable table;
  AppendOk(&table, Batch(4, 0, 9, /*epoch=*/2), 0);
  auto fenced = table.Check(Batch(4, 10, 19, /*epoch=*/1));
  EXPECT_EQ(CauseOf<ProducerError>(fenced.status()), ProducerError::kProducerFenced);
  EXPECT_NE(fenced.status().message().find("epoch is now 2"), absl::string_view::npos);
  // A retry of epoch 2's batch under epoch 3 is a new batch, not a duplicate.
  EXPECT_EQ(CauseOf<ProducerError>(table.Check(Batch(4, 10, 19, 3)).status()),
            ProducerError::kOutOfOrderSequence);
  AppendOk(&table, Batch(4, 0, 9, /*epoch=*/3), 10);
  EXPECT_EQ(table.producers().at(4).epoch, 3);
  ASSERT_EQ(table.producers().at(4).batches.size(), 1u);  // epoch 2's batches are gone
  EXPECT_EQ(CauseOf<ProducerError>(table.Check(Batch(4, 0, 9, 2)).status()),
            ProducerError::kProducerFenced);
}

TEST(ProducerStateTest, BatchHeadersGiveTheSequenceOrAreRefused) {
  const std::string plain = BuildBatch(record::kNoProducerId, -1, -1, 2);
  auto none = BatchSequence::FromBatch(*record::RecordBatchView::Parse(plain));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->producer_id, record::kNoProducerId);

  const std::string idempotent = BuildBatch(12, 1, 100, 4);
  auto sequence = BatchSequence::FromBatch(*record::RecordBatchView::Parse(idempotent));
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(*sequence, (BatchSequence{12, 1, 100, 103}));

  const std::string no_sequence = BuildBatch(12, 0, -1, 1);
  auto bad = BatchSequence::FromBatch(*record::RecordBatchView::Parse(no_sequence));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CauseOf<ProducerError>(bad.status()), ProducerError::kInvalidSequence);
  EXPECT_NE(bad.status().message().find("baseSequence -1"), absl::string_view::npos);
  EXPECT_FALSE(CauseOf<ProducerError>(absl::FailedPreconditionError("other")).has_value());
}

TEST(ProducerStateTest, RecordFromLogSkipsBatchesTheTableAlreadyCovers) {
  ProducerStateTable table;
  table.Restore(5, {0, {{0, 4, 10, 14}}});
  table.RecordFromLog(Batch(5, 0, 4), 10, 14, 1000);  // the snapshot's own batch, seen again
  table.RecordFromLog(Batch(5, 5, 9), 20, 24, 1000);
  ASSERT_EQ(table.producers().at(5).batches.size(), 2u);
  EXPECT_EQ(table.producers().at(5).batches.back(), (ProducerBatch{5, 9, 20, 24}));
}

TEST(ProducerStateTest, ProducersIdleLongerThanTheExpirationAreForgotten) {
  ProducerStateTable table;
  table.Record(Batch(1, 0, 0), 0, 0, /*timestamp=*/5'000);
  table.Record(Batch(2, 0, 0), 1, 1, /*timestamp=*/9'000);
  table.Record(Batch(2, 1, 1), 2, 2, /*timestamp=*/12'000);  // its last batch counts
  table.Restore(3, {0, {{0, 0, 3, 3}}, -1});                 // from a version 1 snapshot
  EXPECT_EQ(table.ExpireBefore(/*cutoff=*/10'000, /*now=*/20'000), 1);
  EXPECT_EQ(table.producers().count(1), 0u);
  EXPECT_EQ(table.producers().at(2).last_timestamp, 12'000);
  EXPECT_EQ(table.producers().at(3).last_timestamp, 20'000) << "unknown: counted from now";
  EXPECT_EQ(table.ExpireBefore(20'001, 30'000), 2);
  EXPECT_TRUE(table.producers().empty());
  // A forgotten producer is new again: any sequence is accepted.
  auto verdict = table.Check(Batch(1, 7, 7));
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  EXPECT_FALSE(verdict->has_value());
}

}  // namespace
}  // namespace runnel::broker
