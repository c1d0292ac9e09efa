#include "storage/log_config.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

namespace runnel::storage {
namespace {

std::string ErrorOf(const std::map<std::string, std::string>& properties) {
  auto parsed = ParseLogConfigOverrides(properties);
  EXPECT_FALSE(parsed.ok());
  return std::string(parsed.status().message());
}

TEST(LogConfigTest, EachKeysLowestAndHighestValueIsAcceptedAndOneBeyondRefused) {
  const std::string kInt32Max = std::to_string(std::numeric_limits<int32_t>::max());
  const std::string kInt32Past = std::to_string(int64_t{std::numeric_limits<int32_t>::max()} + 1);
  const std::map<std::string, std::pair<std::string, std::string>> edges = {
      {"segment.bytes", {"14", "13"}},
      {"segment.ms", {"1", "0"}},
      {"index.interval.bytes", {"0", "-1"}},
      {"flush.messages", {"1", "0"}},
      {"flush.ms", {"0", "-1"}},
      {"retention.ms", {"-1", "-2"}},
      {"retention.bytes", {"-1", "-2"}},
      {"delete.retention.ms", {"0", "-1"}},
      {"min.cleanable.dirty.ratio", {"0", "-0.1"}},
      {"max.message.bytes", {"0", "-1"}},
      {"message.timestamp.after.max.ms", {"0", "-1"}},
      {"message.timestamp.before.max.ms", {"0", "-1"}},
  };
  for (const auto& [key, lowest_and_below] : edges) {
    const auto& [lowest, below] = lowest_and_below;
    EXPECT_TRUE(ParseLogConfigOverrides({{key, lowest}}).ok()) << key;
    EXPECT_EQ(ErrorOf({{key, below}}), key + ": " + below + " must be at least " + lowest);
  }
  EXPECT_TRUE(ParseLogConfigOverrides({{"segment.bytes", kInt32Max}}).ok());
  EXPECT_EQ(ErrorOf({{"segment.bytes", kInt32Past}}),
            "segment.bytes: " + kInt32Past + " must be at most " + kInt32Max);
  EXPECT_EQ(ErrorOf({{"max.message.bytes", kInt32Past}}),
            "max.message.bytes: " + kInt32Past + " must be at most " + kInt32Max);
  EXPECT_TRUE(ParseLogConfigOverrides({{"min.cleanable.dirty.ratio", "1"}}).ok());
  EXPECT_EQ(ErrorOf({{"min.cleanable.dirty.ratio", "1.5"}}),
            "min.cleanable.dirty.ratio: 1.5 must be at most 1");
}

TEST(LogConfigTest, BadValuesAndUnknownKeysAreRefusedNamingKeyAndValue) {
  EXPECT_EQ(ErrorOf({{"retention.ms", "abc"}}), "retention.ms: 'abc' is not an integer");
  EXPECT_EQ(ErrorOf({{"min.cleanable.dirty.ratio", "half"}}),
            "min.cleanable.dirty.ratio: 'half' is not a number");
  EXPECT_EQ(ErrorOf({{"cleanup.policy", "sometimes"}}),
            "cleanup.policy: 'sometimes' is not one of delete, compact, compact,delete, "
            "delete,compact");
  EXPECT_EQ(ErrorOf({{"message.timestamp.type", "Now"}}),
            "message.timestamp.type: 'Now' is not one of CreateTime, LogAppendTime");
  EXPECT_EQ(ErrorOf({{"retention.mz", "1"}}), "retention.mz: unknown topic config");
  LogConfig empty_policy;
  empty_policy.cleanup_delete = false;
  EXPECT_EQ(empty_policy.Validate().message(), "cleanup.policy: is empty");
  LogConfig too_big;
  too_big.segment_bytes = int64_t{1} << 31;
  EXPECT_EQ(too_big.Validate().message(), "segment.bytes: 2147483648 must be at most 2147483647");
}

TEST(LogConfigTest, OverridesApplyOverDefaultsAndDescribeEveryKey) {
  auto overrides = ParseLogConfigOverrides({{"cleanup.policy", "delete,compact"},
                                            {"message.timestamp.type", "LogAppendTime"},
                                            {"min.cleanable.dirty.ratio", "0.25"},
                                            {"retention.ms", "1000"}});
  ASSERT_TRUE(overrides.ok()) << overrides.status();
  const LogConfig defaults;
  const LogConfig c = overrides->ApplyTo(defaults);
  EXPECT_EQ(c.retention_ms, 1000);
  EXPECT_TRUE(c.cleanup_delete);
  EXPECT_TRUE(c.cleanup_compact);
  EXPECT_EQ(c.min_cleanable_dirty_ratio, 0.25);
  EXPECT_EQ(c.message_timestamp_type, record::TimestampType::kLogAppendTime);
  EXPECT_EQ(c.segment_bytes, defaults.segment_bytes);
  EXPECT_EQ(overrides->ToProperties(),
            (std::map<std::string, std::string>{{"cleanup.policy", "compact,delete"},
                                                {"message.timestamp.type", "LogAppendTime"},
                                                {"min.cleanable.dirty.ratio", "0.25"},
                                                {"retention.ms", "1000"}}));

  // Every key of the effective config, with the defaults written in LogConfig.
  EXPECT_EQ(LogConfigOverrides::From(defaults).ToProperties(),
            (std::map<std::string, std::string>{
                {"cleanup.policy", "delete"},
                {"delete.retention.ms", "86400000"},
                {"flush.messages", "9223372036854775807"},
                {"flush.ms", "9223372036854775807"},
                {"index.interval.bytes", "4096"},
                {"max.message.bytes", "1048588"},
                {"message.timestamp.after.max.ms", "3600000"},
                {"message.timestamp.before.max.ms", "9223372036854775807"},
                {"message.timestamp.type", "CreateTime"},
                {"min.cleanable.dirty.ratio", "0.5"},
                {"retention.bytes", "-1"},
                {"retention.ms", "604800000"},
                {"segment.bytes", "1073741824"},
                {"segment.ms", "604800000"},
            }));
  const LogConfigOverrides all = LogConfigOverrides::From(c);
  EXPECT_EQ(LogConfigOverrides::From(all.ApplyTo(defaults)).ToProperties(), all.ToProperties());
}

TEST(LogConfigTest, AnOverrideSettingOneCleanupFlagKeepsTheOther) {
  LogConfigOverrides compact_only;
  compact_only.cleanup_compact = true;
  const LogConfig applied = compact_only.ApplyTo(LogConfig{});
  EXPECT_TRUE(applied.cleanup_compact);
  EXPECT_TRUE(applied.cleanup_delete) << "the default delete flag was dropped";
  LogConfigOverrides no_delete;
  no_delete.cleanup_delete = false;
  LogConfig compacted;
  compacted.cleanup_compact = true;
  const LogConfig applied2 = no_delete.ApplyTo(compacted);
  EXPECT_FALSE(applied2.cleanup_delete);
  EXPECT_TRUE(applied2.cleanup_compact);
}

}  // namespace
}  // namespace runnel::storage
