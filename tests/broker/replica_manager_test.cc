// ReplicaManager on its own, with the test playing its peers
// (broker/replication/replica_manager.h): the manager's answers to produce requests at Stop, and
// its persistence rounds when the log changes under a sync in flight.
#include "broker/replication/replica_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "broker/replication/raft_codec.h"
#include "common/mutex.h"
#include "storage/flusher.h"
#include "storage/log.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using namespace std::chrono_literals;
using storage::testing::MakeBatch;
using storage::testing::TempDir;

const storage::TopicPartition kTp{"orders", 0};

template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

// Stop() promises that produce requests still waiting are answered Unavailable: that includes one
// posted to the replication thread that it had not run yet when Stop was called.
TEST(ReplicaManagerTest, AProduceStillQueuedAtStopIsAnswered) {
  ReplicaManagerOptions options;
  options.node_id = 1;
  ReplicaManager manager(options, [](raft::NodeId, v1::RaftBatch) {});
  manager.Start();

  // Hold the replication thread inside the first produce's answer.
  auto entered = std::make_shared<std::atomic<bool>>(false);
  auto release = std::make_shared<std::atomic<bool>>(false);
  manager.Produce(kTp, MakeBatch(1, 1'000, "a"), 1, true,
                  [entered, release](absl::StatusOr<storage::AppendResult>) {
                    entered->store(true);
                    while (!release->load()) std::this_thread::sleep_for(1ms);
                  });
  ASSERT_TRUE(WaitFor([&] { return entered->load(); }));

  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto status = std::make_shared<absl::Status>();
  manager.Produce(kTp, MakeBatch(1, 1'000, "b"), 1, true,
                  [answered, status](absl::StatusOr<storage::AppendResult> result) {
                    *status = result.status();
                    answered->store(true);
                  });

  std::thread stopper([&] { manager.Stop(); });
  // Stop has begun once a new produce is refused at once.
  ASSERT_TRUE(WaitFor([&] {
    auto now = std::make_shared<std::atomic<bool>>(false);
    manager.Produce(kTp, MakeBatch(1, 1'000, "c"), 1, true,
                    [now](absl::StatusOr<storage::AppendResult>) { now->store(true); });
    return now->load();
  }));
  release->store(true);
  stopper.join();
  ASSERT_TRUE(answered->load()) << "a produce queued before Stop was never answered";
  EXPECT_TRUE(absl::IsUnavailable(*status)) << *status;
}

raft::Entry Data(raft::Index first, raft::Term term, int count, const std::string& tag) {
  raft::Entry entry;
  entry.first = first;
  entry.last = first + count - 1;
  entry.term = term;
  entry.data = MakeBatch(count, 1'000, tag);
  return entry;
}

raft::Message Msg(raft::MessageType type, raft::NodeId from, raft::NodeId to, raft::Term term) {
  raft::Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

v1::RaftBatch Batch(const raft::Message& m, const std::string& topic_id = "t-1") {
  v1::RaftBatch batch;
  v1::GroupMessage* g = batch.add_messages();
  g->set_topic(kTp.topic);
  g->set_partition(kTp.partition);
  g->set_topic_id(topic_id);
  ToProto(m, g->mutable_message());
  return batch;
}

// What a ReplicaManager under test sends its peers, decoded; outlives the manager.
class SentMessages {
 public:
  ReplicaManager::SendFn Recorder() {
    return [this](raft::NodeId, v1::RaftBatch batch) {
      MutexLock lock(&mu_);
      for (const v1::GroupMessage& g : batch.messages()) {
        absl::StatusOr<raft::Message> m = FromProto(g.message());
        if (m.ok()) sent_.push_back(*m);
      }
    };
  }
  bool Any(const std::function<bool(const raft::Message&)>& match) {
    MutexLock lock(&mu_);
    return std::any_of(sent_.begin(), sent_.end(), match);
  }
  bool Any(raft::MessageType type, raft::NodeId to) {
    return Any([&](const raft::Message& m) { return m.type == type && m.to == to; });
  }

 private:
  Mutex mu_;
  std::vector<raft::Message> sent_ ABSL_GUARDED_BY(mu_);
};

// raft::Node allows its log to change while a persistence round is out (node.h: Step may run
// meanwhile; a truncation lowers what the round covers). The storage flusher answers such a
// round's sync Aborted ("truncated before they were synced"): that is not a failed disk, and
// must not stop the process.
TEST(ReplicaManagerTest, ATruncationWhileASyncIsInFlightDoesNotStopTheReplica) {
  TempDir tmp;
  storage::Flusher flusher(/*threads=*/1);
  auto opened = storage::Log::Open(tmp.Sub("orders-0"), {}, &flusher);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<storage::Log> log = *std::move(opened);
  auto other = storage::Log::Open(tmp.Sub("other-0"), {}, &flusher);
  ASSERT_TRUE(other.ok()) << other.status();

  SentMessages sent;
  ReplicaManagerOptions options;
  options.node_id = 2;
  options.tick_ms = 1'000;  // no election during the test
  ReplicaManager manager(options, sent.Recorder());
  manager.Start();
  ASSERT_TRUE(manager.AddReplica(kTp, "t-1", log, raft::Membership({1, 2, 3})).ok());

  // Keep the only flush thread busy, so the replica's sync waits.
  auto release = std::make_shared<std::atomic<bool>>(false);
  flusher.RequestFlush(other->get(), 0, [release](absl::Status) {
    while (!release->load()) std::this_thread::sleep_for(1ms);
  });

  // Leader 1 of term 1 appends offsets 0-4: the replica's round waits for the sync of 0-4.
  raft::Message first;
  first.type = raft::MessageType::kAppend;
  first.from = 1;
  first.to = 2;
  first.term = 1;
  first.index = raft::kNoIndex;
  first.log_term = 0;
  first.entries = {Data(0, 1, 3, "a"), Data(3, 1, 2, "b")};
  manager.Receive(1, Batch(first));
  ASSERT_TRUE(WaitFor([&] {
    auto s = manager.Status(kTp);
    return s.has_value() && s->log_end == 5;
  }));

  // Leader 3 of term 2 replaces offsets 3-4 with its leader change at 3.
  raft::Message second;
  second.type = raft::MessageType::kAppend;
  second.from = 3;
  second.to = 2;
  second.term = 2;
  second.index = 2;
  second.log_term = 1;
  raft::Entry change;
  change.first = change.last = 3;
  change.term = 2;
  change.type = raft::EntryType::kLeaderChange;
  second.entries = {change};
  manager.Receive(3, Batch(second));
  ASSERT_TRUE(WaitFor([&] {
    auto s = manager.Status(kTp);
    return s.has_value() && s->term == 2 && s->log_end == 4;
  }));

  release->store(true);
  // The replica goes on: it acknowledges the new leader's entry once it is synced.
  EXPECT_TRUE(WaitFor([&] {
    return sent.Any([](const raft::Message& m) {
      return m.type == raft::MessageType::kAppendResponse && m.to == 3 && !m.reject && m.index == 3;
    });
  }));
  manager.Stop();
}

// Kafka's KIP-207 hazard, and what guards it: a follower that has not heard yet that its
// leader's entries are committed takes over. Its high watermark is below the one its predecessor
// gave out until an entry of its own term commits; TermCommitted() says so meanwhile (and the
// broker answers ListOffsets OFFSET_NOT_AVAILABLE: broker/server/serving_log.h, OffsetsSettled).
TEST(ReplicaManagerTest, ANewLeadersHighWatermarkIsUnsettledUntilAnEntryOfItsTermCommits) {
  TempDir tmp;
  storage::Flusher flusher;
  auto opened = storage::Log::Open(tmp.Sub("orders-0"), {}, &flusher);
  ASSERT_TRUE(opened.ok()) << opened.status();
  SentMessages sent;
  ReplicaManagerOptions options;
  options.node_id = 2;
  options.tick_ms = 1'000;  // no election of its own during the test
  ReplicaManager manager(options, sent.Recorder());
  manager.Start();
  std::shared_ptr<storage::Log> log = *std::move(opened);
  ASSERT_TRUE(manager.AddReplica(kTp, "t-1", log, raft::Membership({1, 2, 3})).ok());

  // Leader 1 of term 1 appends offsets 0-4 (committed on 1 and 3, say), not yet telling node 2.
  raft::Message append = Msg(raft::MessageType::kAppend, 1, 2, 1);
  append.index = raft::kNoIndex;
  append.log_term = 0;
  append.commit = raft::kNoIndex;
  append.entries = {Data(0, 1, 5, "a")};
  manager.Receive(1, Batch(append));
  ASSERT_TRUE(WaitFor([&] { return sent.Any(raft::MessageType::kAppendResponse, 1); }));

  // Leader 1 hands leadership over to node 2; node 3 grants it its vote.
  manager.Receive(1, Batch(Msg(raft::MessageType::kTimeoutNow, 1, 2, 1)));
  ASSERT_TRUE(WaitFor([&] { return sent.Any(raft::MessageType::kVote, 3); }));
  manager.Receive(3, Batch(Msg(raft::MessageType::kVoteResponse, 3, 2, 2)));  // granted
  ASSERT_TRUE(WaitFor([&] {
    auto s = manager.Status(kTp);
    return s.has_value() && s->role == raft::Role::kLeader && s->term == 2;
  }));
  std::optional<ReplicaStatus> s = manager.Status(kTp);
  EXPECT_EQ(s->term_start, 5);
  EXPECT_LT(s->high_watermark, 5) << "below the end its predecessor committed";
  EXPECT_FALSE(s->TermCommitted());

  // Node 3 acknowledges the leader change at 5: the new term's entry commits, and with it
  // everything before.
  ASSERT_TRUE(WaitFor([&] { return sent.Any(raft::MessageType::kAppend, 3); }));
  raft::Message ack = Msg(raft::MessageType::kAppendResponse, 3, 2, 2);
  ack.index = 5;
  manager.Receive(3, Batch(ack));
  EXPECT_TRUE(WaitFor([&] {
    auto now = manager.Status(kTp);
    return now.has_value() && now->TermCommitted() && now->high_watermark == 6;
  }));
  manager.Stop();
}

// A topic deleted and created again under the same name: brokers that have not applied both
// records yet still run the old topic's replica. Its messages must not reach the new topic's
// group (they would copy the deleted topic's records into it).
TEST(ReplicaManagerTest, AMessageOfAnotherTopicWithTheSameNameIsIgnored) {
  TempDir tmp;
  storage::Flusher flusher;
  auto opened = storage::Log::Open(tmp.Sub("orders-0"), {}, &flusher);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<storage::Log> log = *std::move(opened);
  ReplicaManagerOptions options;
  options.node_id = 2;
  options.tick_ms = 1'000;
  ReplicaManager manager(options, [](raft::NodeId, v1::RaftBatch) {});
  manager.Start();
  ASSERT_TRUE(manager.AddReplica(kTp, "t-2", log, raft::Membership({1, 2, 3})).ok());

  raft::Message append;
  append.type = raft::MessageType::kAppend;
  append.from = 1;
  append.to = 2;
  append.term = 30;
  append.index = raft::kNoIndex;
  append.entries = {Data(0, 30, 3, "old")};
  manager.Receive(1, Batch(append, "t-1"));  // the deleted topic's leader
  ASSERT_TRUE(WaitFor([&] { return manager.messages_refused() == 1; }));
  EXPECT_EQ(log->end_offset(), 0);
  EXPECT_EQ(manager.Status(kTp)->term, 0);

  manager.Receive(1, Batch(append, "t-2"));
  EXPECT_TRUE(WaitFor([&] { return log->end_offset() == 3; }));
  // The status is published after the step that appended: wait for it too.
  EXPECT_TRUE(WaitFor([&] { return manager.Status(kTp)->term == 30; }));
  manager.Stop();
}

}  // namespace
}  // namespace runnel::broker
