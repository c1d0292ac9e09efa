// Every single-byte corruption and every truncation of valid batches, for every codec: the
// validator rejects each one with an error (and under ASan/UBSan, -DRUNNEL_SANITIZE=address,
// proves no read outside the buffer). Corruptions with the CRC recomputed get past the checksum
// and exercise the record parser itself.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "common/big_endian.h"
#include "common/crc32c.h"
#include "common/record/batch_builder.h"
#include "common/record/batch_validator.h"
#include "common/record/record_iterator.h"
#include "tests/common/test_bytes.h"

namespace runnel::record {
namespace {

std::string SampleBatch(Compression codec) {
  BatchBuilderOptions options;
  options.compression = codec;
  options.base_offset = 0;
  RecordBatchBuilder builder(options);
  const RecordHeader headers[] = {{"trace", "abc"}, {"null", std::nullopt}};
  builder.Append(1700000000000, "key-1", "value one", headers);
  builder.Append(1700000000007, std::nullopt, "", {});
  builder.Append(1699999999990, "key-3", std::nullopt, headers);
  auto bytes = builder.Build();
  EXPECT_TRUE(bytes.ok());
  return *bytes;
}

void FixCrc(std::string* batch) {
  if (batch->size() < kBatchHeaderSize) return;
  StoreBigEndian<uint32_t>(batch->data() + layout::kCrc,
                           crc32c::Value(std::string_view(*batch).substr(layout::kAttributes)));
}

// Decodes everything a batch that passed validation claims to hold; must not fail.
void ExpectFullyReadable(std::string_view bytes) {
  auto view = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(view.ok()) << view.status();
  auto it = RecordIterator::Create(*view);
  ASSERT_TRUE(it.ok()) << it.status();
  Record r;
  while (it->Next(&r)) {
  }
  EXPECT_TRUE(it->status().ok()) << it->status();
}

// baseOffset and partitionLeaderEpoch lie outside the CRC by Kafka's design (the broker rewrites
// them), so a change there is a different, still valid batch.
bool OutsideCrc(size_t pos) {
  return pos < layout::kBatchLength ||
         (pos >= layout::kPartitionLeaderEpoch && pos < layout::kMagic);
}

class BatchCorruptionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(BatchCorruptionTest, EverySingleByteCorruptionIsRejected) {
  const std::string good = SampleBatch(GetParam());
  ASSERT_TRUE(ValidateBatch(good).ok());
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (int delta = 1; delta < 256; ++delta) {
      std::string bad = good;
      bad[pos] = static_cast<char>(static_cast<unsigned char>(bad[pos]) + delta);
      const absl::Status s = ValidateBatch(bad);
      if (OutsideCrc(pos)) {
        if (s.ok()) ExpectFullyReadable(bad);
        // Only a negative or overflowing baseOffset may be refused there.
        if (!s.ok()) {
          ASSERT_TRUE(absl::StartsWith(s.message(), "baseOffset")) << s;
        }
        continue;
      }
      ASSERT_FALSE(s.ok()) << "byte " << pos << " + " << delta << " was accepted";
      ASSERT_FALSE(s.message().empty());
    }
  }
}

TEST_P(BatchCorruptionTest, CorruptionsBehindARecomputedCrcAreRejectedOrDecodeCleanly) {
  const std::string good = SampleBatch(GetParam());
  int rejected = 0;
  for (size_t pos = layout::kAttributes; pos < good.size(); ++pos) {
    for (int delta = 1; delta < 256; ++delta) {
      std::string bad = good;
      bad[pos] = static_cast<char>(static_cast<unsigned char>(bad[pos]) + delta);
      FixCrc(&bad);
      const absl::Status s = ValidateBatch(bad);
      if (s.ok()) {
        ExpectFullyReadable(bad);  // e.g. a changed value byte: still a well-formed batch
      } else {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST_P(BatchCorruptionTest, EveryTruncationIsRejected) {
  const std::string good = SampleBatch(GetParam());
  for (size_t len = 0; len < good.size(); ++len) {
    const std::string cut = good.substr(0, len);
    EXPECT_FALSE(ValidateBatch(cut).ok()) << "truncated to " << len;
    // Also with batchLength and CRC patched to match, so only the records are short.
    if (len >= kBatchHeaderSize) {
      std::string patched = cut;
      StoreBigEndian<int32_t>(patched.data() + layout::kBatchLength,
                              static_cast<int32_t>(len - kLogOverhead));
      FixCrc(&patched);
      const absl::Status s = ValidateBatch(patched);
      EXPECT_FALSE(s.ok()) << "consistent header, records truncated to " << len;
    }
  }
}

TEST_P(BatchCorruptionTest, TrailingBytesAreRejected) {
  const std::string good = SampleBatch(GetParam());
  const absl::Status s = ValidateBatch(good + "x");
  EXPECT_TRUE(absl::StartsWith(s.message(), "batchLength")) << s;
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, BatchCorruptionTest,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kSnappy, Compression::kLz4,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(BatchValidatorTest, CompactedBatchesWithOffsetGapsNeedTheOption) {
  // Deltas 0,1,2 under lastOffsetDelta 5: what compaction leaves when offsets 3..5 are gone.
  std::string batch = SampleBatch(Compression::kNone);
  StoreBigEndian<int32_t>(batch.data() + layout::kLastOffsetDelta, 5);
  FixCrc(&batch);
  const absl::Status strict = ValidateBatch(batch);
  EXPECT_TRUE(absl::StartsWith(strict.message(), "recordCount: 3 but lastOffsetDelta is 5"))
      << strict;
  EXPECT_TRUE(ValidateBatch(batch, {.allow_offset_gaps = true}).ok());
}

TEST(BatchValidatorTest, NamesTheBadFieldFirst) {
  std::string batch = SampleBatch(Compression::kNone);
  std::string bad_magic = batch;
  bad_magic[layout::kMagic] = 1;
  EXPECT_EQ(ValidateBatch(bad_magic).message(), "magic: expected 2, got 1");

  std::string bad_codec = batch;
  StoreBigEndian<int16_t>(bad_codec.data() + layout::kAttributes, 7);
  FixCrc(&bad_codec);
  EXPECT_EQ(ValidateBatch(bad_codec).message(), "attributes: unknown compression codec id 7");

  std::string negative_offset = batch;
  StoreBigEndian<int64_t>(negative_offset.data() + layout::kBaseOffset, -5);
  EXPECT_TRUE(absl::StartsWith(ValidateBatch(negative_offset).message(), "baseOffset: -5"));
}

}  // namespace
}  // namespace runnel::record
