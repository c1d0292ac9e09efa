#include "raft/node.h"

#include <gtest/gtest.h>

#include "raft/memory_log.h"

namespace runnel::raft {
namespace {

TEST(RaftNodeTest, Placeholder) {}

}  // namespace
}  // namespace runnel::raft
