// RaftTestNode: one broker's replication machinery inside a test process, for tests that run
// several "brokers" in one process over real loopback gRPC (tests/broker/replication_test.cc,
// cluster_metadata_test.cc).
#pragma once

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker/replication/raft_transport.h"
#include "broker/replication/replica_manager.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/free_port.h"

namespace runnel::broker::testing {

using namespace std::chrono_literals;

using ::runnel::testing::FreePort;

// Waits (bounded) for `condition`.
template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// One broker's replication machinery: storage flusher, ReplicaManager (10 ms ticks), RaftTransport
// on a real loopback gRPC server. Crash() stops it without closing anything cleanly.
class RaftTestNode {
 public:
  RaftTestNode(raft::NodeId id, std::string data_dir, int port)
      : id_(id), data_dir_(std::move(data_dir)), port_(port) {}
  virtual ~RaftTestNode() { Crash(); }

  void Start(const std::vector<RaftPeer>& peers, const std::string& cluster_id = "test-cluster") {
    flusher_ = std::make_unique<storage::Flusher>();
    producer_states_ = std::make_unique<ProducerStateManager>();
    ReplicaManagerOptions options;
    options.producer_states = producer_states_.get();
    options.node_id = id_;
    options.tick_ms = 10;
    options.election_ticks = 10;
    options.heartbeat_ticks = 1;
    manager_ = std::make_unique<ReplicaManager>(
        options,
        [this](raft::NodeId to, v1::RaftBatch batch) { transport_->Send(to, std::move(batch)); });
    RaftTransportOptions transport_options;
    transport_options.node_id = id_;
    transport_options.cluster_id = cluster_id;
    transport_options.peers = peers;
    transport_options.reconnect_min_ms = 20;
    transport_options.reconnect_max_ms = 200;
    transport_ = std::make_unique<RaftTransport>(transport_options,
                                                 [this](raft::NodeId from, v1::RaftBatch batch) {
                                                   manager_->Receive(from, std::move(batch));
                                                 });
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port_),
                             grpc::InsecureServerCredentials());
    transport_->ConfigureServer(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    manager_->Start();
    transport_->Start();
  }

  // Opens (creating) the log of `tp` in the data dir, kept until Crash.
  std::shared_ptr<storage::Log> OpenLog(const storage::TopicPartition& tp,
                                        const storage::LogConfig& config = {}) {
    auto log = storage::Log::Open(data_dir_ + "/" + tp.DirName(), config, flusher_.get());
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return nullptr;
    std::shared_ptr<storage::Log> shared = *std::move(log);
    logs_[tp] = shared;
    return shared;
  }

  // Forgets the log of `tp` and removes its directory (the caller holds no handle any more).
  absl::Status DeleteLog(const storage::TopicPartition& tp) {
    logs_.erase(tp);
    std::error_code error;
    std::filesystem::remove_all(data_dir_ + "/" + tp.DirName(), error);
    return error ? absl::InternalError(error.message()) : absl::OkStatus();
  }

  // A process crash: nothing is closed cleanly (what was written stays in the page cache).
  virtual void Crash() {
    if (manager_ == nullptr) return;
    manager_->Stop();
    transport_->Stop();
    server_->Shutdown();
    server_.reset();
    transport_.reset();
    manager_.reset();
    producer_states_.reset();
    logs_.clear();
    flusher_.reset();
  }

  bool running() const { return manager_ != nullptr; }
  raft::NodeId id() const { return id_; }
  ReplicaManager& manager() { return *manager_; }
  RaftTransport& transport() { return *transport_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  const raft::NodeId id_;
  const std::string data_dir_;
  const int port_;
  std::unique_ptr<storage::Flusher> flusher_;
  std::unique_ptr<ProducerStateManager> producer_states_;
  std::map<storage::TopicPartition, std::shared_ptr<storage::Log>> logs_;
  std::unique_ptr<ReplicaManager> manager_;
  std::unique_ptr<RaftTransport> transport_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace runnel::broker::testing
