// The raft unit tests' cluster: LocalCluster with each step asserted (a failed step fails the
// test where it happened).
#pragma once

#include <gtest/gtest.h>

#include <functional>

#include "tests/raft/sim/local_cluster.h"

namespace runnel::raft::sim {

// The unit tests' cluster: LocalCluster with its steps asserted.
class Cluster : public sim::LocalCluster {
 public:
  using LocalCluster::LocalCluster;
  void Flush(NodeId id) { ASSERT_TRUE(LocalCluster::Flush(id)) << "node " << id; }
  void Deliver(const std::function<bool(const Message&)>& drop = nullptr) {
    ASSERT_TRUE(LocalCluster::Deliver(drop, 10000)) << "messages still flowing";
  }
  void Elect(NodeId id) { ASSERT_TRUE(LocalCluster::Elect(id)) << "node " << id << " not elected"; }
};

}  // namespace runnel::raft::sim
