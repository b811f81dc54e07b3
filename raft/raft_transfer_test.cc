// Scenario tests of leadership transfer: the MsgTimeoutNow path, catch-up first, the gated
// max-lag check, refusals, proposals during a transfer and the election-timeout abort.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::MakeCC;
using testing::Network;

constexpr int kElectionTick = 10;

bool IsTimeoutNow(const Message& m) { return m.type == MessageType::kTimeoutNow; }

NodeId Transferee(Network& net, NodeId leader) {
  return net.node(leader).GetStatus().lead_transferee;
}

TEST(TransferTest, UpToDateVoterTakesOverThroughTimeoutNow) {
  Network net({1, 2, 3});  // CheckQuorum on: 3 would ignore an ordinary campaign by 2
  net.Campaign(1);
  uint64_t term = net.peer(1).term();
  net.ClearSent();
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  net.Stabilize();
  EXPECT_EQ(net.CountSent(IsTimeoutNow), 1u);
  EXPECT_EQ(net.Leader(), 2u);
  EXPECT_EQ(net.peer(2).term(), term + 1);
  EXPECT_EQ(net.peer(1).role(), Role::kFollower);
  EXPECT_EQ(net.peer(1).raft().lead(), 2u);
  ASSERT_TRUE(net.Propose(2, "under-2").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"under-2"}));
}

TEST(TransferTest, LaggingVoterCatchesUpFirstThenTakesOver) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.Propose(1, "e").ok());
  net.Heal();
  net.ClearSent();
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  EXPECT_EQ(Transferee(net, 1), 2u);
  ASSERT_TRUE(net.ProcessReady(1));
  EXPECT_EQ(net.CountSent(IsTimeoutNow), 0u) << "2 lacks entries: append first";
  net.Stabilize();
  EXPECT_EQ(net.CountSent(IsTimeoutNow), 1u);
  EXPECT_EQ(net.Leader(), 2u);
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"e", "e", "e"}));
}

TEST(TransferTest, TargetMustBeAVoter) {
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  EXPECT_EQ(RaftErrcOf(net.node(1).TransferLeader(4)), RaftErrc::kTransferTargetNotVoter);
  EXPECT_EQ(RaftErrcOf(net.node(1).TransferLeader(9)), RaftErrc::kTransferTargetNotVoter);
  EXPECT_EQ(Transferee(net, 1), kNoNode);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 1u);
}

TEST(TransferTest, RefusedWhileAConfChangeIsPending) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).ProposeConfChange(MakeCC(ConfChangeType::kAddLearnerNode, 4)).ok());
  EXPECT_EQ(RaftErrcOf(net.node(1).TransferLeader(2)), RaftErrc::kConfChangePending);
  EXPECT_EQ(Transferee(net, 1), kNoNode);
  net.Stabilize();
  EXPECT_TRUE(net.node(1).TransferLeader(2).ok()) << "once the change is applied";
}

TEST(TransferTest, OnlyTheLeaderTransfers) {
  Network net({1, 2, 3});
  net.Campaign(1);
  EXPECT_EQ(RaftErrcOf(net.node(2).TransferLeader(3)), RaftErrc::kNotLeader);
}

TEST(TransferTest, TransferLeadershipGatedRespectsMaxLag) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "e").ok());
  uint64_t lag = net.peer(1).last_index() - net.node(1).GetStatus().progress.at(2).match;
  ASSERT_EQ(lag, 5u);

  absl::Status s = net.node(1).TransferLeader(2, TransferOptions{true, lag - 1});
  EXPECT_EQ(RaftErrcOf(s), RaftErrc::kTargetNotCaughtUp) << s;
  EXPECT_EQ(Transferee(net, 1), kNoNode) << "no transfer started";
  EXPECT_TRUE(net.Propose(1, "still-accepted").ok());
  ++lag;

  ASSERT_TRUE(net.node(1).TransferLeader(2, TransferOptions{true, lag}).ok());
  EXPECT_EQ(Transferee(net, 1), 2u);
  net.Heal();
  net.TickAll(1);
  EXPECT_EQ(net.Leader(), 2u);
}

TEST(TransferTest, UngatedTransferIgnoresLag) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "e").ok());
  EXPECT_TRUE(net.node(1).TransferLeader(2, TransferOptions{false, 0}).ok());
  EXPECT_EQ(Transferee(net, 1), 2u);
}

TEST(TransferTest, ProposalsDuringTransferAreDropped) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);  // the transfer cannot finish
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  uint64_t last = net.peer(1).last_index();
  EXPECT_EQ(RaftErrcOf(net.node(1).Propose("x")), RaftErrc::kProposalDropped);
  EXPECT_EQ(RaftErrcOf(net.node(1).ProposeConfChange(MakeCC(ConfChangeType::kRemoveNode, 3))),
            RaftErrc::kProposalDropped);
  // A proposal forwarded by a follower is dropped at the leader too.
  EXPECT_TRUE(net.Propose(3, "forwarded").ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(1).last_index(), last);
}

TEST(TransferTest, UnfinishedTransferIsAbortedAfterAnElectionTimeout) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  net.TickAll(kElectionTick - 1);
  EXPECT_EQ(Transferee(net, 1), 2u);
  EXPECT_EQ(RaftErrcOf(net.node(1).Propose("x")), RaftErrc::kProposalDropped);
  net.TickAll(1);
  EXPECT_EQ(Transferee(net, 1), kNoNode);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_TRUE(net.Propose(1, "accepted-again").ok());
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"accepted-again"}));
}

TEST(TransferTest, RepeatedRequestForTheSameTargetIsANoOp) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(2);
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  net.Stabilize();
  net.ClearSent();
  EXPECT_TRUE(net.node(1).TransferLeader(2).ok());
  net.Stabilize();
  EXPECT_TRUE(net.sent().empty());
  EXPECT_EQ(Transferee(net, 1), 2u);
}

TEST(TransferTest, TransferToSelfIsAnOkNoOp) {
  Network net({1, 2, 3});
  net.Campaign(1);
  uint64_t term = net.peer(1).term();
  net.ClearSent();
  EXPECT_TRUE(net.node(1).TransferLeader(1).ok());
  EXPECT_EQ(Transferee(net, 1), kNoNode);
  net.Stabilize();
  EXPECT_TRUE(net.sent().empty());
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.peer(1).term(), term);
  EXPECT_TRUE(net.Propose(1, "x").ok());
}

TEST(TransferTest, LearnerIgnoresTimeoutNow) {
  Network net({1, 2}, {3});
  net.Campaign(1);
  Message m = testing::MakeMsg(MessageType::kTimeoutNow, 1, 3, net.peer(1).term());
  ASSERT_TRUE(net.Deliver(m).ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(3).role(), Role::kFollower);
  EXPECT_EQ(net.Leader(), 1u);
}

}  // namespace
}  // namespace tessera::raft
