// Runs the real `runnel log dump` binary on logs written by storage::Log.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "storage/log.h"
#include "tests/e2e/broker_process.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::tools {
namespace {

using storage::testing::MakeBatch;
using storage::testing::TempDir;

using testing::RunRunnel;

void WriteLog(const std::string& dir) {
  storage::Flusher flusher;
  storage::LogConfig config;
  config.segment_bytes = 600;
  auto log = *storage::Log::Open(dir, config, &flusher);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(log->Append(MakeBatch(3, 1000 + i, "v")).ok());
  record::RecordBatchBuilder builder({.compression = record::Compression::kZstd});
  const record::RecordHeader header{"h", std::nullopt};
  builder.Append(5000, std::nullopt, std::string("\x01\xff", 2), {&header, 1});
  ASSERT_TRUE(log->Append(*builder.Build()).ok());
  ASSERT_TRUE(log->Close().ok());
}

TEST(LogDumpTest, PrintsEveryBatchAndRecordOfAPartitionDirectory) {
  TempDir dir;
  WriteLog(dir.path());
  const auto r = RunRunnel("log dump " + dir.path() + " --records");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("offset=0..2 count=3 position=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  | offset=1 timestamp=1001 key=k1 value=v-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compression=zstd"), std::string::npos) << r.out;
  // Non-printable bytes come out as hex, null as null.
  EXPECT_NE(r.out.find("key=null value=0x01ff headers=h:null"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("crc=BAD"), std::string::npos);
  // Several segments, each announced.
  size_t segments = 0;
  for (size_t p = 0; (p = r.out.find("segment ", p)) != std::string::npos; ++p) ++segments;
  EXPECT_GT(segments, 1u);
}

TEST(LogDumpTest, FlagsACorruptBatchAndExitsWithAnError) {
  TempDir dir;
  WriteLog(dir.path());
  const std::string segment = storage::Segment::LogPath(dir.path(), 0);
  std::string bytes;
  {
    std::ifstream in(segment, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 3] ^= 0x20;  // inside the last batch's records
  {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  const auto r = RunRunnel("log dump " + segment);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("crc=BAD"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: log dump found a problem ("), std::string::npos) << r.out;
  // The dump never repairs: the file is unchanged.
  EXPECT_EQ(std::filesystem::file_size(segment), bytes.size());
}

TEST(LogDumpTest, BadPathsAndFlagsGetClearErrors) {
  TempDir dir;
  auto r = RunRunnel("log dump " + dir.Sub("missing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("no such file or directory"), std::string::npos) << r.out;
  r = RunRunnel("log dump " + dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("no .log segment files"), std::string::npos) << r.out;
  r = RunRunnel("log dump --no-such-flag x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("error: bad command line"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runnel::tools
