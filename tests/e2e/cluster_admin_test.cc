// Admin calls that change the metadata wait for the controller (up to its propose timeout, 10 s),
// as do metadata requests that auto-create a topic. They must not hold the broker's request
// threads meanwhile: with the only controller down, a burst of them leaves produce and metadata
// requests to the same broker answered as before. Nor do produce requests to missing topics wait:
// they are answered NOT_LEADER (retry) while the creation waits elsewhere.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cluster_processes.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::testing {
namespace {

using storage::testing::MakeBatch;
using storage::testing::TempDir;

TEST(ClusterAdminTest, AdminCallsWaitingForAnAbsentControllerDoNotStallProduce) {
  TempDir dir;
  ClusterProcesses cluster(dir.path(), 4, {"--controllers", "1"});
  ASSERT_TRUE(cluster.StartAll());
  ASSERT_TRUE(cluster.WaitForBrokers(1, 4));
  ASSERT_EQ(cluster.CreateTopic(1, "live", 1, 3).code(), v1::NONE);
  // Off the controller: nodes 2, 3 and 4 keep a majority without it.
  ASSERT_TRUE(cluster.MovePartition(1, "live", 0, {2, 3, 4}));
  const int leader = cluster.WaitForLeader("live", 0, {2, 3, 4}, {2, 3, 4});
  ASSERT_GT(leader, 0);
  ASSERT_EQ(cluster.Client(leader).Produce("live", MakeBatch(1, 0, "before")).error().code(),
            v1::NONE);

  ASSERT_EQ(cluster.node(1).Kill(), 128 + SIGKILL);
  // More creates than a broker has request threads, each waiting for a controller.
  constexpr int kCreates = 32;
  std::vector<std::thread> creates;
  for (int i = 0; i < kCreates; ++i) {
    creates.emplace_back([&, i] {
      v1::CreateTopicsRequest request;
      v1::NewTopic* topic = request.add_topics();
      topic->set_name("waiting-" + std::to_string(i));
      topic->set_partitions(1);
      v1::CreateTopicsResponse response;
      auto channel =
          grpc::CreateChannel(cluster.node(leader).address(), grpc::InsecureChannelCredentials());
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      (void)v1::Admin::NewStub(channel)->CreateTopics(&context, request, &response);
    });
  }
  // And clients' metadata requests that would create a topic (a producer's, auto-creation on).
  for (int i = 0; i < kCreates / 4; ++i) {
    creates.emplace_back([&, i] {
      v1::MetadataRequest request;
      request.add_topics("auto-" + std::to_string(i));
      request.set_allow_auto_topic_creation(true);
      v1::MetadataResponse response;
      auto channel =
          grpc::CreateChannel(cluster.node(leader).address(), grpc::InsecureChannelCredentials());
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      (void)v1::Broker::NewStub(channel)->Metadata(&context, request, &response);
    });
  }
  // And raw produce requests to missing topics (auto-creation on): answered NOT_LEADER at once.
  std::vector<v1::PartitionProduceResult> missing(kCreates);
  for (int i = 0; i < kCreates; ++i) {
    creates.emplace_back([&, i] {
      missing[static_cast<size_t>(i)] = cluster.Client(leader).Produce(
          "missing-" + std::to_string(i), MakeBatch(1, 0, "x"), v1::ACKS_ALL, 0, 3000);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // all of them waiting

  const auto start = std::chrono::steady_clock::now();
  const v1::PartitionProduceResult produced =
      cluster.Client(leader).Produce("live", MakeBatch(1, 0, "during"), v1::ACKS_ALL, 0, 3000);
  const v1::MetadataResponse metadata = cluster.Metadata(leader, "live");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  for (std::thread& t : creates) t.join();
  EXPECT_EQ(produced.error().code(), v1::NONE) << produced.error().message();
  EXPECT_EQ(metadata.topics_size(), 1);
  EXPECT_LT(took, std::chrono::milliseconds(3000))
      << "a produce and a metadata request waited behind calls waiting for the controller for "
      << took.count() << " ms";
  for (const v1::PartitionProduceResult& r : missing) {
    EXPECT_EQ(r.error().code(), v1::NOT_LEADER) << r.error().message();
  }
  // A bad name is refused at once, not retried.
  const v1::PartitionProduceResult bad =
      cluster.Client(leader).Produce("bad/name", MakeBatch(1, 0, "x"));
  EXPECT_EQ(bad.error().code(), v1::INVALID_TOPIC) << bad.error().message();
}

// A produce to a missing topic whose creation the controller refuses (here: the brokers' default
// replication factor is above the brokers there are) is answered with why, not "retry" until the
// producer's delivery timeout.
TEST(ClusterAdminTest, AProduceToATopicThatCannotBeCreatedIsToldWhy) {
  TempDir dir;
  ClusterProcesses cluster(dir.path(), 3, {"--default-replication-factor", "5"});
  ASSERT_TRUE(cluster.StartAll());
  ASSERT_TRUE(cluster.WaitForBrokers(1, 3));
  v1::PartitionProduceResult result;
  ASSERT_TRUE(Eventually([&] {
    result = cluster.Client(2).Produce("nowhere", MakeBatch(1, 0, "x"), v1::ACKS_ALL, 0, 3000);
    return result.error().code() != v1::NOT_LEADER;
  })) << result.error().message();
  EXPECT_EQ(result.error().code(), v1::UNKNOWN_TOPIC_OR_PARTITION) << result.error().message();
  EXPECT_NE(result.error().message().find("could not be created"), std::string::npos)
      << result.error().message();
  EXPECT_NE(result.error().message().find("replication"), std::string::npos)
      << result.error().message();
}

}  // namespace
}  // namespace runnel::testing
