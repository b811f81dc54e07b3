// Deterministic simulator of one Raft group: seeded faults (loss, duplication, delay and
// reordering, partitions, crashes that lose unpersisted state, membership changes and
// leadership transfers) and safety checks after every step. Same seed, same run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::raft::sim {

// Deliberate bugs in the simulated application, to show the checkers catch them.
enum class Sabotage {
  kNone,
  kLocalReads,  // serve reads from the node's own state, without ReadIndex
  kLostFsync,   // a restarted node comes back with an older disk (acknowledged writes lost)
};

struct SimOptions {
  uint64_t seed = 1;
  int ticks = 2000;
  bool verbose = false;  // trace every fault and role change to stderr
  Sabotage sabotage = Sabotage::kNone;
};

struct SimStats {
  uint64_t leaders_elected = 0;
  uint64_t writes_acked = 0;
  uint64_t reads_served = 0;
  uint64_t lease_reads = 0;
  uint64_t crashes = 0;
  uint64_t crashes_mid_write = 0;
  uint64_t partitions = 0;
  uint64_t conf_changes_applied = 0;
  uint64_t snapshots_installed = 0;
  uint64_t transfers = 0;
  uint64_t messages_delivered = 0;
  uint64_t messages_dropped = 0;
  int heal_ticks_to_leader = -1;
};

struct SimResult {
  uint64_t seed = 0;
  // Empty when the run was safe and live; otherwise the first violation found.
  std::string violation;
  SimStats stats;
};

SimResult RunSimulation(const SimOptions& options);

}  // namespace tessera::raft::sim
