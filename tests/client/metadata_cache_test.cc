// MetadataCache and BrokerChannels against a real runneld plus loopback ports nobody listens on:
// bootstrapping past dead entries, routing by leader, NOT_LEADER hints, refresh backoff and age
// (driven by a ManualClock), unknown topics, and bootstrap.servers parsing.
#include "client/internal/metadata_cache.h"

#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "client/internal/broker_channels.h"
#include "common/clock.h"
#include "tests/e2e/broker_process.h"
#include "tests/free_port.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::client::internal {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::FreePort;

std::string DeadAddress() { return absl::StrCat("127.0.0.1:", FreePort()); }

class MetadataCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    auto admin = Admin::Create({.bootstrap_servers = broker_->address()});
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE((*admin)->CreateTopic({"routed", 3, 0, {}}).ok());
  }

  std::unique_ptr<MetadataCache> MakeCache(std::vector<std::string> bootstrap) {
    MetadataCacheOptions options;
    options.bootstrap = std::move(bootstrap);
    options.retry_backoff_ms = 100;
    options.metadata_max_age_ms = 60000;
    options.request_timeout_ms = 5000;
    return std::make_unique<MetadataCache>(options, &channels_, &clock_);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  BrokerChannels channels_;
  ManualClock clock_;
};

TEST(BootstrapServersTest, ListsAreSplitTrimmedAndCheckedEntryByEntry) {
  auto parsed = ParseBootstrapServers(" a:1, b:2 ,,c.example.com:9092 ");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (std::vector<std::string>{"a:1", "b:2", "c.example.com:9092"}));
  EXPECT_EQ(ParseBootstrapServers("a:1,nocolon").status().message(),
            "bootstrap.servers: 'nocolon' is not HOST:PORT (in 'a:1,nocolon')");
  EXPECT_FALSE(ParseBootstrapServers("a:0").ok());
  EXPECT_FALSE(ParseBootstrapServers("a:70000").ok());
  EXPECT_FALSE(ParseBootstrapServers(":7070").ok());
  EXPECT_EQ(ParseBootstrapServers(" , ").status().message(),
            "bootstrap.servers: no HOST:PORT in ' , '");
}

TEST_F(MetadataCacheTest, BootstrapsPastDeadEntriesAndRoutesToTheLeader) {
  const std::string dead1 = DeadAddress(), dead2 = DeadAddress();
  auto cache = MakeCache({dead1, dead2, broker_->address()});
  auto count = cache->PartitionCount("routed", 5000);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 3);
  for (int32_t p = 0; p < 3; ++p) {
    const std::optional<LeaderInfo> leader = cache->Leader({"routed", p});
    ASSERT_TRUE(leader.has_value()) << p;
    EXPECT_EQ(leader->node_id, 0) << "a single node leads every partition";
    EXPECT_EQ(leader->address, broker_->address());
  }
  EXPECT_FALSE(cache->Leader({"routed", 3}).has_value());
  EXPECT_FALSE(cache->Leader({"elsewhere", 0}).has_value());
  // The dead entries were marked: the broker that answered comes first, they come last.
  const std::vector<std::string> candidates = cache->Candidates();
  ASSERT_EQ(candidates.size(), 3u);
  EXPECT_EQ(candidates[0], broker_->address());
  EXPECT_EQ(cache->AnyBroker(), broker_->address());
}

TEST_F(MetadataCacheTest, NoBrokerAnsweringIsUnavailableNamingEveryAddress) {
  const std::string dead1 = DeadAddress(), dead2 = DeadAddress();
  auto cache = MakeCache({dead1, dead2});
  const absl::Status s = cache->Refresh({"routed"}, 0);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find(dead1), std::string::npos) << s;
  EXPECT_NE(s.message().find(dead2), std::string::npos) << s;
  EXPECT_TRUE(absl::IsUnavailable(cache->PartitionCount("routed", 0).status()));
  EXPECT_FALSE(cache->Leader({"routed", 0}).has_value());
}

TEST_F(MetadataCacheTest, ANotLeaderHintMovesThePartitionAtOnce) {
  auto cache = MakeCache({broker_->address()});
  ASSERT_TRUE(cache->PartitionCount("routed", 5000).ok());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_FALSE(cache->RefreshDue());
  v1::Error hint;
  hint.set_code(v1::NOT_LEADER);
  hint.set_leader_id(7);
  hint.set_leader_addr("127.0.0.1:1");
  cache->OnNotLeader({"routed", 1}, hint);
  EXPECT_EQ(cache->Leader({"routed", 1}), (LeaderInfo{7, "127.0.0.1:1"}));
  EXPECT_EQ(cache->Leader({"routed", 0}), (LeaderInfo{0, broker_->address()}));
  EXPECT_FALSE(cache->RefreshDue()) << "a hint needs no refresh";
  // Without a hint (an election running), a refresh is due, after retry.backoff.ms since the
  // last attempt.
  v1::Error no_hint;
  no_hint.set_code(v1::NOT_LEADER);
  cache->OnNotLeader({"routed", 2}, no_hint);
  EXPECT_TRUE(cache->RefreshDue());
  ASSERT_TRUE(cache->MaybeRefresh().ok());
  EXPECT_EQ(cache->Leader({"routed", 1}), (LeaderInfo{0, broker_->address()}))
      << "the broker's answer is the truth again";
  EXPECT_FALSE(cache->RefreshDue());
}

TEST_F(MetadataCacheTest, RefreshesWaitForTheBackoffAndTheMaximumAge) {
  auto cache = MakeCache({broker_->address()});
  EXPECT_FALSE(cache->RefreshDue()) << "no topic tracked, nothing requested";
  ASSERT_TRUE(cache->PartitionCount("routed", 5000).ok());
  EXPECT_FALSE(cache->RefreshDue());
  cache->RequestUpdate();
  EXPECT_FALSE(cache->RefreshDue()) << "retry.backoff.ms has not passed since the last attempt";
  clock_.Advance(std::chrono::milliseconds(99));
  EXPECT_FALSE(cache->RefreshDue());
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(cache->RefreshDue());
  ASSERT_TRUE(cache->MaybeRefresh().ok());
  EXPECT_FALSE(cache->RefreshDue());
  // metadata.max.age.ms after the last answer.
  EXPECT_EQ(cache->NextRefresh(), clock_.SteadyNow() + std::chrono::milliseconds(60000));
  clock_.Advance(std::chrono::milliseconds(60000));
  EXPECT_TRUE(cache->RefreshDue());
}

TEST_F(MetadataCacheTest, AnUnreachableAddressIsTriedLastAndAsksForARefresh) {
  const std::string dead = DeadAddress();
  auto cache = MakeCache({dead, broker_->address()});
  EXPECT_EQ(cache->AnyBroker(), dead) << "nothing known yet: the list's order";
  ASSERT_TRUE(cache->PartitionCount("routed", 5000).ok());
  EXPECT_EQ(cache->AnyBroker(), broker_->address());
  clock_.Advance(std::chrono::milliseconds(10));
  cache->MarkUnreachable(broker_->address());
  EXPECT_EQ(cache->Candidates().back(), broker_->address());
  clock_.Advance(std::chrono::milliseconds(100));
  EXPECT_TRUE(cache->RefreshDue());
  // reconnect.backoff.max.ms later every address is as good as any again (the dead one was
  // marked during the first refresh, 110 ms earlier).
  clock_.Advance(std::chrono::milliseconds(1000));
  EXPECT_EQ(cache->Candidates(), (std::vector<std::string>{broker_->address(), dead}));
}

TEST_F(MetadataCacheTest, AnUnknownTopicIsNotFound) {
  auto cache = MakeCache({broker_->address()});
  const absl::Status s = cache->PartitionCount("ghost", 5000).status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(s.message(), "topic ghost does not exist");
  EXPECT_FALSE(cache->Leader({"ghost", 0}).has_value());
}

}  // namespace
}  // namespace runnel::client::internal
