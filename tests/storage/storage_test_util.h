// Shared by the storage tests: temporary directories and batch construction.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"

namespace runnel::storage::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runnel-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A batch of `count` records with values "<tag>-<i>" and timestamps `timestamp` + i.
inline std::string MakeBatch(int count, int64_t timestamp, const std::string& tag,
                             record::Compression codec = record::Compression::kNone) {
  record::RecordBatchBuilder builder({.compression = codec});
  for (int i = 0; i < count; ++i) {
    const std::string key = "k" + std::to_string(i % 7);
    const std::string value = tag + "-" + std::to_string(i);
    builder.Append(timestamp + i, key, value);
  }
  return *builder.Build();
}

struct StoredRecord {
  int64_t offset;
  int64_t timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
};

// Every record of the concatenated batches in `bytes`, as a consumer sees them: control batches
// (a replicated log's leader and membership changes) are skipped.
inline std::vector<StoredRecord> DecodeAll(std::string_view bytes) {
  std::vector<StoredRecord> out;
  while (!bytes.empty()) {
    auto view = record::RecordBatchView::Parse(bytes);
    if (!view.ok()) {
      ADD_FAILURE() << "stored bytes do not parse: " << view.status();
      break;
    }
    if (view->is_control()) {
      bytes.remove_prefix(view->size());
      continue;
    }
    auto it = record::RecordIterator::Create(*view);
    record::Record r;
    EXPECT_TRUE(it.ok()) << it.status();
    while (it.ok() && it->Next(&r)) {
      out.push_back({r.offset, r.timestamp,
                     r.key ? std::optional<std::string>(std::string(*r.key)) : std::nullopt,
                     r.value ? std::optional<std::string>(std::string(*r.value)) : std::nullopt});
    }
    if (it.ok()) {
      EXPECT_TRUE(it->status().ok()) << it->status();
    }
    bytes.remove_prefix(view->size());
  }
  return out;
}

}  // namespace runnel::storage::testing
