// CommitManager (client/internal/commit_manager.h) on its own: the auto-commit interval driven by a
// ManualClock to the millisecond (no sleeps), and commits, async commits and committed-offset
// lookups against an in-process fake coordinator (tests/client/fake_broker.h), not a runneld.
#include "client/internal/commit_manager.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>

#include "client/status.h"
#include "common/clock.h"
#include "tests/client/fake_broker.h"

namespace runnel::client::internal {
namespace {

using testing::FakeBroker;

const TopicPartition kP0{"t", 0};

grpc::Status Answer(v1::ErrorCode code, v1::CommitOffsetsResponse* response) {
  response->mutable_error()->set_code(code);
  response->mutable_error()->set_message(v1::ErrorCode_Name(code));
  return grpc::Status::OK;
}

class CommitManagerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  static ConsumerOptions Options() {
    ConsumerOptions options;
    options.group_id = "g";
    options.auto_commit_interval_ms = 5000;
    return options;
  }

  std::unique_ptr<CommitManager> Make(const ConsumerOptions& options) {
    return std::make_unique<CommitManager>(options, broker_.address(), stub_.get(), &cq_, &clock_,
                                           [this] { return member_; });
  }

  // Waits for the next event of the completion queue (at most 10 s) and hands it to `commits`.
  bool DeliverNextEvent(CommitManager* commits) {
    void* tag = nullptr;
    bool ok = false;
    const auto got =
        cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(10));
    return got == grpc::CompletionQueue::GOT_EVENT && commits->OnEvent(tag);
  }

  FakeBroker broker_;
  const std::unique_ptr<v1::Groups::Stub> stub_ = broker_.GroupsStub();
  grpc::CompletionQueue cq_;
  ManualClock clock_;
  std::pair<std::string, int32_t> member_{"", -1};
};

TEST_F(CommitManagerTest, AutoCommitIsDueAtTheIntervalNotBefore) {
  auto commits = Make(Options());
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
  clock_.AdvanceMs(60'000);
  EXPECT_TRUE(commits->AutoCommitDue());  // until something is committed
}

TEST_F(CommitManagerTest, AutoCommitIsNeverDueWithoutGroupIdOrWhenDisabled) {
  ConsumerOptions no_group = Options();
  no_group.group_id.clear();
  ConsumerOptions disabled = Options();
  disabled.enable_auto_commit = false;
  auto without_group = Make(no_group);
  auto without_auto_commit = Make(disabled);
  clock_.AdvanceMs(24 * 3600 * 1000);
  EXPECT_FALSE(without_group->AutoCommitEnabled());
  EXPECT_FALSE(without_group->AutoCommitDue());
  EXPECT_FALSE(without_auto_commit->AutoCommitEnabled());
  EXPECT_FALSE(without_auto_commit->AutoCommitDue());
}

TEST_F(CommitManagerTest, AZeroIntervalMakesAnAutoCommitDueEveryTime) {
  ConsumerOptions options = Options();
  options.auto_commit_interval_ms = 0;
  auto commits = Make(options);
  EXPECT_TRUE(commits->AutoCommitDue());
  commits->AutoCommit({});
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, AnAutoCommitWithNothingToCommitSendsNothingAndRestartsTheInterval) {
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  ASSERT_TRUE(commits->AutoCommitDue());
  commits->AutoCommit({});
  EXPECT_TRUE(broker_.commits().empty());
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, AFailedAutoCommitStillWaitsAWholeIntervalBeforeTheNext) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse*) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator restarting");
  });
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  commits->AutoCommit({{kP0, 12}});
  ASSERT_EQ(broker_.commits().size(), 1u);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, ASuccessfulCommitRestartsTheAutoCommitInterval) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::NONE, response);
  });
  auto commits = Make(Options());
  clock_.AdvanceMs(3000);
  ASSERT_TRUE(commits->Commit({{kP0, 12}}).ok());
  clock_.AdvanceMs(4999);  // 7999 ms after the start: the commit at 3000 restarted the interval
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, ARefusedCommitLeavesTheAutoCommitDue) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::UNKNOWN_MEMBER_ID, response);
  });
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  const absl::Status s = commits->Commit({{kP0, 12}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsNoLongerMember(s)) << s;
  EXPECT_NE(s.message().find("commit offsets of group g"), std::string::npos) << s;
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, ACommitCarriesTheGroupTheMemberAndTheOffsets) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::NONE, response);
  });
  member_ = {"member-1", 7};
  auto commits = Make(Options());
  ASSERT_TRUE(commits->Commit({{kP0, 12}, {{"u", 3}, 4}}).ok());
  const auto sent = broker_.commits();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].group_id(), "g");
  EXPECT_EQ(sent[0].member_id(), "member-1");
  EXPECT_EQ(sent[0].member_epoch(), 7);
  ASSERT_EQ(sent[0].offsets_size(), 2);
  EXPECT_EQ(sent[0].offsets(0).topic(), "t");
  EXPECT_EQ(sent[0].offsets(0).offset(), 12);
  EXPECT_EQ(sent[0].offsets(1).topic(), "u");
  EXPECT_EQ(sent[0].offsets(1).partition(), 3);
  EXPECT_EQ(sent[0].offsets(1).offset(), 4);
}

TEST_F(CommitManagerTest, AStaleMemberEpochIsRetriedWithTheMembersNewEpoch) {
  broker_.OnCommit(
      [](int call, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
        return Answer(call == 0 ? v1::STALE_MEMBER_EPOCH : v1::NONE, response);
      });
  // Each attempt asks for the member's epoch: the heartbeat moved it to 8 meanwhile.
  CommitManager commits(Options(), broker_.address(), stub_.get(), &cq_, &clock_,
                        [epoch = 7]() mutable {
                          return std::pair<std::string, int32_t>{"member-1", epoch++};
                        });
  ASSERT_TRUE(commits.Commit({{kP0, 12}}).ok());
  const auto sent = broker_.commits();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].member_epoch(), 7);
  EXPECT_EQ(sent[1].member_epoch(), 8);
}

TEST_F(CommitManagerTest, AStaleMemberEpochIsGivenUpAfterThreeRetries) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::STALE_MEMBER_EPOCH, response);
  });
  auto commits = Make(Options());
  const absl::Status s = commits->Commit({{kP0, 12}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(broker_.commits().size(), 4u);
}

TEST_F(CommitManagerTest, WithoutGroupIdCommitsAndLookupsAreFailedPreconditions) {
  ConsumerOptions options = Options();
  options.group_id.clear();
  auto commits = Make(options);
  EXPECT_EQ(commits->Commit({{kP0, 1}}).message(), "commit needs group.id");
  EXPECT_EQ(commits->Committed({kP0}).status().message(), "committed offsets need group.id");
  std::optional<absl::Status> async;
  commits->CommitAsync({{kP0, 1}}, [&](absl::Status s) { async = s; });
  EXPECT_FALSE(async.has_value());  // callbacks run in FinishAsync only
  commits->FinishAsync();
  ASSERT_TRUE(async.has_value());
  EXPECT_EQ(async->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(async->message(), "commit needs group.id");
  EXPECT_TRUE(broker_.commits().empty());
}

TEST_F(CommitManagerTest, AnAsyncCommitReportsInFinishAsyncAfterItsAnswerCame) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::NONE, response);
  });
  auto commits = Make(Options());
  std::vector<absl::Status> results;
  commits->CommitAsync({{kP0, 12}}, [&](absl::Status s) { results.push_back(s); });
  EXPECT_TRUE(commits->HasAsync());
  EXPECT_TRUE(commits->AsyncInFlight());
  commits->FinishAsync();  // the answer has not been taken off the queue yet
  EXPECT_TRUE(results.empty());

  ASSERT_TRUE(DeliverNextEvent(commits.get()));
  EXPECT_FALSE(commits->AsyncInFlight());
  EXPECT_TRUE(commits->HasAsync());
  EXPECT_TRUE(results.empty());
  commits->FinishAsync();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_FALSE(commits->HasAsync());
}

TEST_F(CommitManagerTest, SendingAnAsyncCommitRestartsTheAutoCommitInterval) {
  broker_.OnCommit([](int, const v1::CommitOffsetsRequest&, v1::CommitOffsetsResponse* response) {
    return Answer(v1::NONE, response);
  });
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  ASSERT_TRUE(commits->AutoCommitDue());
  commits->CommitAsync({{kP0, 12}}, nullptr);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
  ASSERT_TRUE(DeliverNextEvent(commits.get()));
  commits->FinishAsync();
}

TEST_F(CommitManagerTest, CommittedGivesNoOffsetWhereNothingIsCommitted) {
  broker_.OnFetchOffsets(
      [](int, const v1::FetchOffsetsRequest& request, v1::FetchOffsetsResponse* response) {
        for (const v1::TopicPartition& tp : request.partitions()) {
          v1::PartitionCommittedOffset* o = response->add_partitions();
          o->set_topic(tp.topic());
          o->set_partition(tp.partition());
          o->set_offset(tp.partition() == 0 ? 42 : -1);
        }
        return grpc::Status::OK;
      });
  auto commits = Make(Options());
  const TopicPartition p1{"t", 1};
  auto committed = commits->Committed({kP0, p1});
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(*committed,
            (std::map<TopicPartition, std::optional<int64_t>>{{kP0, 42}, {p1, std::nullopt}}));
}

}  // namespace
}  // namespace runnel::client::internal
