// The manual clock tests drive time with, and the real clock (common/clock.h).
#include "common/clock.h"

#include <gtest/gtest.h>

#include <chrono>

namespace runnel {
namespace {

TEST(ManualClockTest, TimeMovesOnlyWhenToldAndWallTimeMayBeSetBack) {
  ManualClock clock(5'000);
  const Clock::SteadyPoint start = clock.SteadyNow();
  EXPECT_EQ(clock.NowMs(), 5'000);
  EXPECT_EQ(clock.SteadyNow(), start);
  clock.AdvanceMs(250);
  EXPECT_EQ(clock.NowMs(), 5'250);
  EXPECT_EQ(clock.SteadyNow() - start, std::chrono::milliseconds(250));
  for (int i = 0; i < 10; ++i) clock.Advance(std::chrono::microseconds(500));
  EXPECT_EQ(clock.NowMs(), 5'255) << "small steps add up on the wall reading too";
  EXPECT_EQ(clock.SteadyNow() - start, std::chrono::milliseconds(255));
  clock.SetNowMs(1'000);  // a wall clock set back (NTP): steady time does not move
  EXPECT_EQ(clock.NowMs(), 1'000);
  EXPECT_EQ(clock.SteadyNow() - start, std::chrono::milliseconds(255));
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

}  // namespace
}  // namespace runnel
