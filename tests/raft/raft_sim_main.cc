// raft_sim: runs the deterministic Raft simulation (tests/raft/sim/simulation.h) over many seeds.
//
//   raft_sim --seeds 100000 [--first-seed 1] [--jobs 2]   many seeds; progress on stderr
//   raft_sim --seed 1234 --trace                            one seed, every event printed
//
// Exits 1 on the first seed that breaks a property, printing it and the command that replays it.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "tests/raft/sim/simulation.h"

namespace sim = runnel::raft::sim;

int main(int argc, char** argv) {
  CLI::App app{"Deterministic simulation of the Raft core"};
  uint64_t seed = 0;
  uint64_t seeds = 1000;
  uint64_t first_seed = 1;
  int jobs = 1;
  sim::SimConfig base;
  app.add_option("--seed", seed, "Run this one seed");
  app.add_option("--seeds", seeds, "How many seeds to run")->check(CLI::PositiveNumber);
  app.add_option("--first-seed", first_seed, "The first seed of the range");
  app.add_option("--jobs", jobs, "Simulations run at once")->check(CLI::Range(1, 64));
  app.add_option("--nodes", base.nodes, "Nodes (3 or 5; default: drawn from the seed)")
      ->check(CLI::IsMember({0, 1, 2, 3, 4, 5, 6, 7}));
  app.add_option("--fault-time", base.fault_time, "Time units with faults")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000'000}));
  app.add_option("--liveness-time", base.liveness_time,
                 "Time units after the faults stop to elect a leader and commit")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  app.add_option("--catch-up-time", base.catch_up_time,
                 "Time units after that commit for every node to apply it")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  app.add_flag("--trace", base.trace, "Print every event (use with --seed)");
  bool keep_going = false;
  app.add_flag("--keep-going", keep_going,
               "Run every seed and count the failing ones (the first few are printed)");
  CLI11_PARSE(app, argc, argv);

  sim::InstallAbortReporter();
  if (app.count("--seed") > 0) {
    first_seed = seed;
    seeds = 1;
  }
  const auto started = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> done{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> failures{0};
  uint64_t first_failure = 0;
  std::atomic<int64_t> committed{0};
  std::atomic<int64_t> crashes{0};
  std::atomic<int64_t> reads{0};
  std::mutex output;
  auto worker = [&] {
    for (uint64_t i = next++; i < seeds && !failed.load(); i = next++) {
      sim::SimConfig config = base;
      config.seed = first_seed + i;
      sim::SimResult result = sim::RunSimulation(config);
      committed += result.committed_entries;
      crashes += result.crashes;
      reads += result.reads;
      const uint64_t finished = ++done;
      std::lock_guard<std::mutex> lock(output);
      if (!result.status.ok()) {
        const uint64_t failure = ++failures;
        if (failure == 1 || config.seed < first_failure) first_failure = config.seed;
        if (failure <= 3) {
          std::fprintf(stderr, "FAILED: %s\nreplay: %s\n", result.status.ToString().c_str(),
                       sim::ReplayCommand(config).c_str());
        }
        if (!keep_going) {
          failed = true;
          return;
        }
        continue;
      }
      if (seeds == 1) {
        std::fprintf(
            stderr,
            "seed %llu: ok at t=%lld: %lld entries committed, %lld writes acknowledged, "
            "%lld leaders, %lld crashes, %lld snapshots installed, %lld messages, %lld reads\n",
            static_cast<unsigned long long>(config.seed), static_cast<long long>(result.end_time),
            static_cast<long long>(result.committed_entries),
            static_cast<long long>(result.acknowledged_writes),
            static_cast<long long>(result.leaders), static_cast<long long>(result.crashes),
            static_cast<long long>(result.snapshots_installed),
            static_cast<long long>(result.messages_delivered),
            static_cast<long long>(result.reads));
      } else if (finished % 1000 == 0) {
        std::fprintf(stderr, "%llu/%llu seeds ok\n", static_cast<unsigned long long>(finished),
                     static_cast<unsigned long long>(seeds));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (failures > 0) {
    std::printf("%llu of %llu seeds failed (lowest failing seed %llu) in %.1f s\n",
                static_cast<unsigned long long>(failures.load()),
                static_cast<unsigned long long>(done.load()),
                static_cast<unsigned long long>(first_failure), seconds);
    return 1;
  }
  std::printf(
      "%llu seeds ok (first %llu) in %.1f s: %.0f seeds/s, %lld entries committed, %lld "
      "crashes, %lld linearizable reads\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first_seed), seconds,
      static_cast<double>(seeds) / seconds, static_cast<long long>(committed.load()),
      static_cast<long long>(crashes.load()), static_cast<long long>(reads.load()));
  return 0;
}
