// The windowed key format, and behaviour every WindowStore backend shares, checked on the
// in-memory and the RocksDB store.
#include "streams/state/window_store.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;
using Entry = WindowStore::Entry;

std::vector<int64_t> Starts(const absl::StatusOr<std::vector<Entry>>& entries) {
  EXPECT_TRUE(entries.ok()) << entries.status();
  std::vector<int64_t> starts;
  if (entries.ok()) {
    for (const Entry& e : *entries) starts.push_back(e.window_start);
  }
  return starts;
}

TEST(WindowedKeyTest, IsKeyThenStartBigEndianWithTheSignBitFlipped) {
  EXPECT_EQ(WindowedKey("ab", 5), "ab\x80\x00\x00\x00\x00\x00\x00\x05"s);
  EXPECT_EQ(WindowedKey("", 0), "\x80\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(WindowedKey("k", 0x0102030405060708), "k\x81\x02\x03\x04\x05\x06\x07\x08"s);
  EXPECT_EQ(WindowedKey("", -1), "\x7f\xff\xff\xff\xff\xff\xff\xff"s);
  EXPECT_EQ(WindowedKey("\x00"s, std::numeric_limits<int64_t>::min()), std::string(9, '\0'));
  EXPECT_EQ(WindowedKey("", std::numeric_limits<int64_t>::max()), std::string(8, '\xff'));
}

TEST(WindowedKeyTest, ByteOrderIsNumericOrderOfStarts) {
  const std::vector<int64_t> starts = {
      std::numeric_limits<int64_t>::min(), -1000, -1, 0, 1, 255, 256, 1700000000000,
      std::numeric_limits<int64_t>::max()};
  for (size_t i = 1; i < starts.size(); ++i) {
    EXPECT_LT(WindowedKey("k", starts[i - 1]), WindowedKey("k", starts[i])) << starts[i];
  }
}

TEST(WindowedKeyTest, SplitIsTheInverse) {
  for (const std::string& key : {""s, "a"s, "\x00\xff"s, std::string(100, 'x')}) {
    for (int64_t start : {int64_t{0}, int64_t{-5}, int64_t{1700000000000}}) {
      auto split = SplitWindowedKey(WindowedKey(key, start));
      ASSERT_TRUE(split.ok()) << split.status();
      EXPECT_EQ(split->first, key);
      EXPECT_EQ(split->second, start);
    }
  }
  auto by_hand = SplitWindowedKey("xy\x80\x00\x00\x00\x00\x00\x01\x00"s);
  ASSERT_TRUE(by_hand.ok());
  EXPECT_EQ(by_hand->first, "xy");
  EXPECT_EQ(by_hand->second, 256);
}

TEST(WindowedKeyTest, SplitRejectsKeysShorterThanTheStart) {
  auto split = SplitWindowedKey("1234567");
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(split.status().message().find("7 bytes"), std::string::npos) << split.status();
}

TEST(WindowedKeyTest, OldestLiveWindowStartSaturates) {
  EXPECT_EQ(OldestLiveWindowStart(100, 30), 70);
  EXPECT_EQ(OldestLiveWindowStart(std::numeric_limits<int64_t>::min(), 30),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(OldestLiveWindowStart(0, std::numeric_limits<int64_t>::max()),
            -std::numeric_limits<int64_t>::max());
}

template <typename Backend>
class WindowStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<WindowStore> Make(int64_t retention_ms) {
    return backend_.Window("windows", retention_ms);
  }
  Backend backend_;
};

TYPED_TEST_SUITE(WindowStoreTest, testing::Backends, testing::BackendNames);

TYPED_TEST(WindowStoreTest, PutFetchDelete) {
  auto store = this->Make(1000);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->name(), "windows");
  EXPECT_EQ(store->retention_ms(), 1000);
  EXPECT_EQ(*store->Fetch("a", 0), std::nullopt);
  ASSERT_TRUE(store->Put("a", 0, "1").ok());
  ASSERT_TRUE(store->Put("a", 10, "2").ok());
  ASSERT_TRUE(store->Put("b", 0, "3").ok());
  EXPECT_EQ(*store->Fetch("a", 0), "1");
  EXPECT_EQ(*store->Fetch("a", 10), "2");
  EXPECT_EQ(*store->Fetch("b", 0), "3");
  EXPECT_EQ(*store->Fetch("b", 10), std::nullopt);
  ASSERT_TRUE(store->Put("a", 0, "4").ok());
  EXPECT_EQ(*store->Fetch("a", 0), "4");
  ASSERT_TRUE(store->Delete("a", 0).ok());
  EXPECT_EQ(*store->Fetch("a", 0), std::nullopt);
  EXPECT_EQ(*store->Fetch("a", 10), "2");
  EXPECT_TRUE(store->Delete("zz", 99).ok());
}

TYPED_TEST(WindowStoreTest, FetchRangeIsInclusiveAndOrderedByStart) {
  auto store = this->Make(1'000'000);
  for (int64_t start : {500, 0, 300, 100, 200, 400}) {
    ASSERT_TRUE(store->Put("k", start, "v" + std::to_string(start)).ok());
  }
  ASSERT_TRUE(store->Put("other", 200, "x").ok());
  EXPECT_EQ(*store->Fetch("k", 100, 300),
            (std::vector<Entry>{{"k", 100, "v100"}, {"k", 200, "v200"}, {"k", 300, "v300"}}));
  EXPECT_EQ(*store->Fetch("k", 101, 199), std::vector<Entry>{});
  EXPECT_EQ(store->Fetch("k", 0, 1000)->size(), 6u);
  EXPECT_EQ(*store->Fetch("k", 300, 100), std::vector<Entry>{});
  EXPECT_EQ(*store->Fetch("missing", 0, 1000), std::vector<Entry>{});
}

TYPED_TEST(WindowStoreTest, FetchDoesNotMixKeysThatArePrefixesOfEachOther) {
  // In the byte layout, "a"'s windows sit among those of "a\x80..." and "a\x00...": the store must
  // return exactly the windows of the key asked for.
  auto store = this->Make(1'000'000);
  const std::vector<std::string> keys = {"a"s,     "a\x80"s, "a\x80\x00\x00\x00\x00\x00\x00\x00"s,
                                         "a\x00"s, ""s,      "\x80"s};
  for (const std::string& key : keys) {
    for (int64_t start : {0, 1, 256}) ASSERT_TRUE(store->Put(key, start, key + "@").ok());
  }
  for (const std::string& key : keys) {
    auto got = store->Fetch(key, 0, 1000);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 3u) << testing::Hex(key);
    for (const Entry& e : *got) {
      EXPECT_EQ(e.key, key);
      EXPECT_EQ(e.value, key + "@");
    }
    EXPECT_EQ((*got)[0].window_start, 0);
    EXPECT_EQ((*got)[2].window_start, 256);
  }
}

TYPED_TEST(WindowStoreTest, FetchAllAndAllAreOrderedByStartThenKey) {
  auto store = this->Make(1'000'000);
  ASSERT_TRUE(store->Put("b", 10, "b10").ok());
  ASSERT_TRUE(store->Put("a", 20, "a20").ok());
  ASSERT_TRUE(store->Put("\xff"s, 10, "ff10").ok());
  ASSERT_TRUE(store->Put("a", 10, "a10").ok());
  ASSERT_TRUE(store->Put("c", 30, "c30").ok());
  EXPECT_EQ(*store->FetchAll(10, 20),
            (std::vector<Entry>{
                {"a", 10, "a10"}, {"b", 10, "b10"}, {"\xff"s, 10, "ff10"}, {"a", 20, "a20"}}));
  EXPECT_EQ(store->All()->size(), 5u);
  EXPECT_EQ(store->All()->back(), (Entry{"c", 30, "c30"}));
  EXPECT_EQ(*store->FetchAll(21, 29), std::vector<Entry>{});
}

TYPED_TEST(WindowStoreTest, NegativeStartsKeepNumericOrder) {
  auto store = this->Make(1'000'000);
  for (int64_t start : {5, -1, 0, -300, 2}) ASSERT_TRUE(store->Put("k", start, "v").ok());
  EXPECT_EQ(Starts(store->Fetch("k", -1000, 1000)), (std::vector<int64_t>{-300, -1, 0, 2, 5}));
  EXPECT_EQ(store->FetchAll(-300, -1)->size(), 2u);
}

TYPED_TEST(WindowStoreTest, ExpiredWindowsAreNeverReturned) {
  auto store = this->Make(100);
  EXPECT_EQ(store->stream_time(), std::numeric_limits<int64_t>::min());
  for (int64_t start = 0; start <= 500; start += 50) {
    ASSERT_TRUE(store->Put("k", start, std::to_string(start)).ok());
    ASSERT_TRUE(store->Put("j", start, std::to_string(start)).ok());
  }
  // Put does not advance stream time: everything is still there.
  EXPECT_EQ(store->All()->size(), 22u);
  store->ObserveStreamTime(420);
  EXPECT_EQ(store->stream_time(), 420);
  // Live: start >= 420 - 100 = 320, i.e. 350, 400, 450, 500.
  EXPECT_EQ(*store->Fetch("k", 300), std::nullopt);
  EXPECT_EQ(*store->Fetch("k", 0), std::nullopt);
  EXPECT_EQ(*store->Fetch("k", 350), "350");
  EXPECT_EQ(Starts(store->Fetch("k", 0, 1000)), (std::vector<int64_t>{350, 400, 450, 500}));
  EXPECT_EQ(store->FetchAll(0, 1000)->size(), 8u);
  EXPECT_EQ(store->All()->size(), 8u);
  EXPECT_EQ(store->All()->front().window_start, 350);
  // Stream time never goes back.
  store->ObserveStreamTime(0);
  EXPECT_EQ(store->stream_time(), 420);
  EXPECT_EQ(*store->Fetch("k", 300), std::nullopt);
  // Much later, everything has expired.
  store->ObserveStreamTime(10'000);
  EXPECT_TRUE(store->All()->empty());
  EXPECT_TRUE(store->Fetch("k", 0, 100'000)->empty());
}

TYPED_TEST(WindowStoreTest, ExpiryBoundaryIsStartBelowStreamTimeMinusRetention) {
  auto store = this->Make(100);
  store->ObserveStreamTime(1000);
  ASSERT_TRUE(store->Put("k", 900, "live").ok());  // 900 == 1000 - 100: still live
  ASSERT_TRUE(store->Put("k", 899, "expired").ok());
  EXPECT_EQ(*store->Fetch("k", 900), "live");
  EXPECT_EQ(*store->Fetch("k", 899), std::nullopt);
  EXPECT_EQ(store->All()->size(), 1u);
}

TYPED_TEST(WindowStoreTest, PutToAnExpiredWindowIsDropped) {
  auto store = this->Make(100);
  store->ObserveStreamTime(1000);
  EXPECT_TRUE(store->Put("k", 10, "late").ok());
  EXPECT_TRUE(store->All()->empty());
  // Even a longer retention view later does not bring it back (it was never stored).
  EXPECT_EQ(*store->Fetch("k", 10), std::nullopt);
}

TYPED_TEST(WindowStoreTest, ZeroRetentionKeepsOnlyWindowsAtStreamTime) {
  auto store = this->Make(0);
  store->ObserveStreamTime(50);
  ASSERT_TRUE(store->Put("k", 50, "now").ok());
  ASSERT_TRUE(store->Put("k", 49, "past").ok());
  EXPECT_EQ(*store->All(), (std::vector<Entry>{{"k", 50, "now"}}));
}

TYPED_TEST(WindowStoreTest, CallsAfterCloseFail) {
  auto store = this->Make(100);
  ASSERT_TRUE(store->Put("k", 0, "v").ok());
  EXPECT_TRUE(store->Flush().ok());
  store->Close();
  store->Close();
  EXPECT_EQ(store->Put("k", 0, "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Fetch("k", 0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->All().status().code(), absl::StatusCode::kFailedPrecondition);
  store->ObserveStreamTime(1000);  // harmless
}

}  // namespace
}  // namespace runnel::streams
