#include "storage/segment.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/logging.h"
#include "common/record/batch_validator.h"
#include "common/record/record_iterator.h"
#include "common/status_macros.h"
#include "storage/batch_scanner.h"

namespace runnel::storage {
namespace {

using record::RecordBatchView;

// One past the last offset of the batches from `position` to `end` (headers only).
// The next offset after the batches from `position` to `end`, and the latest max timestamp among
// them (with its batch's base offset), from their headers.
struct Tail {
  int64_t next_offset = 0;
  int64_t max_timestamp = kNoTimestamp;
  int64_t max_timestamp_base_offset = 0;
};
absl::StatusOr<Tail> WalkTail(const File& file, uint64_t position, uint64_t end) {
  BatchScanner scanner(file, position, end, /*read_ahead=*/64 * 1024);
  std::optional<Tail> tail;
  while (true) {
    ASSIGN_OR_RETURN(auto header, scanner.NextHeaderOnly());
    if (!header.has_value()) break;
    if (!tail.has_value()) tail.emplace();
    tail->next_offset = header->last_offset + 1;
    if (header->max_timestamp > tail->max_timestamp) {
      tail->max_timestamp = header->max_timestamp;
      tail->max_timestamp_base_offset = header->base_offset;
    }
  }
  if (!tail.has_value()) return absl::DataLossError("no batch after the last index entry");
  return *tail;
}

// Writes at `position`; if that fails part way, cuts the file back so no partial batch stays.
absl::Status WriteBatchOrRollBack(const File& file, uint64_t position, std::string_view bytes) {
  absl::Status written = file.WriteAt(position, bytes);
  if (written.ok()) return written;
  absl::Status undone = file.Truncate(position);
  if (!undone.ok()) {
    // Part of the batch may be left in the file: not the recoverable full disk it started as.
    return absl::InternalError(
        absl::StrCat(written.message(), "; and rolling back: ", undone.message()));
  }
  return written;
}

}  // namespace

std::string Segment::FileStem(int64_t base_offset) { return absl::StrFormat("%020d", base_offset); }
std::optional<int64_t> Segment::ParseFileStem(std::string_view stem) {
  if (stem.size() != 20) return std::nullopt;
  int64_t base = 0;
  for (char c : stem) {
    if (c < '0' || c > '9') return std::nullopt;
    if (base > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return std::nullopt;
    base = base * 10 + (c - '0');
  }
  return base;
}

std::string Segment::LogPath(const std::string& dir, int64_t base_offset) {
  return absl::StrCat(dir, "/", FileStem(base_offset), ".log");
}
std::string Segment::OffsetIndexPath(const std::string& dir, int64_t base_offset) {
  return absl::StrCat(dir, "/", FileStem(base_offset), ".index");
}
std::string Segment::TimeIndexPath(const std::string& dir, int64_t base_offset) {
  return absl::StrCat(dir, "/", FileStem(base_offset), ".timeindex");
}

Segment::Segment(std::string dir, int64_t base_offset, uint32_t index_interval_bytes, File file)
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      index_interval_bytes_(index_interval_bytes),
      file_(std::move(file)),
      index_(base_offset, index_interval_bytes),
      next_offset_(base_offset) {}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Create(const std::string& dir,
                                                         int64_t base_offset,
                                                         uint32_t index_interval_bytes) {
  ASSIGN_OR_RETURN(File file, File::Open(LogPath(dir, base_offset), File::Mode::kCreateExclusive));
  return std::unique_ptr<Segment>(
      new Segment(dir, base_offset, index_interval_bytes, std::move(file)));
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Open(const std::string& dir, int64_t base_offset,
                                                       uint32_t index_interval_bytes, bool recover,
                                                       RecoveryReport* report) {
  ASSIGN_OR_RETURN(File file, File::Open(LogPath(dir, base_offset), File::Mode::kReadWrite));
  std::unique_ptr<Segment> segment(
      new Segment(dir, base_offset, index_interval_bytes, std::move(file)));
  ASSIGN_OR_RETURN(segment->size_, segment->file_.Size());
  if (recover) {
    RETURN_IF_ERROR(segment->Scan(/*truncate_bad_tail=*/true, report));
    return segment;  // indexes are written once the segment is closed and synced
  }
  segment->indexes_persisted_ = true;
  // Trust the files of a cleanly closed segment, but check the indexes are consistent with it.
  auto offsets = ReadWholeFile(OffsetIndexPath(dir, base_offset));
  auto times = ReadWholeFile(TimeIndexPath(dir, base_offset));
  absl::StatusOr<SegmentIndex> index = absl::NotFoundError("index files missing");
  if (offsets.ok() && times.ok()) {
    index =
        SegmentIndex::Decode(base_offset, index_interval_bytes, *offsets, *times, segment->size_);
  }
  if (index.ok() && segment->size_ > 0) {
    // The last batch gives the next offset; reading it also proves the index points at batches.
    // The index files are written without a sync: after a power loss a time index may lack the
    // latest timestamps, and retention would then delete the segment early. The batches after
    // the last offset entry are walked anyway; their timestamps count too.
    const uint32_t last_position = index->LookupOffset(std::numeric_limits<int64_t>::max());
    auto tail = WalkTail(segment->file_, last_position, segment->size_);
    if (tail.ok()) {
      index->ObserveMaxTimestamp(tail->max_timestamp, tail->max_timestamp_base_offset);
      segment->index_ = *std::move(index);
      segment->next_offset_ = tail->next_offset;
      return segment;
    }
    index = tail.status();
  } else if (index.ok()) {
    segment->index_ = *std::move(index);
    return segment;
  }
  logging::Get("storage")->warn("segment {}: rebuilding indexes ({})", LogPath(dir, base_offset),
                                index.status().ToString());
  RETURN_IF_ERROR(segment->Scan(/*truncate_bad_tail=*/false, report));
  RETURN_IF_ERROR(segment->WriteIndexes());
  return segment;
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::OpenCleaned(const std::string& dir,
                                                              int64_t base_offset,
                                                              uint32_t index_interval_bytes,
                                                              const std::string& path) {
  ASSIGN_OR_RETURN(File file, File::Open(path, File::Mode::kReadWrite));
  std::unique_ptr<Segment> segment(
      new Segment(dir, base_offset, index_interval_bytes, std::move(file)));
  ASSIGN_OR_RETURN(segment->size_, segment->file_.Size());
  RecoveryReport report;
  RETURN_IF_ERROR(segment->Scan(/*truncate_bad_tail=*/false, &report));
  return segment;
}

absl::Status Segment::Scan(bool truncate_bad_tail, RecoveryReport* report) {
  index_ = SegmentIndex(base_offset_, index_interval_bytes_);
  next_offset_ = base_offset_;
  BatchScanner scanner(file_, 0, size_);
  uint64_t good_end = 0;
  absl::Status stop;
  while (true) {
    auto batch = scanner.Next();
    if (!batch.ok()) {
      stop = batch.status();
      break;
    }
    if (!batch->has_value()) break;  // clean end
    const RecordBatchView& view = (*batch)->view;
    if (view.base_offset() < next_offset_ ||
        view.last_offset() - base_offset_ > std::numeric_limits<uint32_t>::max()) {
      stop = absl::DataLossError(absl::StrCat("baseOffset ", view.base_offset(),
                                              " out of sequence (expected at least ", next_offset_,
                                              ")"));
      break;
    }
    index_.OnBatch(view.base_offset(), view.max_timestamp(),
                   static_cast<uint32_t>((*batch)->position), static_cast<uint32_t>(view.size()));
    next_offset_ = view.last_offset() + 1;
    good_end = (*batch)->position + view.size();
  }
  if (stop.ok()) return absl::OkStatus();
  const std::string where =
      absl::StrCat("segment ", LogPath(dir_, base_offset_), ": bad batch at position ", good_end,
                   ": ", stop.message());
  if (!truncate_bad_tail) return absl::DataLossError(where);
  if (report != nullptr) {
    report->bytes_truncated = size_ - good_end;
    report->first_offset_lost = next_offset_;
    report->reason = where;
  }
  logging::Get("storage")->warn("{}; truncating {} bytes (offsets from {})", where,
                                size_ - good_end, next_offset_);
  RETURN_IF_ERROR(file_.Truncate(good_end));
  size_ = good_end;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Segment::FirstBatchTimestamp() {
  if (size_ == 0) return kNoTimestamp;
  if (!first_batch_timestamp_.has_value()) {
    File scratch;
    ASSIGN_OR_RETURN(const File* file, ReadableFile(&scratch));
    BatchScanner scanner(*file, 0, size_, /*read_ahead=*/4096);
    ASSIGN_OR_RETURN(auto first, scanner.NextHeaderOnly());
    first_batch_timestamp_ = first.has_value() ? first->max_timestamp : kNoTimestamp;
  }
  return *first_batch_timestamp_;
}

absl::Status Segment::Append(const RecordBatchView& batch) {
  // Offsets only grow within a segment, and the index's u32 fields hold every position and
  // relative offset (Log rolls before either could overflow).
  RUNNEL_CHECK(batch.base_offset() >= next_offset_,
               "segment %s: batch at offset %d appended below the next offset %d",
               LogPath(dir_, base_offset_), batch.base_offset(), next_offset_);
  RUNNEL_CHECK(batch.last_offset() - base_offset_ <= std::numeric_limits<uint32_t>::max() &&
                   size_ + batch.size() <= std::numeric_limits<uint32_t>::max(),
               "segment %s: batch at offset %d, position %d, %d bytes does not fit the index",
               LogPath(dir_, base_offset_), batch.base_offset(), size_, batch.size());
  RETURN_IF_ERROR(WriteBatchOrRollBack(file_, size_, batch.bytes()));
  if (size_ == 0) first_batch_timestamp_ = batch.max_timestamp();
  indexes_persisted_ = false;
  index_.OnBatch(batch.base_offset(), batch.max_timestamp(), static_cast<uint32_t>(size_),
                 static_cast<uint32_t>(batch.size()));
  size_ += batch.size();
  next_offset_ = batch.last_offset() + 1;
  return absl::OkStatus();
}

absl::StatusOr<const File*> Segment::ReadableFile(File* scratch) const {
  if (file_.is_open()) return &file_;
  ASSIGN_OR_RETURN(*scratch, File::Open(LogPath(dir_, base_offset_), File::Mode::kReadOnly));
  return scratch;
}

absl::Status Segment::Sync() const {
  File scratch;
  ASSIGN_OR_RETURN(const File* file, ReadableFile(&scratch));
  return file->DataSync();
}

void Segment::ReleaseFile() { file_.Close().IgnoreError(); }  // read-only use: nothing to lose

absl::Status Segment::EnsureWritable() {
  if (file_.is_open()) return absl::OkStatus();
  ASSIGN_OR_RETURN(file_, File::Open(LogPath(dir_, base_offset_), File::Mode::kReadWrite));
  return absl::OkStatus();
}

absl::StatusOr<SegmentRead> Segment::PlanRead(int64_t offset) const {
  RUNNEL_CHECK(offset < next_offset_ && size_ > 0, "%s: planned a read at %d, past its end %d",
               LogPath(dir_, base_offset_), offset, next_offset_);
  SegmentRead plan;
  if (file_.is_open()) {
    ASSIGN_OR_RETURN(plan.file, file_.Duplicate());
  } else {
    ASSIGN_OR_RETURN(plan.file, File::Open(LogPath(dir_, base_offset_), File::Mode::kReadOnly));
  }
  plan.base_offset = base_offset_;
  plan.start_position = index_.LookupOffset(offset);
  plan.end_position = size_;
  plan.next_offset = next_offset_;
  return plan;
}

absl::StatusOr<int64_t> SegmentRead::Read(int64_t offset, size_t max_bytes, std::string* out,
                                          int64_t end_offset) const {
  // Find the batch holding `offset` by walking headers from the index entry (at most about
  // index.interval.bytes), then read up to max_bytes with one pread and cut after the last whole
  // batch.
  BatchScanner scanner(file, start_position, end_position, /*read_ahead=*/8 * 1024);
  std::optional<BatchScanner::Header> first;
  while (true) {
    ASSIGN_OR_RETURN(first, scanner.NextHeaderOnly());
    if (!first.has_value() || first->last_offset >= offset) break;
  }
  if (!first.has_value() || first->base_offset >= end_offset) return offset;
  const uint64_t want = std::min<uint64_t>(std::max<uint64_t>(max_bytes, first->size),
                                           end_position - first->position);
  const size_t start = out->size();
  RETURN_IF_ERROR(file.AppendAt(first->position, want, out));
  if (out->size() - start != want) {
    out->resize(start);
    return absl::DataLossError(
        absl::StrCat("segment ", file.path(), ": short read at position ", first->position));
  }
  // Keep whole batches below end_offset only (the first one always, whatever its size).
  size_t keep = first->size;
  int64_t next = first->last_offset + 1;
  while (keep + record::kLogOverhead <= want) {
    const char* header = out->data() + start + keep;
    const int32_t length = LoadBigEndian<int32_t>(header + record::layout::kBatchLength);
    const uint64_t size = static_cast<uint64_t>(length) + record::kLogOverhead;
    if (length < 0 || size < record::kBatchHeaderSize || keep + size > want) break;
    if (LoadBigEndian<int64_t>(header + record::layout::kBaseOffset) >= end_offset) break;
    next = LoadBigEndian<int64_t>(header + record::layout::kBaseOffset) +
           LoadBigEndian<int32_t>(header + record::layout::kLastOffsetDelta) + 1;
    keep += size;
  }
  out->resize(start + keep);
  return next;
}

absl::StatusOr<std::optional<int64_t>> Segment::FindOffsetForTimestamp(int64_t timestamp) const {
  if (size_ == 0 || index_.max_timestamp() < timestamp) return std::nullopt;
  File scratch;
  ASSIGN_OR_RETURN(const File* file, ReadableFile(&scratch));
  BatchScanner scanner(*file, index_.LookupTimestamp(timestamp), size_);
  while (true) {
    ASSIGN_OR_RETURN(auto batch, scanner.Next());
    if (!batch.has_value()) return std::nullopt;
    if (batch->view.max_timestamp() < timestamp) continue;
    ASSIGN_OR_RETURN(auto it, record::RecordIterator::Create(batch->view));
    record::Record r;
    while (it.Next(&r)) {
      if (r.timestamp >= timestamp) return r.offset;
    }
    RETURN_IF_ERROR(it.status());
  }
}

absl::Status Segment::TruncateTo(int64_t offset) {
  if (offset >= next_offset_) return absl::OkStatus();
  RETURN_IF_ERROR(EnsureWritable());
  RETURN_IF_ERROR(DiscardIndexFiles());
  BatchScanner scanner(file_, index_.LookupOffset(offset), size_);
  uint64_t cut = size_;
  while (true) {
    ASSIGN_OR_RETURN(auto batch, scanner.NextHeaderOnly());
    if (!batch.has_value()) break;
    if (batch->base_offset >= offset) {
      cut = batch->position;
      break;
    }
  }
  RETURN_IF_ERROR(file_.Truncate(cut));
  size_ = cut;
  if (cut == 0) first_batch_timestamp_.reset();
  return Scan(/*truncate_bad_tail=*/false, nullptr);
}

absl::Status Segment::DiscardIndexFiles() {
  indexes_persisted_ = false;
  RETURN_IF_ERROR(RemoveFile(OffsetIndexPath(dir_, base_offset_)));
  return RemoveFile(TimeIndexPath(dir_, base_offset_));
}

bool Segment::IndexFilesExist(const std::string& dir, int64_t base_offset) {
  return FileExists(OffsetIndexPath(dir, base_offset)) &&
         FileExists(TimeIndexPath(dir, base_offset));
}

absl::Status Segment::WriteIndexes() const {
  // Not synced: index files only ever appear after the segment's data was synced, and a lost,
  // empty or torn index file is rebuilt from the .log on open.
  RETURN_IF_ERROR(WriteFileAtomically(OffsetIndexPath(dir_, base_offset_),
                                      index_.EncodeOffsetIndex(), /*durable=*/false));
  return WriteFileAtomically(TimeIndexPath(dir_, base_offset_), index_.EncodeTimeIndex(),
                             /*durable=*/false);
}

absl::Status Segment::ScanBatches(
    int64_t offset,
    const std::function<absl::StatusOr<bool>(uint64_t position, const RecordBatchView&)>& fn)
    const {
  if (empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(SegmentRead read, PlanRead(std::clamp(offset, base_offset_, next_offset_ - 1)));
  BatchScanner scanner(read.file, read.start_position, read.end_position);
  while (true) {
    ASSIGN_OR_RETURN(auto batch, scanner.Next());
    if (!batch.has_value()) return absl::OkStatus();
    if (batch->view.last_offset() < offset) continue;  // the index entry lies before its batch
    ASSIGN_OR_RETURN(const bool more, fn(batch->position, batch->view));
    if (!more) return absl::OkStatus();
  }
}

absl::Status Segment::ForEachBatchHeader(
    const std::function<absl::Status(const BatchScanner::Header&)>& fn) const {
  File scratch;
  ASSIGN_OR_RETURN(const File* file, ReadableFile(&scratch));
  BatchScanner scanner(*file, 0, size_);
  while (true) {
    ASSIGN_OR_RETURN(auto header, scanner.NextHeaderOnly());
    if (!header.has_value()) return absl::OkStatus();
    RETURN_IF_ERROR(fn(*header));
  }
}

absl::Status Segment::Remove() {
  // Callers take the segment out of the Log's list first (under its exclusive lock), so no read
  // or sync can reach it after this.
  RETURN_IF_ERROR(RemoveFile(OffsetIndexPath(dir_, base_offset_)));
  RETURN_IF_ERROR(RemoveFile(TimeIndexPath(dir_, base_offset_)));
  return RemoveFile(LogPath(dir_, base_offset_));
}

}  // namespace runnel::storage
