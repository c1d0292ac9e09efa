// io_fault_shim: an LD_PRELOAD library that makes chosen file syscalls of a real process fail, for
// process-level fault tests (tests/fault/). Nothing fails unless the trigger file exists, so a test
// starts the process healthy and turns faults on and off by creating and removing that file.
//
// Environment:
//   RUNNEL_FAULT_TRIGGER=PATH   faults are active while PATH exists
//   RUNNEL_FAULT_OPS=op=errno,...  which calls fail and how: fdatasync, fsync, pwrite, pread
//                               (pwrite64 and pread64 too), e.g. "fdatasync=5,fsync=5" (EIO) or
//                               "pwrite=28" (ENOSPC); errno -1 stalls the call until the trigger
//                               goes (at most 30 s) and then lets it run: a slow disk
//   RUNNEL_FAULT_PATH=TEXT      only descriptors whose path contains TEXT (default: all)
//   RUNNEL_FAULT_ONCE=1         the first injected failure removes the trigger (one fault only)
// Every injected failure (and stall, errno -1) appends one line "op path errno" to PATH.log, so a
// test can tell which call it failed or holds.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int ErrnoFor(const char* op) {
  const char* ops = getenv("RUNNEL_FAULT_OPS");
  if (ops == NULL) return 0;
  const size_t n = strlen(op);
  for (const char* p = ops; (p = strstr(p, op)) != NULL; p += n) {
    const int starts = p == ops || p[-1] == ',';
    if (starts && p[n] == '=') return atoi(p + n + 1);
  }
  return 0;
}

// Appends "op path errno" to the trigger's log.
static void LogFault(const char* trigger, const char* op, const char* path, int err) {
  char log_path[4096];
  snprintf(log_path, sizeof(log_path), "%s.log", trigger);
  const int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log >= 0) {
    char line[4200];
    const int m = snprintf(line, sizeof(line), "%s %s %d\n", op, path, err);
    if (m > 0 && write(log, line, (size_t)m) < 0) {
      // nothing to do: the log is only a help for the test
    }
    close(log);
  }
}

// Whether this call on `fd` is to fail; sets errno if so.
static int ShouldFail(const char* op, int fd) {
  const char* trigger = getenv("RUNNEL_FAULT_TRIGGER");
  if (trigger == NULL || access(trigger, F_OK) != 0) return 0;
  const int err = ErrnoFor(op);
  if (err == 0) return 0;
  char link[64];
  char path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t len = readlink(link, path, sizeof(path) - 1);
  path[len < 0 ? 0 : len] = '\0';
  const char* only = getenv("RUNNEL_FAULT_PATH");
  if (only != NULL && strstr(path, only) == NULL) return 0;
  if (err < 0) {  // a stall, not a failure (logged when it starts)
    LogFault(trigger, op, path, err);
    const struct timespec ms = {0, 1000 * 1000};
    for (int i = 0; i < 30 * 1000 && access(trigger, F_OK) == 0; ++i) nanosleep(&ms, NULL);
    return 0;
  }
  const char* once = getenv("RUNNEL_FAULT_ONCE");
  if (once != NULL && strcmp(once, "1") == 0 && unlink(trigger) != 0) {
    return 0;  // another thread took the one fault
  }
  LogFault(trigger, op, path, err);
  errno = err;
  return 1;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int fdatasync(int fd) {
  if (ShouldFail("fdatasync", fd)) return -1;
  return NEXT(fdatasync)(fd);
}

int fsync(int fd) {
  if (ShouldFail("fsync", fd)) return -1;
  return NEXT(fsync)(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (ShouldFail("pwrite", fd)) return -1;
  return NEXT(pwrite)(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  if (ShouldFail("pwrite", fd)) return -1;
  return NEXT(pwrite64)(fd, buf, count, offset);
}

ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
  if (ShouldFail("pread", fd)) return -1;
  return NEXT(pread)(fd, buf, count, offset);
}

ssize_t pread64(int fd, void* buf, size_t count, off64_t offset) {
  if (ShouldFail("pread", fd)) return -1;
  return NEXT(pread64)(fd, buf, count, offset);
}
