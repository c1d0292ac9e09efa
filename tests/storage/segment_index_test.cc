// SegmentIndex on its own: sparse entries every interval_bytes, lookups that never skip the batch
// asked for, the encoded files round-tripping, and damaged files refused (the caller rebuilds).
#include "storage/segment_index.h"

#include <gtest/gtest.h>

#include <string>

#include "common/big_endian.h"

namespace runnel::storage {
namespace {

// Batches of 100 bytes at offsets base, base+10, base+20, ... with the given max timestamps.
SegmentIndex Indexed(int64_t base, uint32_t interval, const std::vector<int64_t>& timestamps) {
  SegmentIndex index(base, interval);
  for (size_t i = 0; i < timestamps.size(); ++i) {
    index.OnBatch(base + static_cast<int64_t>(i) * 10, timestamps[i],
                  static_cast<uint32_t>(i * 100), 100);
  }
  return index;
}

TEST(SegmentIndexTest, AnEntryEveryIntervalBytesAndTheFirstBatchAlways) {
  const SegmentIndex index = Indexed(1000, 250, {1, 2, 3, 4, 5, 6, 7});
  // Entries at batches 0, 3 (300 bytes since), 6.
  EXPECT_EQ(index.entry_count(), 3u);
  EXPECT_EQ(index.LookupOffset(999), 0u) << "below the segment";
  EXPECT_EQ(index.LookupOffset(1000), 0u);
  EXPECT_EQ(index.LookupOffset(1029), 0u) << "batch 2 is found by scanning from batch 0";
  EXPECT_EQ(index.LookupOffset(1030), 300u);
  EXPECT_EQ(index.LookupOffset(1059), 300u);
  EXPECT_EQ(index.LookupOffset(1060), 600u);
  EXPECT_EQ(index.LookupOffset(1'000'000), 600u);
}

TEST(SegmentIndexTest, TimestampLookupsStartNoLaterThanTheFirstMatchingBatch) {
  // Timestamps wander: batch 2 holds the max so far (50), batch 4 a smaller one (20).
  const SegmentIndex index = Indexed(0, 100, {10, 30, 50, 40, 20, 60});
  EXPECT_EQ(index.max_timestamp(), 60);
  EXPECT_EQ(index.LookupTimestamp(5), 0u);
  EXPECT_EQ(index.LookupTimestamp(30), 0u) << "batch 1 has 30";
  EXPECT_LE(index.LookupTimestamp(45), 200u) << "batch 2 has 50";
  EXPECT_LE(index.LookupTimestamp(55), 500u) << "batch 5 has 60";
  EXPECT_GE(index.LookupTimestamp(55), 200u) << "nothing up to batch 2 reaches 55";
}

TEST(SegmentIndexTest, EncodedFilesDecodeToTheSameLookups) {
  const SegmentIndex index = Indexed(500, 150, {5, 9, 7, 12, 15, 11, 20, 19});
  const std::string offsets = index.EncodeOffsetIndex();
  const std::string times = index.EncodeTimeIndex();
  EXPECT_EQ(offsets.size() % kOffsetIndexEntrySize, 0u);
  EXPECT_EQ(times.size() % kTimeIndexEntrySize, 0u);
  auto decoded = SegmentIndex::Decode(500, 150, offsets, times, /*log_size=*/800);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->entry_count(), index.entry_count());
  EXPECT_EQ(decoded->max_timestamp(), 20);
  for (int64_t offset = 490; offset < 600; ++offset) {
    EXPECT_EQ(decoded->LookupOffset(offset), index.LookupOffset(offset)) << offset;
  }
  for (int64_t ts = 0; ts < 25; ++ts) {
    EXPECT_EQ(decoded->LookupTimestamp(ts), index.LookupTimestamp(ts)) << ts;
  }
}

TEST(SegmentIndexTest, DamagedFilesAreRefusedNamingWhatIsWrong) {
  const SegmentIndex index = Indexed(0, 100, {1, 2, 3, 4});
  const std::string offsets = index.EncodeOffsetIndex();
  const std::string times = index.EncodeTimeIndex();
  auto expect_refused = [](absl::StatusOr<SegmentIndex> s, const std::string& words) {
    EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
    EXPECT_NE(s.status().message().find(words), std::string::npos) << s.status();
  };
  expect_refused(SegmentIndex::Decode(0, 100, offsets.substr(0, 6), times, 400),
                 "not a multiple of 8");
  expect_refused(SegmentIndex::Decode(0, 100, offsets, times.substr(0, 13), 400),
                 "not a multiple of 12");
  expect_refused(SegmentIndex::Decode(0, 100, "", times, 400), "empty for a non-empty segment");
  expect_refused(SegmentIndex::Decode(0, 100, offsets, times, /*log_size=*/250),
                 "out of order or out of range");  // entries at 300 past a 250-byte log
  std::string backwards = offsets;
  StoreBigEndian<uint32_t>(backwards.data() + 8, 0);  // entry 1 at offset +0 again: backwards
  expect_refused(SegmentIndex::Decode(0, 100, backwards, times, 400), "entry 1");
  std::string times_backwards = times;
  StoreBigEndian<int64_t>(times_backwards.data() + 12, 0);
  expect_refused(SegmentIndex::Decode(0, 100, offsets, times_backwards, 400), "not increasing");
}

}  // namespace
}  // namespace runnel::storage
