// Scenario tests of single-step membership changes and learners (spec membership.md §7):
// AddLearner, PromoteLearner preconditions, ProposeConfChange refusals, removal and quorum.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::MakeCC;
using testing::MakeConf;
using testing::MakeMsg;
using testing::Network;

constexpr int kElectionTick = 10;
constexpr ConfChangeType kAddNode = ConfChangeType::kAddNode;
constexpr ConfChangeType kAddLearner = ConfChangeType::kAddLearnerNode;
constexpr ConfChangeType kRemove = ConfChangeType::kRemoveNode;

PeerStatus ProgressOf(Network& net, NodeId leader, NodeId peer) {
  Status st = net.node(leader).GetStatus();
  EXPECT_TRUE(st.progress.contains(peer)) << "leader " << leader << " tracks no " << peer;
  return st.progress.contains(peer) ? st.progress.at(peer) : PeerStatus{};
}

// --- Learners ---

TEST(LearnerTest, AddLearnerReplicatesWithoutCountingAsVoter) {
  Network net({1});
  net.AddJoiner(2);
  net.Campaign(1);
  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kAddLearner, 2)).ok());
  EXPECT_EQ(net.peer(1).conf, MakeConf({1}, {2}));
  EXPECT_TRUE(ProgressOf(net, 1, 2).is_learner);

  ASSERT_TRUE(net.Propose(1, "w").ok());
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"w"}));
  EXPECT_EQ(net.peer(2).conf, MakeConf({1}, {2})) << "the learner learns its own suffrage";
  EXPECT_EQ(ProgressOf(net, 1, 2).match, net.peer(1).last_index());

  net.Isolate(2);
  ASSERT_TRUE(net.Propose(1, "solo").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"w", "solo"}))
      << "the single voter commits alone";
}

TEST(LearnerTest, LearnerNeverCampaigns) {
  Network net({1, 2, 3}, {4});
  net.ClearSent();
  net.node(4).Campaign();
  net.Stabilize();
  EXPECT_EQ(net.peer(4).role(), Role::kFollower);
  EXPECT_EQ(net.peer(4).term(), testing::kBootstrapTerm);
  EXPECT_TRUE(net.sent().empty()) << "Campaign on a learner is a no-op";

  net.Isolate(4);
  for (int t = 0; t < 10 * kElectionTick; ++t) {
    net.TickAll(1);
    ASSERT_EQ(net.peer(4).role(), Role::kFollower) << "tick " << t;
  }
  EXPECT_EQ(net.peer(4).term(), testing::kBootstrapTerm);
}

TEST(LearnerTest, CampaignsDoNotAskLearnersAndLearnerVotesDoNotCount) {
  Network net({1, 2, 3}, {4}, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  net.ClearSent();
  net.Isolate(2);
  net.Isolate(3);
  net.Campaign(1);
  EXPECT_EQ(net.CountSent([](const Message& m) { return m.to == 4; }), 0u);

  // Even a granted vote from the learner leaves the candidate short of a quorum.
  Message grant = MakeMsg(MessageType::kVoteResp, 4, 1, net.peer(1).term());
  ASSERT_TRUE(net.Deliver(grant).ok());
  EXPECT_EQ(net.peer(1).role(), Role::kCandidate);
  Message voter_grant = MakeMsg(MessageType::kVoteResp, 2, 1, net.peer(1).term());
  ASSERT_TRUE(net.Deliver(voter_grant).ok());
  EXPECT_EQ(net.peer(1).role(), Role::kLeader);
}

TEST(LearnerTest, PromoteLearnerSwapsRoleToVoter) {
  Network net({1}, {2});
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, "warm-up").ok());
  uint64_t caught_up = net.peer(1).last_index();
  ASSERT_EQ(ProgressOf(net, 1, 2).match, caught_up);
  ASSERT_TRUE(net.node(1).PromoteLearner(2, caught_up, false).ok());
  net.Stabilize();
  for (NodeId id : {1, 2}) EXPECT_EQ(net.peer(id).conf, MakeConf({1, 2})) << id;
  EXPECT_FALSE(ProgressOf(net, 1, 2).is_learner);
  EXPECT_EQ(net.node(1).GetStatus().conf_state, MakeConf({1, 2}));

  // Two voters: the old single voter no longer commits alone.
  net.Isolate(2);
  uint64_t committed = net.peer(1).committed();
  ASSERT_TRUE(net.Propose(1, "needs-2").ok());
  EXPECT_EQ(net.peer(1).committed(), committed);
}

class PromoteLearnerTest : public ::testing::Test {
 protected:
  // Voters 1 (leader) and 3, learner 2 with some history.
  void SetUp() override {
    net_.Campaign(1);
    ASSERT_EQ(net_.Leader(), 1u);
    ASSERT_TRUE(net_.Propose(1, "warm-up").ok());
    last_ = net_.peer(1).last_index();
  }
  // Nothing was proposed: the leader's log is unchanged.
  void ExpectNothingProposed() {
    net_.Stabilize();
    EXPECT_EQ(net_.peer(1).last_index(), last_);
    EXPECT_EQ(net_.peer(1).conf, MakeConf({1, 3}, {2}));
  }
  Network net_{{1, 3}, {2}};
  uint64_t last_ = 0;
};

TEST_F(PromoteLearnerTest, PromoteLearnerRejectsZeroMinAppliedWithoutSkip) {
  EXPECT_EQ(RaftErrcOf(net_.node(1).PromoteLearner(2, 0, false)),
            RaftErrc::kPromoteLearnerMinAppliedZero);
  // Checked first, so a follower and the learner itself say the same.
  EXPECT_EQ(RaftErrcOf(net_.node(3).PromoteLearner(2, 0, false)),
            RaftErrc::kPromoteLearnerMinAppliedZero);
  EXPECT_EQ(RaftErrcOf(net_.node(2).PromoteLearner(2, 0, false)),
            RaftErrc::kPromoteLearnerMinAppliedZero);
  ExpectNothingProposed();
}

TEST_F(PromoteLearnerTest, PromoteLearnerOnFollowerIsNotLeader) {
  EXPECT_EQ(RaftErrcOf(net_.node(3).PromoteLearner(2, 1, false)), RaftErrc::kNotLeader);
  EXPECT_EQ(RaftErrcOf(net_.node(3).PromoteLearner(2, 0, true)), RaftErrc::kNotLeader);
  ExpectNothingProposed();
}

TEST_F(PromoteLearnerTest, PromoteLearnerRejectsNonLearner) {
  EXPECT_EQ(RaftErrcOf(net_.node(1).PromoteLearner(3, 1, false)),
            RaftErrc::kPromoteLearnerNotLearner);
  EXPECT_EQ(RaftErrcOf(net_.node(1).PromoteLearner(1, 1, false)),
            RaftErrc::kPromoteLearnerNotLearner);
  EXPECT_EQ(RaftErrcOf(net_.node(1).PromoteLearner(9, 1, true)),
            RaftErrc::kPromoteLearnerNotLearner)
      << "an unknown id is not a learner either";
  ExpectNothingProposed();
}

TEST_F(PromoteLearnerTest, PromoteLearnerRejectsNotCaughtUp) {
  net_.Isolate(2);
  ASSERT_TRUE(net_.Propose(1, "unseen").ok());
  last_ = net_.peer(1).last_index();
  uint64_t match = ProgressOf(net_, 1, 2).match;
  ASSERT_LT(match, last_);
  absl::Status s = net_.node(1).PromoteLearner(2, last_, false);
  EXPECT_EQ(RaftErrcOf(s), RaftErrc::kPromoteLearnerNotCaughtUp);
  EXPECT_NE(s.message().find(std::to_string(match)), std::string::npos) << s;
  EXPECT_NE(s.message().find(std::to_string(last_)), std::string::npos) << s;
  ExpectNothingProposed();
  // At exactly its match it is caught up.
  EXPECT_TRUE(net_.node(1).PromoteLearner(2, match, false).ok());
}

TEST_F(PromoteLearnerTest, PromoteLearnerSkipIgnoresMin) {
  net_.Isolate(2);
  ASSERT_TRUE(net_.node(1).PromoteLearner(2, 1000000, true).ok());
  net_.Stabilize();
  EXPECT_EQ(net_.peer(1).conf, MakeConf({1, 2, 3}));
}

TEST_F(PromoteLearnerTest, PromoteLearnerRejectsWhileAnotherChangeIsPending) {
  ASSERT_TRUE(net_.node(1).ProposeConfChange(MakeCC(kAddLearner, 4)).ok());
  uint64_t last = net_.peer(1).last_index();
  EXPECT_EQ(RaftErrcOf(net_.node(1).PromoteLearner(2, 1, false)), RaftErrc::kConfChangePending);
  EXPECT_EQ(net_.peer(1).last_index(), last);
  net_.Stabilize();
  EXPECT_TRUE(net_.node(1).PromoteLearner(2, 1, false).ok()) << "once the first is applied";
}

// --- ProposeConfChange refusals ---

TEST(ConfChangeTest, ProposeConfChangeRefusalsLeaveTheLogUnchanged) {
  struct Case {
    const char* name;
    NodeId on;
    ConfChange cc;
    RaftErrc want;
  };
  // Voters 1 (leader) 2 3, learner 4.
  const std::vector<Case> cases = {
      {"add voter on a learner", 1, MakeCC(kAddNode, 4), RaftErrc::kAddVoterIsLearner},
      {"add voter on a voter", 1, MakeCC(kAddNode, 2), RaftErrc::kAlreadyMember},
      {"add learner on a learner", 1, MakeCC(kAddLearner, 4), RaftErrc::kAlreadyMember},
      {"add learner on a voter", 1, MakeCC(kAddLearner, 3), RaftErrc::kLearnerIsVoter},
      {"remove an unknown id", 1, MakeCC(kRemove, 9), RaftErrc::kUnknownServer},
      {"node id 0", 1, MakeCC(kAddNode, kNoNode), RaftErrc::kInvalidArgument},
      {"on a follower", 2, MakeCC(kAddLearner, 5), RaftErrc::kNotLeader},
      {"on a learner", 4, MakeCC(kAddLearner, 5), RaftErrc::kNotLeader},
  };
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  const uint64_t last = net.peer(1).last_index();
  for (const auto& c : cases) {
    EXPECT_EQ(RaftErrcOf(net.node(c.on).ProposeConfChange(c.cc)), c.want) << c.name;
    net.Stabilize();
    EXPECT_EQ(net.peer(1).last_index(), last) << c.name;
    EXPECT_EQ(net.peer(1).conf, MakeConf({1, 2, 3}, {4})) << c.name;
  }
}

TEST(ConfChangeTest, RemovingTheLastVoterIsRefused) {
  Network net({1}, {2});
  net.Campaign(1);
  uint64_t last = net.peer(1).last_index();
  EXPECT_EQ(RaftErrcOf(net.ProposeConfChange(1, MakeCC(kRemove, 1))), RaftErrc::kLastVoter);
  EXPECT_EQ(net.peer(1).last_index(), last);
  EXPECT_TRUE(net.ProposeConfChange(1, MakeCC(kRemove, 2)).ok()) << "a learner may go";
  EXPECT_EQ(net.peer(1).conf, MakeConf({1}));
}

TEST(ConfChangeTest, OneChangeAtATime) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(MakeCC(kAddLearner, 4)).ok());
  uint64_t last = net.peer(1).last_index();
  EXPECT_EQ(RaftErrcOf(net.node(1).ProposeConfChange(MakeCC(kAddLearner, 5))),
            RaftErrc::kConfChangePending);
  EXPECT_EQ(net.node(1).GetStatus().pending_conf_index, last);
  // Normal proposals are not held back by a pending change.
  EXPECT_TRUE(net.node(1).Propose("data").ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(1).conf, MakeConf({1, 2, 3}, {4}));
  EXPECT_TRUE(net.ProposeConfChange(1, MakeCC(kAddLearner, 5)).ok()) << "once applied";
  EXPECT_EQ(net.peer(1).conf, MakeConf({1, 2, 3}, {4, 5}));
}

TEST(ConfChangeTest, NewLeaderTreatsItsUnappliedTailAsPendingChange) {
  Network net({1, 2, 3}, {}, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  net.Campaign(1);
  // "x" reaches 2 and 3 but never commits under 1.
  net.DropIf([](const Message& m) { return m.type == MessageType::kAppResp; });
  ASSERT_TRUE(net.Propose(1, "x").ok());
  ASSERT_EQ(net.peer(2).last_index(), 3u);
  net.ClearFilters();
  net.DropIf([](const Message& m) { return m.type == MessageType::kApp && m.from == 2; });
  net.Campaign(2);
  ASSERT_EQ(net.peer(2).role(), Role::kLeader);
  ASSERT_LT(net.peer(2).applied_index, 3u);
  // 2 cannot know whether its unapplied entry 3 is a conf change: it waits.
  EXPECT_EQ(RaftErrcOf(net.node(2).ProposeConfChange(MakeCC(kAddLearner, 4))),
            RaftErrc::kConfChangePending);
  net.ClearFilters();
  net.TickAll(1);
  ASSERT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"x"}));
  EXPECT_TRUE(net.node(2).ProposeConfChange(MakeCC(kAddLearner, 4)).ok());
}

// --- Removal ---

TEST(ConfChangeTest, RemovedVoterShrinksTheQuorum) {
  Network net({1, 2, 3, 4});
  net.Campaign(1);
  net.Isolate(3);
  net.Isolate(4);
  uint64_t committed = net.peer(1).committed();
  ASSERT_TRUE(net.Propose(1, "two-of-four").ok());
  EXPECT_EQ(net.peer(1).committed(), committed) << "2 of 4 voters is no quorum";
  net.Heal();
  net.TickAll(1);
  ASSERT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"two-of-four"}));

  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kRemove, 4)).ok());
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(net.peer(id).conf, MakeConf({1, 2, 3})) << id;
  net.Remove(4);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "two-of-three").ok());
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"two-of-four", "two-of-three"}));
  EXPECT_FALSE(net.node(1).GetStatus().progress.contains(4));
}

TEST(ConfChangeTest, RemovedLearnerNoLongerReceivesEntries) {
  Network net({1, 2}, {3});
  net.Campaign(1);
  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kRemove, 3)).ok());
  EXPECT_EQ(net.peer(1).conf, MakeConf({1, 2}));
  net.ClearSent();
  ASSERT_TRUE(net.Propose(1, "x").ok());
  net.TickAll(2);
  EXPECT_EQ(net.CountSent([](const Message& m) { return m.from == 1 && m.to == 3; }), 0u);
}

TEST(ConfChangeTest, LeaderRemovingItselfStepsDownAndTheRestElectANewLeader) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kRemove, 1)).ok());
  EXPECT_NE(net.peer(1).role(), Role::kLeader);
  EXPECT_EQ(net.peer(1).conf, MakeConf({2, 3}));
  EXPECT_EQ(RaftErrcOf(net.node(1).Propose("x")), RaftErrc::kNotLeader);
  net.Remove(1);

  net.TickUntilLeader();
  NodeId leader = net.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_EQ(net.peer(leader).conf, MakeConf({2, 3}));
  ASSERT_TRUE(net.Propose(leader, "after").ok());
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"after"}));
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"after"}));
}

TEST(ConfChangeTest, AddedVoterCountsTowardTheQuorum) {
  Network net({1, 2});
  net.AddJoiner(3);
  net.Campaign(1);
  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kAddNode, 3)).ok());
  ASSERT_TRUE(net.Propose(1, "catch-up").ok());
  EXPECT_EQ(net.peer(3).conf, MakeConf({1, 2, 3}));
  // 1 and the new voter 3 commit without 2.
  net.Isolate(2);
  ASSERT_TRUE(net.Propose(1, "with-3").ok());
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"catch-up", "with-3"}));
}

TEST(ConfChangeTest, HupIsRefusedWhileACommittedConfChangeIsUnapplied) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(MakeCC(kAddLearner, 4)).ok());
  // Drive the rounds by hand so that 2 learns the commit but does not apply it yet.
  net.ProcessReady(1);
  net.DeliverQueued();  // appends to 2 and 3
  net.ProcessReady(2);
  net.ProcessReady(3);
  net.DeliverQueued();  // acks: the leader commits
  net.ProcessReady(1);
  net.DeliverQueued();  // the new commit index reaches 2
  ASSERT_TRUE(net.peer(2).raft().log().HasNextCommittedEntries());
  uint64_t term = net.peer(2).term();
  net.node(2).Campaign();
  EXPECT_EQ(net.peer(2).role(), Role::kFollower) << "membership may be about to change";
  EXPECT_EQ(net.peer(2).term(), term);

  net.ProcessReady(2);  // applies the change
  net.node(2).Campaign();
  EXPECT_NE(net.peer(2).role(), Role::kFollower);
}

TEST(LearnerTest, SingleVoterWithLearnersCampaignsImmediately) {
  Network net({1}, {2, 3});
  net.node(1).Campaign();
  EXPECT_EQ(net.peer(1).role(), Role::kLeader) << "no votes to wait for";
  EXPECT_EQ(net.peer(1).term(), testing::kFirstElectionTerm);
  net.Stabilize();
  ASSERT_TRUE(net.Propose(1, "x").ok());
  // After a restart too.
  net.Restart(1);
  ASSERT_EQ(net.peer(1).role(), Role::kFollower);
  net.node(1).Campaign();
  EXPECT_EQ(net.peer(1).role(), Role::kLeader);
}

TEST(LearnerTest, ThreeVotersOneLearnerQuorumDenominator) {
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "one-follower").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"one-follower"}));
  net.Isolate(2);
  ASSERT_TRUE(net.Propose(1, "learner-only").ok());
  EXPECT_EQ(net.peer(4).last_index(), net.peer(1).last_index());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"one-follower"}));
}

TEST(LearnerTest, LinearizableReadOnLearnerReturnsNotLeader) {
  Network net({1, 2}, {3});
  net.Campaign(1);
  EXPECT_EQ(RaftErrcOf(net.node(3).ReadIndex("r")), RaftErrc::kNotLeader);
  net.Stabilize();
  EXPECT_TRUE(net.peer(3).read_states.empty());
}

TEST(LearnerTest, LogCompactionSendsSnapshotToLaggingLearner) {
  Network net({1, 2}, {3});
  net.Campaign(1);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "e").ok());
  uint64_t snap_index = net.peer(1).applied_index;
  ConfState cs = net.peer(1).conf;
  ASSERT_TRUE(net.storage(1).CreateSnapshot(snap_index, &cs, "snap").ok());
  ASSERT_TRUE(net.storage(1).Compact(snap_index).ok());
  net.Heal();
  net.TickAll(3);
  ASSERT_EQ(net.peer(3).snapshots.size(), 1u);
  EXPECT_EQ(net.peer(3).conf, MakeConf({1, 2}, {3})) << "suffrage from the snapshot";
  EXPECT_TRUE(net.peer(3).raft().tracker().Find(3)->is_learner);
  EXPECT_EQ(net.peer(3).committed(), net.peer(1).committed());
}

TEST(LearnerTest, JoinerCatchesUpFromSnapshotWhenItsLogIsCompactedAway) {
  Network net({1, 2});
  net.Campaign(1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "old").ok());
  net.AddJoiner(3);
  ASSERT_TRUE(net.ProposeConfChange(1, MakeCC(kAddLearner, 3)).ok());
  // Compact past the joiner's whole log, with a snapshot that names it.
  uint64_t snap_index = net.peer(1).applied_index;
  ConfState cs = net.peer(1).conf;
  ASSERT_EQ(cs, MakeConf({1, 2}, {3}));
  ASSERT_TRUE(net.storage(1).CreateSnapshot(snap_index, &cs, "snap").ok());
  ASSERT_TRUE(net.storage(1).Compact(snap_index).ok());
  net.TickAll(3);
  ASSERT_EQ(net.peer(3).snapshots.size(), 1u);
  EXPECT_EQ(net.peer(3).conf, cs);
  ASSERT_TRUE(net.Propose(1, "new").ok());
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"new"}));
}

}  // namespace
}  // namespace tessera::raft
