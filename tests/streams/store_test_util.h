// Shared by the state store tests: temporary directories, the two store backends as types for
// typed tests, and a ChangelogSink that records what it is sent.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streams/state/changelog.h"
#include "streams/state/key_value_store.h"
#include "streams/state/session_store.h"
#include "streams/state/window_store.h"

namespace runnel::streams::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runnel-streams-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Bytes as lowercase hex, for failure messages about binary keys.
inline std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// The backends, for TYPED_TEST_SUITE: each makes stores under a TempDir it owns.
struct InMemoryBackend {
  static constexpr const char* kName = "InMemory";
  std::unique_ptr<KeyValueStore> KeyValue(const std::string& name) {
    return NewInMemoryKeyValueStore(name);
  }
  std::unique_ptr<WindowStore> Window(const std::string& name, int64_t retention_ms) {
    return NewInMemoryWindowStore(name, retention_ms);
  }
  std::unique_ptr<SessionStore> Session(const std::string& name, int64_t retention_ms) {
    return NewInMemorySessionStore(name, retention_ms);
  }
};

struct RocksDbBackend {
  static constexpr const char* kName = "RocksDb";
  std::unique_ptr<KeyValueStore> KeyValue(const std::string& name) {
    auto store = OpenRocksDbKeyValueStore(name, dir.Sub("rocksdb/" + name));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<WindowStore> Window(const std::string& name, int64_t retention_ms) {
    auto store = OpenRocksDbWindowStore(name, dir.Sub("rocksdb/" + name), retention_ms);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<SessionStore> Session(const std::string& name, int64_t retention_ms) {
    auto store = OpenRocksDbSessionStore(name, dir.Sub("rocksdb/" + name), retention_ms);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  TempDir dir;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

using Backends = ::testing::Types<InMemoryBackend, RocksDbBackend>;

// Keeps every record it is sent, with the store name.
class RecordingSink : public ChangelogSink {
 public:
  void Send(const std::string& store_name, const ChangelogRecord& record) override {
    stores.push_back(store_name);
    records.push_back(record);
  }
  std::vector<std::string> stores;
  std::vector<ChangelogRecord> records;
};

}  // namespace runnel::streams::testing
