#include "broker/group/offset_store.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/group/offset_codec.h"
#include "broker/group/offsets_appender.h"
#include "broker/partition/partition_manager.h"
#include "common/record/batch_builder.h"
#include "common/record/control_record.h"
#include "storage/log_manager.h"
#include "tests/broker/opened_data_dir.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

// An appender that holds every batch until the test answers it, as Raft answers a proposal once
// it commits (or fails).
class HeldAppender final : public OffsetsAppender {
 public:
  absl::Status Append(const std::string& group, int32_t /*num_partitions*/, std::string batch,
                      std::function<void(absl::Status)> done) override {
    groups.push_back(group);
    batches.push_back(std::move(batch));
    answers.push_back(std::move(done));
    return absl::OkStatus();
  }
  void Answer(size_t i, const absl::Status& status) { answers.at(i)(status); }

  std::vector<std::string> groups;
  std::vector<std::string> batches;
  std::vector<std::function<void(absl::Status)>> answers;
};

class OffsetStoreWithAppenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(opened_.partitions, nullptr);
    store_ = std::make_unique<OffsetStore>(opened_.partitions.get(), 3, &Clock::Real(), &appender_);
  }

  TempDir dir_;
  testing::OpenedDataDir opened_{dir_.path()};
  HeldAppender appender_;
  std::unique_ptr<OffsetStore> store_;
};

// In a cluster a commit goes through the appender (not this broker's own log), and Fetch shows it
// only once it is committed: a proposal that fails (its leader deposed) leaves nothing behind.
TEST_F(OffsetStoreWithAppenderTest, ACommitIsVisibleOnlyOnceTheAppenderCommittedIt) {
  absl::Status answered = absl::UnknownError("not answered");
  ASSERT_TRUE(store_->Commit("g", {{"t", 0, 5, ""}}, [&](absl::Status s) { answered = s; }).ok());
  ASSERT_EQ(appender_.batches.size(), 1u);
  EXPECT_EQ(appender_.groups[0], "g");
  EXPECT_FALSE(opened_.topics->Get(OffsetStore::kTopic).has_value())
      << "written around the appender";
  EXPECT_FALSE(store_->Fetch("g", "t", 0).has_value()) << "visible before it committed";

  appender_.Answer(0, absl::OkStatus());
  EXPECT_TRUE(answered.ok()) << answered;
  ASSERT_TRUE(store_->Fetch("g", "t", 0).has_value());
  EXPECT_EQ(store_->Fetch("g", "t", 0)->offset, 5);

  ASSERT_TRUE(store_->Commit("g", {{"t", 0, 9, ""}}, [&](absl::Status s) { answered = s; }).ok());
  appender_.Answer(1, absl::UnavailableError("leadership lost"));
  EXPECT_TRUE(absl::IsUnavailable(answered)) << answered;
  EXPECT_EQ(store_->Fetch("g", "t", 0)->offset, 5) << "a failed proposal changed the cache";

  ASSERT_TRUE(store_->DeleteGroup("g", [&](absl::Status s) { answered = s; }).ok());
  EXPECT_TRUE(store_->Fetch("g", "t", 0).has_value()) << "deleted before the tombstones committed";
  appender_.Answer(2, absl::OkStatus());
  EXPECT_FALSE(store_->Fetch("g", "t", 0).has_value());
}

// A batch of one committed offset, as the OffsetStore writes it.
std::string OffsetBatch(const std::string& group, const std::string& topic, int32_t partition,
                        int64_t offset) {
  record::RecordBatchBuilder builder;
  builder.Append(1000, EncodeOffsetKey({group, topic, partition}),
                 EncodeOffsetValue({offset, -1, "", 1000}));
  return *builder.Build();
}

// In a cluster the cache holds only the partitions this broker coordinates: LoadPartition reads
// the partition's replica up to the end it is given (what is committed; Raft's control batches
// skipped), replacing what the cache held for the partition's groups; UnloadPartition forgets
// them; and a commit proposed before either is not applied when its answer comes afterwards
// (the partition's next load reads it from the log instead).
TEST_F(OffsetStoreWithAppenderTest, APartitionIsLoadedFromItsReplicaAndUnloaded) {
  TopicInfo topic;
  topic.name = OffsetStore::kTopic;
  topic.partitions = 3;
  topic.internal = true;
  topic.configs = {{"cleanup.policy", "compact"}};
  ASSERT_TRUE(opened_.partitions->CreateTopic(topic).ok());
  const int32_t partition = store_->PartitionOf("g");
  auto log = opened_.partitions->GetLog(OffsetStore::kTopic, partition, false);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(OffsetBatch("g", "t", 0, 5)).ok());
  ASSERT_TRUE(
      (*log)->Append(record::BuildControlBatch(record::ControlType::kLeaderChange, "", 1000)).ok());
  const int64_t end = (*log)->end_offset();
  ASSERT_TRUE((*log)->Append(OffsetBatch("g", "t", 0, 8)).ok());  // not committed: past `end`

  // What the cache held before the load (t-1) is not in the log: forgotten.
  absl::Status answered = absl::UnknownError("not answered");
  ASSERT_TRUE(store_->Commit("g", {{"t", 1, 3, ""}}, [&](absl::Status s) { answered = s; }).ok());
  appender_.Answer(0, absl::OkStatus());
  ASSERT_TRUE(store_->Fetch("g", "t", 1).has_value());
  ASSERT_TRUE(store_->Commit("g", {{"t", 0, 9, ""}}, [&](absl::Status s) { answered = s; }).ok());

  int group_records = 0;
  ASSERT_TRUE(store_
                  ->LoadPartition(
                      partition, **log, end,
                      [&](std::string_view, std::optional<std::string_view>) { ++group_records; })
                  .ok());
  EXPECT_EQ(group_records, 0);
  ASSERT_TRUE(store_->Fetch("g", "t", 0).has_value());
  EXPECT_EQ(store_->Fetch("g", "t", 0)->offset, 5) << "read past the end it was given";
  EXPECT_FALSE(store_->Fetch("g", "t", 1).has_value()) << "the cache kept what the log lacks";

  appender_.Answer(1, absl::OkStatus());  // proposed before the load
  EXPECT_TRUE(answered.ok()) << answered;
  EXPECT_EQ(store_->Fetch("g", "t", 0)->offset, 5) << "an answer from before the load was applied";

  store_->UnloadPartition(partition);
  EXPECT_FALSE(store_->Fetch("g", "t", 0).has_value());
  EXPECT_TRUE(store_->Groups().empty());
}

}  // namespace
}  // namespace runnel::broker
