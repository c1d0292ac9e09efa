// FaultyBrokerTest: a fixture running a real runneld under io_fault_shim.c (LD_PRELOAD), whose
// faults the test turns on and off with a trigger file, plus a plain restart on the same data dir.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/record/batch_builder.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {

// One record with value `value`.
inline std::string Batch(const std::string& value) {
  record::RecordBatchBuilder builder;
  builder.Append(absl::ToUnixMillis(absl::Now()), "k", value);
  return *builder.Build();
}

// The value of an unlabelled gauge in runneld's /metrics, -1 if absent.
inline int64_t Gauge(int http_port, const std::string& name) {
  httplib::Client http("127.0.0.1", http_port);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  const size_t at = res->body.find(key);
  if (at == std::string::npos) return -1;
  const size_t end = res->body.find('\n', at + key.size());
  int64_t value = -1;
  if (!absl::SimpleAtoi(res->body.substr(at + key.size(), end - at - key.size()), &value)) {
    return -1;
  }
  return value;
}

class FaultyBrokerTest : public ::testing::Test {
 protected:
  // Starts runneld with the shim failing `ops` ("fdatasync=5,...") on files whose path contains
  // `path_part`, while the trigger file exists.
  void StartFaultyBroker(const std::string& ops, const std::string& path_part, bool once,
                         std::vector<std::string> extra_args = {}) {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"), std::move(extra_args));
    const char* asan = std::getenv("ASAN_OPTIONS");
    broker_->SetEnvironment({
        std::string("LD_PRELOAD=") + RUNNEL_IO_FAULT_SHIM,
        "RUNNEL_FAULT_TRIGGER=" + Trigger(),
        "RUNNEL_FAULT_OPS=" + ops,
        "RUNNEL_FAULT_PATH=" + path_part,
        std::string("RUNNEL_FAULT_ONCE=") + (once ? "1" : "0"),
        // The shim is loaded before ASan's runtime, which ASan refuses unless told.
        std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":verify_asan_link_order=0",
    });
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    client_ = std::make_unique<RawBrokerClient>(broker_->address());
  }

  void StartPlainBroker(std::vector<std::string> extra_args = {}) {
    client_.reset();
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"), std::move(extra_args));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
    client_ = std::make_unique<RawBrokerClient>(broker_->address());
  }

  std::string Trigger() const { return dir_.Sub("fault-trigger"); }
  void FaultsOn() { std::ofstream(Trigger()).put('1'); }
  void FaultsOff() { std::filesystem::remove(Trigger()); }
  // What the shim failed: "op path errno" lines.
  std::string InjectedFaults() const {
    std::ifstream in(Trigger() + ".log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<RawBrokerClient> client_;
};

}  // namespace runnel::testing
