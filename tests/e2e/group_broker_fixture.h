// GroupBrokerFixture: a test fixture with one real runneld whose consumer groups react fast —
// members expire kSessionTimeoutMs after their last heartbeat, heartbeats every 100 ms, one
// __consumer_offsets partition — a temporary dir for it (and the test), and an Admin client.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client/admin.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {

class GroupBrokerFixture : public ::testing::Test {
 protected:
  static constexpr int kSessionTimeoutMs = 3000;

  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(
        dir_.Sub("data"),
        std::vector<std::string>{"--group-session-timeout-ms", std::to_string(kSessionTimeoutMs),
                                 "--group-heartbeat-interval-ms", "100",
                                 "--offsets-topic-partitions", "1"});
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    auto admin = client::Admin::Create({.bootstrap_servers = broker_->address()});
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  void CreateTopic(const std::string& name, int32_t partitions) {
    absl::Status s = admin_->CreateTopic({.name = name, .partitions = partitions, .configs = {}});
    ASSERT_TRUE(s.ok()) << name << ": " << s;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<client::Admin> admin_;
};

}  // namespace runnel::testing
