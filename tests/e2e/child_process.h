// ChildProcess: a program started by a process-level test, with stdin, stdout and stderr
// redirected to files (stdout possibly to a pipe), SIGKILLed and reaped on destruction if it still
// runs. WaitFor: a bounded wait for a condition. ReadFile: what a child wrote to a file.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace runnel::testing {

using std::chrono::milliseconds;

// A child process with stdin, stdout and stderr redirected to files (stdout possibly to a pipe).
// SIGKILLed and reaped on destruction if it still runs, so a failing test leaves nothing behind.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Starts `args` (args[0] a path); `stdin_path` empty means /dev/null. Stdout goes to
  // `stdout_path`, or to `stdout_fd` if that is not -1.
  bool Start(std::vector<std::string> args, const std::string& stdin_path,
             const std::string& stdout_path, const std::string& stderr_path, int stdout_fd = -1) {
    // Everything the child needs is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string in_path = stdin_path.empty() ? "/dev/null" : stdin_path;
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int in = ::open(in_path.c_str(), O_RDONLY);
      const int out = stdout_fd >= 0
                          ? stdout_fd
                          : ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    return true;
  }

  // Sends `sig` (0: none) and waits up to `timeout` for the process to end; its wait status, or
  // std::nullopt if it still runs.
  std::optional<int> SignalAndWait(int sig, milliseconds timeout) {
    if (pid_ <= 0) return status_;
    if (sig != 0) ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < 100'000; ++i) {  // also bounded by the deadline
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = status;
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return std::nullopt;
  }

  // Whether the process has not ended (reaping it if it has).
  bool Running() { return !SignalAndWait(0, milliseconds(0)).has_value(); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

inline std::string DescribeStatus(std::optional<int> status) {
  if (!status.has_value()) return "still running";
  if (WIFEXITED(*status)) return absl::StrCat("exit ", WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return absl::StrCat("killed by signal ", WTERMSIG(*status));
  return absl::StrCat("wait status ", *status);
}

// Calls `done` every `every` until it returns true or `timeout` passes; whether it did.
inline bool WaitFor(const std::function<bool()>& done, milliseconds timeout,
                    milliseconds every = milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int64_t rounds = timeout / every + 1;
  for (int64_t i = 0; i < rounds; ++i) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(every);
  }
  return done();
}

// The whole of the file at `path` ("" if it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace runnel::testing
