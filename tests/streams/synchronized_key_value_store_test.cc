// SynchronizedKeyValueStore, on both backends: what the global stream thread writes while stream
// threads read. One writer puts keys in order while readers take All, Range and Get: every read
// sees a prefix of the writes, whole, and never less than an earlier read saw. Closing it while
// readers run makes their later calls fail with FailedPrecondition. (Run under ThreadSanitizer in
// CI: the wrapped stores are not synchronised themselves.)
#include "streams/state/synchronized_key_value_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/streams/store_test_util.h"

namespace runnel::streams {
namespace {

constexpr int kKeys = 2000;

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "k%05d", i);
  return buf;
}

template <typename Backend>
class SynchronizedKeyValueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<KeyValueStore> inner = backend_.KeyValue("global");
    ASSERT_NE(inner, nullptr);
    persistent_ = inner->persistent();
    store_ = std::make_unique<SynchronizedKeyValueStore>(std::move(inner));
  }
  Backend backend_;
  bool persistent_ = false;
  std::unique_ptr<SynchronizedKeyValueStore> store_;
};

TYPED_TEST_SUITE(SynchronizedKeyValueStoreTest, testing::Backends, testing::BackendNames);

TYPED_TEST(SynchronizedKeyValueStoreTest, ReadersSeeWholePrefixesOfTheWritesWhileTheyHappen) {
  KeyValueStore& store = *this->store_;
  EXPECT_EQ(store.name(), "global");
  EXPECT_EQ(store.persistent(), this->persistent_);
  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::thread writer([&] {
    while (started < 3) std::this_thread::yield();  // the readers run while it writes
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_TRUE(store.Put(Key(i), "v" + Key(i)).ok());
      if (i % 10 == 9) {
        ASSERT_TRUE(store.Delete(Key(i)).ok());  // every tenth goes again
      }
    }
    done = true;
  });
  // The writes up to some key, with the deletes among them (the last key may be one whose put
  // has happened and whose delete has not yet).
  auto check_prefix = [](const std::vector<KeyValue>& entries, int* seen) {
    int i = 0;
    for (size_t e = 0; e < entries.size(); ++e) {
      const KeyValue& kv = entries[e];
      const bool last = e + 1 == entries.size();
      if (i % 10 == 9 && !(last && kv.key == Key(i))) ++i;  // deleted
      ASSERT_EQ(kv.key, Key(i));
      ASSERT_EQ(kv.value, "v" + Key(i));
      ++i;
    }
    // Progress: the keys settled (a key still waiting for its delete is not).
    const int settled = i % 10 == 0 && i > 0 && entries.back().key == Key(i - 1) ? i - 1 : i;
    ASSERT_GE(settled, *seen) << "a later read saw fewer writes";
    *seen = settled;
  };
  std::vector<std::thread> readers;
  std::atomic<int> reads{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      int seen = 0;
      ++started;
      while (!done) {
        if (r == 0) {
          auto all = store.All();
          ASSERT_TRUE(all.ok()) << all.status();
          check_prefix(*all, &seen);
        } else if (r == 1) {
          auto range = store.Range(Key(0), Key(kKeys));
          ASSERT_TRUE(range.ok()) << range.status();
          check_prefix(*range, &seen);
        } else {
          const int i = reads % kKeys;
          auto v = store.Get(Key(i));
          ASSERT_TRUE(v.ok()) << v.status();
          if (v->has_value()) {
            ASSERT_EQ(**v, "v" + Key(i));
          }
        }
        ++reads;
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  auto all = store.All();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), static_cast<size_t>(kKeys - kKeys / 10));
  EXPECT_GT(store.ApproximateNumEntries(), 0);
  EXPECT_TRUE(store.Flush().ok());
}

TYPED_TEST(SynchronizedKeyValueStoreTest, CloseWhileOthersReadFailsTheirLaterCalls) {
  KeyValueStore& store = *this->store_;
  ASSERT_TRUE(store.Put("a", "1").ok());
  std::atomic<bool> closed{false};
  std::atomic<bool> failed_after_close{false};
  std::thread reader([&] {
    // Bounded: the store is closed within the first few reads at most a few ms in.
    for (int i = 0; i < 1'000'000 && !failed_after_close; ++i) {
      const bool was_closed = closed;
      auto v = store.Get("a");
      if (v.ok()) {
        ASSERT_FALSE(was_closed) << "read a closed store";
        ASSERT_EQ(*v, "1");
      } else {
        ASSERT_TRUE(absl::IsFailedPrecondition(v.status())) << v.status();
        failed_after_close = true;
      }
    }
  });
  store.Close();
  closed = true;
  reader.join();
  EXPECT_TRUE(failed_after_close);
  EXPECT_TRUE(absl::IsFailedPrecondition(store.Put("b", "2")));
  store.Close();  // idempotent
}

}  // namespace
}  // namespace runnel::streams
