// Record caches: writes collapse per key until a flush, reads see the cache over the store, and
// flushes pass the dedup'd updates on with the values they replace (inner stores of both
// backends).
#include "streams/state/caching_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "streams/state/changelog.h"
#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;
using Entry = WindowStore::Entry;
using testing::RecordingSink;

struct Flushed {
  std::string key;
  int64_t window_start = 0;
  std::optional<std::string> new_value;
  std::optional<std::string> old_value;

  friend bool operator==(const Flushed&, const Flushed&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Flushed& f) {
    return os << "{" << f.key << "@" << f.window_start << " " << f.new_value.value_or("<none>")
              << " (was " << f.old_value.value_or("<none>") << ")}";
  }
};

template <typename Backend>
class CachingStoreTest : public ::testing::Test {
 protected:
  // A caching store over a fresh store of the backend; inner_ points at the inner store.
  std::unique_ptr<KeyValueStore> CachedKeyValue(size_t max_bytes) {
    auto inner = backend_.KeyValue("counts");
    kv_inner_ = inner.get();
    return CachingKeyValueStore(
        std::move(inner), max_bytes,
        [this](const std::string& key, const auto& new_value, const auto& old_value) {
          flushed_.push_back(Flushed{key, 0, new_value, old_value});
        });
  }
  std::unique_ptr<WindowStore> CachedWindow(size_t max_bytes, int64_t retention_ms) {
    auto inner = backend_.Window("windows", retention_ms);
    window_inner_ = inner.get();
    return CachingWindowStore(std::move(inner), max_bytes,
                              [this](const std::string& key, int64_t start, const auto& new_value,
                                     const auto& old_value) {
                                flushed_.push_back(Flushed{key, start, new_value, old_value});
                              });
  }

  Backend backend_;
  KeyValueStore* kv_inner_ = nullptr;
  WindowStore* window_inner_ = nullptr;
  std::vector<Flushed> flushed_;
};

TYPED_TEST_SUITE(CachingStoreTest, testing::Backends, testing::BackendNames);

constexpr size_t kLarge = 1 << 20;

TYPED_TEST(CachingStoreTest, RepeatedPutsFlushOnceWithTheLastValueAndTheStoredOldValue) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(this->kv_inner_->Put("k", "v0").ok());
  for (const char* v : {"v1", "v2", "v3"}) ASSERT_TRUE(store->Put("k", v).ok());
  EXPECT_TRUE(this->flushed_.empty());
  EXPECT_EQ(*this->kv_inner_->Get("k"), "v0");  // not written down yet
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_, (std::vector<Flushed>{{"k", 0, "v3", "v0"}}));
  EXPECT_EQ(*this->kv_inner_->Get("k"), "v3");
  // Nothing dirty: a second flush passes nothing on.
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_.size(), 1u);
}

TYPED_TEST(CachingStoreTest, GetSeesCachedAndStoredData) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(this->kv_inner_->Put("stored", "1").ok());
  ASSERT_TRUE(store->Put("cached", "2").ok());
  EXPECT_EQ(*store->Get("stored"), "1");
  EXPECT_EQ(*store->Get("cached"), "2");
  EXPECT_EQ(*store->Get("missing"), std::nullopt);
  ASSERT_TRUE(store->Delete("stored").ok());
  EXPECT_EQ(*store->Get("stored"), std::nullopt);  // the cached delete hides it
  EXPECT_EQ(*this->kv_inner_->Get("stored"), "1");
}

TYPED_TEST(CachingStoreTest, RangeAndAllOverlayTheCacheOnTheStore) {
  auto store = this->CachedKeyValue(kLarge);
  for (const char* k : {"a", "b", "c", "d"}) ASSERT_TRUE(this->kv_inner_->Put(k, "old").ok());
  ASSERT_TRUE(store->Put("b", "new").ok());
  ASSERT_TRUE(store->Delete("c").ok());
  ASSERT_TRUE(store->Put("bb", "new").ok());
  ASSERT_TRUE(store->Put("\xff"s, "new").ok());
  ASSERT_TRUE(store->Put("\x00"s, "new").ok());
  EXPECT_EQ(*store->Range("b", "d"),
            (std::vector<KeyValue>{{"b", "new"}, {"bb", "new"}, {"d", "old"}}));
  EXPECT_EQ(*store->All(), (std::vector<KeyValue>{{"\x00"s, "new"},
                                                  {"a", "old"},
                                                  {"b", "new"},
                                                  {"bb", "new"},
                                                  {"d", "old"},
                                                  {"\xff"s, "new"}}));
  EXPECT_TRUE(store->Range("x", "a")->empty());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(*this->kv_inner_->All(), *store->All());
}

TYPED_TEST(CachingStoreTest, FlushGoesInTheOrderOfLastWrites) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(store->Put("a", "1").ok());
  ASSERT_TRUE(store->Put("b", "1").ok());
  ASSERT_TRUE(store->Put("c", "1").ok());
  ASSERT_TRUE(store->Put("a", "2").ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_, (std::vector<Flushed>{{"b", 0, "1", std::nullopt},
                                                  {"c", 0, "1", std::nullopt},
                                                  {"a", 0, "2", std::nullopt}}));
}

TYPED_TEST(CachingStoreTest, ExceedingMaxBytesFlushesEveryDirtyEntry) {
  // Each entry costs 1 + 1 + 64 = 66 bytes: three fit in 200, a fourth does not.
  auto store = this->CachedKeyValue(200);
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(store->Put(k, "1").ok());
  ASSERT_TRUE(store->Put("a", "2").ok());  // an overwrite costs nothing more
  EXPECT_TRUE(this->flushed_.empty());
  ASSERT_TRUE(store->Put("d", "1").ok());
  EXPECT_EQ(this->flushed_.size(), 4u);
  EXPECT_EQ(this->flushed_.back(), (Flushed{"d", 0, "1", std::nullopt}));
  EXPECT_EQ(this->kv_inner_->All()->size(), 4u);
}

TYPED_TEST(CachingStoreTest, ZeroMaxBytesPassesEveryWriteOnAtOnce) {
  auto store = this->CachedKeyValue(0);
  ASSERT_TRUE(store->Put("k", "1").ok());
  ASSERT_TRUE(store->Put("k", "2").ok());
  ASSERT_TRUE(store->Delete("k").ok());
  EXPECT_EQ(this->flushed_,
            (std::vector<Flushed>{
                {"k", 0, "1", std::nullopt}, {"k", 0, "2", "1"}, {"k", 0, std::nullopt, "2"}}));
  EXPECT_EQ(*this->kv_inner_->Get("k"), std::nullopt);
}

TYPED_TEST(CachingStoreTest, DeleteOfAStoredKeyPassesOnATombstoneWithTheOldValue) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(this->kv_inner_->Put("k", "v").ok());
  ASSERT_TRUE(store->Put("k", "w").ok());
  ASSERT_TRUE(store->Delete("k").ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_, (std::vector<Flushed>{{"k", 0, std::nullopt, "v"}}));
  EXPECT_EQ(*this->kv_inner_->Get("k"), std::nullopt);
}

TYPED_TEST(CachingStoreTest, PutThenDeleteOfANewKeyIsNeitherWrittenNorPassedOn) {
  RecordingSink sink;
  auto store = CachingKeyValueStore(
      LoggedKeyValueStore(this->backend_.KeyValue("counts"), &sink, [] { return 7; }), kLarge,
      [this](const std::string& key, const auto& new_value, const auto& old_value) {
        this->flushed_.push_back(Flushed{key, 0, new_value, old_value});
      });
  ASSERT_TRUE(store->Put("k", "v").ok());
  ASSERT_TRUE(store->Delete("k").ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_TRUE(this->flushed_.empty());
  EXPECT_TRUE(sink.records.empty());
}

TYPED_TEST(CachingStoreTest, OverALoggedStoreTheChangelogGetsOneRecordPerFlushedKey) {
  RecordingSink sink;
  int64_t now = 100;
  auto store = CachingKeyValueStore(
      LoggedKeyValueStore(this->backend_.KeyValue("counts"), &sink, [&now] { return now; }), kLarge,
      nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Put("a", std::to_string(i)).ok());
  ASSERT_TRUE(store->Put("b", "x").ok());
  EXPECT_TRUE(sink.records.empty());
  now = 200;
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(sink.records, (std::vector<ChangelogRecord>{{"a", "9", 200}, {"b", "x", 200}}));
}

TYPED_TEST(CachingStoreTest, WritesMadeByOnFlushWaitForTheNextFlush) {
  std::vector<std::string> seen;
  KeyValueStore* self = nullptr;
  auto store =
      CachingKeyValueStore(this->backend_.KeyValue("counts"), kLarge,
                           [&](const std::string& key, const auto& new_value, const auto&) {
                             seen.push_back(key);
                             if (key.rfind("derived-", 0) != 0) {
                               ASSERT_TRUE(self->Put("derived-" + key, *new_value).ok());
                             }
                           });
  self = store.get();
  ASSERT_TRUE(store->Put("a", "1").ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(seen, std::vector<std::string>{"a"});
  EXPECT_EQ(*store->Get("derived-a"), "1");
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "derived-a"}));
}

TYPED_TEST(CachingStoreTest, CloseDropsDirtyEntriesWithoutPassingThemOn) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(store->Put("k", "v").ok());
  store->Close();
  EXPECT_TRUE(this->flushed_.empty());
  EXPECT_EQ(store->Put("k", "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Get("k").status().code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(CachingStoreTest, AFailedWriteDownReturnsTheErrorAndKeepsTheEntry) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(store->Put("k", "v").ok());
  this->kv_inner_->Close();
  absl::Status s = store->Flush();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("counts"), std::string::npos) << s;
  EXPECT_TRUE(this->flushed_.empty());
  EXPECT_EQ(*store->Get("k"), "v");  // still dirty in the cache
}

TYPED_TEST(CachingStoreTest, ApproximateNumEntriesCountsCachedPuts) {
  auto store = this->CachedKeyValue(kLarge);
  ASSERT_TRUE(this->kv_inner_->Put("a", "1").ok());
  ASSERT_TRUE(store->Put("b", "1").ok());
  EXPECT_EQ(store->ApproximateNumEntries(), 2);
}

// --- Window stores ---------------------------------------------------------------------------

TYPED_TEST(CachingStoreTest, RepeatedPutsToAWindowFlushOnce) {
  auto store = this->CachedWindow(kLarge, 1000);
  ASSERT_TRUE(this->window_inner_->Put("k", 10, "v0").ok());
  for (const char* v : {"v1", "v2", "v3"}) ASSERT_TRUE(store->Put("k", 10, v).ok());
  ASSERT_TRUE(store->Put("k", 20, "w").ok());
  EXPECT_TRUE(this->flushed_.empty());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_,
            (std::vector<Flushed>{{"k", 10, "v3", "v0"}, {"k", 20, "w", std::nullopt}}));
  EXPECT_EQ(*this->window_inner_->Fetch("k", 10), "v3");
}

TYPED_TEST(CachingStoreTest, WindowReadsOverlayTheCacheOnTheStore) {
  auto store = this->CachedWindow(kLarge, 1000);
  for (int64_t start : {0, 10, 20}) {
    ASSERT_TRUE(this->window_inner_->Put("k", start, "old").ok());
    ASSERT_TRUE(this->window_inner_->Put("j", start, "old").ok());
  }
  ASSERT_TRUE(store->Put("k", 10, "new").ok());
  ASSERT_TRUE(store->Delete("k", 20).ok());
  ASSERT_TRUE(store->Put("k", 15, "new").ok());
  ASSERT_TRUE(store->Put("a", 20, "new").ok());
  ASSERT_TRUE(store->Put("k\x80"s, 10, "new").ok());  // a key extending "k"
  EXPECT_EQ(*store->Fetch("k", 10), "new");
  EXPECT_EQ(*store->Fetch("k", 0), "old");
  EXPECT_EQ(*store->Fetch("k", 20), std::nullopt);
  EXPECT_EQ(*store->Fetch("k", 0, 100),
            (std::vector<Entry>{{"k", 0, "old"}, {"k", 10, "new"}, {"k", 15, "new"}}));
  EXPECT_EQ(*store->FetchAll(10, 20), (std::vector<Entry>{{"j", 10, "old"},
                                                          {"k", 10, "new"},
                                                          {"k\x80"s, 10, "new"},
                                                          {"k", 15, "new"},
                                                          {"a", 20, "new"},
                                                          {"j", 20, "old"}}));
  EXPECT_EQ(store->All()->size(), 8u);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(*this->window_inner_->All(), *store->All());
}

TYPED_TEST(CachingStoreTest, DirtyWindowsAreFlushedBeforeTheyExpire) {
  auto store = this->CachedWindow(kLarge, 100);
  ASSERT_TRUE(this->window_inner_->Put("k", 0, "v0").ok());
  ASSERT_TRUE(store->Put("k", 0, "v1").ok());
  ASSERT_TRUE(store->Put("k", 150, "w").ok());
  store->ObserveStreamTime(90);  // window 0 still live: nothing happens
  EXPECT_TRUE(this->flushed_.empty());
  store->ObserveStreamTime(200);  // window 0 expires: its update goes down first
  EXPECT_EQ(this->flushed_,
            (std::vector<Flushed>{{"k", 0, "v1", "v0"}, {"k", 150, "w", std::nullopt}}));
  EXPECT_EQ(store->stream_time(), 200);
  EXPECT_EQ(*store->Fetch("k", 0), std::nullopt);
  EXPECT_EQ(*store->All(), (std::vector<Entry>{{"k", 150, "w"}}));
}

TYPED_TEST(CachingStoreTest, ExpiredWindowsAreNeverReturnedFromTheCache) {
  auto store = this->CachedWindow(kLarge, 100);
  store->ObserveStreamTime(1000);
  ASSERT_TRUE(store->Put("k", 10, "late").ok());  // expired: dropped
  ASSERT_TRUE(store->Put("k", 950, "live").ok());
  EXPECT_EQ(*store->Fetch("k", 10), std::nullopt);
  EXPECT_EQ(*store->Fetch("k", 0, 2000), (std::vector<Entry>{{"k", 950, "live"}}));
  EXPECT_EQ(*store->All(), (std::vector<Entry>{{"k", 950, "live"}}));
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(this->flushed_, (std::vector<Flushed>{{"k", 950, "live", std::nullopt}}));
}

TYPED_TEST(CachingStoreTest, WindowCacheWithZeroMaxBytesPassesEveryWriteOn) {
  auto store = this->CachedWindow(0, 1000);
  ASSERT_TRUE(store->Put("k", 0, "1").ok());
  ASSERT_TRUE(store->Put("k", 0, "2").ok());
  ASSERT_TRUE(store->Delete("k", 0).ok());
  EXPECT_EQ(this->flushed_,
            (std::vector<Flushed>{
                {"k", 0, "1", std::nullopt}, {"k", 0, "2", "1"}, {"k", 0, std::nullopt, "2"}}));
}

TYPED_TEST(CachingStoreTest, WindowCacheOverALoggedStoreLogsOnlyFlushedWindows) {
  RecordingSink sink;
  auto store = CachingWindowStore(
      LoggedWindowStore(this->backend_.Window("windows", 1000), &sink, [] { return 5; }), kLarge,
      nullptr);
  ASSERT_TRUE(store->Put("k", 0, "1").ok());
  ASSERT_TRUE(store->Put("k", 0, "2").ok());
  EXPECT_TRUE(sink.records.empty());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(sink.records, (std::vector<ChangelogRecord>{{WindowedKey("k", 0), "2", 5}}));
}

}  // namespace
}  // namespace runnel::streams
