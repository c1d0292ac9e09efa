// Typed error causes (common/status_cause.h) and the manual clock (common/clock.h).
#include "common/status_cause.h"

#include <gtest/gtest.h>

#include "common/clock.h"
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

TEST(ManualClockTest, TimeMovesOnlyWhenToldAndWallTimeMayBeSetBack) {
  ManualClock clock(5'000);
  const Clock::SteadyPoint start = clock.SteadyNow();
  EXPECT_EQ(clock.NowMs(), 5'000);
  EXPECT_EQ(clock.SteadyNow(), start);
  clock.AdvanceMs(250);
  EXPECT_EQ(clock.NowMs(), 5'250);
  EXPECT_EQ(clock.SteadyNow() - start, std::chrono::milliseconds(250));
  clock.SetNowMs(1'000);  // a wall clock set back (NTP): steady time does not move
  EXPECT_EQ(clock.NowMs(), 1'000);
  EXPECT_EQ(clock.SteadyNow() - start, std::chrono::milliseconds(250));
}

TEST(ManualClockTest, TheRealClockReadsTheSystemTime) {
  const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t now = Clock::Real().NowMs();
  EXPECT_GE(now, before);
  EXPECT_LT(now - before, 60'000);
  const Clock::SteadyPoint steady = Clock::Real().SteadyNow();
  EXPECT_LE(steady, std::chrono::steady_clock::now());
}

}  // namespace runnel::cause_test
