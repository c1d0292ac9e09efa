// Power loss over FaultInjectionFs for what the broker keeps in __consumer_offsets: a committed
// offset acknowledged as durable, and a group member whose join was acknowledged, must be there
// after a simulated power loss at a random moment (LogManager, TopicTable, PartitionManager,
// OffsetStore and GroupCoordinator reopened over the restored files); with syncs made
// ineffective the same check must find losses.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "broker/group/group_coordinator.h"
#include "broker/group/offset_store.h"
#include "broker/partition/partition_manager.h"
#include "storage/log_manager.h"
#include "tests/broker/opened_data_dir.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::FaultInjectionFs;
using storage::testing::TempDir;

storage::LogConfig SmallSegments() {
  storage::LogConfig config;
  config.segment_bytes = 4000;  // rolls while the test runs
  return config;
}

// runneld's storage and group objects over one data dir.

struct Broker : testing::OpenedDataDir {
  std::unique_ptr<OffsetStore> offsets;
  std::unique_ptr<GroupCoordinator> coordinator;

  explicit Broker(const std::string& data_dir) : OpenedDataDir(data_dir, SmallSegments()) {
    offsets = std::make_unique<OffsetStore>(partitions.get(), 2);
    coordinator = std::make_unique<GroupCoordinator>(
        &*topics, offsets.get(),
        GroupCoordinatorOptions{.session_timeout_ms = 600'000, .heartbeat_interval_ms = 50});
    const absl::Status loaded = coordinator->Load();
    EXPECT_TRUE(loaded.ok()) << loaded;
  }
};

struct Outcome {
  int acked = 0;  // acknowledged commits and joins
  int lost = 0;   // of them, missing after the power loss
};

Outcome RunAndLosePower(uint32_t seed, FaultInjectionFs::Loss loss, bool disable_syncs) {
  TempDir dir;
  FaultInjectionFs fs(dir.path());
  if (disable_syncs) fs.DisableSyncs();
  const std::string data = dir.Sub("data");
  std::mutex mu;
  std::map<int32_t, int64_t> acked_commits;        // partition of "orders" -> highest acked offset
  std::map<std::string, std::string> acked_joins;  // group -> member id
  int acks = 0;                                    // acknowledgements so far (under mu)
  std::map<int32_t, int64_t> commits_at_cut;
  std::map<std::string, std::string> joins_at_cut;
  {
    Broker broker(data);
    EXPECT_TRUE(broker.partitions->CreateTopic({"orders", 2, 1, {}, false, ""}).ok());
    std::atomic<bool> stop{false};
    std::thread committer([&] {
      for (int64_t offset = 1; offset <= 3000 && !stop; ++offset) {
        const int32_t partition = static_cast<int32_t>(offset % 2);
        const absl::Status s = broker.offsets->Commit("app", {{"orders", partition, offset, ""}},
                                                      [&, partition, offset](absl::Status st) {
                                                        if (!st.ok()) return;
                                                        std::lock_guard lock(mu);
                                                        ++acks;
                                                        int64_t& best = acked_commits[partition];
                                                        best = std::max(best, offset);
                                                      });
        if (!s.ok()) return;
      }
    });
    std::thread joiner([&] {
      for (int i = 0; i < 300 && !stop; ++i) {
        const std::string group = absl::StrCat("g", i);
        v1::ConsumerGroupHeartbeatRequest request;
        request.set_group_id(group);
        request.set_member_epoch(0);
        request.set_rebalance_timeout_ms(60'000);
        request.add_subscribed_topics("orders");
        auto response = std::make_shared<v1::ConsumerGroupHeartbeatResponse>();
        broker.coordinator->Heartbeat(request, "test", response.get(),
                                      [&, group, response](absl::Status st) {
                                        if (!st.ok() || response->error().code() != v1::NONE) {
                                          return;
                                        }
                                        std::lock_guard lock(mu);
                                        ++acks;
                                        acked_joins[group] = response->member_id();
                                      });
      }
    });
    // The cut comes after a seeded number of acknowledgements (not after a time, which a loaded
    // machine stretches until nothing is acknowledged); bounded at 10 s.
    std::mt19937 rng(seed);
    const int cut_after = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < 10'000; ++i) {
      {
        std::lock_guard lock(mu);
        if (acks >= cut_after) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    {
      std::lock_guard lock(mu);  // the acknowledgements first, then the cut
      commits_at_cut = acked_commits;
      joins_at_cut = acked_joins;
    }
    fs.PowerCut();
    stop = true;
    committer.join();
    joiner.join();
    broker.coordinator.reset();  // (its expiry thread first)
  }                              // the crash: nothing closed
  fs.RestoreAfterPowerCut(loss, seed);

  Outcome outcome;
  Broker broker(data);
  for (const auto& [partition, offset] : commits_at_cut) {
    ++outcome.acked;
    const std::optional<CommittedOffset> committed =
        broker.offsets->Fetch("app", "orders", partition);
    if (!committed.has_value() || committed->offset < offset) ++outcome.lost;
  }
  for (const auto& [group, member] : joins_at_cut) {
    ++outcome.acked;
    v1::GroupDescription description;
    bool found = false;
    if (broker.coordinator->Describe(group, &description)) {
      for (const auto& m : description.members()) found |= m.member_id() == member;
    }
    if (!found) ++outcome.lost;
  }
  return outcome;
}

TEST(BrokerPowerLossTest, AcknowledgedCommitsAndJoinsSurviveAPowerLoss) {
  int acked = 0;
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    for (auto loss : {FaultInjectionFs::Loss::kDrop, FaultInjectionFs::Loss::kTear}) {
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " loss " << static_cast<int>(loss));
      const Outcome outcome = RunAndLosePower(seed, loss, /*disable_syncs=*/false);
      EXPECT_EQ(outcome.lost, 0) << "of " << outcome.acked << " acknowledged commits and joins";
      acked += outcome.acked;
    }
  }
  EXPECT_GT(acked, 0) << "nothing was acknowledged before the power cuts: the test checked nothing";
  std::cerr << "acknowledged commits (highest per partition) and joins checked: " << acked << "\n";
}

TEST(BrokerPowerLossTest, WithSyncsIneffectiveTheCheckFindsLosses) {
  int lost = 0;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    lost += RunAndLosePower(seed, FaultInjectionFs::Loss::kDrop, /*disable_syncs=*/true).lost;
  }
  EXPECT_GT(lost, 0);
  std::cerr << "acknowledged commits and joins lost with syncs ineffective: " << lost << "\n";
}

}  // namespace
}  // namespace runnel::broker
