// The session key format, and behaviour every SessionStore backend shares, checked on the
// in-memory and the RocksDB store; the changelog wrapper and restore of session stores.
#include "streams/state/session_store.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "streams/state/changelog.h"
#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

using namespace std::string_literals;
using Session = SessionStore::Session;

TEST(SessionKeyTest, IsKeyThenEndThenStartBigEndianWithTheSignBitFlipped) {
  EXPECT_EQ(SessionKey("ab", 5, 7),
            "ab\x80\x00\x00\x00\x00\x00\x00\x07\x80\x00\x00\x00\x00\x00\x00\x05"s);
  EXPECT_EQ(SessionKey("", -1, 0),
            "\x80\x00\x00\x00\x00\x00\x00\x00\x7f\xff\xff\xff\xff\xff\xff\xff"s);
  EXPECT_EQ(SessionKey("k", 0x0102030405060708, 0x0102030405060709),
            "k\x81\x02\x03\x04\x05\x06\x07\x09\x81\x02\x03\x04\x05\x06\x07\x08"s);
}

TEST(SessionKeyTest, ByteOrderIsEndThenStartOrder) {
  EXPECT_LT(SessionKey("k", 10, 10), SessionKey("k", 0, 11));
  EXPECT_LT(SessionKey("k", 0, 11), SessionKey("k", 5, 11));
  EXPECT_LT(SessionKey("k", -5, -1), SessionKey("k", 0, 0));
}

TEST(SessionKeyTest, SplitIsTheInverseAndRejectsShortKeys) {
  for (const std::string& key : {""s, "a"s, "\x00\xff"s, std::string(100, 'x')}) {
    auto parts = SplitSessionKey(SessionKey(key, -3, 1700000000000));
    ASSERT_TRUE(parts.ok()) << parts.status();
    EXPECT_EQ(parts->key, key);
    EXPECT_EQ(parts->start, -3);
    EXPECT_EQ(parts->end, 1700000000000);
  }
  auto by_hand =
      SplitSessionKey("xy\x80\x00\x00\x00\x00\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\xff"s);
  ASSERT_TRUE(by_hand.ok());
  EXPECT_EQ(by_hand->key, "xy");
  EXPECT_EQ(by_hand->end, 256);
  EXPECT_EQ(by_hand->start, 255);
  auto short_key = SplitSessionKey(std::string(15, '\0'));
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_key.status().message().find("15 bytes"), std::string::npos);
}

template <typename Backend>
class SessionStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SessionStore> Make(int64_t retention_ms) {
    return backend_.Session("sessions", retention_ms);
  }
  Backend backend_;
  testing::RecordingSink sink_;
};

TYPED_TEST_SUITE(SessionStoreTest, testing::Backends, testing::BackendNames);

TYPED_TEST(SessionStoreTest, PutFetchRemove) {
  auto store = this->Make(1000);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->name(), "sessions");
  EXPECT_EQ(store->retention_ms(), 1000);
  ASSERT_TRUE(store->Put("a", 0, 10, "1").ok());
  ASSERT_TRUE(store->Put("a", 20, 20, "2").ok());
  ASSERT_TRUE(store->Put("b", 0, 10, "3").ok());
  EXPECT_EQ(*store->FetchSession("a", 0, 10), "1");
  EXPECT_EQ(*store->FetchSession("a", 20, 20), "2");
  EXPECT_EQ(*store->FetchSession("a", 0, 11), std::nullopt);
  ASSERT_TRUE(store->Put("a", 0, 10, "4").ok());
  EXPECT_EQ(*store->FetchSession("a", 0, 10), "4");
  ASSERT_TRUE(store->Remove("a", 0, 10).ok());
  EXPECT_EQ(*store->FetchSession("a", 0, 10), std::nullopt);
  EXPECT_EQ(*store->FetchSession("b", 0, 10), "3");
  EXPECT_TRUE(store->Remove("zz", 1, 2).ok());
}

TYPED_TEST(SessionStoreTest, FindSessionsReturnsTheKeysSessionsOverlappingTheRangeByEnd) {
  auto store = this->Make(1'000'000);
  ASSERT_TRUE(store->Put("k", 0, 5, "a").ok());
  ASSERT_TRUE(store->Put("k", 10, 20, "b").ok());
  ASSERT_TRUE(store->Put("k", 30, 30, "c").ok());
  ASSERT_TRUE(store->Put("k", 12, 15, "d").ok());
  ASSERT_TRUE(store->Put("kk", 10, 20, "other key").ok());
  ASSERT_TRUE(store->Put("", 10, 20, "empty key").ok());
  // end >= 15 and start <= 25: [12, 15], [10, 20]; not [0, 5] (ends before), not [30, 30].
  EXPECT_EQ(*store->FindSessions("k", 15, 25),
            (std::vector<Session>{{"k", 12, 15, "d"}, {"k", 10, 20, "b"}}));
  // Both bounds inclusive.
  EXPECT_EQ(*store->FindSessions("k", 5, 10),
            (std::vector<Session>{{"k", 0, 5, "a"}, {"k", 10, 20, "b"}}));
  EXPECT_EQ(*store->FindSessions("k", 31, 100), std::vector<Session>{});
  EXPECT_EQ(*store->FindSessions("missing", 0, 100), std::vector<Session>{});
  EXPECT_EQ(*store->FindSessions("", 0, 100), (std::vector<Session>{{"", 10, 20, "empty key"}}));
}

TYPED_TEST(SessionStoreTest, AllIsOrderedByEndThenKeyThenStart) {
  auto store = this->Make(1'000'000);
  ASSERT_TRUE(store->Put("b", 5, 20, "1").ok());
  ASSERT_TRUE(store->Put("a", 10, 20, "2").ok());
  ASSERT_TRUE(store->Put("a", 0, 20, "3").ok());
  ASSERT_TRUE(store->Put("z", -10, -5, "4").ok());
  EXPECT_EQ(*store->All(),
            (std::vector<Session>{
                {"z", -10, -5, "4"}, {"a", 0, 20, "3"}, {"a", 10, 20, "2"}, {"b", 5, 20, "1"}}));
}

TYPED_TEST(SessionStoreTest, SessionsEndingBeforeStreamTimeMinusRetentionExpire) {
  auto store = this->Make(100);
  ASSERT_TRUE(store->Put("k", 0, 99, "old").ok());
  ASSERT_TRUE(store->Put("k", 50, 100, "edge").ok());
  store->ObserveStreamTime(200);  // oldest live end: 100
  EXPECT_EQ(*store->FetchSession("k", 0, 99), std::nullopt);
  EXPECT_EQ(*store->FetchSession("k", 50, 100), "edge");
  EXPECT_EQ(*store->FindSessions("k", 0, 1000), (std::vector<Session>{{"k", 50, 100, "edge"}}));
  ASSERT_TRUE(store->Put("k", 1, 98, "too late").ok());  // dropped
  EXPECT_EQ(store->All()->size(), 1u);
  store->ObserveStreamTime(100);  // stream time never goes back
  EXPECT_EQ(store->stream_time(), 200);
}

TYPED_TEST(SessionStoreTest, CallsAfterCloseFail) {
  auto store = this->Make(100);
  store->Close();
  EXPECT_EQ(store->Put("k", 0, 1, "v").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->FindSessions("k", 0, 1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(SessionStoreTest, LoggedStoreSendsSessionKeysAndRestoreRebuildsIt) {
  int64_t now = 1000;
  auto logged = LoggedSessionStore(this->Make(1'000'000), &this->sink_, [&now] { return now; });
  ASSERT_TRUE(logged->Put("a", 0, 10, "x").ok());
  ASSERT_TRUE(logged->Put("a", 20, 25, "y").ok());
  now = 2000;
  ASSERT_TRUE(logged->Remove("a", 0, 10).ok());
  ASSERT_TRUE(logged->Put("a", 0, 25, "xy").ok());
  ASSERT_TRUE(logged->Remove("a", 20, 25).ok());
  EXPECT_EQ(this->sink_.records,
            (std::vector<ChangelogRecord>{{SessionKey("a", 0, 10), "x", 1000},
                                          {SessionKey("a", 20, 25), "y", 1000},
                                          {SessionKey("a", 0, 10), std::nullopt, 2000},
                                          {SessionKey("a", 0, 25), "xy", 2000},
                                          {SessionKey("a", 20, 25), std::nullopt, 2000}}));
  EXPECT_EQ(this->sink_.stores, std::vector<std::string>(5, "sessions"));

  // Restored into the other backend kind's fresh store, in two batches.
  testing::InMemoryBackend memory;
  testing::RocksDbBackend rocksdb;
  std::vector<std::unique_ptr<SessionStore>> fresh;
  fresh.push_back(memory.Session("sessions", 1'000'000));
  fresh.push_back(rocksdb.Session("sessions", 1'000'000));
  for (std::unique_ptr<SessionStore>& restored : fresh) {
    ASSERT_NE(restored, nullptr);
    const auto& records = this->sink_.records;
    ASSERT_TRUE(RestoreSession(*restored, {records.begin(), records.begin() + 2}).ok());
    ASSERT_TRUE(RestoreSession(*restored, {records.begin() + 2, records.end()}).ok());
    EXPECT_EQ(*restored->All(), (std::vector<Session>{{"a", 0, 25, "xy"}}));
    EXPECT_EQ(*restored->All(), *logged->All());
  }
}

TYPED_TEST(SessionStoreTest, RestoreRejectsAKeyTooShortForASession) {
  auto restored = this->Make(100);
  absl::Status s = RestoreSession(*restored, {{SessionKey("k", 0, 1), "ok", 7}, {"short", "x", 8}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("sessions"), std::string::npos) << s;
  EXPECT_NE(s.message().find("5 bytes"), std::string::npos) << s;
  EXPECT_EQ(*restored->FetchSession("k", 0, 1), "ok");
}

TEST(RocksDbSessionStoreTest, ReopenKeepsSessionsAndSegmentsDropWhenExpired) {
  testing::TempDir dir;
  {
    auto store = OpenRocksDbSessionStore("s", dir.Sub("db"), 1000);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Put("k", 0, 10, "early").ok());
    ASSERT_TRUE((*store)->Put("k", 200'000, 200'005, "late").ok());
  }
  auto store = OpenRocksDbSessionStore("s", dir.Sub("db"), 1000);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->All(),
            (std::vector<Session>{{"k", 0, 10, "early"}, {"k", 200'000, 200'005, "late"}}));
  (*store)->ObserveStreamTime(200'005);
  EXPECT_EQ(*(*store)->All(), (std::vector<Session>{{"k", 200'000, 200'005, "late"}}));
  (*store)->Close();
  // The segment of the expired session was dropped, not just hidden.
  auto reopened = OpenRocksDbSessionStore("s", dir.Sub("db"), 1000);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->All()->size(), 1u);
}

}  // namespace
}  // namespace runnel::streams
