#include "broker/partition/producer_state_snapshot.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace runnel::broker {
namespace {

ProducerStateTable SampleTable() {
  ProducerStateTable table;
  table.Restore(3, {0, {{0, 4, 0, 4}, {5, 9, 7, 11}}, 1234});
  table.Restore(1000, {2, {{2147483646, 1, 20, 23}}, -1});
  return table;
}

TEST(ProducerStateSnapshotTest, RoundTripKeepsEveryProducerAndTheEndOffset) {
  const ProducerStateTable table = SampleTable();
  const std::string bytes = EncodeProducerStateSnapshot(table, 24);
  auto snapshot = DecodeProducerStateSnapshot(bytes);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->end_offset, 24);
  EXPECT_EQ(snapshot->table.producers(), table.producers());

  auto empty = DecodeProducerStateSnapshot(EncodeProducerStateSnapshot({}, 0));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->table.producers().empty());
}

// The example of docs/FORMAT.md section 15, written out by hand (its CRC computed apart from
// Runnel's code): producer 7, epoch 1, last timestamp 1703125310464, one batch with sequences
// 0..2 at offsets 5..7, log end 8.
TEST(ProducerStateSnapshotTest, ReadsBytesWrittenByHand) {
  const std::string bytes = absl::HexStringToBytes(
      "0003"                // version 3
      "32c4fc23"            // crc of everything after it
      "0000000000000008"    // endOffset 8
      "00000001"            // producerCount 1
      "0000000000000007"    // producerId 7
      "0001"                // producerEpoch 1
      "0000018c8a2ddc00"    // lastTimestamp 1703125310464
      "01"                  // batchCount 1
      "00000000"            // baseSequence 0
      "00000002"            // lastSequence 2
      "0000000000000005"    // baseOffset 5
      "0000000000000007");  // lastOffset 7
  ASSERT_EQ(bytes.size(), 61u);

  auto snapshot = DecodeProducerStateSnapshot(bytes);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->end_offset, 8);
  ASSERT_EQ(snapshot->table.producers().size(), 1u);
  const ProducerEntry entry{1, {{0, 2, 5, 7}}, 1703125310464};
  EXPECT_EQ(snapshot->table.producers().at(7), entry);

  ProducerStateTable same;
  same.Restore(7, entry);
  EXPECT_EQ(EncodeProducerStateSnapshot(same, 8), bytes);

  // Version 2, the same layout, stored the last batch's record time (CreateTime), not when it was
  // appended: read as unknown, or an upgraded broker would expire its producers at once.
  std::string version2 = bytes;
  version2[1] = 2;
  auto older = DecodeProducerStateSnapshot(version2);
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_EQ(older->table.producers().at(7), (ProducerEntry{1, {{0, 2, 5, 7}}, -1}));
}

// Version 1 (before producer.id.expiration.ms) has no lastTimestamp: still read, timestamp unknown.
TEST(ProducerStateSnapshotTest, ReadsVersionOneWrittenByHand) {
  const std::string bytes = absl::HexStringToBytes(
      "0001"                // version 1
      "abfb400a"            // crc of everything after it
      "0000000000000008"    // endOffset 8
      "00000001"            // producerCount 1
      "0000000000000007"    // producerId 7
      "0001"                // producerEpoch 1
      "01"                  // batchCount 1
      "00000000"            // baseSequence 0
      "00000002"            // lastSequence 2
      "0000000000000005"    // baseOffset 5
      "0000000000000007");  // lastOffset 7
  ASSERT_EQ(bytes.size(), 53u);

  auto snapshot = DecodeProducerStateSnapshot(bytes);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->end_offset, 8);
  ASSERT_EQ(snapshot->table.producers().size(), 1u);
  EXPECT_EQ(snapshot->table.producers().at(7), (ProducerEntry{1, {{0, 2, 5, 7}}, -1}));
}

TEST(ProducerStateSnapshotTest, TornCorruptOrForeignFilesAreRefusedSayingWhy) {
  const std::string bytes = EncodeProducerStateSnapshot(SampleTable(), 24);
  std::string flipped = bytes;
  flipped[30] ^= 0x10;
  auto corrupt = DecodeProducerStateSnapshot(flipped);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find("CRC32C mismatch"), absl::string_view::npos)
      << corrupt.status();

  for (size_t size : {size_t{0}, size_t{10}, bytes.size() - 1}) {
    EXPECT_EQ(DecodeProducerStateSnapshot(bytes.substr(0, size)).status().code(),
              absl::StatusCode::kDataLoss)
        << "torn at " << size;
  }
  std::string version4 = bytes;
  version4[1] = 4;
  EXPECT_NE(
      DecodeProducerStateSnapshot(version4).status().message().find("version 4 is not 1, 2 or 3"),
      absl::string_view::npos);
  // A well-formed CRC over values no writer produces (a batch past the covered end offset).
  const std::string past_end = EncodeProducerStateSnapshot(SampleTable(), 20);
  auto bad = DecodeProducerStateSnapshot(past_end);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("end offset 20"), absl::string_view::npos) << bad.status();
}

}  // namespace
}  // namespace runnel::broker
