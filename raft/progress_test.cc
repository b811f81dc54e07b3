// Table tests of flow control and quorum arithmetic: the inflight ring, Progress state
// transitions, and ProgressTracker's commit index, vote tally and quorum activity (voters only).
#include "raft/progress.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::MakeConf;

// --- Inflights ---

TEST(InflightsTest, AddUntilFullThenFreeUpToAnIndex) {
  Inflights in(10);
  for (uint64_t i = 0; i < 5; ++i) in.Add(i);
  EXPECT_EQ(in.Count(), 5u);
  EXPECT_FALSE(in.Full());
  for (uint64_t i = 5; i < 10; ++i) in.Add(i);
  EXPECT_EQ(in.Count(), 10u);
  EXPECT_TRUE(in.Full());

  in.FreeLE(4);  // frees 0..4
  EXPECT_EQ(in.Count(), 5u);
  EXPECT_FALSE(in.Full());
  in.FreeLE(8);  // frees 5..8
  EXPECT_EQ(in.Count(), 1u);

  // Wrap around the ring.
  for (uint64_t i = 10; i < 19; ++i) in.Add(i);
  EXPECT_TRUE(in.Full());
  in.FreeLE(3);  // below the oldest: nothing
  EXPECT_EQ(in.Count(), 10u);
  in.FreeLE(12);  // 9..12
  EXPECT_EQ(in.Count(), 6u);
  in.FreeLE(100);
  EXPECT_EQ(in.Count(), 0u);
  EXPECT_FALSE(in.Full());
}

TEST(InflightsTest, FreeFirstOneFreesTheOldest) {
  Inflights in(3);
  in.Add(5);
  in.Add(7);
  in.Add(9);
  ASSERT_TRUE(in.Full());
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 2u);
  EXPECT_FALSE(in.Full());
  in.FreeLE(8);  // frees 7 only: 9 stays
  EXPECT_EQ(in.Count(), 1u);
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 0u);
  in.FreeFirstOne();  // empty: no-op
  EXPECT_EQ(in.Count(), 0u);
}

TEST(InflightsTest, ResetEmptiesTheWindow) {
  Inflights in(2);
  in.Add(1);
  in.Add(2);
  in.Reset();
  EXPECT_EQ(in.Count(), 0u);
  in.Add(3);
  in.Add(4);
  EXPECT_TRUE(in.Full());
}

TEST(InflightsDeathTest, AddingToAFullWindowIsFatal) {
  Inflights in(1);
  in.Add(1);
  EXPECT_DEATH(in.Add(2), "inflights overflow");
}

// --- Progress ---

Progress MakeProgress(ProgressState state, uint64_t match, uint64_t next, size_t window = 256) {
  Progress p(window);
  p.state = state;
  p.match = match;
  p.next = next;
  return p;
}

TEST(ProgressTest, MaybeUpdateAdvancesMatchAndNeverDecreasesNext) {
  struct Case {
    uint64_t update, want_match, want_next;
    bool want_ok;
  };
  const std::vector<Case> cases = {
      {2, 3, 5, false},  // stale: neither decreases
      {3, 3, 5, false},  // same match
      {4, 4, 5, true},   // match up, next unchanged
      {5, 5, 6, true},  {6, 6, 7, true},
  };
  for (const auto& c : cases) {
    Progress p = MakeProgress(ProgressState::kProbe, 3, 5);
    p.probe_sent = true;
    EXPECT_EQ(p.MaybeUpdate(c.update), c.want_ok) << c.update;
    EXPECT_EQ(p.match, c.want_match) << c.update;
    EXPECT_EQ(p.next, c.want_next) << c.update;
    // An ack of new entries unpauses a probing follower.
    EXPECT_EQ(p.probe_sent, !c.want_ok) << c.update;
  }
}

TEST(ProgressTest, MaybeDecrToInReplicateAndProbe) {
  struct Case {
    ProgressState state;
    uint64_t match, next, rejected, hint;
    bool want_ok;
    uint64_t want_next;
  };
  const std::vector<Case> cases = {
      // Replicate: a rejection at or below match is stale.
      {ProgressState::kReplicate, 5, 10, 5, 5, false, 10},
      {ProgressState::kReplicate, 5, 10, 4, 4, false, 10},
      // Replicate: otherwise straight back to match+1.
      {ProgressState::kReplicate, 5, 10, 9, 9, true, 6},
      // Probe: only the rejection of the last probe (next-1) counts.
      {ProgressState::kProbe, 0, 0, 0, 0, false, 0},
      {ProgressState::kProbe, 0, 10, 5, 5, false, 10},
      // Probe: back to min(rejected, hint+1), at least 1.
      {ProgressState::kProbe, 0, 10, 9, 9, true, 9},
      {ProgressState::kProbe, 0, 2, 1, 1, true, 1},
      {ProgressState::kProbe, 0, 1, 0, 0, true, 1},
      {ProgressState::kProbe, 0, 10, 9, 2, true, 3},
      {ProgressState::kProbe, 0, 10, 9, 0, true, 1},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Progress p = MakeProgress(c.state, c.match, c.next);
    p.probe_sent = true;
    EXPECT_EQ(p.MaybeDecrTo(c.rejected, c.hint), c.want_ok) << "case " << i;
    EXPECT_EQ(p.next, c.want_next) << "case " << i;
    EXPECT_EQ(p.match, c.match) << "case " << i;
    if (c.state == ProgressState::kProbe && c.want_ok) {
      // A handled rejection lets the next probe go out.
      EXPECT_FALSE(p.probe_sent) << "case " << i;
    }
  }
}

TEST(ProgressTest, IsPausedPerState) {
  Progress probe = MakeProgress(ProgressState::kProbe, 0, 1, 2);
  EXPECT_FALSE(probe.IsPaused());
  probe.probe_sent = true;
  EXPECT_TRUE(probe.IsPaused());

  Progress replicate = MakeProgress(ProgressState::kReplicate, 0, 1, 2);
  replicate.probe_sent = true;  // irrelevant in replicate
  EXPECT_FALSE(replicate.IsPaused());
  replicate.inflights.Add(1);
  EXPECT_FALSE(replicate.IsPaused());
  replicate.inflights.Add(2);
  EXPECT_TRUE(replicate.IsPaused());

  Progress snapshot = MakeProgress(ProgressState::kSnapshot, 0, 1, 2);
  EXPECT_TRUE(snapshot.IsPaused());
}

TEST(ProgressTest, BecomeProbeResumesAfterSnapshotOrMatch) {
  struct Case {
    ProgressState state;
    uint64_t match, next, pending_snapshot, want_next;
  };
  const std::vector<Case> cases = {
      {ProgressState::kReplicate, 1, 5, 0, 2},
      {ProgressState::kSnapshot, 1, 5, 10, 11},   // resume after the snapshot
      {ProgressState::kSnapshot, 15, 5, 10, 16},  // or after match, if that is later
      {ProgressState::kSnapshot, 1, 5, 0, 2},     // failed snapshot: from match
  };
  for (const auto& c : cases) {
    Progress p = MakeProgress(c.state, c.match, c.next);
    p.pending_snapshot = c.pending_snapshot;
    p.inflights.Add(4);
    p.BecomeProbe();
    EXPECT_EQ(p.state, ProgressState::kProbe);
    EXPECT_EQ(p.next, c.want_next);
    EXPECT_EQ(p.pending_snapshot, 0u);
    EXPECT_EQ(p.inflights.Count(), 0u);
    EXPECT_FALSE(p.IsPaused());
  }
}

TEST(ProgressTest, BecomeReplicateAndBecomeSnapshot) {
  Progress p = MakeProgress(ProgressState::kProbe, 1, 5);
  p.BecomeReplicate();
  EXPECT_EQ(p.state, ProgressState::kReplicate);
  EXPECT_EQ(p.next, 2u);
  EXPECT_EQ(p.match, 1u);

  p.inflights.Add(3);
  p.BecomeSnapshot(10);
  EXPECT_EQ(p.state, ProgressState::kSnapshot);
  EXPECT_EQ(p.pending_snapshot, 10u);
  EXPECT_EQ(p.inflights.Count(), 0u);
  EXPECT_TRUE(p.IsPaused());
}

// --- ProgressTracker ---

ProgressTracker TrackerWithMatches(const ConfState& cs, const std::map<NodeId, uint64_t>& match) {
  ProgressTracker t(16);
  t.ApplyConfState(cs, 1, /*self=*/1);
  for (const auto& [id, m] : match) t.Find(id)->match = m;
  return t;
}

TEST(ProgressTrackerTest, CommittedIsTheMajorityMatchOfVotersOnly) {
  struct Case {
    const char* name;
    ConfState cs;
    std::map<NodeId, uint64_t> match;
    uint64_t want;
  };
  const std::vector<Case> cases = {
      {"single voter", MakeConf({1}), {{1, 7}}, 7},
      {"three voters", MakeConf({1, 2, 3}), {{1, 10}, {2, 5}, {3, 1}}, 5},
      {"three voters, two behind", MakeConf({1, 2, 3}), {{1, 10}, {2, 1}, {3, 1}}, 1},
      {"four voters need three", MakeConf({1, 2, 3, 4}), {{1, 10}, {2, 9}, {3, 2}, {4, 1}}, 2},
      {"five voters", MakeConf({1, 2, 3, 4, 5}), {{1, 9}, {2, 8}, {3, 7}, {4, 1}, {5, 1}}, 7},
      // A far-ahead learner changes nothing.
      {"learner ignored", MakeConf({1, 2, 3}, {4}), {{1, 10}, {2, 1}, {3, 1}, {4, 10}}, 1},
      {"learners ignored", MakeConf({1}, {2, 3}), {{1, 3}, {2, 100}, {3, 100}}, 3},
      {"single voter behind learners", MakeConf({1}, {2}), {{1, 0}, {2, 5}}, 0},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(TrackerWithMatches(c.cs, c.match).Committed(), c.want) << c.name;
  }
  // No voters at all: everything counts as committed (etcd's convention).
  ProgressTracker empty(16);
  EXPECT_EQ(empty.Committed(), UINT64_MAX);
}

TEST(ProgressTrackerTest, TallyVotesCountsVotersOnly) {
  using VR = ProgressTracker::VoteResult;
  struct Case {
    const char* name;
    ConfState cs;
    std::map<NodeId, bool> votes;
    VR want;
    size_t want_granted, want_rejected;
  };
  const std::vector<Case> cases = {
      {"no votes", MakeConf({1, 2, 3}), {}, VR::kPending, 0, 0},
      {"one yes", MakeConf({1, 2, 3}), {{1, true}}, VR::kPending, 1, 0},
      {"majority yes", MakeConf({1, 2, 3}), {{1, true}, {2, true}}, VR::kWon, 2, 0},
      {"one yes one no", MakeConf({1, 2, 3}), {{1, true}, {2, false}}, VR::kPending, 1, 1},
      {"majority no", MakeConf({1, 2, 3}), {{1, true}, {2, false}, {3, false}}, VR::kLost, 1, 2},
      {"learner yes does not count",
       MakeConf({1, 2, 3}, {4}),
       {{1, true}, {4, true}},
       VR::kPending,
       1,
       0},
      {"learner no does not count",
       MakeConf({1, 2, 3}, {4}),
       {{1, true}, {2, true}, {4, false}},
       VR::kWon,
       2,
       0},
      {"stranger ignored", MakeConf({1, 2, 3}), {{1, true}, {9, true}}, VR::kPending, 1, 0},
      {"even split lost",
       MakeConf({1, 2, 3, 4}),
       {{1, true}, {2, true}, {3, false}, {4, false}},
       VR::kLost,
       2,
       2},
      {"two of four pending", MakeConf({1, 2, 3, 4}), {{1, true}, {2, true}}, VR::kPending, 2, 0},
      {"single voter", MakeConf({1}, {2}), {{1, true}}, VR::kWon, 1, 0},
  };
  for (const auto& c : cases) {
    ProgressTracker t(16);
    t.ApplyConfState(c.cs, 1, 1);
    for (const auto& [id, granted] : c.votes) t.RecordVote(id, granted);
    size_t granted = 99, rejected = 99;
    EXPECT_EQ(t.TallyVotes(&granted, &rejected), c.want) << c.name;
    EXPECT_EQ(granted, c.want_granted) << c.name;
    EXPECT_EQ(rejected, c.want_rejected) << c.name;
  }
}

TEST(ProgressTrackerTest, FirstVoteOfANodeSticksUntilReset) {
  ProgressTracker t(16);
  t.ApplyConfState(MakeConf({1, 2, 3}), 1, 1);
  t.RecordVote(1, true);
  t.RecordVote(2, false);
  t.RecordVote(2, true);  // a duplicate response does not flip the vote
  EXPECT_EQ(t.TallyVotes(nullptr, nullptr), ProgressTracker::VoteResult::kPending);
  t.ResetVotes();
  t.RecordVote(1, true);
  t.RecordVote(2, true);
  EXPECT_EQ(t.TallyVotes(nullptr, nullptr), ProgressTracker::VoteResult::kWon);
}

TEST(ProgressTrackerTest, QuorumActiveIgnoresLearners) {
  ProgressTracker t(16);
  t.ApplyConfState(MakeConf({1, 2, 3}, {4, 5}), 1, 1);
  for (auto& [id, pr] : t.progress()) pr.recent_active = false;
  t.Find(4)->recent_active = true;
  t.Find(5)->recent_active = true;
  t.Find(1)->recent_active = true;
  EXPECT_FALSE(t.QuorumActive()) << "one voter and two learners are not a quorum";
  t.Find(2)->recent_active = true;
  EXPECT_TRUE(t.QuorumActive());
}

TEST(ProgressTrackerTest, ApplyConfStateKeepsExistingProgressAndInitializesNewPeers) {
  ProgressTracker t(16);
  t.ApplyConfState(MakeConf({1, 2}), 5, /*self=*/1);
  EXPECT_EQ(t.Find(1)->match, 4u);  // self has everything it has
  EXPECT_EQ(t.Find(2)->match, 0u);
  EXPECT_EQ(t.Find(2)->next, 5u);
  EXPECT_TRUE(t.Find(2)->recent_active);
  t.Find(2)->match = 7;
  t.Find(2)->next = 8;

  // Add learner 3; 2 keeps its progress.
  t.ApplyConfState(MakeConf({1, 2}, {3}), 10, 1);
  EXPECT_EQ(t.Find(2)->match, 7u);
  EXPECT_EQ(t.Find(2)->next, 8u);
  EXPECT_TRUE(t.Find(3)->is_learner);
  EXPECT_EQ(t.Find(3)->next, 10u);
  EXPECT_EQ(t.VoterCount(), 2u);
  t.Find(3)->match = 9;

  // Promote 3: same progress, now a voter.
  t.ApplyConfState(MakeConf({1, 2, 3}), 10, 1);
  EXPECT_FALSE(t.Find(3)->is_learner);
  EXPECT_EQ(t.Find(3)->match, 9u);
  EXPECT_TRUE(t.IsVoter(3));

  // Remove 2.
  t.ApplyConfState(MakeConf({1, 3}), 10, 1);
  EXPECT_EQ(t.Find(2), nullptr);
  EXPECT_EQ(t.progress().size(), 2u);
}

TEST(ProgressTrackerTest, ResetProgressStartsEveryPeerAfterTheLastIndex) {
  ProgressTracker t(16);
  t.ApplyConfState(MakeConf({1, 2}, {3}), 1, 1);
  t.Find(2)->match = 3;
  t.Find(2)->state = ProgressState::kReplicate;
  t.ResetProgress(9, /*self=*/1);
  EXPECT_EQ(t.Find(1)->match, 9u);
  EXPECT_EQ(t.Find(2)->match, 0u);
  EXPECT_EQ(t.Find(2)->next, 10u);
  EXPECT_EQ(t.Find(2)->state, ProgressState::kProbe);
  EXPECT_TRUE(t.Find(3)->is_learner) << "suffrage survives a reset";
}

}  // namespace
}  // namespace tessera::raft
