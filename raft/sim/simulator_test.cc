// Tests of the simulator itself: runs are reproducible, and each checker fires when the
// simulated application is deliberately broken (so a clean run means something).
#include "raft/sim/simulator.h"

#include <gtest/gtest.h>

namespace tessera::raft::sim {
namespace {

TEST(SimulatorTest, SameSeedSameRun) {
  for (uint64_t seed : {3u, 77u, 1234u}) {
    SimResult a = RunSimulation({seed, 1500, false, Sabotage::kNone});
    SimResult b = RunSimulation({seed, 1500, false, Sabotage::kNone});
    EXPECT_EQ(a.violation, b.violation);
    EXPECT_EQ(a.stats.messages_delivered, b.stats.messages_delivered);
    EXPECT_EQ(a.stats.writes_acked, b.stats.writes_acked);
    EXPECT_EQ(a.stats.leaders_elected, b.stats.leaders_elected);
    EXPECT_GT(a.stats.writes_acked, 0u) << "seed " << seed << " made no progress";
    EXPECT_GT(a.stats.reads_served, 0u);
  }
}

TEST(SimulatorTest, CleanSeedsHaveNoViolationsAndHeal) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SimResult r = RunSimulation({seed, 2000, false, Sabotage::kNone});
    EXPECT_EQ(r.violation, "") << "seed " << seed;
    EXPECT_GE(r.stats.heal_ticks_to_leader, 0) << "seed " << seed;
  }
}

// Counts seeds in [1, n] whose run reports a violation containing `needle`.
int SeedsFlagging(Sabotage sabotage, int n, const std::string& needle) {
  int flagged = 0;
  for (int seed = 1; seed <= n; ++seed) {
    SimResult r = RunSimulation({static_cast<uint64_t>(seed), 2000, false, sabotage});
    if (r.violation.find(needle) != std::string::npos) ++flagged;
  }
  return flagged;
}

TEST(SimulatorTest, LinearizabilityCheckerCatchesLocalReads) {
  EXPECT_GT(SeedsFlagging(Sabotage::kLocalReads, 60, "stale read"), 0);
}

TEST(SimulatorTest, SafetyCheckersCatchLostFsync) {
  // A node that forgets acknowledged votes and entries breaks Raft; some checker must see it.
  EXPECT_GT(SeedsFlagging(Sabotage::kLostFsync, 100, ""), 0);
}

}  // namespace
}  // namespace tessera::raft::sim
