// Segment: one `<20-digit base offset>.log` file of whole RecordBatch v2 batches, with its
// sparse offset and time indexes (segment_index.h). A partition's Log is a sequence of segments;
// only the last (active) one is appended to.
//
// Threading: a Segment is not synchronised by itself. Its Log calls mutating methods (Append,
// TruncateTo, ReleaseFile, EnsureWritable, Remove) under its exclusive lock and const methods
// (Read, lookups) under its shared lock. Sync() and WriteIndexes() run on the flush thread without
// the log lock: Sync uses the open descriptor (or opens the file by path for a closed segment) and
// WriteIndexes is only called on closed, immutable segments; the Log's flush lock keeps
// truncation, retention and compaction from swapping a segment out meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/record/record_batch.h"
#include "storage/batch_scanner.h"
#include "storage/file.h"
#include "storage/segment_index.h"

namespace runnel::storage {

// What recovery cut from a segment's tail.
struct RecoveryReport {
  uint64_t bytes_truncated = 0;
  int64_t first_offset_lost = -1;  // base offset of the first dropped batch, -1 if unknown/none
  std::string reason;              // why the scan stopped, empty if the tail was clean
};

// A read of one segment, planned under its log's lock and done without it: it holds its own
// descriptor, so closing the segment's file, deleting the segment or compaction swapping it out
// meanwhile cannot pull the bytes from under the read (it sees the file as it was planned).
struct SegmentRead {
  File file;
  int64_t base_offset = 0;
  uint64_t start_position = 0;  // the index entry at or before the batch holding the offset
  uint64_t end_position = 0;    // the segment's size when planned: whole batches up to there
  int64_t next_offset = 0;      // the segment's next offset when planned

  // Appends to `*out` whole batches starting with the one holding `offset`, stopping before the
  // batch that would take the total past `max_bytes` (the first batch is always included) and
  // before the first batch whose base offset is `end_offset` or more. Returns the offset after
  // the last batch appended (`offset` itself when none was).
  absl::StatusOr<int64_t> Read(int64_t offset, size_t max_bytes, std::string* out,
                               int64_t end_offset) const;
};

class Segment {
 public:
  // "00000000000000001234" for base offset 1234.
  static std::string FileStem(int64_t base_offset);
  // The inverse: exactly 20 decimal digits (no sign, no spaces), else std::nullopt.
  static std::optional<int64_t> ParseFileStem(std::string_view stem);
  static std::string LogPath(const std::string& dir, int64_t base_offset);
  static std::string OffsetIndexPath(const std::string& dir, int64_t base_offset);
  static std::string TimeIndexPath(const std::string& dir, int64_t base_offset);

  // Creates an empty segment (fails if its .log exists).
  static absl::StatusOr<std::unique_ptr<Segment>> Create(const std::string& dir,
                                                         int64_t base_offset,
                                                         uint32_t index_interval_bytes);

  // Opens an existing segment. With `recover`, every batch is read and validated (CRC included),
  // the file is truncated after the last good batch (described in `*report`), and the indexes are
  // rebuilt from the scan. Without it, the index files are loaded, and rebuilt by a scan if
  // missing or inconsistent.
  static absl::StatusOr<std::unique_ptr<Segment>> Open(const std::string& dir, int64_t base_offset,
                                                       uint32_t index_interval_bytes, bool recover,
                                                       RecoveryReport* report);
  // Opens compaction's output at `path` (to become this segment's .log by a rename) and builds
  // its indexes by a scan with full validation, so the swap under the log's lock is only renames.
  // Writes no index file. A bad batch is an error.
  static absl::StatusOr<std::unique_ptr<Segment>> OpenCleaned(const std::string& dir,
                                                              int64_t base_offset,
                                                              uint32_t index_interval_bytes,
                                                              const std::string& path);

  int64_t base_offset() const { return base_offset_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // One past the last offset held (base_offset() when empty).
  int64_t next_offset() const { return next_offset_; }
  int64_t max_timestamp() const { return index_.max_timestamp(); }
  // The max timestamp of the segment's first batch (kNoTimestamp when empty): Kafka's base for
  // segment.ms, so the age of a segment is event time and does not restart when the log is
  // reopened. Read from the file once, then kept.
  absl::StatusOr<int64_t> FirstBatchTimestamp();
  // When the segment was created or opened (by the Log's clock): the base for segment.ms when the
  // first batch has no timestamp.
  int64_t created_ms() const { return created_ms_; }
  void set_created_ms(int64_t ms) { created_ms_ = ms; }

  // Appends a batch that already carries its final offsets. On a write error the file is cut back
  // to its previous size, so the segment stays exactly as it was.
  absl::Status Append(const record::RecordBatchView& batch);

  // Plans a read starting at `offset` (which must be below next_offset() of a non-empty
  // segment): a descriptor of its own and the bounds, for SegmentRead::Read outside the lock.
  absl::StatusOr<SegmentRead> PlanRead(int64_t offset) const;

  // The offset of the first record with timestamp >= `timestamp`, if any in this segment.
  absl::StatusOr<std::optional<int64_t>> FindOffsetForTimestamp(int64_t timestamp) const;

  // Drops every batch whose base offset is >= `offset` (a batch straddling it is kept whole, as
  // in Kafka) and rebuilds the indexes.
  absl::Status TruncateTo(int64_t offset);

  absl::Status Sync() const;

  // Closed segments do not keep a descriptor: reads open the file for their duration, so a
  // broker with many segments holds about one descriptor per partition (its active segment).
  // ReleaseFile closes the descriptor (exclusive lock); EnsureWritable reopens it for appends
  // (e.g. when truncation makes a closed segment active again).
  void ReleaseFile();
  absl::Status EnsureWritable();
  // Whether the .index/.timeindex files on disk match this (closed) segment. Index files are only
  // written after the segment was synced, so a closed segment without them may have a torn tail.
  bool indexes_persisted() const { return indexes_persisted_; }
  void set_indexes_persisted() { indexes_persisted_ = true; }
  // Deletes the index files of a segment about to be appended to (or truncated): from then on
  // they would be stale, and their absence is what tells recovery to scan this segment.
  absl::Status DiscardIndexFiles();
  static bool IndexFilesExist(const std::string& dir, int64_t base_offset);
  // Persists the in-memory indexes (after a closed segment's sync, and at clean shutdown).
  absl::Status WriteIndexes() const;
  // Calls `fn` for every batch header in order, bodies neither read nor checked; stops at the
  // first error.
  absl::Status ForEachBatchHeader(
      const std::function<absl::Status(const BatchScanner::Header&)>& fn) const;
  // Calls `fn` with every batch (fully validated) and its position in the file, in order, from
  // the one holding `offset` (from the first when `offset` is at or below the base); `fn` returns
  // false to stop there. Stops at the first error. Reads through a descriptor of its own, so it
  // needs no lock on a closed segment.
  absl::Status ScanBatches(
      int64_t offset,
      const std::function<absl::StatusOr<bool>(uint64_t position, const record::RecordBatchView&)>&
          fn) const;

  // Unlinks the segment's files. The Log removes the segment from its list first, under its
  // exclusive lock, so no read reaches a removed segment.
  absl::Status Remove();

 private:
  Segment(std::string dir, int64_t base_offset, uint32_t index_interval_bytes, File file);

  // The descriptor to read through: file_ when open, else `*scratch` opened read-only.
  absl::StatusOr<const File*> ReadableFile(File* scratch) const;

  // Scans batches from `position` to the end of the file, rebuilding the index and next offset.
  // With `truncate_bad_tail`, a bad batch ends the scan and the file is cut there; otherwise a bad
  // batch is an error.
  absl::Status Scan(bool truncate_bad_tail, RecoveryReport* report);

  std::string dir_;
  int64_t base_offset_;
  uint32_t index_interval_bytes_;
  File file_;
  SegmentIndex index_;
  uint64_t size_ = 0;
  int64_t next_offset_;
  int64_t created_ms_ = 0;
  std::optional<int64_t> first_batch_timestamp_;  // cache of FirstBatchTimestamp
  bool indexes_persisted_ = false;
};

}  // namespace runnel::storage
