// Control batches (common/record/control_record.h).
#include "common/record/control_record.h"

#include <gtest/gtest.h>

#include "common/record/batch_builder.h"
#include "common/record/batch_validator.h"

namespace runnel::record {
namespace {

TEST(ControlRecordTest, AControlBatchRoundTripsItsTypeAndValue) {
  const std::string batch =
      BuildControlBatch(ControlType::kVoters, "voters=1,2;learners=", 1234, 40, 7);
  ASSERT_TRUE(ValidateBatch(batch).ok());
  auto view = RecordBatchView::Parse(batch);
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->is_control());
  EXPECT_EQ(view->base_offset(), 40);
  EXPECT_EQ(view->partition_leader_epoch(), 7);
  EXPECT_EQ(view->record_count(), 1);
  EXPECT_EQ(view->max_timestamp(), 1234);
  auto record = ParseControlBatch(*view);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->type, ControlType::kVoters);
  EXPECT_EQ(record->value, "voters=1,2;learners=");
  // Kafka's key: int16 version 0, int16 type, big-endian.
  EXPECT_NE(batch.find(std::string("\x00\x00\x00\x06", 4)), std::string::npos);
}

TEST(ControlRecordTest, ADataBatchOrABadKeyIsNotAControlRecord) {
  RecordBatchBuilder data;
  data.Append(1, "k", "v");
  const std::string plain = *data.Build();
  auto not_control = ParseControlBatch(*RecordBatchView::Parse(plain));
  EXPECT_TRUE(absl::IsInvalidArgument(not_control.status()));
  EXPECT_NE(not_control.status().message().find("not a control batch"), std::string::npos);

  RecordBatchBuilder bad_key({.is_control = true});
  bad_key.Append(1, "abc", "v");
  const std::string bad = *bad_key.Build();
  auto refused = ParseControlBatch(*RecordBatchView::Parse(bad));
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_NE(refused.status().message().find("key"), std::string::npos) << refused.status();

  RecordBatchBuilder two({.is_control = true});
  two.Append(1, std::string("\0\0\0\2", 4), "");
  two.Append(1, std::string("\0\0\0\2", 4), "");
  const std::string pair = *two.Build();
  auto extra = ParseControlBatch(*RecordBatchView::Parse(pair));
  EXPECT_TRUE(absl::IsInvalidArgument(extra.status()));
  EXPECT_NE(extra.status().message().find("more than one"), std::string::npos) << extra.status();
}

}  // namespace
}  // namespace runnel::record
