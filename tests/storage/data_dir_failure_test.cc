#include "storage/data_dir_failure.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <vector>

#include "storage/log.h"
#include "tests/storage/fault_injection_fs.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::storage {
namespace {

using testing::DecodeAll;
using testing::FaultInjectionFs;
using testing::MakeBatch;
using testing::TempDir;

// What a durability callback was told, copied out on the flush thread. (Copies of an absl::Status
// share its message through a count kept inside Debian's prebuilt Abseil, which ThreadSanitizer
// cannot see: handing the Status itself to the test thread reads as a race.)
struct Told {
  absl::StatusCode code = absl::StatusCode::kUnknown;
  bool data_dir_failure = false;
  std::string message;
};
Told Copy(const absl::Status& s) {
  return {s.code(), IsDataDirFailure(s), std::string(s.message())};
}

TEST(DataDirFailureTest, AFullDiskIsRecoverableAndAnyOtherIoErrorIsFinal) {
  DataDirFailure failure;
  std::vector<std::string> told;
  failure.SetHandler([&told](const absl::Status& s) { told.emplace_back(s.message()); });

  const absl::Status full = absl::ResourceExhaustedError("x.log: write failed: No space left");
  EXPECT_EQ(failure.OnIoError(full), full);
  EXPECT_TRUE(failure.OnIoError(absl::OkStatus()).ok());
  EXPECT_FALSE(failure.failed());
  EXPECT_TRUE(failure.Check().ok());

  const absl::Status eio = failure.OnIoError(absl::InternalError("x.log: fdatasync failed: EIO"));
  EXPECT_TRUE(failure.failed());
  EXPECT_TRUE(absl::IsUnavailable(eio));
  EXPECT_TRUE(IsDataDirFailure(eio));
  EXPECT_EQ(eio.message(), "data dir offline after an I/O error: x.log: fdatasync failed: EIO");
  // Later errors change nothing, a full disk included: the first error is the one reported.
  EXPECT_EQ(failure.OnIoError(absl::InternalError("y.log: write failed")), eio);
  EXPECT_EQ(failure.OnIoError(full), full);
  EXPECT_EQ(failure.Check(), eio);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0], eio.message());

  // A handler set after the failure hears about it at once.
  std::string late;
  failure.SetHandler([&late](const absl::Status& s) { late = std::string(s.message()); });
  EXPECT_EQ(late, eio.message());
  EXPECT_FALSE(IsDataDirFailure(absl::InternalError("other")));
}

// Once the dir failed, a log neither appends, nor serves reads, nor syncs, nor writes its
// clean-shutdown marker (so the next open scans it), and queued durability requests fail.
TEST(DataDirFailureTest, AFailedDirStopsEveryLogOperation) {
  TempDir dir;
  Flusher flusher;
  auto log = Log::Open(dir.path(), LogConfig(), &flusher);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(MakeBatch(3, 1000, "a")).ok());

  flusher.failure()
      .OnIoError(absl::InternalError("00.log: fdatasync failed: EIO (errno 5)"))
      .IgnoreError();

  const auto appended = (*log)->Append(MakeBatch(1, 2000, "b"));
  EXPECT_TRUE(IsDataDirFailure(appended.status())) << appended.status();
  EXPECT_EQ((*log)->end_offset(), 3);
  EXPECT_TRUE(IsDataDirFailure((*log)->Read(0, 1 << 20).status()));
  EXPECT_TRUE(IsDataDirFailure((*log)->Flush()));
  std::promise<Told> durable;
  flusher.RequestFlush(log->get(), 3, [&durable](absl::Status s) { durable.set_value(Copy(s)); });
  EXPECT_TRUE(durable.get_future().get().data_dir_failure);
  EXPECT_TRUE(IsDataDirFailure((*log)->Close()));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub(Log::kCleanShutdownFile)));
}

// A durability request for offsets that a truncation took away before they were synced must not
// be answered OK: they are not on disk (and the offsets may be reused by other data).
TEST(DataDirFailureTest, ARequestForTruncatedOffsetsIsNotAnsweredOk) {
  TempDir dir;
  Flusher flusher;
  auto log = Log::Open(dir.path(), LogConfig(), &flusher);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(MakeBatch(2, 1000, "a"), {}).ok());
  ASSERT_TRUE((*log)->Flush().ok());
  ASSERT_TRUE((*log)->Append(MakeBatch(3, 2000, "b"), {}).ok());  // offsets 2..4, not synced
  ASSERT_TRUE((*log)->TruncateTo(2).ok());
  std::promise<Told> durable;
  flusher.RequestFlush(log->get(), 5, [&durable](absl::Status s) { durable.set_value(Copy(s)); });
  const Told told = durable.get_future().get();
  const absl::Status s(told.code, told.message);
  EXPECT_TRUE(absl::IsAborted(s)) << s;
  EXPECT_NE(s.message().find("offsets 2..4 were truncated before they were synced"),
            std::string::npos)
      << s;
  EXPECT_FALSE(flusher.failure().failed());  // not an I/O error
}

// The same through the fault-injecting file layer: an fdatasync failing with EIO fails its
// acknowledgement, and nothing after it is acknowledged; after a power loss the log holds exactly
// what was acknowledged before (the unsynced batch is gone).
TEST(DataDirFailureTest, AnInjectedSyncErrorLosesNothingAcknowledged) {
  TempDir dir;
  FaultInjectionFs fs(dir.path());
  {
    Flusher flusher;
    auto log = Log::Open(dir.Sub("t-0"), LogConfig(), &flusher);
    ASSERT_TRUE(log.ok()) << log.status();
    auto durable_append = [&](const std::string& tag) {
      std::promise<Told> done;
      auto appended = (*log)->Append(MakeBatch(2, 1000, tag),
                                     [&done](absl::Status s) { done.set_value(Copy(s)); });
      return appended.ok() ? done.get_future().get() : Copy(appended.status());
    };
    ASSERT_EQ(durable_append("a").code, absl::StatusCode::kOk);
    fs.FailNext(FileOp::kSync, EIO, "/t-0/");
    const Told failed = durable_append("b");
    EXPECT_TRUE(failed.data_dir_failure) << failed.message;
    EXPECT_NE(failed.message.find("fdatasync failed: Input/output error (errno 5)"),
              std::string::npos)
        << failed.message;
    EXPECT_TRUE(durable_append("c").data_dir_failure);  // the next sync would succeed: refused
    fs.PowerCut();
  }
  fs.RestoreAfterPowerCut(FaultInjectionFs::Loss::kDrop, 1);
  Flusher flusher;
  auto log = Log::Open(dir.Sub("t-0"), LogConfig(), &flusher);
  ASSERT_TRUE(log.ok()) << log.status();
  const auto records = DecodeAll(*(*log)->Read(0, 1 << 20));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].value, "a-0");
}

// A full disk on a write fails that append only; the log stays consistent and later appends work.
TEST(DataDirFailureTest, AnInjectedFullDiskFailsOnlyThatAppend) {
  TempDir dir;
  FaultInjectionFs fs(dir.path());
  Flusher flusher;
  auto log = Log::Open(dir.Sub("t-0"), LogConfig(), &flusher);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(MakeBatch(2, 1000, "a")).ok());
  // The segment file only: the background sync of "a" writes the leader-epoch checkpoint in the
  // same directory, and must not take the fault meant for the append.
  fs.FailNext(FileOp::kWrite, ENOSPC, "/t-0/00000000000000000000.log");
  const auto full = (*log)->Append(MakeBatch(2, 1000, "b"));
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_FALSE(flusher.failure().failed());
  const auto later = (*log)->Append(MakeBatch(2, 1000, "c"));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->base_offset, 2);
  const auto records = DecodeAll(*(*log)->Read(0, 1 << 20));
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[2].value, "c-0");
}

}  // namespace
}  // namespace runnel::storage
