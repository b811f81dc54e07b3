// Scenario tests of leader election: timeouts, the Raft paper's §5 safety properties
// (election safety, up-to-date votes, leader completeness, figure 8), PreVote and CheckQuorum.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/raft.h"
#include "raft/rawnode.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::BootstrapStorage;
using testing::MakeConf;
using testing::MakeMsg;
using testing::Network;
using testing::TestConfig;

constexpr int kElectionTick = 10;
// The term of the first election after bootstrap.
constexpr uint64_t kT1 = testing::kFirstElectionTerm;

// The classic etcd network: no CheckQuorum, no PreVote, so votes are never ignored.
void PlainRaft(Config& c) {
  c.check_quorum = false;
  c.pre_vote = false;
}

void ExpectOneLeaderAgreedByAll(Network& net) {
  NodeId leader = net.Leader();
  ASSERT_NE(leader, kNoNode);
  uint64_t term = net.peer(leader).term();
  for (auto& [id, p] : net.peers()) {
    if (id == leader) continue;
    EXPECT_NE(p.role(), Role::kLeader) << id;
    EXPECT_EQ(p.term(), term) << id;
    EXPECT_EQ(p.raft().lead(), leader) << id;
  }
}

TEST(ElectionTest, ThreeNodeGroupElectsALeaderWithinTwoElectionTimeouts) {
  Network net({1, 2, 3});
  int ticks = net.TickUntilLeader();
  EXPECT_GE(ticks, kElectionTick);
  EXPECT_LT(ticks, 2 * kElectionTick);
  ExpectOneLeaderAgreedByAll(net);
  EXPECT_EQ(net.peer(net.Leader()).term(), kT1);
}

TEST(ElectionTest, FiveNodeGroupElectsALeaderWithinTwoElectionTimeouts) {
  Network net({1, 2, 3, 4, 5});
  int ticks = net.TickUntilLeader();
  EXPECT_GE(ticks, kElectionTick);
  EXPECT_LT(ticks, 2 * kElectionTick);
  ExpectOneLeaderAgreedByAll(net);
}

TEST(ElectionTest, CampaignElectsTheCandidateInOneRound) {
  Network net({1, 2, 3});
  net.Campaign(2);
  EXPECT_EQ(net.Leader(), 2u);
  ExpectOneLeaderAgreedByAll(net);
}

// Ticks a lone follower (its peer never answers) until it starts a (pre-)campaign.
int TicksUntilCampaign(NodeId id, uint64_t seed) {
  auto storage = BootstrapStorage(MakeConf({id, 1000}));
  Config c = TestConfig(id, storage.get());
  c.seed = seed;
  RawNode node(c);
  for (int t = 1; t <= 10 * kElectionTick; ++t) {
    node.Tick();
    if (node.raft().role() != Role::kFollower) return t;
  }
  return -1;
}

TEST(ElectionTest, RandomizedElectionTimeoutIsInRangeAndDiffersAcrossNodes) {
  std::set<int> by_id, by_seed;
  for (NodeId id = 1; id <= 10; ++id) {
    int t = TicksUntilCampaign(id, 42);
    EXPECT_GE(t, kElectionTick) << id;
    EXPECT_LT(t, 2 * kElectionTick) << id;
    by_id.insert(t);
  }
  for (uint64_t seed = 1; seed <= 10; ++seed) by_seed.insert(TicksUntilCampaign(7, seed));
  EXPECT_GT(by_id.size(), 1u) << "every node would time out together: split votes forever";
  EXPECT_GT(by_seed.size(), 1u);
}

TEST(ElectionTest, TimeoutIsReRandomizedAfterEachCampaign) {
  auto storage = BootstrapStorage(MakeConf({1, 2, 3}));
  Config c = TestConfig(1, storage.get());
  c.pre_vote = false;
  RawNode node(c);
  std::set<int> gaps;
  int last = 0;
  uint64_t last_term = node.raft().term();
  for (int t = 1; t <= 40 * kElectionTick; ++t) {
    node.Tick();
    if (node.raft().term() != last_term) {  // a new campaign
      EXPECT_GE(t - last, kElectionTick);
      EXPECT_LT(t - last, 2 * kElectionTick);
      gaps.insert(t - last);
      last = t;
      last_term = node.raft().term();
    }
  }
  EXPECT_GE(last_term, kT1 + 20) << "a lone candidate keeps campaigning";
  EXPECT_GT(gaps.size(), 1u);
}

// §5.2: at most one leader per term, across a partition and its healing.
TEST(ElectionTest, ElectionSafetyAtMostOneLeaderPerTermAcrossPartition) {
  Network net({1, 2, 3, 4, 5});
  net.Campaign(1);
  ASSERT_EQ(net.Leader(), 1u);
  for (NodeId a : {1, 2}) {
    for (NodeId b : {3, 4, 5}) net.Cut(a, b);
  }
  ASSERT_TRUE(net.Propose(1, "minority").ok());  // cannot commit
  // The majority side elects someone; the old leader steps down (CheckQuorum).
  NodeId majority_leader = kNoNode;
  for (int t = 0; t < 5 * kElectionTick && majority_leader == kNoNode; ++t) {
    net.TickAll(1);
    for (NodeId id : {3, 4, 5}) {
      if (net.peer(id).role() == Role::kLeader) majority_leader = id;
    }
  }
  ASSERT_NE(majority_leader, kNoNode);
  ASSERT_TRUE(net.Propose(majority_leader, "majority").ok());
  net.TickAll(2 * kElectionTick);
  EXPECT_NE(net.peer(1).role(), Role::kLeader);

  net.Heal();
  net.TickAll(5 * kElectionTick);
  for (const auto& [term, leaders] : net.leaders_by_term()) {
    EXPECT_LE(leaders.size(), 1u) << "term " << term << " had " << leaders.size() << " leaders";
  }
  EXPECT_GE(net.leaders_by_term().size(), 2u);
  ExpectOneLeaderAgreedByAll(net);
  for (auto& [id, p] : net.peers()) {
    EXPECT_EQ(p.AppliedData(), (std::vector<std::string>{"majority"})) << id;
  }
}

// §5.4.1: a voter refuses a candidate whose log is less up to date than its own.
TEST(ElectionTest, CandidateWithStaleLogLosesElection) {
  Network net({1, 2, 3}, {}, PlainRaft);
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "x").ok());
  ASSERT_EQ(net.peer(2).AppliedData(), (std::vector<std::string>{"x"}));
  net.Heal();
  net.Isolate(1);

  net.ClearSent();
  net.Campaign(3);
  EXPECT_NE(net.peer(3).role(), Role::kLeader);
  EXPECT_EQ(net.CountSent([](const Message& m) {
    return m.type == MessageType::kVoteResp && m.from == 2 && m.to == 3 && m.reject;
  }),
            1u)
      << "2 must refuse 3 for its stale log";

  net.Campaign(2);
  EXPECT_EQ(net.peer(2).role(), Role::kLeader);
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"x"}));
}

// §5.4: whoever wins next already holds every committed entry (leader completeness).
TEST(ElectionTest, NewLeaderHoldsEveryCommittedEntry) {
  Network net({1, 2, 3, 4, 5});
  net.Campaign(1);
  net.Isolate(4);
  net.Isolate(5);
  for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(net.Propose(1, d).ok());
  ASSERT_EQ(net.peer(1).AppliedData(), (std::vector<std::string>{"a", "b", "c"}));
  uint64_t committed = net.peer(1).committed();

  net.Remove(1);  // the leader crashes
  net.Heal();
  net.TickUntilLeader();
  NodeId leader = net.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3) << "stale nodes 4 and 5 cannot win, got " << leader;
  // Its log holds the committed prefix before it replicates anything.
  for (uint64_t i = 1; i <= committed; ++i) {
    EXPECT_EQ(net.peer(leader).raft().log().TermOrZero(i), net.peer(1).raft().log().TermOrZero(i))
        << "index " << i;
  }
  net.TickAll(3);
  for (NodeId id : {2, 3, 4, 5}) {
    EXPECT_EQ(net.peer(id).AppliedData(), (std::vector<std::string>{"a", "b", "c"})) << id;
  }
}

// §8 / etcd: every new leader starts its term with an empty entry.
TEST(ElectionTest, NoopEntryStartsEveryTerm) {
  Network net({1, 2, 3});
  net.Campaign(1);
  const RaftLog& log1 = net.peer(1).raft().log();
  ASSERT_EQ(log1.LastIndex(), 2u);
  auto e = log1.Slice(2, 3, kNoLimit);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0], testing::MakeEntry(2, kT1));

  ASSERT_TRUE(net.Propose(1, "x").ok());
  ASSERT_TRUE(net.node(1).TransferLeader(2).ok());
  net.Stabilize();
  ASSERT_EQ(net.Leader(), 2u);
  const RaftLog& log2 = net.peer(2).raft().log();
  ASSERT_EQ(log2.LastIndex(), 4u);
  EXPECT_EQ((*log2.Slice(4, 5, kNoLimit))[0], testing::MakeEntry(4, kT1 + 1));
  // Everyone applied the noop of the new term: it is what commits the new term.
  EXPECT_EQ(net.peer(3).applied_index, 4u);
}

// §5.4.2 (etcd TestLeaderOnlyCommitsLogFromCurrentTerm): counting replicas commits only
// entries of the leader's own term; older ones commit with them.
TEST(ElectionTest, LeaderOnlyCommitsEntriesOfItsOwnTermByCountingReplicas) {
  struct Case {
    uint64_t ack_index;
    uint64_t want_commit;
  };
  // Log 1@1 (bootstrap) 2@2; the leader of term 3 appends noop 3@3 and proposal 4@3.
  const std::vector<Case> cases = {{1, 1}, {2, 1}, {3, 3}, {4, 4}};
  for (const auto& c : cases) {
    auto storage = BootstrapStorage(MakeConf({1, 2}));
    ASSERT_TRUE(storage->Append({testing::MakeEntry(2, 2)}).ok());
    storage->SetHardState(HardState{2, kNoNode, 1});
    Config cfg = TestConfig(1, storage.get());
    PlainRaft(cfg);
    Raft r(cfg);
    ASSERT_TRUE(r.Step(MakeMsg(MessageType::kHup, 1, 1)).ok());
    ASSERT_EQ(r.role(), Role::kCandidate);
    ASSERT_TRUE(r.Step(MakeMsg(MessageType::kVoteResp, 2, 1, 3)).ok());
    ASSERT_EQ(r.role(), Role::kLeader);
    Message prop = MakeMsg(MessageType::kProp, 1, 1);
    prop.entries.push_back(testing::MakeEntry(0, 0, "p"));
    ASSERT_TRUE(r.Step(prop).ok());
    ASSERT_EQ(r.log().LastIndex(), 4u);

    Message ack = MakeMsg(MessageType::kAppResp, 2, 1, 3);
    ack.index = c.ack_index;
    ASSERT_TRUE(r.Step(ack).ok());
    EXPECT_EQ(r.log().committed(), c.want_commit) << "ack of " << c.ack_index;
  }
}

// Raft paper figure 8, played out: an entry of an older term replicated on a majority (here
// four of five) is not committed by counting, because a later leader may still overwrite it.
TEST(ElectionTest, Figure8OldTermEntryOnMajorityIsNotCommittedAndMayBeOverwritten) {
  Network net({1, 2, 3, 4, 5}, {}, PlainRaft);
  // (a) 1 leads term kT1 and replicates "a" at index 3 to 2 only.
  net.Campaign(1);
  net.Cut(1, 3);
  net.Cut(1, 4);
  net.Cut(1, 5);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  ASSERT_EQ(net.peer(2).last_index(), 3u);
  ASSERT_EQ(net.peer(1).committed(), 2u);

  // (b) 1 is down; 5 wins the next term with 3 and 4, appends its noop at 3 but sends nothing.
  net.Isolate(1);
  net.DropIf([](const Message& m) { return m.from == 5 && m.type == MessageType::kApp; });
  net.Campaign(5);
  ASSERT_EQ(net.peer(5).role(), Role::kLeader);
  ASSERT_EQ(net.peer(5).term(), kT1 + 1);
  ASSERT_EQ(net.peer(5).raft().log().TermOrZero(3), kT1 + 1);

  // (c) 5 is down; 1 restarts, wins the term after and replicates its old entry 3 everywhere
  // but not its new noop at 4.
  net.Heal();
  net.Isolate(5);
  net.Restart(1);
  net.AddFilter([](Message& m) {
    if (m.from == 1 && m.type == MessageType::kApp) {
      std::erase_if(m.entries, [](const Entry& e) { return e.index >= 4; });
    }
    return true;
  });
  net.Campaign(1);
  if (net.peer(1).role() != Role::kLeader) net.Campaign(1);  // the first try was split
  ASSERT_EQ(net.peer(1).role(), Role::kLeader);
  ASSERT_EQ(net.peer(1).term(), kT1 + 2);
  for (NodeId id : {2, 3, 4}) ASSERT_EQ(net.peer(id).raft().log().TermOrZero(3), kT1) << id;
  EXPECT_EQ(net.peer(1).committed(), 2u) << "entry 3 is on 4 of 5 nodes but is from an older term";
  for (NodeId id : {1, 2, 3, 4}) EXPECT_EQ(net.peer(id).applied_index, 2u) << id;

  // (d) 1 is down; 5 restarts and, its last entry (3, kT1+1) beating (3, kT1), wins and
  // overwrites index 3.
  net.Heal();
  net.Isolate(1);
  net.Restart(5);
  net.Campaign(5);
  if (net.peer(5).role() != Role::kLeader) net.Campaign(5);
  ASSERT_EQ(net.peer(5).role(), Role::kLeader);
  for (NodeId id : {2, 3, 4, 5}) {
    EXPECT_EQ(net.peer(id).raft().log().TermOrZero(3), kT1 + 1) << id;
    EXPECT_TRUE(net.peer(id).AppliedData().empty()) << "\"a\" was never committed";
    EXPECT_GE(net.peer(id).applied_index, 4u) << id;
  }
}

// etcd TestCommitWithoutNewTermEntry: the new leader's noop commits the older entries.
TEST(ElectionTest, OlderEntriesCommitWithTheNewLeadersNoop) {
  Network net({1, 2, 3, 4, 5}, {}, PlainRaft);
  net.Campaign(1);
  net.Cut(1, 3);
  net.Cut(1, 4);
  net.Cut(1, 5);
  ASSERT_TRUE(net.Propose(1, "a").ok());
  ASSERT_TRUE(net.Propose(1, "b").ok());
  EXPECT_EQ(net.peer(1).committed(), 2u);

  net.Heal();
  net.Campaign(2);  // 2 has "a" and "b": everyone votes for it
  ASSERT_EQ(net.Leader(), 2u);
  EXPECT_EQ(net.peer(2).committed(), 5u);  // "a" at 3, "b" at 4 and the new noop at 5
  for (auto& [id, p] : net.peers()) {
    EXPECT_EQ(p.AppliedData(), (std::vector<std::string>{"a", "b"})) << id;
  }
}

// --- PreVote ---

// Isolates 3, commits an entry without it, ticks long enough for it to campaign many times,
// heals and ticks again. Returns the largest term any node reached.
uint64_t RejoinAfterPartition(Network& net) {
  net.Campaign(1);
  EXPECT_EQ(net.Leader(), 1u);
  net.Isolate(3);
  EXPECT_TRUE(net.Propose(1, "x").ok());
  net.TickAll(5 * kElectionTick);
  net.Heal();
  net.TickAll(5 * kElectionTick);
  uint64_t max_term = 0;
  for (auto& [id, p] : net.peers()) max_term = std::max(max_term, p.term());
  return max_term;
}

TEST(PreVoteTest, RejoiningPartitionedNodeDoesNotBumpTermOrDisruptLeader) {
  Network net({1, 2, 3}, {}, [](Config& c) {
    c.pre_vote = true;
    c.check_quorum = false;  // PreVote alone must be enough
  });
  EXPECT_EQ(RejoinAfterPartition(net), kT1);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.leaders_by_term().size(), 1u);
  EXPECT_EQ(net.peer(3).AppliedData(), (std::vector<std::string>{"x"}));
  EXPECT_EQ(net.peer(3).raft().lead(), 1u);
}

TEST(PreVoteTest, WithoutPreVoteRejoiningNodeBumpsTermAndDeposesLeader) {
  Network net({1, 2, 3}, {}, PlainRaft);
  EXPECT_GT(RejoinAfterPartition(net), kT1 + 1);
  EXPECT_GE(net.leaders_by_term().size(), 2u) << "the first leader was deposed";
  // 3's stale log cannot win; the group recovers under 1 or 2.
  ExpectOneLeaderAgreedByAll(net);
  EXPECT_NE(net.Leader(), 3u);
}

TEST(PreVoteTest, PreCandidateKeepsItsTermWhileIsolated) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  net.TickAll(10 * kElectionTick);
  EXPECT_EQ(net.peer(3).term(), kT1);
  EXPECT_EQ(net.peer(3).role(), Role::kPreCandidate);
  EXPECT_EQ(net.storage(3).hard_state().term, kT1);
}

// --- CheckQuorum and the vote lease ---

TEST(CheckQuorumTest, IsolatedLeaderStepsDownAfterElectionTimeout) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(1);
  net.Tick(1, kElectionTick - 1);
  net.Stabilize();
  EXPECT_EQ(net.peer(1).role(), Role::kLeader) << "no check before an election timeout";
  net.Tick(1, kElectionTick + 1);
  net.Stabilize();
  EXPECT_EQ(net.peer(1).role(), Role::kFollower);
  EXPECT_EQ(net.peer(1).term(), kT1) << "stepping down does not change the term";
  EXPECT_EQ(net.peer(1).raft().lead(), kNoNode);
}

TEST(CheckQuorumTest, WithoutCheckQuorumIsolatedLeaderStaysLeader) {
  Network net({1, 2, 3}, {}, PlainRaft);
  net.Campaign(1);
  net.Isolate(1);
  net.Tick(1, 5 * kElectionTick);
  net.Stabilize();
  EXPECT_EQ(net.peer(1).role(), Role::kLeader);
}

TEST(CheckQuorumTest, LeaderWithAQuorumStaysLeader) {
  Network net({1, 2, 3, 4, 5});
  net.Campaign(1);
  net.Isolate(5);
  net.TickAll(5 * kElectionTick);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.peer(1).term(), kT1);
}

TEST(CheckQuorumTest, SingleVoterLeaderKeepsLeadershipAcrossCheckQuorum) {
  Network net({1}, {2});
  net.Campaign(1);
  ASSERT_EQ(net.Leader(), 1u);
  net.TickAll(3 * kElectionTick);
  EXPECT_EQ(net.peer(1).role(), Role::kLeader);
  EXPECT_EQ(net.peer(1).term(), kT1);
}

TEST(CheckQuorumTest, LeaderWithBareMajorityKeepsLeadershipAtFirstCheckQuorum) {
  Network net({1, 2, 3});
  net.Isolate(3);
  net.Campaign(1);
  ASSERT_EQ(net.Leader(), 1u);
  net.TickAll(kElectionTick + 1);
  EXPECT_EQ(net.peer(1).role(), Role::kLeader) << "1 and 2 are a quorum of three";
  EXPECT_EQ(net.peer(1).term(), kT1);
}

TEST(CheckQuorumTest, LearnerActivityDoesNotKeepALeaderInPower) {
  Network net({1, 2, 3}, {4, 5});
  net.Campaign(1);
  net.Isolate(2);
  net.Isolate(3);
  // Learners 4 and 5 keep answering, but they are not a quorum of voters.
  net.TickAll(2 * kElectionTick);
  EXPECT_NE(net.peer(1).role(), Role::kLeader);
}

Message VoteFrom3(MessageType type, Network& net) {
  Message m = MakeMsg(type, 3, 2, net.peer(2).term() + 1);
  m.index = net.peer(3).last_index();
  m.log_term = net.peer(3).raft().log().LastTerm();
  return m;
}

TEST(CheckQuorumTest, FollowerThatRecentlyHeardFromLeaderIgnoresHigherTermVote) {
  Network net({1, 2, 3});
  net.Campaign(1);
  for (MessageType type : {MessageType::kVote, MessageType::kPreVote}) {
    ASSERT_TRUE(net.Deliver(VoteFrom3(type, net)).ok());
    EXPECT_FALSE(net.node(2).HasReady()) << MessageTypeName(type) << ": no answer at all";
    EXPECT_EQ(net.peer(2).term(), kT1);
    EXPECT_EQ(net.peer(2).raft().lead(), 1u);
  }
}

TEST(CheckQuorumTest, WithoutCheckQuorumFollowerGrantsHigherTermVote) {
  Network net({1, 2, 3}, {}, PlainRaft);
  net.Campaign(1);
  ASSERT_TRUE(net.Deliver(VoteFrom3(MessageType::kVote, net)).ok());
  ASSERT_TRUE(net.ProcessReady(2));
  EXPECT_EQ(net.peer(2).term(), kT1 + 1);
  EXPECT_EQ(net.storage(2).hard_state().vote, 3u);
}

TEST(CheckQuorumTest, FollowerVotesAgainOnceTheLeaderIsSilentForAnElectionTimeout) {
  Network net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(1);
  net.Isolate(3);
  // 2 hears nothing; its pre-campaign resets lead, so it then answers 3.
  net.TickAll(2 * kElectionTick);
  net.Heal();
  net.Isolate(1);
  net.Campaign(3);
  EXPECT_EQ(net.peer(3).role(), Role::kLeader);
  EXPECT_EQ(net.peer(2).raft().lead(), 3u);
}

}  // namespace
}  // namespace tessera::raft
