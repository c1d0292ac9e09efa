// BrokerProcess: a real runneld child process on free loopback ports with its own data dir, for
// process-level tests. Start() waits (bounded) for the "runneld ready grpc=HOST:PORT" line.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/free_port.h"

namespace runnel::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command line (bounded by the command itself), capturing its output.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) result.out.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// `runnel ARGS` from the build's bin directory.
inline CommandResult RunRunnel(const std::string& args) {
  return RunCommand(std::string(RUNNEL_BIN_DIR) + "/runnel " + args);
}

// Whether some line of `out` (a table the CLI printed) has exactly these cells, whatever the
// column widths.
inline bool HasRow(const std::string& out, const std::vector<std::string>& cells) {
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::vector<std::string> words;
    std::string word;
    for (size_t i = start; i <= end; ++i) {
      if (i == end || out[i] == ' ') {
        if (!word.empty()) words.push_back(word);
        word.clear();
      } else {
        word += out[i];
      }
    }
    if (words == cells) return true;
    start = end + 1;
  }
  return false;
}

class BrokerProcess {
 public:
  BrokerProcess(std::string data_dir, std::vector<std::string> extra_args = {})
      : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)) {}
  ~BrokerProcess() {
    Kill();
    if (fd_ >= 0) ::close(fd_);
  }

  // "NAME=value" entries added to the environment of the runneld started next (e.g. LD_PRELOAD).
  void SetEnvironment(std::vector<std::string> vars) { env_ = std::move(vars); }
  // The soft and hard limit on open file descriptors of the runneld started next (ulimit -n).
  void SetFileLimit(rlim_t n) { file_limit_ = n; }

  // Starts runneld on `grpc_addr` (a free port by default; pass address() to restart on the
  // same one); returns false (with its output in output()) if it did not become ready within
  // 20 s or exited. The HTTP port is one FreePort found free a moment before: when another
  // process took it meanwhile (tests run in parallel), runneld says so and is started again on
  // another one, at most 3 times.
  bool Start(const std::string& grpc_addr = "127.0.0.1:0") {
    for (int attempt = 0;; ++attempt) {
      const size_t from = output_.size();
      if (StartOnce(grpc_addr)) return true;
      if (attempt == 2 || pid_ <= 0) return false;
      Drain();
      if (output_.find("HTTP address", from) == std::string::npos) return false;
      int status = 0;
      ::waitpid(pid_, &status, 0);  // it exited on its own
      pid_ = -1;
    }
  }

 private:
  bool StartOnce(const std::string& grpc_addr) {
    http_port_ = FreePort();
    int out[2];
    if (::pipe(out) != 0) return false;
    std::vector<std::string> args = {std::string(RUNNEL_BIN_DIR) + "/runneld",
                                     "--data-dir",
                                     data_dir_,
                                     "--grpc-addr",
                                     grpc_addr,
                                     "--http-addr",
                                     "127.0.0.1:" + std::to_string(http_port_),
                                     "--log-level",
                                     "warn"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    // No time retention unless the test sets it: test records carry fixed event times, often
    // years old (windows read better from 0), which retention.ms deletes while the test runs,
    // active segment included (Kafka's rule). Tests of retention set topic configs.
    const auto given = [&](const std::string& flag) {
      return std::find(extra_args_.begin(), extra_args_.end(), flag) != extra_args_.end();
    };
    if (!given("--log-retention-ms") && !given("--config")) {
      args.insert(args.end(), {"--log-retention-ms", "-1"});
    }
    std::vector<std::string> env = env_;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);  // ours win: first match
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDERR_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      if (file_limit_ > 0) {
        const rlimit limit{file_limit_, file_limit_};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
      }
      ::execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    ::close(out[1]);
    if (fd_ >= 0) ::close(fd_);
    fd_ = out[0];
    const size_t search_from = output_.size();  // a restart must not find the old ready line
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;  // exited
      output_.append(buf, n);
      const size_t at = output_.find("runneld ready grpc=", search_from);
      if (at != std::string::npos) {
        const size_t end = output_.find('\n', at);
        if (end == std::string::npos) continue;
        address_ = output_.substr(at + 19, end - at - 19);
        return true;
      }
    }
    return false;
  }

 public:
  // SIGTERM and wait (bounded); returns the exit status, or -1.
  int Stop() { return Signal(SIGTERM); }
  int Kill() { return Signal(SIGKILL); }

  // Waits for a process that exits on its own (e.g. refused to start); returns its exit code.
  int Wait() {
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    Drain();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Waits at most `limit` for the process to exit on its own; its exit code, or -1 (still
  // running, or killed by a signal).
  int WaitFor(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        Drain();
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      Drain();
      ::usleep(50'000);
    }
    return -1;
  }

  // Every thread's stack of the running process (gdb), for a test to show why it hangs.
  std::string Stacks() const {
    if (pid_ <= 0) return "(not running)";
    return RunCommand("timeout 60 gdb -p " + std::to_string(pid_) +
                      " -batch -ex 'thread apply all bt' 2>/dev/null | grep -E '^(Thread|#)'")
        .out;
  }

  const std::string& address() const { return address_; }
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }  // -1 when not running
  const std::string& output() {
    Drain();
    return output_;
  }

 private:
  int Signal(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 200; ++i) {  // up to 20 s
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        Drain();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(100'000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

  void Drain() {
    if (fd_ < 0) return;
    char buf[4096];
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      output_.append(buf, n);
    }
  }

  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::vector<std::string> env_;
  rlim_t file_limit_ = 0;
  pid_t pid_ = -1;
  int fd_ = -1;
  int http_port_ = 0;
  std::string address_;
  std::string output_;
};

}  // namespace runnel::testing
