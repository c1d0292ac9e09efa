// The deterministic Raft simulation (FoundationDB's and TigerBeetle's VOPR's idea): a seeded
// scheduler drives 3 or 5 raft::Node over a simulated network (drops, duplicates, delays that
// reorder, symmetric and one-way partitions, heals) and simulated disks (SimDisk: what was not
// synced is lost on a crash), with crashes and restarts, clock skew (each node's tick has its own
// length), log compaction that forces snapshot installs, and leadership transfers. Everything is
// drawn from one seed, so a seed replays exactly.
//
// After every step a checker asserts Raft's safety properties:
//   - at most one leader per term;
//   - every node applies a prefix of one history (committed entries never change);
//   - a new leader's log holds every entry committed in an earlier term (leader completeness);
//   - a write acknowledged to its client is in the history, and at the end on every node;
//   - a linearizable read (ReadIndex) sees every write acknowledged before it was asked.
// Then faults stop (all nodes up, network healed, nothing dropped) and liveness is checked: a
// leader is elected and commits a new write within a bounded time, and every node applies it.
//
// Thread-safety: one simulation per thread; simulations share nothing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace runnel::raft::sim {

struct SimConfig {
  uint64_t seed = 1;
  int nodes = 0;              // 0: 3 or 5, drawn from the seed
  int64_t fault_time = 3000;  // time units with faults (a node's tick is 8 to 13 units)
  // After the faults stop: the bound for electing a leader and committing a write, then for every
  // node to apply it (a node far behind catches up at one flow-controlled append per round trip).
  int64_t liveness_time = 10000;
  int64_t catch_up_time = 100000;
  bool trace = false;  // print every event to stderr
};

struct SimResult {
  absl::Status status;  // the first property broken, with the time and the nodes involved
  int64_t end_time = 0;
  int64_t committed_entries = 0;
  int64_t acknowledged_writes = 0;
  int64_t leaders = 0;  // terms that had a leader
  int64_t crashes = 0;
  int64_t snapshots_installed = 0;
  int64_t messages_delivered = 0;
  int64_t reads = 0;  // linearizable reads confirmed (and checked)
};

SimResult RunSimulation(const SimConfig& config);

// The command that replays `config` with a trace.
std::string ReplayCommand(const SimConfig& config);

// Makes an abort inside a simulation (a RUNNEL_CHECK in raft::Node fails) print the replay
// command of every simulation running at that moment. Call once per process, before any run.
void InstallAbortReporter();

}  // namespace runnel::raft::sim
