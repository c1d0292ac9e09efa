#include "common/status_macros.h"

#include <gtest/gtest.h>

#include <memory>

namespace runnel {
namespace {

absl::Status FailIf(bool fail) {
  return fail ? absl::NotFoundError("missing thing") : absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MakeInt(bool fail, int v) {
  if (fail) return absl::InvalidArgumentError("bad int");
  return std::make_unique<int>(v);
}

absl::Status Chain(bool fail_first, bool fail_second, int* out) {
  RETURN_IF_ERROR(FailIf(fail_first));
  ASSIGN_OR_RETURN(std::unique_ptr<int> v, MakeInt(fail_second, 41));  // move-only value
  ASSIGN_OR_RETURN(*out, absl::StatusOr<int>(*v + 1));                 // into an lvalue
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagatesFirstErrorAndAssignsValues) {
  int out = 0;
  EXPECT_EQ(Chain(true, false, &out).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(out, 0);
  const absl::Status s = Chain(false, true, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad int");
  EXPECT_EQ(out, 0);
  EXPECT_TRUE(Chain(false, false, &out).ok());
  EXPECT_EQ(out, 42);
}

TEST(StatusMacrosTest, WithContextPrefixesTheMessageAndKeepsCodeAndPayloads) {
  absl::Status s = absl::FailedPreconditionError("refused");
  s.SetPayload("example.payload", absl::Cord("value"));
  const absl::Status wrapped = WithContext(s, "commit");
  EXPECT_EQ(wrapped.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(wrapped.message(), "commit: refused");
  ASSERT_TRUE(wrapped.GetPayload("example.payload").has_value());
  EXPECT_EQ(std::string(*wrapped.GetPayload("example.payload")), "value");
  EXPECT_TRUE(WithContext(absl::OkStatus(), "commit").ok());
}

}  // namespace
}  // namespace runnel
