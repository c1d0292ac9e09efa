#include "client/status.h"

#include <gtest/gtest.h>

#include "client/internal/grpc_status.h"
#include "common/status_macros.h"

namespace runnel::client {
namespace {

v1::Error Error(v1::ErrorCode code) {
  v1::Error e;
  e.set_code(code);
  e.set_message("because");
  return e;
}

TEST(ClientStatusTest, TheBrokerErrorCodeTravelsWithTheStatus) {
  const absl::Status s = ToStatus(Error(v1::UNKNOWN_MEMBER_ID), "commit offsets of group g");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(s.message(), "commit offsets of group g: because (UNKNOWN_MEMBER_ID)");
  EXPECT_EQ(ErrorCodeOf(s), v1::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(ErrorCodeOf(WithContext(s, "commit")), v1::UNKNOWN_MEMBER_ID) << "kept by WithContext";
  EXPECT_EQ(ErrorCodeOf(ToStatus(Error(v1::OFFSET_OUT_OF_RANGE), "fetch")),
            v1::OFFSET_OUT_OF_RANGE);
  EXPECT_EQ(ErrorCodeOf(ToStatus(Error(v1::NONE), "fetch")), v1::NONE);
  EXPECT_EQ(ErrorCodeOf(absl::FailedPreconditionError("not from the broker")), v1::NONE);
}

TEST(ClientStatusTest, OnlyMembershipErrorsMeanTheConsumerIsNoLongerAMember) {
  for (v1::ErrorCode code : {v1::UNKNOWN_MEMBER_ID, v1::FENCED_MEMBER_EPOCH, v1::FENCED_INSTANCE_ID,
                             v1::STALE_MEMBER_EPOCH}) {
    EXPECT_TRUE(IsNoLongerMember(WithContext(ToStatus(Error(code), "commit"), "task 0_1")))
        << v1::ErrorCode_Name(code);
  }
  for (v1::ErrorCode code :
       {v1::NONE, v1::NON_EMPTY_GROUP, v1::UNKNOWN_TOPIC_OR_PARTITION, v1::INVALID_REQUEST}) {
    EXPECT_FALSE(IsNoLongerMember(ToStatus(Error(code), "commit"))) << v1::ErrorCode_Name(code);
  }
  // The same code and words, but not from a broker answer.
  EXPECT_FALSE(IsNoLongerMember(absl::FailedPreconditionError("no member (UNKNOWN_MEMBER_ID)")));
}

// Retriable answers — the partition's leader moved or is being elected, the group's coordinator
// moved or is loading — are Unavailable, which the consumer's offset lookups retry (NOT_LEADER was
// Internal: a Streams thread whose consumer looked up a position during an election died).
TEST(ClientStatusTest, LeaderAndCoordinatorMovesAreUnavailable) {
  for (v1::ErrorCode code : {v1::NOT_LEADER, v1::NOT_COORDINATOR, v1::COORDINATOR_NOT_AVAILABLE,
                             v1::COORDINATOR_LOAD_IN_PROGRESS}) {
    const absl::Status s = ToStatus(Error(code), "list offsets of t-0 at b:1");
    EXPECT_TRUE(absl::IsUnavailable(s)) << s;
    EXPECT_EQ(ErrorCodeOf(s), code);
  }
  EXPECT_EQ(ToStatus(Error(v1::NOT_LEADER), "list offsets of t-0 at b:1").message(),
            "list offsets of t-0 at b:1: because (NOT_LEADER)");
}

}  // namespace
}  // namespace runnel::client
