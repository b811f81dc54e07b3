// NextPeersAfterConfChange: every persist site stamps suffrage from the ConfState, a promotion
// keeps the learner's address, a removal drops the member (spec/membership.md §7.4).
#include "shard/driver/membership_change.h"

#include "gtest/gtest.h"
#include "shard/driver/bootstrap.h"
#include "shard/membership/node_id.h"

namespace tessera::shard {
namespace {

Server Member(const std::string& raft_id, const std::string& address, bool voter) {
  return Server{DeriveNodeId(raft_id), raft_id, address, voter};
}

raft::ConfChange Change(raft::ConfChangeType type, const Server& s, bool with_context) {
  return raft::ConfChange{type, s.node_id, with_context ? EncodeConfChangeContext(s) : ""};
}

TEST(MembershipChangeTest, NextPeersStampsSuffrage) {
  const Server n1 = Member("n1", "10.0.0.1:5051", true);
  const Server n2 = Member("n2", "10.0.0.2:5051", true);
  PeersRecord current{3, {n1}};
  std::string problem;

  // AddLearnerNode: the context gives the address, the ConfState says learner.
  raft::ConfState cs{{n1.node_id}, {n2.node_id}};
  PeersRecord next = NextPeersAfterConfChange(
      current, Change(raft::ConfChangeType::kAddLearnerNode, n2, true), cs, 7, &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(next.index, 7u);
  ASSERT_EQ(next.peers.size(), 2u);
  for (const Server& s : next.peers) {
    EXPECT_EQ(s.voter, s.raft_id == "n1") << s.raft_id;
    EXPECT_FALSE(s.address.empty());
  }

  // AddNode for the learner (a promotion, no context): voter, same address.
  cs = raft::ConfState{{n1.node_id, n2.node_id}, {}};
  next = NextPeersAfterConfChange(next, Change(raft::ConfChangeType::kAddNode, n2, false), cs, 9,
                                  &problem);
  EXPECT_TRUE(problem.empty()) << problem;
  ASSERT_EQ(next.peers.size(), 2u);
  for (const Server& s : next.peers) {
    EXPECT_TRUE(s.voter) << s.raft_id;
    if (s.raft_id == "n2") {
      EXPECT_EQ(s.address, "10.0.0.2:5051");
    }
  }

  // AddNode of a new voter with its context.
  const Server n3 = Member("n3", "10.0.0.3:5051", false);  // the input's suffrage is ignored
  cs.voters.push_back(n3.node_id);
  std::sort(cs.voters.begin(), cs.voters.end());
  next = NextPeersAfterConfChange(next, Change(raft::ConfChangeType::kAddNode, n3, true), cs, 11,
                                  &problem);
  ASSERT_EQ(next.peers.size(), 3u);
  for (const Server& s : next.peers) EXPECT_TRUE(s.voter) << s.raft_id;
  EXPECT_TRUE(
      std::is_sorted(next.peers.begin(), next.peers.end(),
                     [](const Server& a, const Server& b) { return a.node_id < b.node_id; }));

  // RemoveNode drops the member.
  std::erase(cs.voters, n2.node_id);
  next = NextPeersAfterConfChange(next, Change(raft::ConfChangeType::kRemoveNode, n2, false), cs,
                                  12, &problem);
  ASSERT_EQ(next.peers.size(), 2u);
  for (const Server& s : next.peers) EXPECT_NE(s.raft_id, "n2");

  // An unknown member without context has no address: reported.
  const Server n4 = Member("n4", "10.0.0.4:5051", true);
  next = NextPeersAfterConfChange(next, Change(raft::ConfChangeType::kAddLearnerNode, n4, false),
                                  raft::ConfState{cs.voters, {n4.node_id}}, 13, &problem);
  EXPECT_FALSE(problem.empty());
}

}  // namespace
}  // namespace tessera::shard
