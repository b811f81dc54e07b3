// Tests of the RawNode contract: what a Ready carries and when, what Advance acknowledges,
// which peer messages Step refuses, and what GetStatus reports.
#include "raft/rawnode.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::BootstrapStorage;
using testing::kFirstElectionTerm;
using testing::MakeConf;
using testing::MakeEntry;
using testing::MakeMsg;
using testing::Network;
using testing::TestConfig;

// A single-voter node driven by hand, persisting into its own storage.
class SingleNodeTest : public ::testing::Test {
 protected:
  SingleNodeTest() : storage_(BootstrapStorage(MakeConf({1}))) {
    node_ = std::make_unique<RawNode>(TestConfig(1, storage_.get()));
  }
  void Persist(const Ready& rd) {
    ASSERT_TRUE(storage_->Append(rd.entries).ok());
    if (!rd.hard_state.IsEmpty()) storage_->SetHardState(rd.hard_state);
  }
  // Takes, persists and acknowledges one Ready.
  Ready Cycle() {
    EXPECT_TRUE(node_->HasReady());
    Ready rd = node_->GetReady();
    Persist(rd);
    node_->Advance(rd);
    return rd;
  }
  void ExpectEmpty(const Ready& rd) {
    EXPECT_FALSE(rd.soft_state.has_value());
    EXPECT_TRUE(rd.hard_state.IsEmpty());
    EXPECT_TRUE(rd.entries.empty());
    EXPECT_TRUE(rd.committed_entries.empty());
    EXPECT_TRUE(rd.messages.empty());
    EXPECT_TRUE(rd.read_states.empty());
    EXPECT_TRUE(rd.snapshot.IsEmpty());
    EXPECT_FALSE(rd.must_sync);
  }

  std::unique_ptr<MemoryStorage> storage_;
  std::unique_ptr<RawNode> node_;
};

TEST_F(SingleNodeTest, FreshNodeHasNothingReady) {
  EXPECT_FALSE(node_->HasReady());
  ExpectEmpty(node_->GetReady());
}

TEST_F(SingleNodeTest, ReadyCarriesEntriesAndHardStateOnceAndNotAgainAfterAdvance) {
  node_->Campaign();
  Ready rd = Cycle();
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(*rd.soft_state, (SoftState{1, Role::kLeader}));
  EXPECT_EQ(rd.hard_state, (HardState{kFirstElectionTerm, 1, 2}));
  EXPECT_EQ(rd.entries, (std::vector<Entry>{MakeEntry(2, kFirstElectionTerm)}));
  EXPECT_EQ(rd.committed_entries, (std::vector<Entry>{MakeEntry(2, kFirstElectionTerm)}));
  EXPECT_TRUE(rd.must_sync);
  EXPECT_TRUE(rd.messages.empty()) << "nobody to talk to";

  EXPECT_FALSE(node_->HasReady());
  ExpectEmpty(node_->GetReady());
  EXPECT_EQ(node_->GetStatus().applied, 2u);
}

TEST_F(SingleNodeTest, CommittedEntriesAreReturnedOnce) {
  node_->Campaign();
  Cycle();
  ASSERT_TRUE(node_->Propose("a").ok());
  ASSERT_TRUE(node_->Propose("b").ok());
  Ready rd = Cycle();
  EXPECT_EQ(rd.entries.size(), 2u);
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].data, "a");
  EXPECT_EQ(rd.committed_entries[1].data, "b");
  EXPECT_EQ(rd.hard_state.commit, 4u);
  EXPECT_FALSE(rd.soft_state.has_value()) << "still the same leader";
  EXPECT_FALSE(node_->HasReady());
  ASSERT_TRUE(node_->Propose("c").ok());
  rd = Cycle();
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0].data, "c");
}

TEST_F(SingleNodeTest, UntilAdvanceTheSameWorkIsOfferedAgain) {
  node_->Campaign();
  Ready first = node_->GetReady();
  Persist(first);
  Ready again = node_->GetReady();
  EXPECT_EQ(again.entries, first.entries);
  EXPECT_EQ(again.committed_entries, first.committed_entries);
  EXPECT_EQ(again.hard_state, first.hard_state);
  EXPECT_FALSE(again.soft_state.has_value()) << "soft state is reported when it is read";
  node_->Advance(again);
  EXPECT_FALSE(node_->HasReady());
}

TEST_F(SingleNodeTest, ReadStatesAreDeliveredOnce) {
  node_->Campaign();
  Cycle();
  ASSERT_TRUE(node_->ReadIndex("ctx").ok());
  Ready rd = Cycle();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0], (ReadState{2, "ctx"}));
  EXPECT_FALSE(rd.must_sync);
  EXPECT_FALSE(node_->HasReady());
}

TEST_F(SingleNodeTest, RestartRedeliversCommittedEntriesAboveApplied) {
  node_->Campaign();
  Cycle();
  for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(node_->Propose(d).ok());
  Cycle();
  ASSERT_EQ(storage_->hard_state().commit, 5u);
  // The application had only applied up to "a" (index 3) when it crashed.
  Config c = TestConfig(1, storage_.get());
  c.applied = 3;
  RawNode restarted(c);
  EXPECT_EQ(restarted.raft().term(), kFirstElectionTerm);
  ASSERT_TRUE(restarted.HasReady());
  Ready rd = restarted.GetReady();
  EXPECT_TRUE(rd.entries.empty()) << "everything is already stable";
  EXPECT_TRUE(rd.hard_state.IsEmpty()) << "unchanged since it was persisted";
  EXPECT_FALSE(rd.must_sync);
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].data, "b");
  EXPECT_EQ(rd.committed_entries[1].data, "c");
  restarted.Advance(rd);
  EXPECT_FALSE(restarted.HasReady());
}

TEST(RawNodeCommittedPagingTest, CommittedEntriesArePagedByMaxCommittedSizePerReady) {
  auto storage = BootstrapStorage(MakeConf({1}));
  Config c = TestConfig(1, storage.get());
  c.max_committed_size_per_ready = 5;
  RawNode node(c);
  node.Campaign();
  auto cycle = [&] {
    Ready rd = node.GetReady();
    EXPECT_TRUE(storage->Append(rd.entries).ok());
    if (!rd.hard_state.IsEmpty()) storage->SetHardState(rd.hard_state);
    node.Advance(rd);
    return rd;
  };
  cycle();
  ASSERT_TRUE(node.ProposeBatch({"aaaa", "bbbb", "cccc"}).ok());
  std::vector<std::string> applied;
  for (int i = 0; i < 10 && node.HasReady(); ++i) {
    Ready rd = cycle();
    EXPECT_LE(rd.committed_entries.size(), 1u) << "two 4-byte entries exceed 5 bytes";
    for (const Entry& e : rd.committed_entries) applied.push_back(e.data);
  }
  EXPECT_EQ(applied, (std::vector<std::string>{"aaaa", "bbbb", "cccc"}));
}

// A Ready's entries are acknowledged by (index, term): if a new leader replaced them before
// Advance, the replacements stay unstable and are offered next.
TEST(RawNodeTest, AdvanceDoesNotStabilizeEntriesReplacedInTheMeantime) {
  Network net({1, 2, 3});
  net.Campaign(1);
  const uint64_t t = net.peer(1).term();
  Message old_leader = MakeMsg(MessageType::kApp, 1, 2, t);
  old_leader.index = 2;
  old_leader.log_term = t;
  old_leader.entries = {MakeEntry(3, t, "old")};
  ASSERT_TRUE(net.node(2).Step(old_leader).ok());
  Ready rd = net.node(2).GetReady();
  ASSERT_EQ(rd.entries, old_leader.entries);

  Message new_leader = MakeMsg(MessageType::kApp, 3, 2, t + 1);
  new_leader.index = 2;
  new_leader.log_term = t;
  new_leader.entries = {MakeEntry(3, t + 1, "new")};
  ASSERT_TRUE(net.node(2).Step(new_leader).ok());
  ASSERT_TRUE(net.storage(2).Append(rd.entries).ok());
  net.node(2).Advance(rd);

  Ready next = net.node(2).GetReady();
  EXPECT_EQ(next.entries, new_leader.entries);
  EXPECT_TRUE(next.must_sync);
}

// --- Ready in a group ---

// Checks must_sync on every Ready the network produced: set exactly when there are entries
// to persist or the term or vote changed. Returns {syncs, non-syncs with a commit change}.
std::pair<int, int> CheckMustSync(Network& net) {
  int syncs = 0, commit_only = 0;
  for (auto& [id, p] : net.peers()) {
    HardState prev{testing::kBootstrapTerm, kNoNode, testing::kBootstrapIndex};
    for (const Ready& rd : p.readies) {
      bool term_or_vote = !rd.hard_state.IsEmpty() &&
                          (rd.hard_state.term != prev.term || rd.hard_state.vote != prev.vote);
      EXPECT_EQ(rd.must_sync, !rd.entries.empty() || term_or_vote) << "node " << id;
      if (rd.must_sync) ++syncs;
      if (!rd.must_sync && !rd.hard_state.IsEmpty() && rd.hard_state.commit != prev.commit) {
        ++commit_only;
      }
      if (!rd.hard_state.IsEmpty()) prev = rd.hard_state;
    }
  }
  return {syncs, commit_only};
}

TEST(RawNodeTest, MustSyncWhenEntriesOrTermOrVoteChangedButNotForCommitAlone) {
  Network net({1, 2, 3});
  net.record_readies = true;
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  net.TickAll(2);
  auto [syncs, commit_only] = CheckMustSync(net);
  EXPECT_GT(syncs, 0);
  EXPECT_GT(commit_only, 0) << "followers learning a commit index need no fsync";
}

TEST(RawNodeTest, SoftStateIsReportedWhenItChanges) {
  Network net({1, 2, 3});
  net.record_readies = true;
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  std::vector<SoftState> seen;
  for (const Ready& rd : net.peer(2).readies) {
    if (rd.soft_state) seen.push_back(*rd.soft_state);
  }
  // Follower 2: from "no leader" straight to "following 1"; nothing more while it stays so.
  EXPECT_EQ(seen, (std::vector<SoftState>{{1, Role::kFollower}}));

  seen.clear();
  for (const Ready& rd : net.peer(1).readies) {
    if (rd.soft_state) seen.push_back(*rd.soft_state);
  }
  EXPECT_EQ(seen,
            (std::vector<SoftState>{
                {kNoNode, Role::kPreCandidate}, {kNoNode, Role::kCandidate}, {1, Role::kLeader}}));
}

TEST(RawNodeTest, HasReadyIsFalseWhenQuiescent) {
  Network net({1, 2, 3});
  net.Campaign(1);
  for (auto& [id, p] : net.peers()) EXPECT_FALSE(p.node->HasReady()) << id;
  net.node(2).Tick();  // a follower tick far from its timeout changes nothing visible
  EXPECT_FALSE(net.node(2).HasReady());
  net.node(1).Tick();  // the leader's heartbeat is output
  EXPECT_TRUE(net.node(1).HasReady());
}

// --- Step ---

TEST(RawNodeTest, StepRefusesLocalMessageTypes) {
  Network net({1, 2, 3});
  net.Campaign(1);
  uint64_t term = net.peer(2).term();
  for (MessageType t : {MessageType::kHup, MessageType::kBeat, MessageType::kUnreachable,
                        MessageType::kSnapStatus, MessageType::kCheckQuorum}) {
    absl::Status s = net.node(2).Step(MakeMsg(t, 1, 2, term));
    EXPECT_EQ(RaftErrcOf(s), RaftErrc::kInvalidArgument) << MessageTypeName(t);
  }
  // A remote "campaign now" did nothing.
  EXPECT_EQ(net.peer(2).role(), Role::kFollower);
  EXPECT_EQ(net.peer(2).term(), term);
  EXPECT_FALSE(net.node(2).HasReady());
  // Nor can a peer ask for a transfer or a read.
  EXPECT_EQ(RaftErrcOf(net.node(1).Step(MakeMsg(MessageType::kTransferLeader, 2, 1, term))),
            RaftErrc::kInvalidArgument);
  EXPECT_EQ(net.Leader(), 1u);
}

TEST(RawNodeTest, StepRefusesResponsesFromUnknownNodes) {
  Network net({1, 2, 3});
  net.Campaign(1);
  uint64_t term = net.peer(1).term();
  for (MessageType t : {MessageType::kAppResp, MessageType::kHeartbeatResp, MessageType::kVoteResp,
                        MessageType::kPreVoteResp}) {
    Message m = MakeMsg(t, 9, 1, term);
    EXPECT_EQ(RaftErrcOf(net.node(1).Step(m)), RaftErrc::kUnknownServer) << MessageTypeName(t);
  }
  EXPECT_FALSE(net.node(1).HasReady());
  EXPECT_FALSE(net.node(1).GetStatus().progress.contains(9));
}

TEST(RawNodeTest, StepRefusesMalformedPeerMessages) {
  Network net({1, 2, 3});
  net.Campaign(1);
  const uint64_t term = net.peer(2).term();
  const uint64_t last = net.peer(2).last_index();
  struct Case {
    const char* name;
    Message m;
  };
  auto app = [&](std::vector<Entry> ents) {
    Message m = MakeMsg(MessageType::kApp, 1, 2, term);
    m.index = last;
    m.log_term = term;
    m.entries = std::move(ents);
    return m;
  };
  std::vector<Case> cases = {
      {"no sender", MakeMsg(MessageType::kHeartbeat, kNoNode, 2, term)},
      {"for another node", MakeMsg(MessageType::kHeartbeat, 1, 3, term)},
      {"no term", MakeMsg(MessageType::kHeartbeat, 1, 2, 0)},
      {"gap in entries", app({MakeEntry(last + 2, term)})},
      {"entry term above message term", app({MakeEntry(last + 1, term + 1)})},
      {"entry terms decreasing", app({MakeEntry(last + 1, term), MakeEntry(last + 2, term - 1)})},
  };
  Message hb_with_entries = MakeMsg(MessageType::kHeartbeat, 1, 2, term);
  hb_with_entries.entries.push_back(MakeEntry(last + 1, term));
  cases.push_back({"entries on a heartbeat", hb_with_entries});
  Message bad_snap = MakeMsg(MessageType::kSnap, 1, 2, term);
  bad_snap.snapshot.metadata = SnapshotMetadata{ConfState{}, last + 5, term};
  cases.push_back({"snapshot without voters", bad_snap});

  for (const auto& c : cases) {
    EXPECT_EQ(RaftErrcOf(net.node(2).Step(c.m)), RaftErrc::kInvalidArgument) << c.name;
  }
  EXPECT_FALSE(net.node(2).HasReady()) << "nothing reached the state machine";
  EXPECT_EQ(net.peer(2).last_index(), last);
  // The well-formed append is accepted.
  EXPECT_TRUE(net.node(2).Step(app({MakeEntry(last + 1, term, "ok")})).ok());
  EXPECT_EQ(net.peer(2).last_index(), last + 1);
}

// --- Status ---

TEST(RawNodeTest, GetStatusHasPerPeerProgressOnTheLeaderOnly) {
  Network net({1, 2, 3}, {4});
  net.Campaign(1);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  Status leader = net.node(1).GetStatus();
  EXPECT_EQ(leader.id, 1u);
  EXPECT_EQ(leader.soft_state, (SoftState{1, Role::kLeader}));
  EXPECT_EQ(leader.hard_state, (HardState{kFirstElectionTerm, 1, 3}));
  EXPECT_EQ(leader.applied, 3u);
  EXPECT_EQ(leader.last_index, 3u);
  EXPECT_EQ(leader.conf_state, MakeConf({1, 2, 3}, {4}));
  ASSERT_EQ(leader.progress.size(), 4u);
  for (NodeId id : {1, 2, 3, 4}) {
    EXPECT_EQ(leader.progress.at(id).match, 3u) << id;
    EXPECT_EQ(leader.progress.at(id).is_learner, id == 4) << id;
  }
  EXPECT_EQ(leader.progress.at(2).state, ProgressState::kReplicate);

  Status follower = net.node(2).GetStatus();
  EXPECT_TRUE(follower.progress.empty());
  EXPECT_EQ(follower.soft_state, (SoftState{1, Role::kFollower}));
  EXPECT_EQ(follower.applied, 3u);
  EXPECT_TRUE(net.node(4).GetStatus().progress.empty());
}

TEST(RawNodeTest, ReportUnreachableSendsAReplicatingPeerBackToProbe) {
  Network net({1, 2, 3});
  net.Campaign(1);
  ASSERT_EQ(net.node(1).GetStatus().progress.at(2).state, ProgressState::kReplicate);
  net.node(1).ReportUnreachable(2);
  EXPECT_EQ(net.node(1).GetStatus().progress.at(2).state, ProgressState::kProbe);
  EXPECT_EQ(net.node(1).GetStatus().progress.at(3).state, ProgressState::kReplicate);
}

}  // namespace
}  // namespace tessera::raft
