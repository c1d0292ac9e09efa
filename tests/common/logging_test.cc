#include "common/logging.h"

#include <gtest/gtest.h>

namespace runnel::logging {
namespace {

TEST(LoggingTest, ParsesLevelNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(*ParseLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLevel("warning"), spdlog::level::warn);
  const auto bad = ParseLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'verbose'"), std::string_view::npos);
  EXPECT_FALSE(LogOptions{.level = "loud"}.Validate().ok());
}

TEST(LoggingTest, OneLoggerPerModuleFollowingTheConfiguredLevel) {
  auto storage = Get("storage");
  EXPECT_EQ(storage, Get("storage"));
  EXPECT_NE(storage, Get("raft"));
  EXPECT_EQ(storage->name(), "storage");

  ASSERT_TRUE(Init(LogOptions{.level = "debug"}).ok());
  EXPECT_EQ(storage->level(), spdlog::level::debug);
  EXPECT_EQ(Get("created-after-init")->level(), spdlog::level::debug);

  EXPECT_FALSE(Init(LogOptions{.level = "nope"}).ok());
  EXPECT_EQ(storage->level(), spdlog::level::debug);  // a bad config changes nothing
  ASSERT_TRUE(Init(LogOptions{}).ok());
  EXPECT_EQ(storage->level(), spdlog::level::info);
}

}  // namespace
}  // namespace runnel::logging
