#include "broker/group/offset_store.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/group/offsets_appender.h"
#include "broker/partition/partition_manager.h"
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

}  // namespace
}  // namespace runnel::broker
