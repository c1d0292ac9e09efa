// Faults on a real 3-broker cluster (issue 17's durability claim): an idempotent producer at
// acks=all writes numbered records to the 3 partitions of a replicas=3 topic, following leaders,
// while each round either SIGKILLs a partition leader (and restarts it), pauses one with
// SIGSTOP/SIGCONT, or kills a follower, wipes its data dir and restarts it (it must catch up from
// the others). At the end every acknowledged record is read back exactly once, in order, at the
// offset it was acknowledged with, with nothing else in between. Failover time (fault to the first
// acknowledged write of the partition) is printed every round, with p50/p99/max at the end.
//
// FAULT_ROUNDS=N runs N rounds (default 20, 6 in the sanitizer builds, whose brokers run several
// times slower; hundreds for a soak).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/record/batch_builder.h"
#include "common/record/record_batch.h"
#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using Clock = std::chrono::steady_clock;
using storage::testing::TempDir;

constexpr int kBrokers = 3;
constexpr int kPartitions = 3;
constexpr char kTopic[] = "numbers";

int Rounds() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int kDefaultRounds = 6;
#else
  constexpr int kDefaultRounds = 20;
#endif
  const char* rounds = std::getenv("FAULT_ROUNDS");
  return rounds != nullptr && std::atoi(rounds) > 0 ? std::atoi(rounds) : kDefaultRounds;
}

// Short deadlines: a paused broker must not hold the writer long (a produce waits at most 1 s,
// a metadata request 300 ms, before the writer asks elsewhere).
std::unique_ptr<grpc::ClientContext> ShortContext(
    std::chrono::milliseconds limit = std::chrono::seconds(1)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + limit);
  return context;
}

// An idempotent producer of the numbers 0, 1, 2, ... per partition, at acks=all. A number is
// retried (same sequence) until it is acknowledged, so none is skipped and, the broker
// deduplicating retries, none is stored twice.
class NumberedWriter {
 public:
  explicit NumberedWriter(ClusterProcesses* cluster) : cluster_(cluster) {}

  bool Init() {
    for (int id = 1; id <= kBrokers; ++id) {
      v1::InitProducerIdResponse response;
      if (Stub(id).InitProducerId(ShortContext().get(), {}, &response).ok() &&
          response.error().code() == v1::NONE) {
        producer_id_ = response.producer_id();
        return true;
      }
    }
    return false;
  }

  // Writes the partition's next number; false if it was not acknowledged within `limit`.
  bool WriteNext(int32_t partition, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    Partition& p = partitions_[partition];
    record::RecordBatchBuilder builder({.producer_id = producer_id_,
                                        .producer_epoch = 0,
                                        .base_sequence = static_cast<int32_t>(p.acked.size())});
    // Real time: a producer whose last batch is older than producer.id.expiration.ms (1 day) is
    // forgotten when a new leader loads the partition's producer state (Kafka's rule), and its
    // retries would no longer be recognised as duplicates.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    builder.Append(now_ms, "n", std::to_string(p.acked.size()));
    const std::string batch = *builder.Build();
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (p.leader <= 0) p.leader = FindLeader(partition);
      if (p.leader <= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      v1::ProduceRequest request;
      request.set_id(1);
      request.set_acks(v1::ACKS_ALL);
      request.set_timeout_ms(900);
      v1::PartitionBatches* out = request.add_partitions();
      out->set_topic(kTopic);
      out->set_partition(partition);
      out->set_records(batch);
      auto context = ShortContext();
      auto stream = Stub(p.leader).Produce(context.get());
      stream->Write(request);
      stream->WritesDone();
      v1::ProduceResponse response;
      const bool answered = stream->Read(&response) && response.partitions_size() == 1;
      (void)stream->Finish();
      if (!answered) {  // dead, paused or restarting: ask again who leads
        p.leader = -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const v1::PartitionProduceResult& result = response.partitions(0);
      switch (result.error().code()) {
        case v1::NONE:
          p.acked.push_back(result.base_offset());
          return true;
        case v1::NOT_LEADER:
          p.leader = result.error().leader_addr().empty() ? -1 : result.error().leader_id();
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          break;
        case v1::OUT_OF_ORDER_SEQUENCE_NUMBER:
        case v1::PRODUCER_FENCED:
          ADD_FAILURE() << "partition " << partition << ", number " << p.acked.size() << ": "
                        << result.error().message();
          return false;
        default:  // timed out waiting for the commit, unavailable while shutting down: retry
          p.leader = -1;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          break;
      }
    }
    return false;
  }

  const std::vector<int64_t>& acked(int32_t partition) { return partitions_[partition].acked; }
  int leader(int32_t partition) {
    Partition& p = partitions_[partition];
    if (p.leader <= 0) p.leader = FindLeader(partition);
    return p.leader;
  }

 private:
  struct Partition {
    int leader = -1;
    std::vector<int64_t> acked;  // the offset of number i, for every acknowledged i
  };

  v1::Broker::Stub& Stub(int id) {
    const std::string& address = cluster_->node(id).address();
    auto& [known, stub] = stubs_[id];
    if (stub == nullptr || known != address) {
      known = address;
      stub = v1::Broker::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    }
    return *stub;
  }

  // The leader some running broker names (asked in turn, starting with a different one each
  // time, so a paused broker is not always asked first); -1 if none does.
  int FindLeader(int32_t partition) {
    for (int i = 0; i < kBrokers; ++i) {
      const int id = (next_asked_++ % kBrokers) + 1;
      if (cluster_->node(id).pid() <= 0) continue;
      v1::MetadataRequest request;
      request.add_topics(kTopic);
      v1::MetadataResponse response;
      if (!Stub(id)
               .Metadata(ShortContext(std::chrono::milliseconds(300)).get(), request, &response)
               .ok() ||
          response.topics_size() != 1 || response.topics(0).partitions_size() <= partition) {
        continue;
      }
      const int leader = response.topics(0).partitions(partition).leader();
      if (leader > 0 && cluster_->node(leader).pid() > 0) return leader;
    }
    return -1;
  }

  ClusterProcesses* const cluster_;
  int64_t producer_id_ = -1;
  int next_asked_ = 0;
  std::map<int32_t, Partition> partitions_;
  std::map<int, std::pair<std::string, std::unique_ptr<v1::Broker::Stub>>> stubs_;
};

class ClusterFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll());
    ASSERT_TRUE(cluster_.WaitForBrokers(1, kBrokers));
    ASSERT_EQ(cluster_.CreateTopic(1, kTopic, kPartitions, kBrokers).code(), v1::NONE);
    ASSERT_TRUE(writer_.Init());
  }

  // Every partition has all replicas in sync, as every broker describes it. When not, `state_`
  // holds what the last look saw.
  bool AllInSync() {
    return Eventually(
        [&] {
          state_.clear();
          for (int id = 1; id <= kBrokers; ++id) {
            auto channel = grpc::CreateChannel(cluster_.node(id).address(),
                                               grpc::InsecureChannelCredentials());
            v1::DescribeTopicsRequest request;
            request.add_names(kTopic);
            v1::DescribeTopicsResponse response;
            if (!v1::Admin::NewStub(channel)
                     ->DescribeTopics(ShortContext().get(), request, &response)
                     .ok() ||
                response.topics_size() != 1) {
              return false;
            }
            state_ += "node " + std::to_string(id) + ": " + response.ShortDebugString() + "\n";
            for (const v1::PartitionDescription& p : response.topics(0).partitions()) {
              if (p.isr_size() != kBrokers || p.leader() <= 0) return false;
            }
          }
          return true;
        },
        std::chrono::seconds(60));
  }

  // Writes `n` numbers to every partition.
  void WriteAll(int n) {
    for (int i = 0; i < n; ++i) {
      for (int32_t p = 0; p < kPartitions; ++p)
        ASSERT_TRUE(writer_.WriteNext(p)) << "partition " << p;
    }
  }

  // Reads partition `p` whole from its leader and checks it holds exactly the acknowledged
  // numbers, in order, at their acknowledged offsets.
  void CheckPartition(int32_t p) {
    const int leader = writer_.leader(p);
    ASSERT_GT(leader, 0);
    RawBrokerClient client = cluster_.Client(leader);
    std::vector<storage::testing::StoredRecord> records;
    int64_t offset = 0;
    for (int fetches = 0; fetches < 10'000; ++fetches) {
      const v1::PartitionFetchResult result = client.Fetch(kTopic, offset, p);
      ASSERT_EQ(result.error().code(), v1::NONE) << result.error().message();
      if (result.records().empty()) break;  // at the high watermark
      const auto got = storage::testing::DecodeAll(result.records());
      records.insert(records.end(), got.begin(), got.end());
      // Control batches (leader changes) take offsets too: go on after the last batch read.
      std::string_view bytes = result.records();
      while (!bytes.empty()) {
        auto view = record::RecordBatchView::Parse(bytes);
        ASSERT_TRUE(view.ok());
        offset = view->last_offset() + 1;
        bytes.remove_prefix(view->size());
      }
    }
    const std::vector<int64_t>& acked = writer_.acked(p);
    // On a mismatch, every value stored more than once, with its offsets and the acknowledged one.
    std::map<std::string, std::vector<int64_t>> offsets_of;
    for (const auto& r : records) offsets_of[r.value.value_or("<null>")].push_back(r.offset);
    std::string repeated;
    for (const auto& [value, offsets] : offsets_of) {
      if (offsets.size() < 2) continue;
      repeated += "\n  value " + value + " at offsets";
      for (int64_t o : offsets) repeated += " " + std::to_string(o);
      const int64_t n = std::atoll(value.c_str());
      if (n >= 0 && n < static_cast<int64_t>(acked.size())) {
        repeated += " (acknowledged at " + std::to_string(acked[static_cast<size_t>(n)]) + ")";
      }
    }
    ASSERT_EQ(records.size(), acked.size()) << "partition " << p << repeated;
    for (size_t i = 0; i < acked.size(); ++i) {
      ASSERT_EQ(records[i].value, std::to_string(i)) << "partition " << p << " position " << i;
      ASSERT_EQ(records[i].offset, acked[i]) << "partition " << p << " number " << i;
    }
  }

  TempDir dir_;
  ClusterProcesses cluster_{dir_.path(), kBrokers};
  NumberedWriter writer_{&cluster_};
  std::string state_;
};

int64_t Percentile(std::vector<int64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

TEST_F(ClusterFaultTest, NoAcknowledgedRecordIsLostOrDuplicatedThroughKillsPausesAndWipes) {
  const int rounds = Rounds();
  std::vector<int64_t> failovers;  // ms, kill and pause rounds
  WriteAll(5);
  for (int round = 0; round < rounds; ++round) {
    const int32_t p = round % kPartitions;
    const int leader = writer_.leader(p);
    ASSERT_GT(leader, 0) << "round " << round;
    const char* what = "";
    switch (round % 3) {
      case 0: {  // kill the partition's leader, write on, restart it
        what = "kill -9 leader";
        const auto fault = Clock::now();
        ASSERT_EQ(cluster_.node(leader).Kill(), 128 + SIGKILL);
        ASSERT_TRUE(writer_.WriteNext(p)) << "round " << round << ": no write after the kill";
        failovers.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - fault).count());
        WriteAll(3);
        ASSERT_TRUE(cluster_.Start(leader));
        break;
      }
      case 1: {  // pause the partition's leader, write on, resume it
        what = "SIGSTOP leader";
        const auto fault = Clock::now();
        ASSERT_EQ(::kill(cluster_.node(leader).pid(), SIGSTOP), 0);
        ASSERT_TRUE(writer_.WriteNext(p)) << "round " << round << ": no write after the pause";
        failovers.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - fault).count());
        WriteAll(3);
        ASSERT_EQ(::kill(cluster_.node(leader).pid(), SIGCONT), 0);
        break;
      }
      default: {  // kill a follower, wipe its data dir, restart it: it catches up
        what = "wipe follower";
        const int follower = leader % kBrokers + 1;
        ASSERT_EQ(cluster_.node(follower).Kill(), 128 + SIGKILL);
        std::filesystem::remove_all(cluster_.DataDir(follower));
        WriteAll(3);
        ASSERT_TRUE(cluster_.Start(follower));
        break;
      }
    }
    if (round % 3 != 2) {
      std::cerr << "round " << round << " (" << what << " " << leader << ", partition " << p
                << "): failover " << failovers.back() << " ms\n";
    } else {
      std::cerr << "round " << round << " (" << what << " of partition " << p << ")\n";
    }
    ASSERT_TRUE(AllInSync()) << "round " << round << ": replicas never all back in sync:\n"
                             << state_ << "\nnode 1:\n"
                             << cluster_.node(1).output() << "\nnode 2:\n"
                             << cluster_.node(2).output() << "\nnode 3:\n"
                             << cluster_.node(3).output();
    WriteAll(2);
  }
  for (int32_t p = 0; p < kPartitions; ++p) CheckPartition(p);
  if (!failovers.empty()) {
    std::cerr << "failover over " << failovers.size() << " rounds: p50 "
              << Percentile(failovers, 0.5) << " ms, p99 " << Percentile(failovers, 0.99)
              << " ms, max " << *std::max_element(failovers.begin(), failovers.end()) << " ms\n";
  }
}

}  // namespace
}  // namespace runnel::testing
