#include "broker/cluster/topic_table.h"

#include <gtest/gtest.h>

#include <fstream>

#include "storage/file.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

TEST(TopicTableTest, TopicsSurviveAReopen) {
  TempDir dir;
  {
    auto table = TopicTable::Open(dir.path());
    ASSERT_TRUE(table.ok()) << table.status();
    ASSERT_TRUE(table->Create({"orders", 6, 1, {{"retention.ms", "3600000"}}, false, ""}).ok());
    ASSERT_TRUE(
        table->Create({"__consumer_offsets", 50, 1, {{"cleanup.policy", "compact"}}, true, ""})
            .ok());
    ASSERT_TRUE(table->SetConfigs("orders", {{"segment.bytes", "1048576"}}).ok());
  }
  auto table = TopicTable::Open(dir.path());
  ASSERT_TRUE(table.ok()) << table.status();
  const auto topics = table->List();
  ASSERT_EQ(topics.size(), 2u);
  EXPECT_EQ(topics[0].name, "__consumer_offsets");
  EXPECT_TRUE(topics[0].internal);
  const auto orders = table->Get("orders");
  ASSERT_TRUE(orders.has_value());
  EXPECT_EQ(orders->partitions, 6);
  EXPECT_EQ(orders->configs, (std::map<std::string, std::string>{{"segment.bytes", "1048576"}}));
  ASSERT_TRUE(table->Delete("orders").ok());
  EXPECT_EQ(TopicTable::Open(dir.path())->List().size(), 1u);
}

TEST(TopicTableTest, BadDefinitionsAreRefusedNamingTheField) {
  TempDir dir;
  auto table = *TopicTable::Open(dir.path());
  EXPECT_NE(table.Create({"bad name", 1, 1, {}, false, ""}).message().find("bad name"),
            absl::string_view::npos);
  EXPECT_NE(table.Create({"t", 0, 1, {}, false, ""}).message().find("partitions"),
            absl::string_view::npos);
  EXPECT_NE(table.Create({"t", 1, 0, {}, false, ""}).message().find("replication factor"),
            absl::string_view::npos);
  EXPECT_NE(
      table.Create({"t", 1, 1, {{"retention.mz", "1"}}, false, ""}).message().find("retention.mz"),
      absl::string_view::npos);
  EXPECT_NE(table.Create({"t", 1, 1, {{"segment.bytes", "-5"}}, false, ""})
                .message()
                .find("segment.bytes"),
            absl::string_view::npos);
  ASSERT_TRUE(table.Create({"t", 1, 1, {}, false, ""}).ok());
  EXPECT_EQ(table.Create({"t", 1, 1, {}, false, ""}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(table.Delete("missing").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table.SetConfigs("t", {{"cleanup.policy", "sometimes"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(table.Get("t")->configs.empty());  // a refused change leaves the topic as it was
}

TEST(TopicTableTest, ACorruptFileFailsTheOpenWithItsName) {
  TempDir dir;
  {
    std::ofstream out(dir.Sub(TopicTable::kFileName));
    out << "{\"topics\": [{\"name\": \"x\", \"partitions\": -3}]}";
  }
  auto table = TopicTable::Open(dir.path());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(table.status().message().find("topics.json"), absl::string_view::npos);
  {
    std::ofstream out(dir.Sub(TopicTable::kFileName), std::ios::trunc);
    out << "not json";
  }
  EXPECT_EQ(TopicTable::Open(dir.path()).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace runnel::broker
