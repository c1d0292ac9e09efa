// TuneProcess: the process-wide runtime settings runneld and the runnel CLI start with, set once at
// the top of main before any thread starts. Libraries (the client, streams) never call it: an
// application embedding them keeps its own settings.
#pragma once

namespace runnel {

// - glibc's allocator keeps freed memory (up to 64 MiB at the top of each arena) instead of
//   handing it back, and serves blocks up to 8 MiB from its heaps instead of fresh mmaps. A
//   broker allocates and frees record batches of up to a few MiB all the time, on different
//   threads; with glibc's defaults every such buffer was new memory the kernel faulted in and
//   zeroed (a replica broker took 80,000-150,000 page faults per 600 MB replicated; about 4,000
//   with these).
// - In NDEBUG builds, Abseil's deadlock detection is off. Debian builds Abseil without NDEBUG,
//   so every absl::Mutex lock (gRPC's locks are absl's) also updates a process-wide lock graph: a
//   debugging aid that cost a few percent of the brokers' CPU. Our own locks are std's, whose
//   lock-order inversions TSan reports.
// Figures: docs/BENCHMARKS.md, "Cutting the replication path's CPU".
void TuneProcess();

}  // namespace runnel
