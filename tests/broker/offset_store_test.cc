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

// A batch of one committed offset, as the OffsetStore writes it.
std::string OffsetBatch(const std::string& group, const std::string& topic, int32_t partition,
                        int64_t offset) {
  record::RecordBatchBuilder builder;
  builder.Append(1000, EncodeOffsetKey({group, topic, partition}),
                 EncodeOffsetValue({offset, -1, "", 1000}));
  return *builder.Build();
}

class OffsetStoreWithAppenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(opened_.partitions, nullptr);
    store_ = std::make_unique<OffsetStore>(opened_.partitions.get(), 3, &Clock::Real(), &appender_);
    TopicInfo topic;
    topic.name = OffsetStore::kTopic;
    topic.partitions = 3;
    topic.internal = true;
    topic.configs = {{"cleanup.policy", "compact"}};
    ASSERT_TRUE(opened_.partitions->CreateTopic(topic).ok());
    partition_ = store_->PartitionOf("g");
    auto log = opened_.partitions->GetLog(OffsetStore::kTopic, partition_, false);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *log;
  }

  TempDir dir_;
  testing::OpenedDataDir opened_{dir_.path()};
  HeldAppender appender_;
  std::unique_ptr<OffsetStore> store_;
  int32_t partition_ = -1;
  std::shared_ptr<storage::Log> log_;  // this broker's replica of g's partition
};

// In a cluster a commit goes through the appender (not this broker's own log), and Fetch shows it
// only once it is committed: a proposal that fails (its leader deposed) leaves nothing behind.
TEST_F(OffsetStoreWithAppenderTest, ACommitIsVisibleOnlyOnceTheAppenderCommittedIt) {
  ASSERT_TRUE(store_->LoadPartition(partition_, *log_, nullptr).ok());
  absl::Status answered = absl::UnknownError("not answered");
  ASSERT_TRUE(store_->Commit("g", {{"t", 0, 5, ""}}, [&](absl::Status s) { answered = s; }).ok());
  ASSERT_EQ(appender_.batches.size(), 1u);
  EXPECT_EQ(appender_.groups[0], "g");
  EXPECT_EQ(log_->end_offset(), 0) << "written around the appender";
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

// In a cluster the store serves only the partitions this broker coordinates: LoadPartition reads
// the partition's replica up to its high watermark (what is committed; Raft's control batches
// skipped) and then serves it; it waits (FailedPrecondition) while a write accepted before is not
// answered, so a load never misses an acknowledged commit; UnloadPartition stops serving it and
// forgets its offsets; writes and checked reads of a partition not served are refused.
TEST_F(OffsetStoreWithAppenderTest, APartitionIsServedOnlyOnceLoadedFromItsReplica) {
  ASSERT_TRUE(log_->Append(OffsetBatch("g", "t", 0, 5)).ok());
  ASSERT_TRUE(
      log_->Append(record::BuildControlBatch(record::ControlType::kLeaderChange, "", 1000)).ok());
  log_->SetReplicatedHighWatermark(log_->end_offset());
  ASSERT_TRUE(log_->Append(OffsetBatch("g", "t", 0, 8)).ok());  // not committed: past it

  // Not served yet: writes and checked reads are refused.
  absl::Status answered = absl::UnknownError("not answered");
  EXPECT_TRUE(absl::IsUnavailable(
      store_->Commit("g", {{"t", 1, 3, ""}}, [&](absl::Status s) { answered = s; })));
  EXPECT_TRUE(appender_.batches.empty());
  EXPECT_TRUE(absl::IsUnavailable(store_->FetchAllServed("g").status()));

  int group_records = 0;
  ASSERT_TRUE(store_
                  ->LoadPartition(
                      partition_, *log_,
                      [&](std::string_view, std::optional<std::string_view>) { ++group_records; })
                  .ok());
  EXPECT_EQ(group_records, 0);
  auto served = store_->FetchServed("g", "t", 0);
  ASSERT_TRUE(served.ok()) << served.status();
  ASSERT_TRUE(served->has_value());
  EXPECT_EQ((*served)->offset, 5) << "read past the high watermark";

  // A write in flight holds a new load back until it is answered; then it is in the cache.
  ASSERT_TRUE(store_->Commit("g", {{"t", 0, 9, ""}}, [&](absl::Status s) { answered = s; }).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->LoadPartition(partition_, *log_, nullptr)));
  appender_.Answer(0, absl::OkStatus());
  EXPECT_TRUE(answered.ok()) << answered;
  EXPECT_EQ(store_->Fetch("g", "t", 0)->offset, 9);

  // An answer that comes after the partition was unloaded changes nothing.
  ASSERT_TRUE(store_->Commit("g", {{"t", 1, 4, ""}}, [&](absl::Status s) { answered = s; }).ok());
  store_->UnloadPartition(partition_);
  EXPECT_FALSE(store_->Fetch("g", "t", 0).has_value());
  EXPECT_TRUE(absl::IsUnavailable(store_->CheckServing("g")));
  appender_.Answer(1, absl::OkStatus());
  EXPECT_FALSE(store_->Fetch("g", "t", 1).has_value()) << "applied after the unload";
  EXPECT_TRUE(store_->Groups().empty());
}

}  // namespace
}  // namespace runnel::broker
