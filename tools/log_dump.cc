#include "tools/log_dump.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/record/record_batch.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::tools {
namespace {

using record::RecordBatchView;

// Printable ASCII as is; anything else as 0x-prefixed hex; null as "null".
std::string Printable(std::optional<std::string_view> bytes) {
  if (!bytes.has_value()) return "null";
  const bool printable =
      std::all_of(bytes->begin(), bytes->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (printable) return std::string(*bytes);
  std::string hex = "0x";
  for (unsigned char c : *bytes) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

void DumpRecords(const RecordBatchView& batch, std::ostream& out, absl::Status* first_error) {
  auto it = record::RecordIterator::Create(batch);
  if (!it.ok()) {
    out << "  | error: " << it.status().message() << "\n";
    if (first_error->ok()) *first_error = it.status();
    return;
  }
  record::Record r;
  while (it->Next(&r)) {
    out << "  | offset=" << r.offset << " timestamp=" << r.timestamp << " key=" << Printable(r.key)
        << " value=" << Printable(r.value);
    if (!r.headers.empty()) {
      out << " headers=";
      for (size_t h = 0; h < r.headers.size(); ++h) {
        out << (h ? "," : "") << Printable(r.headers[h].key) << ":"
            << Printable(r.headers[h].value);
      }
    }
    out << "\n";
  }
  if (!it->status().ok()) {
    out << "  | error: " << it->status().message() << "\n";
    if (first_error->ok()) *first_error = it->status();
  }
}

absl::Status DumpSegment(const std::string& path, bool records, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::string bytes, storage::ReadWholeFile(path));
  out << "segment " << path << " (" << bytes.size() << " bytes)\n";
  absl::Status first_error;
  size_t position = 0;
  while (position < bytes.size()) {
    auto view = RecordBatchView::Parse(std::string_view(bytes).substr(position));
    if (!view.ok()) {
      const absl::Status error = absl::DataLossError(absl::StrCat(
          path, ": unreadable batch at position ", position, ": ", view.status().message(), "; ",
          bytes.size() - position, " bytes not dumped"));
      out << "error: " << error.message() << "\n";
      return first_error.ok() ? error : first_error;
    }
    const bool crc_ok = view->ComputeCrc() == view->crc();
    out << "offset=" << view->base_offset() << ".." << view->last_offset()
        << " count=" << view->record_count() << " position=" << position << " size=" << view->size()
        << " base_timestamp=" << view->base_timestamp()
        << " max_timestamp=" << view->max_timestamp() << " timestamp_type="
        << (view->timestamp_type() == record::TimestampType::kLogAppendTime ? "LogAppendTime"
                                                                            : "CreateTime")
        << " compression="
        << (view->compression_id() <= record::kMaxCompressionId
                ? std::string(record::CompressionName(view->compression()))
                : absl::StrCat("unknown(", view->compression_id(), ")"))
        << " producer_id=" << view->producer_id() << " epoch=" << view->partition_leader_epoch()
        << (view->delete_horizon_ms().has_value()
                ? absl::StrCat(" delete_horizon=", *view->delete_horizon_ms())
                : std::string())
        << " crc=" << (crc_ok ? "ok" : "BAD") << "\n";
    if (!crc_ok && first_error.ok()) {
      first_error = absl::DataLossError(
          absl::StrFormat("%s: CRC mismatch in the batch at position %d (stored 0x%08x, "
                          "computed 0x%08x)",
                          path, position, view->crc(), view->ComputeCrc()));
    }
    if (records && crc_ok) DumpRecords(*view, out, &first_error);
    position += view->size();
  }
  return first_error;
}

}  // namespace

absl::Status DumpLog(const LogDumpOptions& options, std::ostream& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(options.path, ec)) {
    return absl::NotFoundError(absl::StrCat(options.path, ": no such file or directory"));
  }
  if (!fs::is_directory(options.path, ec)) {
    if (fs::path(options.path).extension() != ".log") {
      return absl::InvalidArgumentError(
          absl::StrCat(options.path, ": not a .log segment file or a partition directory"));
    }
    return DumpSegment(options.path, options.records, out);
  }
  std::vector<std::string> segments;
  for (const auto& entry : fs::directory_iterator(options.path, ec)) {
    if (entry.path().extension() == ".log") segments.push_back(entry.path().string());
  }
  std::sort(segments.begin(), segments.end());
  if (segments.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(options.path, ": no .log segment files"));
  }
  absl::Status first_error;
  for (const std::string& segment : segments) {
    absl::Status s = DumpSegment(segment, options.records, out);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

}  // namespace runnel::tools
