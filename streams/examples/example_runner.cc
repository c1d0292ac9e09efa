#include "streams/examples/example_runner.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "streams/streams.h"

namespace runnel::streams::examples {

namespace {
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void OnStop(int) { stop_requested = 1; }
}  // namespace

void AddCommonFlags(CLI::App& app, CommonFlags& flags) {
  app.add_option("--brokers", flags.brokers, "bootstrap.servers (HOST:PORT[,...])");
  app.add_option("--application-id", flags.application_id,
                 "application.id: the consumer group and the prefix of internal topics")
      ->required();
  app.add_option("--state-dir", flags.state_dir, "state.dir (default /tmp/runnel-streams-<id>)");
  app.add_option("--threads", flags.threads, "num.stream.threads")->check(CLI::Range(1, 64));
  app.add_option("--commit-interval-ms", flags.commit_interval_ms, "commit.interval.ms")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  app.add_option("--store", flags.store, "state stores: rocksdb or in-memory")
      ->check(CLI::IsMember({"rocksdb", "in-memory"}));
  app.add_option("--progress-ms", flags.progress_ms,
                 "progress lines on stderr every N ms (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}));
}

int RunTopology(const absl::StatusOr<Topology>& topology, const CommonFlags& flags) {
  if (!topology.ok()) {
    std::cerr << "error: " << topology.status().message() << "\n";
    return 1;
  }
  client::Properties properties{
      {"application.id", flags.application_id},
      {"bootstrap.servers", flags.brokers},
      {"num.stream.threads", std::to_string(flags.threads)},
      {"commit.interval.ms", std::to_string(flags.commit_interval_ms)},
      {"state.dir",
       flags.state_dir.empty() ? "/tmp/runnel-streams-" + flags.application_id : flags.state_dir},
  };
  absl::StatusOr<StreamsConfig> config = StreamsConfig::FromProperties(properties);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = OnStop;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  Streams streams(*topology, *config);
  std::atomic<bool> failed{false};
  streams.SetStateListener([&failed](Streams::State now, Streams::State) {
    if (now == Streams::State::kError) failed = true;
  });
  if (absl::Status s = streams.Start(); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  std::cerr << flags.application_id << ": running; SIGINT or SIGTERM stops\n";
  auto next_progress = std::chrono::steady_clock::now();
  while (stop_requested == 0 && !failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (flags.progress_ms > 0 && std::chrono::steady_clock::now() >= next_progress) {
      next_progress += std::chrono::milliseconds(flags.progress_ms);
      const Streams::Metrics m = streams.metrics();
      std::cerr << flags.application_id << ": processed " << m.processed << ", tasks "
                << m.active_tasks.size() << ", late dropped " << m.dropped_late_records
                << ", commits " << m.commits << "\n";
    }
  }
  streams.Close();
  if (failed) {
    std::cerr << "error: " << flags.application_id << " stopped after a processing error (see "
              << "the log above)\n";
    return 1;
  }
  return 0;
}

}  // namespace runnel::streams::examples
