#include "common/record/compression.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <random>
#include <string>

#include "common/big_endian.h"

namespace runnel::record {
namespace {

constexpr Compression kCodecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                                   Compression::kZstd};

std::string RandomText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  // Half-compressible: a small alphabet with random runs.
  for (auto& c : s) c = static_cast<char>('a' + rng() % 8);
  return s;
}

class CompressionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionTest, RoundTripsSizesFromEmptyToSeveralBlocks) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{32 * 1024 + 1}, size_t{200 * 1024}}) {
    const std::string input = RandomText(n, static_cast<uint32_t>(n));
    std::string compressed = "prefix";  // Compress appends
    ASSERT_TRUE(Compress(GetParam(), input, &compressed).ok());
    ASSERT_EQ(compressed.substr(0, 6), "prefix");
    std::string output = "keep";
    ASSERT_TRUE(Decompress(GetParam(), std::string_view(compressed).substr(6), n, &output).ok())
        << "size " << n;
    EXPECT_EQ(output, "keep" + input) << "size " << n;
  }
}

TEST_P(CompressionTest, RefusesOutputBeyondTheLimit) {
  const std::string input(1 << 20, 'z');  // compresses very well: a decompression bomb in small
  std::string compressed;
  ASSERT_TRUE(Compress(GetParam(), input, &compressed).ok());
  std::string output;
  const absl::Status s = Decompress(GetParam(), compressed, input.size() - 1, &output);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("more than"), std::string_view::npos) << s;
  EXPECT_TRUE(output.empty());
}

TEST_P(CompressionTest, RejectsGarbageAndTruncatedInputWithoutCrashing) {
  const std::string input = RandomText(10000, 3);
  std::string compressed;
  ASSERT_TRUE(Compress(GetParam(), input, &compressed).ok());
  for (size_t cut = 0; cut < compressed.size(); cut += 7) {
    std::string output;
    const absl::Status s =
        Decompress(GetParam(), std::string_view(compressed).substr(0, cut), 1 << 20, &output);
    EXPECT_FALSE(s.ok()) << "truncated to " << cut << " bytes";
    EXPECT_NE(s.message().find(std::string(CompressionName(GetParam()))), std::string_view::npos)
        << s;
  }
  std::string output;
  EXPECT_FALSE(Decompress(GetParam(), "definitely not compressed data", 1 << 20, &output).ok());
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CompressionTest, ::testing::ValuesIn(kCodecs),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(CompressionFramingTest, SnappyWritesXerialFramingInChunks) {
  const std::string input = RandomText(70 * 1024, 9);
  std::string compressed;
  ASSERT_TRUE(Compress(Compression::kSnappy, input, &compressed).ok());
  ASSERT_GE(compressed.size(), 16u);
  EXPECT_EQ(compressed.substr(0, 8), std::string("\x82SNAPPY\0", 8));
  EXPECT_EQ(LoadBigEndian<int32_t>(compressed.data() + 8), 1);   // version
  EXPECT_EQ(LoadBigEndian<int32_t>(compressed.data() + 12), 1);  // compatible version
  // 70 KiB in 32 KiB chunks: three length-prefixed raw blocks.
  size_t pos = 16, chunks = 0;
  while (pos < compressed.size()) {
    pos += 4 + LoadBigEndian<int32_t>(compressed.data() + pos);
    ++chunks;
  }
  EXPECT_EQ(pos, compressed.size());
  EXPECT_EQ(chunks, 3u);
}

TEST(CompressionFramingTest, SnappyReadsRawBlocksAsLibrdkafkaWritesThem) {
  const std::string input = RandomText(5000, 11);
  std::string raw;
  snappy::Compress(input.data(), input.size(), &raw);
  std::string output;
  ASSERT_TRUE(Decompress(Compression::kSnappy, raw, 1 << 20, &output).ok());
  EXPECT_EQ(output, input);
}

TEST(CompressionFramingTest, GzipAndLz4AndZstdUseTheirStandardMagic) {
  std::string gz, lz4, zstd;
  ASSERT_TRUE(Compress(Compression::kGzip, "abc", &gz).ok());
  ASSERT_TRUE(Compress(Compression::kLz4, "abc", &lz4).ok());
  ASSERT_TRUE(Compress(Compression::kZstd, "abc", &zstd).ok());
  EXPECT_EQ(gz.substr(0, 3), "\x1f\x8b\x08");
  EXPECT_EQ(lz4.substr(0, 4), "\x04\x22\x4d\x18");
  EXPECT_EQ(zstd.substr(0, 4), "\x28\xb5\x2f\xfd");
}

TEST(CompressionFramingTest, GzipReadsConcatenatedMembers) {
  std::string two;
  ASSERT_TRUE(Compress(Compression::kGzip, "first,", &two).ok());
  ASSERT_TRUE(Compress(Compression::kGzip, "second", &two).ok());
  std::string output;
  ASSERT_TRUE(Decompress(Compression::kGzip, two, 100, &output).ok());
  EXPECT_EQ(output, "first,second");
}

TEST(CompressionNameTest, ParsesEveryNameAndRejectsOthers) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kSnappy,
                        Compression::kLz4, Compression::kZstd}) {
    EXPECT_EQ(*ParseCompression(CompressionName(c)), c);
  }
  const auto bad = ParseCompression("brotli");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'brotli'"), std::string_view::npos);
}

}  // namespace
}  // namespace runnel::record
