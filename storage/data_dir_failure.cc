#include "storage/data_dir_failure.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::storage {
bool IsDataDirFailure(const absl::Status& status) {
  return CauseOf<DataDirError>(status) == DataDirError::kOffline;
}

void DataDirFailure::SetHandler(Handler handler) {
  absl::Status error;
  {
    MutexLock lock(&mu_);
    handler_ = handler;
    if (!failed()) return;
    error = error_;
  }
  if (handler) handler(error);
}

absl::Status DataDirFailure::Check() const {
  if (!failed()) return absl::OkStatus();
  MutexLock lock(&mu_);
  return error_;
}

absl::Status DataDirFailure::OnIoError(const absl::Status& error) {
  if (error.ok() || absl::IsResourceExhausted(error)) return error;
  Fail(error);
  return Check();
}

void DataDirFailure::Fail(const absl::Status& error) {
  Handler handler;
  absl::Status recorded;
  {
    MutexLock lock(&mu_);
    if (failed()) return;  // the first error is the one that counts
    error_ = WithCause(absl::UnavailableError(
                           absl::StrCat("data dir offline after an I/O error: ", error.message())),
                       DataDirError::kOffline);
    failed_.store(true, std::memory_order_release);
    handler = handler_;
    recorded = error_;
  }
  logging::Get("storage")->critical("{}; no further reads, writes or syncs on this data dir",
                                    std::string(recorded.message()));
  if (handler) handler(recorded);
}

}  // namespace runnel::storage
