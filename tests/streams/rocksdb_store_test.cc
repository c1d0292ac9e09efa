// What only the RocksDB stores do: keep data across a close and reopen, refuse a second open of
// the same directory, and drop whole segments of expired windows.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "rocksdb/db.h"
#include "streams/state/key_value_store.h"
#include "streams/state/window_store.h"
#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;
using testing::TempDir;

// The column families of the (closed) database in `dir`.
std::vector<std::string> Families(const std::string& dir) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RocksDbStoreTest, KeyValueStoreKeepsItsDataAfterCloseAndReopen) {
  TempDir tmp;
  const std::string dir = tmp.Sub("app/0_1/rocksdb/counts");  // parents are created
  {
    auto store = OpenRocksDbKeyValueStore("counts", dir);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE((*store)->persistent());
    ASSERT_TRUE((*store)->Put("a", "1").ok());
    ASSERT_TRUE((*store)->Put("\xff"s, "\x00"s).ok());
    ASSERT_TRUE((*store)->Put("gone", "x").ok());
    ASSERT_TRUE((*store)->Delete("gone").ok());
    (*store)->Close();
  }
  auto reopened = OpenRocksDbKeyValueStore("counts", dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->All(), (std::vector<KeyValue>{{"a", "1"}, {"\xff"s, "\x00"s}}));
}

TEST(RocksDbStoreTest, KeyValueStoreDestroyedWithoutCloseKeepsFlushedData) {
  TempDir tmp;
  {
    auto store = OpenRocksDbKeyValueStore("counts", tmp.path());
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put("a", "1").ok());
    ASSERT_TRUE((*store)->Flush().ok());
  }
  auto reopened = OpenRocksDbKeyValueStore("counts", tmp.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->Get("a"), "1");
}

TEST(RocksDbStoreTest, OpeningTheSameDirectoryTwiceIsAClearError) {
  TempDir tmp;
  const std::string dir = tmp.Sub("counts");
  auto first = OpenRocksDbKeyValueStore("counts", dir);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = OpenRocksDbKeyValueStore("counts", dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("store counts"), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find(dir), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find("lock"), std::string::npos) << second.status();
  // The first one is unaffected, and once it is closed the directory opens again.
  ASSERT_TRUE((*first)->Put("a", "1").ok());
  (*first)->Close();
  auto third = OpenRocksDbKeyValueStore("counts", dir);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*(*third)->Get("a"), "1");
}

TEST(RocksDbStoreTest, OpeningWhereAFileIsIsAClearError) {
  TempDir tmp;
  const std::string file = tmp.Sub("not-a-dir");
  std::ofstream(file) << "x";
  auto store = OpenRocksDbKeyValueStore("counts", file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(file), std::string::npos) << store.status();
  auto under = OpenRocksDbWindowStore("windows", file + "/sub", 100);
  ASSERT_FALSE(under.ok());
  EXPECT_NE(under.status().message().find(file + "/sub"), std::string::npos) << under.status();
}

TEST(RocksDbStoreTest, WindowStoreKeepsItsDataAfterCloseAndReopen) {
  TempDir tmp;
  {
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 1000);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put("a", 0, "a0").ok());
    ASSERT_TRUE((*store)->Put("a", 700, "a700").ok());
    ASSERT_TRUE((*store)->Put("b", 1400, "b1400").ok());
    (*store)->Close();
  }
  auto reopened = OpenRocksDbWindowStore("windows", tmp.path(), 1000);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->All(), (std::vector<WindowStore::Entry>{
                                     {"a", 0, "a0"}, {"a", 700, "a700"}, {"b", 1400, "b1400"}}));
  EXPECT_EQ(*(*reopened)->Fetch("a", 700), "a700");
}

TEST(RocksDbStoreTest, WindowStoreDropsWholeExpiredSegments) {
  TempDir tmp;
  {
    // retention 200 s: segments are 100 s wide.
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 200'000);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int64_t start : {0, 120'000, 240'000, 360'000}) {
      ASSERT_TRUE((*store)->Put("k", start, "v").ok());
    }
    (*store)->ObserveStreamTime(460'000);  // oldest live start 260 s, in segment 2
    // 240 s (segment 2) is filtered out, 360 s stays.
    EXPECT_EQ(*(*store)->All(), (std::vector<WindowStore::Entry>{{"k", 360'000, "v"}}));
    (*store)->Close();
  }
  EXPECT_EQ(Families(tmp.path()), (std::vector<std::string>{"default", "segment-2", "segment-3"}));
}

TEST(RocksDbStoreTest, WindowStoreSegmentsAreAtLeastAMinuteWide) {
  TempDir tmp;
  {
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 100);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int64_t start = 0; start < 60'000; start += 1000) {
      ASSERT_TRUE((*store)->Put("k", start, "v").ok());
    }
    ASSERT_TRUE((*store)->Put("k", 60'000, "v").ok());
  }
  EXPECT_EQ(Families(tmp.path()), (std::vector<std::string>{"default", "segment-0", "segment-1"}));
}

TEST(RocksDbStoreTest, WindowStoreKeepsItsSegmentIntervalWhenReopenedWithOtherRetention) {
  TempDir tmp;
  {
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 200'000);  // 100 s segments
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put("k", 150'000, "v").ok());  // segment 1
  }
  {
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 10'000'000);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->Fetch("k", 150'000), "v");
    ASSERT_TRUE((*store)->Put("k", 250'000, "w").ok());  // segment 2 of 100 s, not 0 of 5000 s
  }
  EXPECT_EQ(Families(tmp.path()), (std::vector<std::string>{"default", "segment-1", "segment-2"}));
}

TEST(RocksDbStoreTest, KeyValueStoreRefusesAWindowStoresDatabase) {
  TempDir tmp;
  {
    auto store = OpenRocksDbWindowStore("windows", tmp.path(), 100);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put("k", 0, "v").ok());
  }
  auto kv = OpenRocksDbKeyValueStore("windows", tmp.path());
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(kv.status().message().find("column families"), std::string::npos) << kv.status();
}

}  // namespace
}  // namespace runnel::streams
