// Change-logging wrappers send exactly the changes made, and restoring from those records
// rebuilds the store (on both backends).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "streams/state/changelog.h"
#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;
using testing::RecordingSink;

template <typename Backend>
class LoggedStoreTest : public ::testing::Test {
 protected:
  int64_t now_ = 1000;
  std::function<int64_t()> Clock() {
    return [this] { return now_; };
  }
  Backend backend_;
  RecordingSink sink_;
};

TYPED_TEST_SUITE(LoggedStoreTest, testing::Backends, testing::BackendNames);

TYPED_TEST(LoggedStoreTest, KeyValueStoreSendsEachChangeAfterApplyingIt) {
  auto store = LoggedKeyValueStore(this->backend_.KeyValue("counts"), &this->sink_, this->Clock());
  ASSERT_TRUE(store->Put("a", "1").ok());
  this->now_ = 1001;
  ASSERT_TRUE(store->Put("\x00\xff"s, "\xff"s).ok());
  this->now_ = 1002;
  ASSERT_TRUE(store->Put("a", "2").ok());
  ASSERT_TRUE(store->Delete("a").ok());
  EXPECT_EQ(*store->Get("a"), std::nullopt);  // reads go to the inner store
  EXPECT_EQ(*store->Get("\x00\xff"s), "\xff"s);
  EXPECT_EQ(this->sink_.records, (std::vector<ChangelogRecord>{{"a", "1", 1000},
                                                               {"\x00\xff"s, "\xff"s, 1001},
                                                               {"a", "2", 1002},
                                                               {"a", std::nullopt, 1002}}));
  EXPECT_EQ(this->sink_.stores, std::vector<std::string>(4, "counts"));
  EXPECT_EQ(store->name(), "counts");
}

TYPED_TEST(LoggedStoreTest, FailedWritesAreNotLogged) {
  auto store = LoggedKeyValueStore(this->backend_.KeyValue("counts"), &this->sink_, this->Clock());
  store->Close();
  EXPECT_FALSE(store->Put("a", "1").ok());
  EXPECT_FALSE(store->Delete("a").ok());
  EXPECT_TRUE(this->sink_.records.empty());
}

TYPED_TEST(LoggedStoreTest, WindowStoreSendsWindowedKeys) {
  auto store =
      LoggedWindowStore(this->backend_.Window("windows", 1000), &this->sink_, this->Clock());
  ASSERT_TRUE(store->Put("k", 5, "v").ok());
  this->now_ = 2000;
  ASSERT_TRUE(store->Delete("k", 5).ok());
  EXPECT_EQ(this->sink_.records, (std::vector<ChangelogRecord>{
                                     {"k\x80\x00\x00\x00\x00\x00\x00\x05"s, "v", 1000},
                                     {"k\x80\x00\x00\x00\x00\x00\x00\x05"s, std::nullopt, 2000}}));
  EXPECT_EQ(this->sink_.stores, std::vector<std::string>(2, "windows"));
}

TYPED_TEST(LoggedStoreTest, WindowStoreForwardsStreamTimeAndRetention) {
  auto store =
      LoggedWindowStore(this->backend_.Window("windows", 100), &this->sink_, this->Clock());
  ASSERT_TRUE(store->Put("k", 0, "v").ok());
  store->ObserveStreamTime(500);
  EXPECT_EQ(store->stream_time(), 500);
  EXPECT_EQ(store->retention_ms(), 100);
  EXPECT_EQ(*store->Fetch("k", 0), std::nullopt);
}

TYPED_TEST(LoggedStoreTest, RestoringTheChangelogReproducesAKeyValueStore) {
  auto logged =
      LoggedKeyValueStore(NewInMemoryKeyValueStore("counts"), &this->sink_, this->Clock());
  ASSERT_TRUE(logged->Put("a", "1").ok());
  ASSERT_TRUE(logged->Put("b", "2").ok());
  ASSERT_TRUE(logged->Put("\xff"s, ""s).ok());
  ASSERT_TRUE(logged->Put("a", "3").ok());
  ASSERT_TRUE(logged->Delete("b").ok());
  ASSERT_TRUE(logged->Delete("never").ok());

  auto restored = this->backend_.KeyValue("counts");
  // Restore in two batches, as a changelog reader hands them over.
  const auto& records = this->sink_.records;
  const size_t half = records.size() / 2;
  ASSERT_TRUE(RestoreKeyValue(*restored, {records.begin(), records.begin() + half}).ok());
  ASSERT_TRUE(RestoreKeyValue(*restored, {records.begin() + half, records.end()}).ok());
  EXPECT_EQ(*restored->All(), *logged->All());
  EXPECT_EQ(*restored->All(), (std::vector<KeyValue>{{"a", "3"}, {"\xff"s, ""}}));
  EXPECT_EQ(records.size(), 6u);  // restoring logged nothing more
}

TYPED_TEST(LoggedStoreTest, RestoringTheChangelogReproducesAWindowStore) {
  auto logged =
      LoggedWindowStore(NewInMemoryWindowStore("windows", 1000), &this->sink_, this->Clock());
  ASSERT_TRUE(logged->Put("a", 0, "a0").ok());
  ASSERT_TRUE(logged->Put("a", 10, "a10").ok());
  ASSERT_TRUE(logged->Put("b", -10, "b-10").ok());
  ASSERT_TRUE(logged->Put("a", 0, "a0'").ok());
  ASSERT_TRUE(logged->Delete("a", 10).ok());

  auto restored = this->backend_.Window("windows", 1000);
  ASSERT_TRUE(RestoreWindow(*restored, this->sink_.records).ok());
  EXPECT_EQ(*restored->All(), *logged->All());
  EXPECT_EQ(*restored->All(),
            (std::vector<WindowStore::Entry>{{"b", -10, "b-10"}, {"a", 0, "a0'"}}));
}

TYPED_TEST(LoggedStoreTest, RestoreKeepsExpiredWindowsUntilStreamTimeIsObserved) {
  auto restored = this->backend_.Window("windows", 100);
  ASSERT_TRUE(RestoreWindow(*restored,
                            {{WindowedKey("k", 0), "old", 1}, {WindowedKey("k", 1000), "new", 2}})
                  .ok());
  EXPECT_EQ(restored->All()->size(), 2u);
  restored->ObserveStreamTime(1000);
  EXPECT_EQ(*restored->All(), (std::vector<WindowStore::Entry>{{"k", 1000, "new"}}));
}

TYPED_TEST(LoggedStoreTest, RestoreWindowRejectsAKeyTooShortForAWindow) {
  auto restored = this->backend_.Window("windows", 100);
  absl::Status s = RestoreWindow(*restored, {{WindowedKey("k", 0), "ok", 7}, {"short", "bad", 8}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("windows"), std::string::npos) << s;
  EXPECT_NE(s.message().find("5 bytes"), std::string::npos) << s;
  EXPECT_EQ(*restored->Fetch("k", 0), "ok");  // applied up to the bad record
}

}  // namespace
}  // namespace runnel::streams
