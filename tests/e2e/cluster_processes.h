// ClusterProcesses: N real runneld processes forming one cluster on loopback (node ids 1..N, each
// with its own data dir, inter-broker port and client port), for process-level cluster tests.
// Every wait is bounded.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runnel/v1/admin.grpc.pb.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/e2e/raw_broker_client.h"
#include "tests/free_port.h"

namespace runnel::testing {

// Waits (bounded) for `condition`, polling every 20 ms.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class ClusterProcesses {
 public:
  // Heartbeats every 100 ms, fenced after 3 s: tests see fencing quickly, and a broker slowed
  // by a sanitizer on two cores is not fenced by mistake. A silent follower leaves the ISR
  // after 3 s (30 s by default).
  ClusterProcesses(const std::string& root, int brokers, std::vector<std::string> extra_args = {})
      : root_(root) {
    for (int id = 1; id <= brokers; ++id) inter_ports_[id] = FreePort();
    for (int id = 1; id <= brokers; ++id) {
      if (!peers_.empty()) peers_ += ",";
      peers_ += std::to_string(id) + "@127.0.0.1:" + std::to_string(inter_ports_[id]);
    }
    for (int id = 1; id <= brokers; ++id) {
      std::vector<std::string> args = {"--node-id",
                                       std::to_string(id),
                                       "--peers",
                                       peers_,
                                       "--broker-heartbeat-interval-ms",
                                       "100",
                                       "--broker-session-timeout-ms",
                                       "3000",
                                       "--replica-lag-time-max-ms",
                                       "3000"};
      args.insert(args.end(), extra_args.begin(), extra_args.end());
      nodes_[id] = std::make_unique<BrokerProcess>(DataDir(id), args);
    }
  }

  std::string DataDir(int id) const { return root_ + "/node" + std::to_string(id); }
  const std::string& peers() const { return peers_; }
  BrokerProcess& node(int id) { return *nodes_.at(id); }
  int size() const { return static_cast<int>(nodes_.size()); }

  // Starts every broker (each on the client port it had, after the first start).
  bool StartAll() {
    for (auto& [id, node] : nodes_) {
      if (!Start(id)) return false;
    }
    return true;
  }
  bool Start(int id) {
    BrokerProcess& n = *nodes_.at(id);
    const bool ok = n.Start(n.address().empty() ? "127.0.0.1:0" : n.address());
    if (!ok) {
      ADD_FAILURE() << "node " << id << " did not start:\n"
                    << n.output() << "\nits threads:\n"
                    << n.Stacks();
    }
    return ok;
  }
  // Every broker's client address, comma-separated: a client's bootstrap list (`--brokers`).
  std::string BrokerList() {
    std::string list;
    for (auto& [id, node] : nodes_) list += (list.empty() ? "" : ",") + node->address();
    return list;
  }
  // A client of broker `id`'s gRPC API.
  RawBrokerClient Client(int id) { return RawBrokerClient(nodes_.at(id)->address()); }

  v1::DescribeClusterResponse DescribeCluster(int via) {
    auto channel =
        grpc::CreateChannel(nodes_.at(via)->address(), grpc::InsecureChannelCredentials());
    v1::DescribeClusterResponse response;
    (void)v1::Admin::NewStub(channel)->DescribeCluster(RawBrokerClient::Context().get(), {},
                                                       &response);
    return response;
  }

  // Waits until broker `via` sees `alive` unfenced brokers and a controller leader.
  bool WaitForBrokers(int via, int alive) {
    return Eventually([&] {
      const v1::DescribeClusterResponse cluster = DescribeCluster(via);
      int up = 0;
      for (const v1::ClusterBroker& b : cluster.brokers()) up += b.alive() ? 1 : 0;
      return up == alive && cluster.controller_id() > 0;
    });
  }

  v1::MetadataResponse Metadata(int via, const std::string& topic) {
    v1::MetadataRequest request;
    request.add_topics(topic);
    v1::MetadataResponse response;
    (void)Client(via).broker().Metadata(RawBrokerClient::Context().get(), request, &response);
    return response;
  }

  // The leader of `topic`-`partition` once brokers `via` agree on one that is in `among` (all
  // brokers when empty); -1 if they do not within the limit.
  int WaitForLeader(const std::string& topic, int32_t partition, const std::vector<int>& via,
                    const std::vector<int>& among = {}) {
    int leader = -1;
    Eventually([&] {
      int agreed = -1;
      for (int id : via) {
        const v1::MetadataResponse m = Metadata(id, topic);
        if (m.topics_size() != 1 || m.topics(0).partitions_size() <= partition) return false;
        const int l = m.topics(0).partitions(partition).leader();
        if (l <= 0 || (agreed != -1 && l != agreed)) return false;
        if (!among.empty() && std::find(among.begin(), among.end(), l) == among.end()) {
          return false;
        }
        agreed = l;
      }
      leader = agreed;
      return true;
    });
    return leader;
  }

  // CreateTopics through broker `via`.
  v1::Error CreateTopic(int via, const std::string& name, int partitions, int replicas) {
    auto channel =
        grpc::CreateChannel(nodes_.at(via)->address(), grpc::InsecureChannelCredentials());
    v1::CreateTopicsRequest request;
    v1::NewTopic* topic = request.add_topics();
    topic->set_name(name);
    topic->set_partitions(partitions);
    topic->set_replication_factor(replicas);
    v1::CreateTopicsResponse response;
    const grpc::Status status = v1::Admin::NewStub(channel)->CreateTopics(
        RawBrokerClient::Context().get(), request, &response);
    v1::Error error;
    if (!status.ok() || response.topics_size() != 1) {
      error.set_code(v1::UNKNOWN_SERVER_ERROR);
      error.set_message("no answer: " + status.error_message());
      return error;
    }
    return response.topics(0).error();
  }

  // Moves `topic`-`partition` onto `replicas` through broker `via` and waits (bounded) until
  // broker `via` shows exactly those replicas, in any order; false (the failure recorded) if the
  // move is refused or does not complete.
  bool MovePartition(int via, const std::string& topic, int32_t partition,
                     const std::vector<int>& replicas) {
    auto channel =
        grpc::CreateChannel(nodes_.at(via)->address(), grpc::InsecureChannelCredentials());
    v1::AlterPartitionReassignmentsRequest request;
    v1::PartitionReassignment* move = request.add_reassignments();
    move->set_topic(topic);
    move->set_partition(partition);
    for (int id : replicas) move->add_replicas(id);
    v1::AlterPartitionReassignmentsResponse response;
    const grpc::Status status = v1::Admin::NewStub(channel)->AlterPartitionReassignments(
        RawBrokerClient::Context().get(), request, &response);
    if (!status.ok() || response.results_size() != 1 ||
        response.results(0).error().code() != v1::NONE) {
      ADD_FAILURE() << "moving " << topic << "-" << partition << ": " << status.error_message()
                    << (response.results_size() == 1 ? response.results(0).error().message() : "");
      return false;
    }
    std::vector<int> want = replicas;
    std::sort(want.begin(), want.end());
    const bool moved = Eventually([&] {
      const v1::MetadataResponse m = Metadata(via, topic);
      if (m.topics_size() != 1 || m.topics(0).partitions_size() <= partition) return false;
      const auto& p = m.topics(0).partitions(partition);
      std::vector<int> now(p.replicas().begin(), p.replicas().end());
      std::sort(now.begin(), now.end());
      return now == want;
    });
    if (!moved) ADD_FAILURE() << topic << "-" << partition << " never moved";
    return moved;
  }

 private:
  std::string root_;
  std::string peers_;
  std::map<int, int> inter_ports_;
  std::map<int, std::unique_ptr<BrokerProcess>> nodes_;
};

}  // namespace runnel::testing
