// tessera-raft-sim: runs the deterministic simulator over a range of seeds and reports
// violations; the last line is always "<N> seeds, <V> violations".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "raft/sim/simulator.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: tessera-raft-sim [--seeds N] [--start-seed S] [--ticks T] [--verbose]\n"
      "\n"
      "Runs N seeded simulations (seeds S..S+N-1) of a Raft group of 3 or 5 voters plus\n"
      "learners under message loss, duplication, delay, partitions, crashes that lose\n"
      "unpersisted writes, membership changes and leadership transfers, for T ticks each\n"
      "(the last 600 ticks without faults). After every step it checks election safety,\n"
      "log matching, leader completeness, state-machine safety, that no committed entry\n"
      "is lost, that reads are linearizable, and that a leader is elected after healing.\n"
      "\n"
      "  --seeds N       number of seeds (default 100)\n"
      "  --start-seed S  first seed (default 1)\n"
      "  --ticks T       ticks per seed (default 2000, at least 1000)\n"
      "  --verbose       trace faults and elections to stderr (use with one seed)\n"
      "\n"
      "Prints each failing seed and ends with \"<N> seeds, <V> violations\"; exits 1 if\n"
      "V > 0, 2 on bad usage. Rerun a failing seed alone: --seeds 1 --start-seed <seed>.\n");
}

bool ParseU64(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seeds = 100, start = 1, ticks = 2000;
  bool verbose = false;
  tessera::raft::sim::Sabotage sabotage = tessera::raft::sim::Sabotage::kNone;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--sabotage" && v != nullptr) {
      std::string m = v;
      if (m == "local-reads") {
        sabotage = tessera::raft::sim::Sabotage::kLocalReads;
      } else if (m == "lost-fsync") {
        sabotage = tessera::raft::sim::Sabotage::kLostFsync;
      } else {
        std::fprintf(stderr, "tessera-raft-sim: --sabotage takes local-reads or lost-fsync\n");
        return 2;
      }
      ++i;
    } else if ((a == "--seeds" || a == "--start-seed" || a == "--ticks") && v != nullptr) {
      uint64_t* target = a == "--seeds" ? &seeds : a == "--start-seed" ? &start : &ticks;
      if (!ParseU64(v, target)) {
        std::fprintf(stderr, "tessera-raft-sim: %s needs a non-negative integer, got '%s'\n",
                     a.c_str(), v);
        return 2;
      }
      ++i;
    } else {
      std::fprintf(stderr, "tessera-raft-sim: unknown or incomplete argument '%s'\n\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  if (ticks < 1000 || ticks > 10'000'000) {
    std::fprintf(stderr, "tessera-raft-sim: --ticks must be in [1000, 10000000]\n");
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  uint64_t violations = 0;
  tessera::raft::sim::SimStats total;
  int max_heal = 0;
  for (uint64_t s = start; s < start + seeds; ++s) {
    auto r = tessera::raft::sim::RunSimulation({s, static_cast<int>(ticks), verbose, sabotage});
    if (!r.violation.empty()) {
      ++violations;
      std::printf("seed %lu: VIOLATION: %s\n", s, r.violation.c_str());
      std::printf("  rerun: tessera-raft-sim --seeds 1 --start-seed %lu --ticks %lu --verbose\n", s,
                  ticks);
    }
    total.leaders_elected += r.stats.leaders_elected;
    total.writes_acked += r.stats.writes_acked;
    total.reads_served += r.stats.reads_served;
    total.lease_reads += r.stats.lease_reads;
    total.crashes += r.stats.crashes;
    total.crashes_mid_write += r.stats.crashes_mid_write;
    total.partitions += r.stats.partitions;
    total.conf_changes_applied += r.stats.conf_changes_applied;
    total.snapshots_installed += r.stats.snapshots_installed;
    total.transfers += r.stats.transfers;
    total.messages_delivered += r.stats.messages_delivered;
    total.messages_dropped += r.stats.messages_dropped;
    max_heal = std::max(max_heal, r.stats.heal_ticks_to_leader);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "stats: elections %lu, writes acked %lu, reads %lu (lease %lu), crashes %lu (mid-write %lu), "
      "partitions %lu, conf changes %lu, snapshots installed %lu, transfers %lu, messages %lu "
      "delivered / %lu dropped, worst ticks to leader after heal %d\n",
      total.leaders_elected, total.writes_acked, total.reads_served, total.lease_reads,
      total.crashes, total.crashes_mid_write, total.partitions, total.conf_changes_applied,
      total.snapshots_installed, total.transfers, total.messages_delivered, total.messages_dropped,
      max_heal);
  std::printf("time: %.1f s, %.0f seeds/minute\n", secs, secs > 0 ? seeds * 60.0 / secs : 0.0);
  std::printf("%lu seeds, %lu violations\n", seeds, violations);
  return violations == 0 ? 0 : 1;
}
