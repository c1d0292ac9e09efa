// Typed error causes (common/status_cause.h).
#include "common/status_cause.h"

#include <gtest/gtest.h>

#include "common/status_macros.h"

namespace runnel::cause_test {

enum class DiskCause { kFull, kOffline };
constexpr const char* CauseTypeUrl(DiskCause) { return "runnel.test.DiskCause"; }
enum class RecordCause { kNoKey = 3, kTooLarge = 7 };
constexpr const char* CauseTypeUrl(RecordCause) { return "runnel.test.RecordCause"; }

TEST(StatusCauseTest, ACauseRidesAlongAndIsReadBackByType) {
  const absl::Status s =
      WithCause(absl::InvalidArgumentError("record 3 has no key"), RecordCause::kNoKey);
  EXPECT_EQ(CauseOf<RecordCause>(s), RecordCause::kNoKey);
  EXPECT_EQ(CauseOf<DiskCause>(s), std::nullopt) << "another enum's cause is not there";
  EXPECT_EQ(s.message(), "record 3 has no key") << "the message is left alone";
  EXPECT_EQ(CauseOf<RecordCause>(absl::InvalidArgumentError("no cause")), std::nullopt);
}

TEST(StatusCauseTest, CausesOfDifferentTypesCoexistAndTheLastOfOneTypeWins) {
  absl::Status s = WithCause(absl::UnavailableError("x"), DiskCause::kFull);
  s = WithCause(s, RecordCause::kTooLarge);
  s = WithCause(s, DiskCause::kOffline);
  EXPECT_EQ(CauseOf<DiskCause>(s), DiskCause::kOffline);
  EXPECT_EQ(CauseOf<RecordCause>(s), RecordCause::kTooLarge);
}

TEST(StatusCauseTest, WithContextKeepsTheCauseAndOkHasNone) {
  const absl::Status s = WithContext(
      WithCause(absl::InvalidArgumentError("too large"), RecordCause::kTooLarge), "batch 2");
  EXPECT_EQ(s.message(), "batch 2: too large");
  EXPECT_EQ(CauseOf<RecordCause>(s), RecordCause::kTooLarge);
  const absl::Status ok = WithCause(absl::OkStatus(), RecordCause::kTooLarge);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(CauseOf<RecordCause>(ok), std::nullopt);
}

}  // namespace runnel::cause_test
