// Scenario tests of linearizable reads: ReadIndex (heartbeat quorum, never before the term's
// noop commits), lease reads (fast path, expiry, revocation on transfer) and learner suffrage.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/read_only.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::MakeMsg;
using testing::Network;
using testing::TestConfig;

constexpr int kElectionTick = 10;
constexpr int kLeaseTicks = 5;

void LeaseReads(Config& c) {
  c.read_only_option = ReadOnlyOption::kLeaseBased;
  c.lease_ticks = kLeaseTicks;
}

bool IsHeartbeatWithCtx(const Message& m, const std::string& ctx) {
  return m.type == MessageType::kHeartbeat && m.context == ctx;
}

// --- ReadIndex (kSafe) ---

TEST(ReadIndexTest, AnswersOnlyAfterAQuorumAcknowledgesTheHeartbeatRound) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.DropIf([](const Message& m) { return m.type == MessageType::kHeartbeatResp; });
  net.ClearSent();
  ASSERT_TRUE(net.node(1).ReadIndex("r1").ok());
  net.Stabilize();
  EXPECT_TRUE(net.peer(1).read_states.empty()) << "no ack, no answer";
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsHeartbeatWithCtx(m, "r1"); }), 2u);

  net.ClearFilters();
  net.TickAll(1);  // the next heartbeat carries the pending context
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.peer(1).read_states[0], (ReadState{net.peer(1).committed(), "r1"}));
}

TEST(ReadIndexTest, IndexIsTheCommitIndexAtRequestTimeNotTheLastIndex) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  uint64_t committed = net.peer(1).committed();
  // A proposal that cannot commit yet: acks of appends are lost.
  net.DropIf([](const Message& m) { return m.type == MessageType::kAppResp; });
  ASSERT_TRUE(net.Propose(1, "b").ok());
  ASSERT_EQ(net.peer(1).last_index(), committed + 1);
  ASSERT_TRUE(net.node(1).ReadIndex("r").ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.peer(1).read_states[0].index, committed);
}

TEST(ReadIndexTest, NewLeaderAnswersOnlyAfterTheNoopOfItsTermCommits) {
  Network net({1, 2, 3});
  net.DropIf([](const Message& m) { return m.type == MessageType::kApp; });
  net.Campaign(1);
  ASSERT_EQ(net.Leader(), 1u);
  ASSERT_EQ(net.peer(1).committed(), 1u) << "the noop (index 2) is not committed";

  net.ClearSent();
  ASSERT_TRUE(net.node(1).ReadIndex("early").ok());
  net.Stabilize();
  EXPECT_TRUE(net.peer(1).read_states.empty());
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsHeartbeatWithCtx(m, "early"); }), 0u)
      << "the read waits for the noop before it even starts a round";

  net.ClearFilters();
  net.TickAll(1);
  ASSERT_EQ(net.peer(1).committed(), 2u);
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.peer(1).read_states[0], (ReadState{2, "early"}));
}

TEST(ReadIndexTest, LaterAckAnswersEveryEarlierPendingRequestInOrder) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.DropIf([](const Message& m) { return m.type == MessageType::kHeartbeatResp; });
  for (const char* ctx : {"a", "b", "c"}) ASSERT_TRUE(net.node(1).ReadIndex(ctx).ok());
  net.Stabilize();
  ASSERT_TRUE(net.peer(1).read_states.empty());
  net.ClearFilters();
  net.TickAll(1);  // one heartbeat round, carrying "c"
  ASSERT_EQ(net.peer(1).read_states.size(), 3u);
  EXPECT_EQ(net.peer(1).read_states[0].request_ctx, "a");
  EXPECT_EQ(net.peer(1).read_states[1].request_ctx, "b");
  EXPECT_EQ(net.peer(1).read_states[2].request_ctx, "c");
}

TEST(ReadIndexTest, FollowerAndLearnerReadsAreNotLeader) {
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  EXPECT_EQ(RaftErrcOf(net.node(2).ReadIndex("f")), RaftErrc::kNotLeader);
  EXPECT_EQ(RaftErrcOf(net.node(4).ReadIndex("l")), RaftErrc::kNotLeader);
  // Nor can a peer ask the leader over the wire.
  Message m = MakeMsg(MessageType::kReadIndex, 2, 1, net.peer(1).term());
  m.context = "wire";
  EXPECT_EQ(RaftErrcOf(net.node(1).Step(m)), RaftErrc::kInvalidArgument);
  net.Stabilize();
  EXPECT_TRUE(net.peer(2).read_states.empty());
  EXPECT_TRUE(net.peer(4).read_states.empty());
  EXPECT_TRUE(net.peer(1).read_states.empty());
}

TEST(ReadIndexTest, SingleVoterAnswersAtOnce) {
  Network net({1});
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).ReadIndex("solo").ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.peer(1).read_states[0], (ReadState{2, "solo"}));
}

// --- Learners and the read/commit quorum ---

TEST(ReadIndexTest, ThreeVotersOneLearnerOneFollowerAckSufficesLearnerAckNever) {
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"a"})) << "1 + 2 commit";
  ASSERT_TRUE(net.node(1).ReadIndex("r1").ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 1u) << "1 + 2 confirm leadership";

  net.Isolate(2);  // only the learner still answers
  uint64_t committed = net.peer(1).committed();
  ASSERT_TRUE(net.Propose(1, "b").ok());
  EXPECT_EQ(net.node(1).GetStatus().progress.at(4).match, net.peer(1).last_index())
      << "the learner has the entry";
  EXPECT_EQ(net.peer(1).committed(), committed) << "a learner's ack does not commit";
  net.ClearSent();
  ASSERT_TRUE(net.node(1).ReadIndex("r2").ok());
  net.Stabilize();
  EXPECT_EQ(net.CountSent([](const Message& m) {
    return m.type == MessageType::kHeartbeatResp && m.from == 4 && m.context == "r2";
  }),
            1u);
  EXPECT_EQ(net.peer(1).read_states.size(), 1u) << "a learner's ack does not confirm a read";

  net.Rejoin(2);
  net.TickAll(1);
  EXPECT_EQ(net.peer(1).committed(), committed + 1);
  ASSERT_EQ(net.peer(1).read_states.size(), 2u);
  EXPECT_EQ(net.peer(1).read_states[1].request_ctx, "r2");
}

// --- Lease reads ---

// A lease-mode group with a settled leader whose lease is fresh. Votes are refused for an
// election timeout after start in lease mode, so the first leader comes from ticking.
NodeId SettleLeaseLeader(Network& net) {
  net.TickUntilLeader();
  NodeId leader = net.Leader();
  net.TickAll(1);
  EXPECT_TRUE(net.node(leader).LeaseValid());
  return leader;
}

TEST(LeaseReadTest, FreshLeaseAnswersImmediatelyWithoutAnyMessage) {
  Network net({1, 2, 3}, {}, LeaseReads);
  NodeId leader = SettleLeaseLeader(net);
  net.ClearSent();
  ASSERT_TRUE(net.node(leader).ReadIndex("lease").ok());
  ASSERT_TRUE(net.ProcessReady(leader));
  EXPECT_TRUE(net.sent().empty()) << "no heartbeat round";
  ASSERT_EQ(net.peer(leader).read_states.size(), 1u);
  EXPECT_EQ(net.peer(leader).read_states[0], (ReadState{net.peer(leader).committed(), "lease"}));
}

TEST(LeaseReadTest, ExpiredLeaseFallsBackToHeartbeatRound) {
  Network net({1, 2, 3}, {}, LeaseReads);
  NodeId leader = SettleLeaseLeader(net);
  net.Isolate(leader);
  net.Tick(leader, kLeaseTicks - 1);
  net.Stabilize();
  EXPECT_TRUE(net.node(leader).LeaseValid()) << "still within the lease";
  net.Tick(leader, 1);
  net.Stabilize();
  EXPECT_FALSE(net.node(leader).LeaseValid());
  ASSERT_EQ(net.peer(leader).role(), Role::kLeader);

  net.ClearSent();
  ASSERT_TRUE(net.node(leader).ReadIndex("late").ok());
  net.Stabilize();
  EXPECT_TRUE(net.peer(leader).read_states.empty());
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsHeartbeatWithCtx(m, "late"); }), 2u);

  net.Heal();
  net.TickAll(1);
  ASSERT_EQ(net.peer(leader).read_states.size(), 1u);
  EXPECT_EQ(net.peer(leader).read_states[0].request_ctx, "late");
  EXPECT_TRUE(net.node(leader).LeaseValid()) << "the acks renewed the lease";
}

TEST(LeaseReadTest, ExpiryTickIsWhereTheLeaseEnds) {
  Network net({1, 2, 3}, {}, LeaseReads);
  NodeId leader = SettleLeaseLeader(net);
  net.Isolate(leader);
  const uint64_t end = net.node(leader).LeaseExpiryTick();
  ASSERT_GT(end, net.node(leader).raft().ticks());
  EXPECT_LE(end - net.node(leader).raft().ticks(), static_cast<uint64_t>(kLeaseTicks));
  // Valid exactly while ticks() < end, and the end does not move without fresh acks.
  while (net.node(leader).raft().ticks() + 1 < end) {
    net.Tick(leader, 1);
    EXPECT_EQ(net.node(leader).LeaseExpiryTick(), end)
        << "tick " << net.node(leader).raft().ticks();
    EXPECT_TRUE(net.node(leader).LeaseValid());
  }
  net.Tick(leader, 1);
  EXPECT_EQ(net.node(leader).raft().ticks(), end);
  EXPECT_EQ(net.node(leader).LeaseExpiryTick(), 0u);
  EXPECT_FALSE(net.node(leader).LeaseValid());
  // Followers have none.
  for (NodeId id : {1, 2, 3}) {
    if (id != leader) {
      EXPECT_EQ(net.node(id).LeaseExpiryTick(), 0u);
    }
  }
}

TEST(LeaseReadTest, LeaseNeedsTheNoopOfTheTermCommitted) {
  Network net({1, 2, 3}, {}, LeaseReads);
  net.TickUntilLeader();
  NodeId first = net.Leader();
  ASSERT_NE(first, kNoNode);
  NodeId target = first == 1 ? 2 : 1;
  net.DropIf([](const Message& m) { return m.type == MessageType::kApp; });
  ASSERT_TRUE(net.node(first).TransferLeader(target).ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(target).role(), Role::kLeader);
  // Heartbeats get through and are acknowledged by everyone, but the noop does not.
  net.TickAll(1);
  ASSERT_EQ(net.peer(target).role(), Role::kLeader);
  ASSERT_LT(net.peer(target).committed(), net.peer(target).last_index());
  EXPECT_FALSE(net.node(target).LeaseValid()) << "noop not committed yet";
  net.ClearFilters();
  net.TickAll(1);
  EXPECT_TRUE(net.node(target).LeaseValid());
}

TEST(LeaseReadTest, ConfigValidationRequiresCheckQuorumAndAShortLease) {
  struct Case {
    const char* name;
    ReadOnlyOption option;
    bool check_quorum;
    int lease_ticks;
    bool want_ok;
  };
  const std::vector<Case> cases = {
      {"lease without check_quorum", ReadOnlyOption::kLeaseBased, false, 5, false},
      {"lease as long as the election timeout", ReadOnlyOption::kLeaseBased, true, kElectionTick,
       false},
      {"lease longer than the election timeout", ReadOnlyOption::kLeaseBased, true, 20, false},
      {"negative lease", ReadOnlyOption::kLeaseBased, true, -1, false},
      {"longest valid lease", ReadOnlyOption::kLeaseBased, true, kElectionTick - 1, true},
      {"default lease", ReadOnlyOption::kLeaseBased, true, 0, true},
      {"safe reads need no check_quorum", ReadOnlyOption::kSafe, false, 0, true},
  };
  MemoryStorage storage;
  for (const auto& c : cases) {
    Config cfg = TestConfig(1, &storage);
    cfg.read_only_option = c.option;
    cfg.check_quorum = c.check_quorum;
    cfg.lease_ticks = c.lease_ticks;
    absl::Status s = cfg.Validate();
    EXPECT_EQ(s.ok(), c.want_ok) << c.name << ": " << s;
    if (!c.want_ok) {
      EXPECT_EQ(RaftErrcOf(s), RaftErrc::kInvalidArgument) << c.name;
    }
  }
}

TEST(LeaseReadTest, SendingTimeoutNowVoidsTheLease) {
  Network net({1, 2, 3}, {}, LeaseReads);
  NodeId leader = SettleLeaseLeader(net);
  NodeId target = leader == 1 ? 2 : 1;
  ASSERT_TRUE(net.node(leader).LeaseValid());
  net.ClearSent();
  ASSERT_TRUE(net.node(leader).TransferLeader(target).ok());
  // Before anything is delivered: the target may now win votes past its peers' leases.
  EXPECT_FALSE(net.node(leader).LeaseValid());
  ASSERT_TRUE(net.ProcessReady(leader));
  EXPECT_EQ(net.CountSent([&](const Message& m) {
    return m.type == MessageType::kTimeoutNow && m.to == target;
  }),
            1u);
  EXPECT_EQ(net.peer(leader).role(), Role::kLeader);
  // A read on the old leader now needs a heartbeat round.
  net.ClearSent();
  ASSERT_TRUE(net.node(leader).ReadIndex("after-transfer").ok());
  ASSERT_TRUE(net.ProcessReady(leader));
  EXPECT_TRUE(net.peer(leader).read_states.empty());
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsHeartbeatWithCtx(m, "after-transfer"); }),
            2u);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), target);
}

TEST(LeaseReadTest, SingleVoterWithLearnersServesLeaseReadsAndCommitsAlone) {
  Network net({1}, {2, 3}, LeaseReads);
  net.node(1).Campaign();
  EXPECT_EQ(net.peer(1).role(), Role::kLeader) << "no election timeout, no votes needed";
  net.Isolate(2);
  net.Isolate(3);
  net.Stabilize();
  ASSERT_TRUE(net.Propose(1, "solo").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"solo"}));
  EXPECT_TRUE(net.node(1).LeaseValid());
  net.ClearSent();
  ASSERT_TRUE(net.node(1).ReadIndex("r").ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.CountSent([](const Message& m) { return m.type == MessageType::kHeartbeat; }), 0u);
}

TEST(LeaseReadTest, SingleVoterWithLearnersKeepsItsLeaseOverTime) {
  Network net({1}, {2, 3}, LeaseReads);
  net.Campaign(1);
  net.Isolate(2);
  net.Isolate(3);
  for (int t = 0; t < 3 * kElectionTick; ++t) {
    net.TickAll(1);
    ASSERT_EQ(net.peer(1).role(), Role::kLeader) << "tick " << t;
    EXPECT_TRUE(net.node(1).LeaseValid()) << "tick " << t;
  }
  ASSERT_TRUE(net.node(1).ReadIndex("r").ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(1).read_states.size(), 1u);
}

TEST(LeaseReadTest, LearnerAcksNeverExtendTheLease) {
  Network net({1, 2, 3}, {4}, LeaseReads);
  NodeId leader = SettleLeaseLeader(net);
  for (NodeId id : {1, 2, 3}) {
    if (id != leader) net.Isolate(id);
  }
  // The learner keeps acknowledging every heartbeat, yet the lease runs out.
  net.TickAll(kLeaseTicks);
  EXPECT_FALSE(net.node(leader).LeaseValid());
}

// A follower may have acknowledged the leader's lease just before it crashed; after a restart
// it knows no leader, so only this rule keeps it from voting inside that lease.
TEST(LeaseReadTest, RestartedFollowerRefusesVotesForAnElectionTimeout) {
  for (bool lease : {true, false}) {
    Network net({1, 2, 3}, {}, lease ? LeaseReads : Network::ConfigTweak{});
    NodeId leader = kNoNode;
    if (lease) {
      leader = SettleLeaseLeader(net);
    } else {
      net.Campaign(1);
      leader = 1;
    }
    NodeId follower = leader == 1 ? 2 : 1;
    NodeId candidate = 6 - leader - follower;
    net.Isolate(follower);
    net.Restart(follower);
    auto vote = [&] {
      Message m = MakeMsg(MessageType::kVote, candidate, follower, net.peer(leader).term() + 1);
      m.index = net.peer(candidate).last_index();
      m.log_term = net.peer(candidate).raft().log().LastTerm();
      return m;
    };
    net.ClearSent();
    ASSERT_TRUE(net.Deliver(vote()).ok());
    net.Stabilize();
    size_t grants = net.CountSent([&](const Message& m) {
      return m.type == MessageType::kVoteResp && m.from == follower && !m.reject;
    });
    if (!lease) {
      EXPECT_EQ(grants, 1u) << "safe reads: nothing to honour";
      continue;
    }
    EXPECT_EQ(grants, 0u) << "lease mode: silent for an election timeout after restart";
    net.Tick(follower, kElectionTick);
    net.Stabilize();
    ASSERT_TRUE(net.Deliver(vote()).ok());
    net.Stabilize();
    EXPECT_EQ(net.CountSent([&](const Message& m) {
      return m.type == MessageType::kVoteResp && m.from == follower && !m.reject;
    }),
              1u);
  }
}

// --- ReadOnly bookkeeping ---

TEST(ReadOnlyTest, AcksAccumulatePerContextAndAdvanceDrainsInOrder) {
  ReadOnly ro;
  ro.AddRequest(5, 1, "a");
  ro.AddRequest(6, 1, "b");
  ro.AddRequest(7, 1, "a");  // duplicate context: ignored
  EXPECT_EQ(ro.PendingCount(), 2u);
  EXPECT_EQ(ro.LastPendingRequestCtx(), "b");
  EXPECT_EQ(ro.RecvAck(2, "zzz"), nullptr);
  EXPECT_EQ(ro.RecvAck(2, "b")->size(), 1u);
  EXPECT_EQ(ro.RecvAck(2, "b")->size(), 1u) << "acks are a set";
  EXPECT_EQ(ro.RecvAck(3, "b")->size(), 2u);
  EXPECT_TRUE(ro.Advance("unknown").empty());
  auto done = ro.Advance("b");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].ctx, "a");
  EXPECT_EQ(done[0].index, 5u);
  EXPECT_EQ(done[1].ctx, "b");
  EXPECT_EQ(done[1].index, 6u);
  EXPECT_EQ(ro.PendingCount(), 0u);
  EXPECT_EQ(ro.LastPendingRequestCtx(), "");
}

}  // namespace
}  // namespace tessera::raft
