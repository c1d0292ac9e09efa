// Batches written by real Kafka clients (kcat/librdkafka and kafkajs, see
// tests/data/kafka-batches/README.md) decode exactly to what their JSON says, the broken ones
// are rejected naming the bad field, and uncompressed ones re-encode byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/crc32c.h"
#include "common/record/batch_builder.h"
#include "common/record/batch_validator.h"
#include "common/record/record_iterator.h"
#include "tests/common/test_bytes.h"

namespace runnel::record {
namespace {

using nlohmann::json;
using testing::FromHex;
using testing::ReadFileOrDie;

const std::string kDir = std::string(RUNNEL_TEST_DATA_DIR) + "/kafka-batches/";

const std::vector<std::string> kGoodVectors = {
    "kcat-none",    "kcat-gzip",       "kcat-snappy",        "kcat-lz4",        "kcat-zstd",
    "kcat-nullkey", "kcat-emptyvalue", "kcat-tombstone",     "kcat-idempotent", "kafkajs-none",
    "kafkajs-gzip", "kafkajs-nullkey", "kafkajs-idempotent",
};

// A JSON field in the vectors' convention: null, a UTF-8 string, or bytes in a sibling
// "<name>_hex".
std::optional<std::string> Field(const json& object, const std::string& name) {
  if (object.contains(name + "_hex")) return FromHex(object[name + "_hex"].get<std::string>());
  if (object[name].is_null()) return std::nullopt;
  return object[name].get<std::string>();
}

std::optional<std::string> Owned(std::optional<std::string_view> v) {
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

class KafkaGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    bytes_ = ReadFileOrDie(kDir + GetParam() + ".bin");
    expected_ = json::parse(ReadFileOrDie(kDir + GetParam() + ".json"));
  }
  std::string bytes_;
  json expected_;
};

TEST_P(KafkaGoldenTest, DecodesEveryFieldAsTheClientWroteIt) {
  ASSERT_TRUE(ValidateBatch(bytes_).ok()) << ValidateBatch(bytes_);
  auto view = RecordBatchView::Parse(bytes_);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(CompressionName(view->compression()), expected_["compression"].get<std::string>());
  EXPECT_EQ(view->attributes(), expected_["attributes"].get<int>());
  EXPECT_EQ(view->base_offset(), expected_["base_offset"].get<int64_t>());
  EXPECT_EQ(view->partition_leader_epoch(), expected_["partition_leader_epoch"].get<int32_t>());
  EXPECT_EQ(view->last_offset_delta(), expected_["last_offset_delta"].get<int32_t>());
  EXPECT_EQ(view->base_timestamp(), expected_["base_timestamp"].get<int64_t>());
  EXPECT_EQ(view->max_timestamp(), expected_["max_timestamp"].get<int64_t>());
  EXPECT_EQ(view->producer_id(), expected_["producer_id"].get<int64_t>());
  EXPECT_EQ(view->producer_epoch(), expected_["producer_epoch"].get<int16_t>());
  EXPECT_EQ(view->base_sequence(), expected_["base_sequence"].get<int32_t>());
  EXPECT_EQ(view->record_count(), expected_["record_count"].get<int32_t>());
  EXPECT_EQ(view->crc(), std::stoul(expected_["crc"].get<std::string>(), nullptr, 16));
  EXPECT_EQ(view->crc(), crc32c::Value(std::string_view(bytes_).substr(21)));

  auto it = RecordIterator::Create(*view);
  ASSERT_TRUE(it.ok()) << it.status();
  const json& records = expected_["records"];
  Record r;
  size_t i = 0;
  while (it->Next(&r)) {
    ASSERT_LT(i, records.size());
    const json& e = records[i];
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(r.offset_delta, e["offset_delta"].get<int32_t>());
    EXPECT_EQ(r.timestamp_delta, e["timestamp_delta"].get<int64_t>());
    EXPECT_EQ(r.timestamp, e["timestamp"].get<int64_t>());
    EXPECT_EQ(Owned(r.key), Field(e, "key"));  // null and empty differ
    EXPECT_EQ(Owned(r.value), Field(e, "value"));
    ASSERT_EQ(r.headers.size(), e["headers"].size());
    for (size_t h = 0; h < r.headers.size(); ++h) {
      EXPECT_EQ(std::string(r.headers[h].key), e["headers"][h]["key"].get<std::string>());
      EXPECT_EQ(Owned(r.headers[h].value), Field(e["headers"][h], "value"));
    }
    ++i;
  }
  ASSERT_TRUE(it->status().ok()) << it->status();
  EXPECT_EQ(i, records.size());
}

// Re-encode the expected records with our builder: the records section matches the client's byte
// for byte (after decompression for compressed vectors), and so does the whole uncompressed batch.
// Only for vectors whose client, like ours, takes the first record's timestamp as baseTimestamp:
// kafkajs-none/-gzip/-idempotent use the minimum timestamp, so their deltas differ by design.
class KafkaReencodeTest : public KafkaGoldenTest {};

TEST_P(KafkaReencodeTest, OurEncoderWritesTheSameRecords) {
  auto view = RecordBatchView::Parse(bytes_);
  ASSERT_TRUE(view.ok());
  const json& records = expected_["records"];
  ASSERT_EQ(records[0]["timestamp_delta"].get<int64_t>(), 0) << "not a re-encodable vector";
  BatchBuilderOptions options;
  options.base_offset = view->base_offset();
  options.partition_leader_epoch = view->partition_leader_epoch();
  options.producer_id = view->producer_id();
  options.producer_epoch = view->producer_epoch();
  options.base_sequence = view->base_sequence();
  RecordBatchBuilder builder(options);
  for (const json& e : records) {
    std::vector<std::optional<std::string>> values;
    std::vector<std::string> keys;
    for (const json& h : e["headers"]) {
      keys.push_back(h["key"].get<std::string>());
      values.push_back(Field(h, "value"));
    }
    std::vector<RecordHeader> headers;
    for (size_t h = 0; h < keys.size(); ++h) {
      headers.push_back(
          {keys[h], values[h] ? std::optional<std::string_view>(*values[h]) : std::nullopt});
    }
    const auto key = Field(e, "key");
    const auto value = Field(e, "value");
    builder.Append(e["timestamp"].get<int64_t>(),
                   key ? std::optional<std::string_view>(*key) : std::nullopt,
                   value ? std::optional<std::string_view>(*value) : std::nullopt, headers);
  }
  auto built = builder.Build();
  ASSERT_TRUE(built.ok()) << built.status();

  std::string client_records(view->records_section());
  if (view->compression() != Compression::kNone) {
    client_records.clear();
    ASSERT_TRUE(
        Decompress(view->compression(), view->records_section(), 1 << 20, &client_records).ok());
  }
  EXPECT_EQ(testing::ToHex(std::string_view(*built).substr(kBatchHeaderSize)),
            testing::ToHex(client_records));
  if (view->compression() == Compression::kNone) {
    EXPECT_EQ(testing::ToHex(*built), testing::ToHex(bytes_));
  }
}

const std::vector<std::string> kReencodableVectors = {
    "kcat-none",    "kcat-gzip",       "kcat-snappy",    "kcat-lz4",        "kcat-zstd",
    "kcat-nullkey", "kcat-emptyvalue", "kcat-tombstone", "kcat-idempotent", "kafkajs-nullkey",
};

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(ClientVectors, KafkaGoldenTest, ::testing::ValuesIn(kGoodVectors),
                         TestName);
INSTANTIATE_TEST_SUITE_P(ClientVectors, KafkaReencodeTest, ::testing::ValuesIn(kReencodableVectors),
                         TestName);

struct BrokenVector {
  std::string file;
  absl::StatusCode code;
  std::string message_start;
};

TEST(KafkaBrokenVectorsTest, RejectedNamingTheBadField) {
  const BrokenVector cases[] = {
      {"broken-crc-flipped", absl::StatusCode::kDataLoss,
       "crc: CRC32C mismatch (stored 0xd6abf7c9, computed 0x29540836)"},
      {"broken-truncated", absl::StatusCode::kInvalidArgument, "batchLength: batch truncated"},
      {"broken-count-too-large", absl::StatusCode::kInvalidArgument,
       "recordCount: 5 but lastOffsetDelta is 3"},
  };
  for (const BrokenVector& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string bytes = ReadFileOrDie(kDir + c.file + ".bin");
    const absl::Status s = ValidateBatch(bytes);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_TRUE(absl::StartsWith(s.message(), c.message_start)) << s;
  }
}

TEST(KafkaBrokenVectorsTest, IteratingAnOverclaimingBatchStopsWithAnError) {
  // The record count says 5 but only 4 records are there: the iterator returns the 4 and then
  // reports the fifth as truncated instead of reading past the batch.
  const std::string bytes = ReadFileOrDie(kDir + "broken-count-too-large.bin");
  auto view = RecordBatchView::Parse(bytes);
  ASSERT_TRUE(view.ok());
  auto it = RecordIterator::Create(*view);
  ASSERT_TRUE(it.ok());
  Record r;
  int n = 0;
  while (it->Next(&r)) ++n;
  EXPECT_EQ(n, 4);
  EXPECT_TRUE(
      absl::StartsWith(it->status().message(), "record 4 (of 5 claimed by recordCount) length"))
      << it->status();
}

}  // namespace
}  // namespace runnel::record
