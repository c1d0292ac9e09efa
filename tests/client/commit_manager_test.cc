// CommitManager (client/internal/commit_manager.h) against a real runneld (tests/e2e/
// broker_process.h): the auto-commit interval driven by a ManualClock to the millisecond (no
// sleeps), while the commits themselves go to the broker's real coordinator and are read back
// with committed-offset lookups. Group members join through the broker's Groups API by hand, so
// the test decides when a member's epoch moves (another member joining moves it).
#include "client/internal/commit_manager.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/internal/grpc_status.h"
#include "client/status.h"
#include "common/clock.h"
#include "runnel/v1/groups.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::client::internal {
namespace {

using runnel::testing::BrokerProcess;
using runnel::testing::RawBrokerClient;
using storage::testing::TempDir;
using Committed = std::map<TopicPartition, std::optional<int64_t>>;

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};
const TopicPartition kU3{"u", 3};

// A consumer-group member of the broker's coordinator, heartbeating only when the test says
// (the broker's Groups API, no client library): its member id and epoch are what the coordinator
// gave it.
class RawMember {
 public:
  RawMember(v1::Groups::Stub* stub, std::string group, std::vector<std::string> topics)
      : stub_(stub), group_(std::move(group)), topics_(std::move(topics)) {}

  ::testing::AssertionResult Join() { return Heartbeat(0); }
  // Heartbeats (owning what it was last given) until the coordinator moves its epoch, at most
  // ten times: a revocation takes one heartbeat to ask and one to confirm.
  ::testing::AssertionResult HeartbeatUntilEpochMoves() {
    const int32_t before = epoch_;
    for (int i = 0; i < 10; ++i) {
      ::testing::AssertionResult r = Heartbeat(epoch_);
      if (!r) return r;
      if (epoch_ != before) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "epoch still " << before << " after 10 heartbeats";
  }

  const std::string& id() const { return id_; }
  int32_t epoch() const { return epoch_; }

 private:
  ::testing::AssertionResult Heartbeat(int32_t epoch) {
    v1::ConsumerGroupHeartbeatRequest request;
    request.set_group_id(group_);
    request.set_member_id(id_);
    request.set_member_epoch(epoch);
    for (const std::string& t : topics_) request.add_subscribed_topics(t);
    if (epoch != 0) *request.mutable_owned() = assignment_;
    v1::ConsumerGroupHeartbeatResponse response;
    const grpc::Status s =
        stub_->ConsumerGroupHeartbeat(RawBrokerClient::Context().get(), request, &response);
    if (!s.ok()) return ::testing::AssertionFailure() << "heartbeat: " << s.error_message();
    if (response.error().code() != v1::NONE) {
      return ::testing::AssertionFailure() << "heartbeat: " << response.error().message();
    }
    id_ = response.member_id();
    epoch_ = response.member_epoch();
    assignment_ = response.assignment();
    return ::testing::AssertionSuccess();
  }

  v1::Groups::Stub* const stub_;
  const std::string group_;
  const std::vector<std::string> topics_;
  std::string id_;
  int32_t epoch_ = 0;
  google::protobuf::RepeatedPtrField<v1::TopicPartitions> assignment_;
};

class CommitManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(
        dir_.Sub("data"), std::vector<std::string>{"--offsets-topic-partitions", "1"});
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    RawBrokerClient admin(broker_->address());
    admin.CreateTopic("t", 2);
    admin.CreateTopic("u", 4);
    stub_ = v1::Groups::NewStub(
        grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials()));
  }

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
    options.request_timeout_ms = 20'000;
    return options;
  }

  std::unique_ptr<CommitManager> Make(const ConsumerOptions& options,
                                      CommitManager::MemberFn member = nullptr) {
    if (!member) member = [] { return std::pair<std::string, int32_t>{"", -1}; };
    if (coordinator_ == nullptr) {
      MetadataCacheOptions cache;
      cache.bootstrap = {broker_->address()};
      metadata_ = std::make_unique<MetadataCache>(cache, &channels_, &clock_);
      coordinator_ =
          std::make_unique<CoordinatorStubs>(metadata_.get(), &channels_, options.group_id, 5000);
    }
    return std::make_unique<CommitManager>(options, coordinator_.get(), &cq_, &clock_,
                                           std::move(member));
  }

  // What group g committed for `partitions`, read back from the broker by a CommitManager of its
  // own.
  Committed ReadBack(const std::vector<TopicPartition>& partitions) {
    auto committed = Make(Options())->Committed(partitions, /*retry=*/true);
    EXPECT_TRUE(committed.ok()) << committed.status();
    return committed.ok() ? *committed : Committed();
  }

  // Waits for the next event of the completion queue (at most 10 s) and hands it to `commits`.
  bool DeliverNextEvent(CommitManager* commits) {
    void* tag = nullptr;
    bool ok = false;
    const auto got =
        cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(10));
    return got == grpc::CompletionQueue::GOT_EVENT && commits->OnEvent(tag);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<v1::Groups::Stub> stub_;
  BrokerChannels channels_;
  std::unique_ptr<MetadataCache> metadata_;
  std::unique_ptr<CoordinatorStubs> coordinator_;
  grpc::CompletionQueue cq_;
  ManualClock clock_;
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
  commits->AutoCommit({{kP0, 3}});
  EXPECT_TRUE(commits->AutoCommitDue());
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 3}}));
}

TEST_F(CommitManagerTest, AnAutoCommitWithNothingToCommitSendsNothingAndRestartsTheInterval) {
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  ASSERT_TRUE(commits->AutoCommitDue());
  commits->AutoCommit({});
  EXPECT_TRUE(ReadBack({}).empty());  // the group committed nothing at all
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, AnAutoCommitIsCommittedAndRestartsTheInterval) {
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  ASSERT_TRUE(commits->AutoCommitDue());
  commits->AutoCommit({{kP0, 12}, {kP1, 7}});
  EXPECT_EQ(ReadBack({kP0, kP1}), (Committed{{kP0, 12}, {kP1, 7}}));
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, AFailedAutoCommitStillWaitsAWholeIntervalBeforeTheNext) {
  auto commits = Make(Options());
  clock_.AdvanceMs(5000);
  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();  // the coordinator is gone: UNAVAILABLE
  commits->AutoCommit({{kP0, 12}});
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(4999);
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
  // What the auto-commit met: a commit while the broker is gone fails, naming it.
  const absl::Status s = commits->Commit({{kP0, 13}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("commit offsets of group g at " + broker_->address()),
            std::string::npos)
      << s;
}

TEST_F(CommitManagerTest, ASuccessfulCommitRestartsTheAutoCommitInterval) {
  auto commits = Make(Options());
  clock_.AdvanceMs(3000);
  ASSERT_TRUE(commits->Commit({{kP0, 12}}).ok());
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 12}}));
  clock_.AdvanceMs(4999);  // 7999 ms after the start: the commit at 3000 restarted the interval
  EXPECT_FALSE(commits->AutoCommitDue());
  clock_.AdvanceMs(1);
  EXPECT_TRUE(commits->AutoCommitDue());
}

TEST_F(CommitManagerTest, ARefusedCommitLeavesTheAutoCommitDue) {
  // A member the coordinator does not know (its session expired, say): the commit is refused.
  auto commits = Make(Options(), [] { return std::pair<std::string, int32_t>{"ghost", 3}; });
  clock_.AdvanceMs(5000);
  const absl::Status s = commits->Commit({{kP0, 12}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(ErrorCodeOf(s), v1::UNKNOWN_MEMBER_ID) << s;
  EXPECT_TRUE(IsNoLongerMember(s)) << s;
  EXPECT_NE(s.message().find("commit offsets of group g"), std::string::npos) << s;
  EXPECT_NE(s.message().find("has no member ghost"), std::string::npos) << s;
  EXPECT_TRUE(commits->AutoCommitDue());
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, std::nullopt}}));
}

TEST_F(CommitManagerTest, ACommitCarriesTheGroupTheMemberAndTheOffsets) {
  RawMember member(stub_.get(), "g", {"t"});
  ASSERT_TRUE(member.Join());
  ASSERT_FALSE(member.id().empty());
  ASSERT_GT(member.epoch(), 0);
  auto commits = Make(Options(), [&] {
    return std::pair<std::string, int32_t>{member.id(), member.epoch()};
  });
  ASSERT_TRUE(commits->Commit({{kP0, 12}, {kU3, 4}}).ok());
  EXPECT_EQ(ReadBack({kP0, kU3}), (Committed{{kP0, 12}, {kU3, 4}}));

  // The member is what let it in: without one, a group with members refuses the commit.
  auto outsider = Make(Options());
  const absl::Status refused = outsider->Commit({{kP0, 20}});
  EXPECT_EQ(ErrorCodeOf(refused), v1::UNKNOWN_MEMBER_ID) << refused;
  EXPECT_NE(refused.message().find("only members may commit offsets"), std::string::npos)
      << refused;
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 12}}));
}

TEST_F(CommitManagerTest, AStaleMemberEpochIsRetriedWithTheMembersNewEpoch) {
  RawMember a(stub_.get(), "g", {"t"});
  ASSERT_TRUE(a.Join());
  const int32_t old_epoch = a.epoch();
  RawMember b(stub_.get(), "g", {"t"});  // joining moves the group, and a's epoch with it
  ASSERT_TRUE(b.Join());
  ASSERT_TRUE(a.HeartbeatUntilEpochMoves());
  ASSERT_NE(a.epoch(), old_epoch);
  // The commit leaves with the epoch a had before the heartbeat's answer landed; each attempt
  // asks for the member's epoch again and the retry finds the new one.
  std::vector<int32_t> sent;
  auto commits = Make(Options(), [&] {
    sent.push_back(sent.empty() ? old_epoch : a.epoch());
    return std::pair<std::string, int32_t>{a.id(), sent.back()};
  });
  const absl::Status s = commits->Commit({{kP0, 12}});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sent, (std::vector<int32_t>{old_epoch, a.epoch()}));
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 12}}));
}

TEST_F(CommitManagerTest, AStaleMemberEpochIsGivenUpAfterThreeRetries) {
  RawMember a(stub_.get(), "g", {"t"});
  ASSERT_TRUE(a.Join());
  const int32_t old_epoch = a.epoch();
  RawMember b(stub_.get(), "g", {"t"});
  ASSERT_TRUE(b.Join());
  ASSERT_TRUE(a.HeartbeatUntilEpochMoves());
  int attempts = 0;
  auto commits = Make(Options(), [&] {
    ++attempts;
    return std::pair<std::string, int32_t>{a.id(), old_epoch};  // never learns the new one
  });
  const absl::Status s = commits->Commit({{kP0, 12}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(ErrorCodeOf(s), v1::STALE_MEMBER_EPOCH) << s;
  EXPECT_NE(s.message().find("but is at epoch " + std::to_string(a.epoch())), std::string::npos)
      << s;
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, std::nullopt}}));
}

TEST_F(CommitManagerTest, WithoutGroupIdCommitsAndLookupsAreFailedPreconditions) {
  ConsumerOptions options = Options();
  options.group_id.clear();
  auto commits = Make(options);
  EXPECT_EQ(commits->Commit({{kP0, 1}}).message(), "commit needs group.id");
  EXPECT_EQ(commits->Committed({kP0}, /*retry=*/true).status().message(),
            "committed offsets need group.id");
  std::optional<absl::Status> async;
  commits->CommitAsync({{kP0, 1}}, [&](absl::Status s) { async = s; });
  EXPECT_FALSE(commits->AsyncInFlight());  // nothing was sent
  EXPECT_FALSE(async.has_value());         // callbacks run in FinishAsync only
  commits->FinishAsync();
  ASSERT_TRUE(async.has_value());
  EXPECT_EQ(async->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(async->message(), "commit needs group.id");
}

TEST_F(CommitManagerTest, AnAsyncCommitReportsInFinishAsyncAfterItsAnswerCame) {
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
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 12}}));
}

TEST_F(CommitManagerTest, ARefusedAsyncCommitReportsItsErrorInFinishAsync) {
  auto commits = Make(Options(), [] { return std::pair<std::string, int32_t>{"ghost", 3}; });
  std::optional<absl::Status> result;
  commits->CommitAsync({{kP0, 12}}, [&](absl::Status s) { result = s; });
  ASSERT_TRUE(DeliverNextEvent(commits.get()));
  EXPECT_FALSE(result.has_value());
  commits->FinishAsync();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(ErrorCodeOf(*result), v1::UNKNOWN_MEMBER_ID) << *result;
  EXPECT_NE(result->message().find("commit offsets of group g"), std::string::npos) << *result;
}

TEST_F(CommitManagerTest, SendingAnAsyncCommitRestartsTheAutoCommitInterval) {
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
  EXPECT_EQ(ReadBack({kP0}), (Committed{{kP0, 12}}));
}

TEST_F(CommitManagerTest, CommittedGivesNoOffsetWhereNothingIsCommitted) {
  auto commits = Make(Options());
  ASSERT_TRUE(commits->Commit({{kP0, 42}}).ok());
  auto committed = commits->Committed({kP0, kP1}, /*retry=*/true);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(*committed, (Committed{{kP0, 42}, {kP1, std::nullopt}}));
}

// Kafka's OffsetAndMetadata: the metadata is stored with the offset and read back with it; a
// commit without metadata clears it; one over 4096 bytes is refused.
TEST_F(CommitManagerTest, MetadataIsStoredWithTheOffsetAndReadBack) {
  auto commits = Make(Options());
  ASSERT_TRUE(commits->CommitWithMetadata({{kP0, {42, "stream.time=7"}}}).ok());
  auto committed = commits->CommittedWithMetadata({kP0, kP1}, /*retry=*/true);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->at(kP0), (OffsetAndMetadata{42, "stream.time=7"}));
  EXPECT_EQ(committed->at(kP1), std::nullopt);
  ASSERT_TRUE(commits->Commit({{kP0, 43}}).ok());
  committed = commits->CommittedWithMetadata({kP0}, /*retry=*/true);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->at(kP0), (OffsetAndMetadata{43, ""}));
  const absl::Status too_long = commits->CommitWithMetadata({{kP0, {44, std::string(4097, 'm')}}});
  EXPECT_FALSE(too_long.ok());
  committed = commits->CommittedWithMetadata({kP0}, /*retry=*/true);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->at(kP0)->offset, 43) << "the refused commit stored nothing";
}

}  // namespace
}  // namespace runnel::client::internal
