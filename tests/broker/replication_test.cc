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
#include "common/record/batch_builder.h"
#include "common/status_cause.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/broker/raft_test_node.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using namespace std::chrono_literals;
using storage::testing::DecodeAll;
using storage::testing::MakeBatch;
using storage::testing::TempDir;
using testing::FreePort;
using testing::WaitFor;

const storage::TopicPartition kTp{"orders", 0};

// One broker's replication half, replicating kTp with nodes 1, 2 and 3.
class TestBroker : public testing::RaftTestNode {
 public:
  using RaftTestNode::RaftTestNode;
  ~TestBroker() override { Crash(); }  // the base's destructor would not call this Crash

  void Start(const std::vector<RaftPeer>& peers, const std::string& cluster_id = "test-cluster") {
    RaftTestNode::Start(peers, cluster_id);
    log_ = OpenLog(kTp);
    ASSERT_TRUE(manager().AddReplica(kTp, "t-1", log_, raft::Membership({1, 2, 3})).ok());
  }
  void Crash() override {
    log_.reset();
    RaftTestNode::Crash();
  }

  storage::Log& log() { return *log_; }
  std::optional<ReplicaStatus> status() { return manager().Status(kTp); }

  // Produces one batch of `count` records "<tag>-i" as the leader; the answer.
  absl::StatusOr<storage::AppendResult> Produce(int count, const std::string& tag, bool acks_all) {
    return ProduceBatch(MakeBatch(count, 1'000, tag), count, acks_all);
  }

  // Produces `batch` (of `count` records) as the leader; the answer.
  absl::StatusOr<storage::AppendResult> ProduceBatch(std::string batch, int count, bool acks_all) {
    int64_t append_time = 0;
    if (absl::Status prepared = log_->PrepareAppend(&batch, &append_time); !prepared.ok()) {
      return prepared;
    }
    struct Answer {
      Mutex mu;
      std::optional<absl::StatusOr<storage::AppendResult>> result;
    };
    auto answer = std::make_shared<Answer>();
    manager().Produce(kTp, std::move(batch), count, acks_all,
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
  std::shared_ptr<storage::Log> log_;
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
    for (auto& [id, each] : brokers_) {
      TestBroker* broker = each.get();  // a lambda cannot capture a structured binding (clang)
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

// A batch of producer 42, epoch 0, sequences from `sequence`, its records stamped in 1970 (as a
// backfill's, or a Streams application's reprocessing history): producer.id.expiration.ms counts
// from the broker's time of the append, so the new leader, loading the state, still knows it.
std::string IdempotentBatch(int32_t sequence, int count, const std::string& tag) {
  record::RecordBatchBuilder builder;
  builder.SetProducer(42, 0, sequence);
  for (int i = 0; i < count; ++i) builder.Append(1000 + i, "k", tag + "-" + std::to_string(i));
  return *builder.Build();
}

TEST_F(ReplicationTest, ARetriedIdempotentBatchIsADuplicateOnANewLeaderToo) {
  raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  auto first = brokers_[leader]->ProduceBatch(IdempotentBatch(0, 3, "p"), 3, true);
  ASSERT_TRUE(first.ok()) << first.status();
  auto retry = brokers_[leader]->ProduceBatch(IdempotentBatch(0, 3, "p"), 3, true);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->base_offset, first->base_offset);
  EXPECT_EQ(retry->last_offset, first->last_offset);
  const int64_t end = brokers_[leader]->log().end_offset();

  // The leader dies after acknowledging; the producer retries on the new leader.
  brokers_[leader]->Crash();
  const raft::NodeId next = AwaitLeader();
  ASSERT_NE(next, raft::kNoNode);
  auto again = brokers_[next]->ProduceBatch(IdempotentBatch(0, 3, "p"), 3, true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->base_offset, first->base_offset);
  // Nothing but the new leader's own entry was added.
  EXPECT_EQ(brokers_[next]->log().end_offset(), end + 1);
  // The next sequence is taken; one that skips ahead is refused.
  EXPECT_TRUE(brokers_[next]->ProduceBatch(IdempotentBatch(3, 2, "q"), 2, true).ok());
  auto gap = brokers_[next]->ProduceBatch(IdempotentBatch(9, 1, "r"), 1, true);
  EXPECT_EQ(CauseOf<ProducerError>(gap.status()), ProducerError::kOutOfOrderSequence)
      << gap.status();
}

TEST_F(ReplicationTest, ABatchWhoseCountIsWrongIsRefusedNotStored) {
  const raft::NodeId leader = AwaitLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const int64_t end = brokers_[leader]->log().end_offset();
  auto wrong = brokers_[leader]->ProduceBatch(MakeBatch(3, 1'000, "w"), 2, true);
  EXPECT_TRUE(absl::IsInvalidArgument(wrong.status())) << wrong.status();
  EXPECT_EQ(brokers_[leader]->log().end_offset(), end);
}

}  // namespace
}  // namespace runnel::broker
