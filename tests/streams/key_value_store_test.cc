// Behaviour every KeyValueStore backend shares, checked on the in-memory and the RocksDB store.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "streams/state/key_value_store.h"
#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;

std::vector<std::string> Keys(const std::vector<KeyValue>& entries) {
  std::vector<std::string> keys;
  for (const KeyValue& kv : entries) keys.push_back(kv.key);
  return keys;
}

template <typename Backend>
class KeyValueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = backend_.KeyValue("counts");
    ASSERT_NE(store_, nullptr);
  }
  Backend backend_;
  std::unique_ptr<KeyValueStore> store_;
};

TYPED_TEST_SUITE(KeyValueStoreTest, testing::Backends, testing::BackendNames);

TYPED_TEST(KeyValueStoreTest, PutGetDeleteAndOverwrite) {
  KeyValueStore& store = *this->store_;
  EXPECT_EQ(store.name(), "counts");
  EXPECT_EQ(*store.Get("a"), std::nullopt);
  ASSERT_TRUE(store.Put("a", "1").ok());
  EXPECT_EQ(*store.Get("a"), "1");
  ASSERT_TRUE(store.Put("a", "2").ok());
  EXPECT_EQ(*store.Get("a"), "2");
  ASSERT_TRUE(store.Delete("a").ok());
  EXPECT_EQ(*store.Get("a"), std::nullopt);
  EXPECT_TRUE(store.Delete("never-there").ok());
}

TYPED_TEST(KeyValueStoreTest, EmptyKeyAndEmptyValueAreValues) {
  KeyValueStore& store = *this->store_;
  ASSERT_TRUE(store.Put("", "empty key").ok());
  ASSERT_TRUE(store.Put("k", "").ok());
  EXPECT_EQ(*store.Get(""), "empty key");
  EXPECT_EQ(*store.Get("k"), std::optional<std::string>(""));
  EXPECT_EQ(*store.All(), (std::vector<KeyValue>{{"", "empty key"}, {"k", ""}}));
}

TYPED_TEST(KeyValueStoreTest, AllIsOrderedByUnsignedBytes) {
  KeyValueStore& store = *this->store_;
  const std::vector<std::string> sorted = {"\x00"s, "\x00\x00"s, "\x00\xff"s, "\x01"s, "A"s,
                                           "a"s,    "ab"s,       "\x7f"s,     "\x80"s, "\xfe"s,
                                           "\xff"s, "\xff\x00"s, "\xff\xff"s};
  // Insert in a scrambled order; values carry binary bytes too.
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& key = sorted[(i * 5) % sorted.size()];
    ASSERT_TRUE(store.Put(key, "\xff\x00"s + key).ok());
  }
  auto all = store.All();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Keys(*all), sorted);
  for (const KeyValue& kv : *all) EXPECT_EQ(kv.value, "\xff\x00"s + kv.key);
}

TYPED_TEST(KeyValueStoreTest, RangeIncludesBothEnds) {
  KeyValueStore& store = *this->store_;
  for (const std::string key : {"a", "b", "ba", "c", "d"}) ASSERT_TRUE(store.Put(key, key).ok());
  EXPECT_EQ(Keys(*store.Range("b", "c")), (std::vector<std::string>{"b", "ba", "c"}));
  EXPECT_EQ(Keys(*store.Range("a", "a")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(Keys(*store.Range("bb", "cc")), (std::vector<std::string>{"c"}));
  EXPECT_EQ(Keys(*store.Range("", "\xff"s)), (std::vector<std::string>{"a", "b", "ba", "c", "d"}));
  EXPECT_TRUE(store.Range("e", "z")->empty());
}

TYPED_TEST(KeyValueStoreTest, RangeWithBinaryBounds) {
  KeyValueStore& store = *this->store_;
  for (const std::string& key : {"\x00"s, "\x00\x00"s, "\x7f"s, "\x80"s, "\xff"s, "\xff\x00"s}) {
    ASSERT_TRUE(store.Put(key, "v").ok());
  }
  EXPECT_EQ(Keys(*store.Range("\x00"s, "\x00"s)), (std::vector<std::string>{"\x00"s}));
  EXPECT_EQ(Keys(*store.Range("\x00\x00"s, "\x80"s)),
            (std::vector<std::string>{"\x00\x00"s, "\x7f"s, "\x80"s}));
  EXPECT_EQ(Keys(*store.Range("\x80"s, "\xff"s)), (std::vector<std::string>{"\x80"s, "\xff"s}));
  EXPECT_EQ(Keys(*store.Range("\xff"s, "\xff\xff"s)),
            (std::vector<std::string>{"\xff"s, "\xff\x00"s}));
}

TYPED_TEST(KeyValueStoreTest, RangeWithFromAboveToIsEmpty) {
  KeyValueStore& store = *this->store_;
  ASSERT_TRUE(store.Put("m", "v").ok());
  auto range = store.Range("z", "a");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_TRUE(range->empty());
}

TYPED_TEST(KeyValueStoreTest, ApproximateNumEntriesCountsPuts) {
  KeyValueStore& store = *this->store_;
  EXPECT_EQ(store.ApproximateNumEntries(), 0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Put("k" + std::to_string(i), "v").ok());
  EXPECT_EQ(store.ApproximateNumEntries(), 10);
}

TYPED_TEST(KeyValueStoreTest, FlushSucceedsAndCallsAfterCloseFail) {
  KeyValueStore& store = *this->store_;
  ASSERT_TRUE(store.Put("a", "1").ok());
  EXPECT_TRUE(store.Flush().ok());
  store.Close();
  store.Close();  // idempotent
  EXPECT_EQ(store.Get("a").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.Put("a", "2").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.All().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.Flush().message().find("counts"), std::string::npos);
}

}  // namespace
}  // namespace runnel::streams
