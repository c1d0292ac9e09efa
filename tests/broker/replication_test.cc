// Replicated partitions end to end inside one process: three ReplicaManagers, each with its own
// data dir, storage flusher and RaftTransport on a real loopback gRPC server, replicating one
// partition (broker/replication/).
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
#include "common/mutex.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using namespace std::chrono_literals;
using storage::testing::DecodeAll;
using storage::testing::MakeBatch;
using storage::testing::TempDir;

const storage::TopicPartition kTp{"orders", 0};

// A loopback port that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

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

// One broker's replication half.
class TestBroker {
 public:
  TestBroker(raft::NodeId id, std::string data_dir, int port)
      : id_(id), data_dir_(std::move(data_dir)), port_(port) {}
  ~TestBroker() { Crash(); }

  void Start(const std::vector<RaftPeer>& peers, const std::string& cluster_id = "test-cluster") {
    flusher_ = std::make_unique<storage::Flusher>();
    auto log = storage::Log::Open(data_dir_ + "/" + kTp.DirName(), {}, flusher_.get());
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    ReplicaManagerOptions options;
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
    builder.RegisterService(transport_->service());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    manager_->Start();
    transport_->Start();
    ASSERT_TRUE(manager_->AddReplica(kTp, log_, raft::Membership({1, 2, 3})).ok());
  }

  // A process crash: nothing is closed cleanly (what was written stays in the page cache).
  void Crash() {
    if (manager_ == nullptr) return;
    manager_->Stop();
    transport_->Stop();
    server_->Shutdown();
    server_.reset();
    transport_.reset();
    manager_.reset();
    log_.reset();
    flusher_.reset();
  }

  bool running() const { return manager_ != nullptr; }
  ReplicaManager& manager() { return *manager_; }
  RaftTransport& transport() { return *transport_; }
  storage::Log& log() { return *log_; }
  std::optional<ReplicaStatus> status() const { return manager_->Status(kTp); }
  const std::string& data_dir() const { return data_dir_; }

  // Produces one batch of `count` records "<tag>-i" as the leader; the answer.
  absl::StatusOr<storage::AppendResult> Produce(int count, const std::string& tag, bool acks_all) {
    std::string batch = MakeBatch(count, 1'000, tag);
    int64_t append_time = 0;
    if (absl::Status prepared = log_->PrepareAppend(&batch, &append_time); !prepared.ok()) {
      return prepared;
    }
    struct Answer {
      Mutex mu;
      std::optional<absl::StatusOr<storage::AppendResult>> result;
    };
    auto answer = std::make_shared<Answer>();
    manager_->Produce(kTp, std::move(batch), count, acks_all,
                      [answer](absl::StatusOr<storage::AppendResult> result) {
                        MutexLock lock(&answer->mu);
                        answer->result = std::move(result);
                      });
    const bool answered = WaitFor([&] {
      MutexLock lock(&answer->mu);
      return answer->result.has_value();
    });
    if (!answered) return absl::DeadlineExceededError("no answer within 15 s");
    MutexLock lock(&answer->mu);
    return *answer->result;
  }

 private:
  const raft::NodeId id_;
  const std::string data_dir_;
  const int port_;
  std::unique_ptr<storage::Flusher> flusher_;
  std::shared_ptr<storage::Log> log_;
  std::unique_ptr<ReplicaManager> manager_;
  std::unique_ptr<RaftTransport> transport_;
  std::unique_ptr<grpc::Server> server_;
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (raft::NodeId id = 1; id <= 3; ++id) {
      const int port = FreePort();
      peers_.push_back({id, "127.0.0.1:" + std::to_string(port)});
      brokers_[id] = std::make_unique<TestBroker>(id, tmp_.Sub("node-" + std::to_string(id)), port);
      std::filesystem::create_directories(brokers_[id]->data_dir());
    }
    for (auto& [id, broker] : brokers_) broker->Start(peers_);
  }

  // The broker every running replica names as leader, once they agree (kNoNode after 15 s).
  raft::NodeId AwaitLeader() {
    raft::NodeId leader = raft::kNoNode;
    WaitFor([&] {
      leader = raft::kNoNode;
      for (auto& [id, broker] : brokers_) {
        if (!broker->running()) continue;
        const std::optional<ReplicaStatus> s = broker->status();
        if (!s.has_value() || s->leader == raft::kNoNode) return false;
        if (leader != raft::kNoNode && s->leader != leader) return false;
        leader = s->leader;
      }
      return leader != raft::kNoNode && brokers_[leader]->running() &&
             brokers_[leader]->status()->role == raft::Role::kLeader;
    });
    return leader;
  }

  // Produces `n` acks=all batches of 3 records at the leader, retrying (bounded) through a leader
  // change; the tags of those acknowledged.
  std::vector<std::string> ProduceAcked(int n, const std::string& prefix) {
    std::vector<std::string> acked;
    for (int i = 0; i < n; ++i) {
      const std::string tag = prefix + std::to_string(i);
      for (int attempt = 0; attempt < 50; ++attempt) {
        const raft::NodeId leader = AwaitLeader();
        if (leader == raft::kNoNode) break;
        absl::StatusOr<storage::AppendResult> r = brokers_[leader]->Produce(3, tag, true);
        if (r.ok()) {
          acked.push_back(tag);
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
    }
    return acked;
  }

  // Every running broker's log holds the same bytes up to the leader's end, and its high
  // watermark reached it.
  void ExpectReplicasConverge() {
    const raft::NodeId leader = AwaitLeader();
    ASSERT_NE(leader, raft::kNoNode);
    const int64_t end = brokers_[leader]->log().end_offset();
    for (auto& [id, broker] : brokers_) {
      if (!broker->running()) continue;
      EXPECT_TRUE(WaitFor([&] {
        return broker->log().end_offset() >= end && broker->log().high_watermark() >= end;
      })) << "node "
          << id << " end " << broker->log().end_offset() << " high watermark "
          << broker->log().high_watermark() << ", leader's end " << end << "; " << Describe();
    }
    auto want = brokers_[leader]->log().Read(0, 64 << 20);
    ASSERT_TRUE(want.ok()) << want.status();
    for (auto& [id, broker] : brokers_) {
      if (!broker->running() || id == leader) continue;
      auto got = broker->log().Read(0, 64 << 20);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->substr(0, want->size()) == *want, true) << "node " << id << " differs";
    }
  }

  // Each running replica's view, for failure messages.
  std::string Describe() {
    std::string out;
    for (auto& [id, broker] : brokers_) {
      if (!broker->running()) continue;
      const std::optional<ReplicaStatus> s = broker->status();
      if (!s.has_value()) continue;
      out += "node " + std::to_string(id) + ": term " + std::to_string(s->term) + " leader " +
             std::to_string(s->leader) + " role " + raft::RoleName(s->role) + " log [" +
             std::to_string(s->log_start) + ", " + std::to_string(s->log_end) + ") hw " +
             std::to_string(s->high_watermark) + " in sync " + std::to_string(s->in_sync.size()) +
             " refused " + std::to_string(broker->manager().messages_refused()) + "; ";
    }
    return out;
  }

  // The values stored in `broker`'s log, in offset order.
  static std::vector<std::string> Values(TestBroker& broker) {
    auto bytes = broker.log().Read(broker.log().start_offset(), 64 << 20);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    std::vector<std::string> values;
    for (const auto& r : DecodeAll(bytes.ok() ? *bytes : ""))
      values.push_back(r.value.value_or(""));
    return values;
  }

  // Every acknowledged batch's records are in `values` exactly once, in order.
  static void ExpectExactlyOnce(const std::vector<std::string>& acked,
                                const std::vector<std::string>& values) {
    std::map<std::string, int> seen;
    for (const std::string& v : values) ++seen[v];
    for (const std::string& tag : acked) {
      for (int i = 0; i < 3; ++i) EXPECT_EQ(seen[tag + "-" + std::to_string(i)], 1) << tag;
    }
  }

  TempDir tmp_;
  std::vector<RaftPeer> peers_;
  std::map<raft::NodeId, std::unique_ptr<TestBroker>> brokers_;
};

TEST_F(ReplicationTest, ALeaderIsElectedAndAcksAllWritesReachEveryReplica) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  int64_t expected_base = -1;
  for (int i = 0; i < 20; ++i) {
    auto r = brokers_[leader]->Produce(3, "w" + std::to_string(i), true);
    ASSERT_TRUE(r.ok()) << r.status();
    if (expected_base >= 0) {
      EXPECT_EQ(r->base_offset, expected_base);
    }
    expected_base = r->last_offset + 1;
    // Committed means readable at the leader: its high watermark covers it.
    EXPECT_GE(brokers_[leader]->log().high_watermark(), r->last_offset + 1);
  }
  ExpectReplicasConverge();
  const std::optional<ReplicaStatus> s = brokers_[leader]->status();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->voters, (std::vector<raft::NodeId>{1, 2, 3}));
  EXPECT_TRUE(WaitFor([&] { return brokers_[leader]->status()->in_sync.size() == 3; }));
}

TEST_F(ReplicationTest, AFollowerRefusesToProduceNamingTheLeader) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const raft::NodeId follower = leader == 1 ? 2 : 1;
  auto r = brokers_[follower]->Produce(1, "x", true);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find(absl::StrCat("leader: ", leader)), std::string::npos)
      << r.status();
}

TEST_F(ReplicationTest, AKilledLeaderIsReplacedAndNoAcknowledgedWriteIsLost) {
  std::vector<std::string> acked = ProduceAcked(10, "a");
  ASSERT_EQ(acked.size(), 10u);
  const raft::NodeId old_leader = AwaitLeader();
  brokers_[old_leader]->Crash();
  const raft::NodeId new_leader = AwaitLeader();
  ASSERT_NE(new_leader, raft::kNoNode);
  EXPECT_NE(new_leader, old_leader);
  const std::vector<std::string> more = ProduceAcked(10, "b");
  ASSERT_EQ(more.size(), 10u);
  acked.insert(acked.end(), more.begin(), more.end());
  brokers_[old_leader]->Start(peers_);
  ExpectReplicasConverge();
  for (auto& [id, broker] : brokers_) ExpectExactlyOnce(acked, Values(*broker));
}

TEST_F(ReplicationTest, AWipedFollowerCatchesUpFromTheLeader) {
  const std::vector<std::string> acked = ProduceAcked(20, "c");
  ASSERT_EQ(acked.size(), 20u);
  const raft::NodeId leader = AwaitLeader();
  const raft::NodeId follower = leader == 3 ? 2 : 3;
  brokers_[follower]->Crash();
  std::filesystem::remove_all(brokers_[follower]->data_dir());
  std::filesystem::create_directories(brokers_[follower]->data_dir());
  brokers_[follower]->Start(peers_);
  ExpectReplicasConverge();
  ExpectExactlyOnce(acked, Values(*brokers_[follower]));
}

TEST_F(ReplicationTest, APeerOfAnotherClusterIsRefusedWithTheReason) {
  // Node 3 restarts believing it belongs to another cluster: neither side takes its stream.
  brokers_[3]->Crash();
  brokers_[3]->Start(peers_, "other-cluster");
  EXPECT_TRUE(WaitFor([&] { return brokers_[3]->transport().stats().peers_refused > 0; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(brokers_[3]->transport().ConnectedPeers().empty());
  // The other two still form a quorum.
  const raft::NodeId leader = AwaitLeader();
  ASSERT_TRUE(leader == 1 || leader == 2) << leader;
}

}  // namespace
}  // namespace runnel::broker
