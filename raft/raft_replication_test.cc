// Scenario tests of log replication: majority commit, log repair with fast backtracking,
// flow control (inflight window, message size, probe/replicate), snapshots, forwarding, limits.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::Network;

void PlainRaft(Config& c) {
  c.check_quorum = false;
  c.pre_vote = false;
}

PeerStatus ProgressOf(Network& net, NodeId leader, NodeId peer) {
  Status st = net.node(leader).GetStatus();
  EXPECT_TRUE(st.progress.contains(peer)) << "leader " << leader << " tracks no " << peer;
  return st.progress.contains(peer) ? st.progress.at(peer) : PeerStatus{};
}

bool IsAppWithEntries(const Message& m, NodeId from, NodeId to) {
  return m.type == MessageType::kApp && m.from == from && m.to == to && !m.entries.empty();
}

TEST(ReplicationTest, ProposalCommitsOnceAMajorityOfVotersHasIt) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "x").ok());
  EXPECT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"x"}));
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"x"}));

  net.Isolate(2);
  uint64_t committed = net.peer(1).committed();
  ASSERT_TRUE(net.Propose(1, "y").ok());
  EXPECT_EQ(net.peer(1).last_index(), committed + 1);
  EXPECT_EQ(net.peer(1).committed(), committed) << "the leader alone is not a majority";

  net.Rejoin(2);
  net.TickAll(1);
  EXPECT_EQ(net.peer(1).committed(), committed + 1);
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"x", "y"}));
  net.Heal();
  net.TickAll(1);
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"x", "y"}));
}

TEST(ReplicationTest, BatchProposalIsOneAppendAndCommitsTogether) {
  Network net({1, 2, 3});
  net.Campaign(1);
  uint64_t last = net.peer(1).last_index();
  net.ClearSent();
  ASSERT_TRUE(net.node(1).ProposeBatch({"a", "b", "c"}).ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(1).last_index(), last + 3);
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsAppWithEntries(m, 1, 2); }), 1u);
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(RaftErrcOf(net.node(1).ProposeBatch({})), RaftErrc::kInvalidArgument);
}

// Node 1 ends up with 50 entries of its old term that no one else has, while a leader two terms on
// has 51 different entries after index 2. One rejection carrying (hint index, hint term)
// lets the leader skip the whole conflicting term instead of probing entry by entry.
TEST(ReplicationTest, DivergentFollowerIsRepairedWithFastBacktracking) {
  constexpr int kDivergent = 50;
  Network net({1, 2, 3}, {}, PlainRaft);
  net.Campaign(1);
  net.Isolate(1);
  for (int i = 0; i < kDivergent; ++i) ASSERT_TRUE(net.Propose(1, "stale").ok());
  ASSERT_EQ(net.peer(1).last_index(), 2u + kDivergent);

  net.Campaign(2);
  for (int i = 0; i < kDivergent; ++i) ASSERT_TRUE(net.Propose(2, "fresh").ok());
  net.Campaign(3);  // a leader whose progress for 1 starts at its own last index
  ASSERT_EQ(net.Leader(), 3u);

  net.Heal();
  net.ClearSent();
  net.TickAll(3);
  size_t rejections = net.CountSent(
      [](const Message& m) { return m.type == MessageType::kAppResp && m.from == 1 && m.reject; });
  EXPECT_GE(rejections, 1u);
  EXPECT_LE(rejections, 2u) << "one round trip per conflicting term, not per entry";
  EXPECT_EQ(net.peer(1).last_index(), net.peer(3).last_index());
  EXPECT_EQ(net.peer(1).AppliedData(), std::vector<std::string>(kDivergent, "fresh"));
}

TEST(ReplicationTest, FollowerRejectionCarriesTheConflictHint) {
  Network net({1, 2, 3}, {}, PlainRaft);
  net.Campaign(1);
  // Follower 2's log: [1@1 2@2]. A leader of term 3 claims 5@3 precedes its entries.
  Message app = testing::MakeMsg(MessageType::kApp, 1, 2, 3);
  app.index = 5;
  app.log_term = 3;
  absl::Status ds = net.Deliver(app);
  ASSERT_TRUE(ds.ok()) << ds;
  Ready rd = net.node(2).GetReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  const Message& resp = rd.messages[0];
  EXPECT_EQ(resp.type, MessageType::kAppResp);
  EXPECT_TRUE(resp.reject);
  EXPECT_EQ(resp.index, 5u);
  EXPECT_EQ(resp.reject_hint, 2u) << "its last index";
  EXPECT_EQ(resp.log_term, 2u) << "the term at the hint";
  net.node(2).Advance(rd);
}

TEST(ReplicationTest, InflightWindowCapsUnacknowledgedAppends) {
  Network net({1, 2, 3}, {}, [](Config& c) { c.max_inflight_msgs = 2; });
  net.Campaign(1);
  ASSERT_EQ(ProgressOf(net, 1, 2).state, ProgressState::kReplicate);
  net.DropIf([](const Message& m) { return m.from == 2 && m.to == 1; });
  net.ClearSent();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose(1, "p" + std::to_string(i)).ok());
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsAppWithEntries(m, 1, 2); }), 2u);
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsAppWithEntries(m, 1, 3); }), 10u)
      << "an acknowledging follower is not held back";
  PeerStatus pr = ProgressOf(net, 1, 2);
  EXPECT_EQ(pr.state, ProgressState::kReplicate);
  EXPECT_EQ(pr.inflight, 2u);

  net.ClearFilters();
  net.TickAll(3);
  EXPECT_EQ(net.peer(2).AppliedData().size(), 10u);
  EXPECT_EQ(ProgressOf(net, 1, 2).inflight, 0u);
}

TEST(ReplicationTest, MaxSizePerMsgLimitsEntriesPerAppend) {
  Network net({1, 2, 3}, {}, [](Config& c) { c.max_size_per_msg = 10; });
  net.Campaign(1);
  net.Isolate(2);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose(1, "abcd").ok());  // 4 bytes each
  net.Heal();
  net.ClearSent();
  net.TickAll(3);
  size_t apps = 0, two_entry_apps = 0;
  for (const Message& m : net.sent()) {
    if (!IsAppWithEntries(m, 1, 2)) continue;
    ++apps;
    EXPECT_LE(m.entries.size(), 2u) << "3 x 4 bytes would exceed 10";
    two_entry_apps += m.entries.size() == 2 ? 1 : 0;
  }
  EXPECT_GE(apps, 5u);
  EXPECT_GE(two_entry_apps, 1u);
  EXPECT_EQ(net.peer(2).AppliedData(), std::vector<std::string>(10, "abcd"));
}

TEST(ReplicationTest, OversizedSingleEntryIsStillSent) {
  Network net({1, 2}, {}, [](Config& c) { c.max_size_per_msg = 1; });
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, std::string(100, 'x')).ok());
  EXPECT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{std::string(100, 'x')}));
}

TEST(ReplicationTest, ProgressGoesFromProbeToReplicateAfterFirstAck) {
  Network net({1, 2, 3});
  net.DropIf([](const Message& m) { return m.type == MessageType::kAppResp && m.from == 2; });
  net.Campaign(1);
  ASSERT_EQ(net.Leader(), 1u);
  EXPECT_EQ(ProgressOf(net, 1, 2).state, ProgressState::kProbe);
  EXPECT_EQ(ProgressOf(net, 1, 3).state, ProgressState::kReplicate);

  // While probing, one append is outstanding at a time: new proposals send nothing to 2.
  net.ClearSent();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.Propose(1, "p").ok());
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsAppWithEntries(m, 1, 2); }), 0u);
  EXPECT_EQ(net.CountSent([](const Message& m) { return IsAppWithEntries(m, 1, 3); }), 3u);

  net.ClearFilters();
  net.TickAll(1);  // the heartbeat response unpauses the probe, the ack flips the state
  PeerStatus pr = ProgressOf(net, 1, 2);
  EXPECT_EQ(pr.state, ProgressState::kReplicate);
  EXPECT_EQ(pr.match, net.peer(1).last_index());
  EXPECT_EQ(pr.next, pr.match + 1);
}

TEST(ReplicationTest, FollowerBehindCompactedLogIsSentSnapshotAndCatchesUp) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "e" + std::to_string(i)).ok());
  // The leader snapshots and compacts everything it has applied.
  uint64_t snap_index = net.peer(1).applied_index;
  ConfState cs = net.peer(1).conf;
  ASSERT_TRUE(
      net.storage(1).CreateSnapshot(snap_index, &cs, "state@" + std::to_string(snap_index)).ok());
  ASSERT_TRUE(net.storage(1).Compact(snap_index).ok());

  // The first snapshot is lost in transit.
  net.Heal();
  net.DropIf([](const Message& m) { return m.type == MessageType::kSnap; });
  net.ClearSent();
  net.TickAll(1);
  EXPECT_EQ(net.CountSent([](const Message& m) { return m.type == MessageType::kSnap; }), 1u);
  PeerStatus pr = ProgressOf(net, 1, 3);
  EXPECT_EQ(pr.state, ProgressState::kSnapshot);
  EXPECT_EQ(pr.pending_snapshot, snap_index);
  net.TickAll(2);
  EXPECT_EQ(net.CountSent([](const Message& m) { return m.type == MessageType::kSnap; }), 1u)
      << "no appends or snapshots while one is in flight";

  // The transport reports the failure: back to probing, and the next try gets through.
  net.node(1).ReportSnapshot(3, /*failed=*/true);
  EXPECT_EQ(ProgressOf(net, 1, 3).state, ProgressState::kProbe);
  net.ClearFilters();
  net.TickAll(2);
  ASSERT_EQ(net.peer(3).snapshots.size(), 1u);
  EXPECT_EQ(net.peer(3).snapshots[0].data, "state@" + std::to_string(snap_index));
  EXPECT_EQ(net.peer(3).snapshots[0].metadata.index, snap_index);
  EXPECT_EQ(net.storage(3).FirstIndex(), snap_index + 1);
  pr = ProgressOf(net, 1, 3);
  EXPECT_EQ(pr.state, ProgressState::kReplicate);
  EXPECT_EQ(pr.match, net.peer(1).last_index());

  ASSERT_TRUE(net.Propose(1, "after").ok());
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"after"}));
  EXPECT_EQ(net.peer(3).committed(), net.peer(1).committed());
}

TEST(ReplicationTest, SuccessfulSnapshotReportResumesProbingAfterIt) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.Propose(1, "e").ok());
  uint64_t snap_index = net.peer(1).applied_index;
  ConfState cs = net.peer(1).conf;
  ASSERT_TRUE(net.storage(1).CreateSnapshot(snap_index, &cs, "s").ok());
  ASSERT_TRUE(net.storage(1).Compact(snap_index).ok());
  net.Heal();
  // The snapshot arrives but its acknowledgement is lost.
  net.DropIf(
      [](const Message& m) { return m.type == MessageType::kAppResp && m.from == 3 && !m.reject; });
  net.TickAll(1);
  ASSERT_EQ(ProgressOf(net, 1, 3).state, ProgressState::kSnapshot);
  net.node(1).ReportSnapshot(3, /*failed=*/false);
  PeerStatus pr = ProgressOf(net, 1, 3);
  EXPECT_EQ(pr.state, ProgressState::kProbe);
  EXPECT_EQ(pr.next, snap_index + 1);
  net.ClearFilters();
  net.TickAll(2);
  EXPECT_EQ(ProgressOf(net, 1, 3).state, ProgressState::kReplicate);
  EXPECT_EQ(net.peer(3).snapshots.size(), 1u) << "no second snapshot needed";
}

TEST(ReplicationTest, ProposalOnFollowerIsForwardedToLeader) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.ClearSent();
  ASSERT_TRUE(net.Propose(2, "via-follower").ok());
  EXPECT_EQ(net.CountSent([](const Message& m) {
    return m.type == MessageType::kProp && m.from == 2 && m.to == 1;
  }),
            1u);
  for (auto& [id, p] : net.peers()) {
    EXPECT_EQ(p.AppliedData(), (std::vector<std::string>{"via-follower"})) << id;
  }
}

TEST(ReplicationTest, ProposalOnFollowerWithForwardingDisabledIsNotLeader) {
  Network net({1, 2, 3}, {}, [](Config& c) { c.disable_proposal_forwarding = true; });
  net.Campaign(1);
  uint64_t last = net.peer(1).last_index();
  EXPECT_EQ(RaftErrcOf(net.Propose(2, "x")), RaftErrc::kNotLeader);
  EXPECT_EQ(net.peer(1).last_index(), last);
  EXPECT_TRUE(net.Propose(1, "y").ok()) << "the leader itself still accepts";
}

TEST(ReplicationTest, ProposalWithNoKnownLeaderIsNotLeader) {
  Network net({1, 2, 3});
  EXPECT_EQ(RaftErrcOf(net.node(2).Propose("x")), RaftErrc::kNotLeader);
  net.Isolate(1);
  net.node(1).Campaign();  // a candidate, not yet a leader
  EXPECT_EQ(RaftErrcOf(net.node(1).Propose("x")), RaftErrc::kNotLeader);
}

TEST(ReplicationTest, UncommittedSizeLimitRefusesWithTooLarge) {
  Network net({1, 2, 3}, {}, [](Config& c) { c.max_uncommitted_entries_size = 10; });
  net.Campaign(1);
  net.Isolate(2);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "123456").ok());
  uint64_t last = net.peer(1).last_index();
  absl::Status s = net.Propose(1, "123456");
  EXPECT_EQ(RaftErrcOf(s), RaftErrc::kTooLarge);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(net.peer(1).last_index(), last) << "nothing appended";
  EXPECT_TRUE(net.Propose(1, "1234").ok()) << "exactly at the limit is fine";

  // Once the backlog commits and applies, there is room again.
  net.Heal();
  net.TickAll(2);
  ASSERT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"123456", "1234"}));
  EXPECT_TRUE(net.Propose(1, "123456").ok());
}

TEST(ReplicationTest, UncommittedSizeLimitAdmitsAnOversizedEntryWhenNothingIsPending) {
  Network net({1, 2, 3}, {}, [](Config& c) { c.max_uncommitted_entries_size = 10; });
  net.Campaign(1);
  net.Isolate(2);
  net.Isolate(3);
  EXPECT_TRUE(net.Propose(1, std::string(50, 'x')).ok());
  EXPECT_EQ(RaftErrcOf(net.Propose(1, "y")), RaftErrc::kTooLarge);
}

TEST(ReplicationTest, FollowerCommitIsNeverAheadOfWhatItHas) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "x").ok());
  net.Heal();
  // 3 lacks "x": the heartbeat must not tell it to commit past its match.
  net.DropIf([](const Message& m) { return m.type == MessageType::kApp; });
  net.ClearSent();
  net.TickAll(1);
  for (const Message& m : net.sent()) {
    if (m.type == MessageType::kHeartbeat && m.to == 3) {
      EXPECT_LE(m.commit, 2u) << "3 only has up to 2";
    }
  }
  EXPECT_LT(net.peer(3).committed(), net.peer(1).committed());
  net.ClearFilters();
  net.TickAll(1);
  EXPECT_EQ(net.peer(3).committed(), net.peer(1).committed());
}

}  // namespace
}  // namespace tessera::raft
