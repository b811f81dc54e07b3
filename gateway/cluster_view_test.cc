// ClusterView from topology snapshots: table ranges checked, leaders translated through the
// gateway's Redis map first and the advertised address second.
#include "gateway/cluster_view.h"

#include <gtest/gtest.h>

namespace tessera::gateway {
namespace {

namespace tv1 = topology::v1;

tv1::TopologySnapshot TwoGroups() {
  tv1::TopologySnapshot s;
  s.mutable_routing()->set_version(3);
  auto* r = s.mutable_routing()->add_ranges();
  r->set_first(0);
  r->set_last(8191);
  r->set_group_id(1);
  r = s.mutable_routing()->add_ranges();
  r->set_first(8192);
  r->set_last(16383);
  r->set_group_id(2);
  for (uint64_t g : {1, 2}) {
    tv1::GroupTopology* group = s.add_groups();
    group->set_group_id(g);
    group->set_term(7);
    group->set_leader_id(100 + g);
    group->set_leader_raft_address("10.0.0." + std::to_string(g) + ":5051");
    group->set_leader_redis_address("10.0.0." + std::to_string(g) + ":6379");
    tv1::GroupMember* m = group->add_members();
    m->set_raft_address("10.0.0." + std::to_string(g) + ":5051");
  }
  s.set_default_group(1);
  s.set_served_by("n1");
  s.set_authoritative(true);
  return s;
}

TEST(ClusterViewTest, TableGroupsAndLeaders) {
  auto view = ClusterView::FromSnapshot(TwoGroups(), {});
  ASSERT_TRUE(view.ok()) << view.status();
  const ClusterView& v = **view;
  EXPECT_EQ(v.version(), 3u);
  EXPECT_EQ(v.table().GroupForSlot(0), 1u);
  EXPECT_EQ(v.table().GroupForSlot(16383), 2u);
  EXPECT_EQ(v.groups(), std::vector<GroupId>({1, 2}));
  EXPECT_EQ(v.default_group(), 1u);
  EXPECT_EQ(v.group(2)->leader_redis, "10.0.0.2:6379");
  EXPECT_EQ(v.group(2)->term, 7u);
  EXPECT_EQ(v.group(3), nullptr);
  EXPECT_EQ(v.raft_addresses(), std::vector<std::string>({"10.0.0.1:5051", "10.0.0.2:5051"}));
  EXPECT_TRUE(v.authoritative());
}

TEST(ClusterViewTest, RedisMapWinsOverTheAdvertisedAddress) {
  auto view = ClusterView::FromSnapshot(TwoGroups(), {{"10.0.0.1:5051", "192.168.1.1:7000"}});
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)->group(1)->leader_redis, "192.168.1.1:7000");
  EXPECT_EQ((*view)->group(2)->leader_redis, "10.0.0.2:6379");
}

TEST(ClusterViewTest, UnmappedLeaderIsFlagged) {
  tv1::TopologySnapshot s = TwoGroups();
  s.mutable_groups(0)->clear_leader_redis_address();
  auto view = ClusterView::FromSnapshot(s, {});
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE((*view)->group(1)->leader_unmapped);
  EXPECT_EQ((*view)->group(1)->leader_redis, "");
}

TEST(ClusterViewTest, RefusesBrokenTables) {
  tv1::TopologySnapshot gap = TwoGroups();
  gap.mutable_routing()->mutable_ranges(1)->set_first(9000);
  EXPECT_FALSE(ClusterView::FromSnapshot(gap, {}).ok());
  tv1::TopologySnapshot unknown = TwoGroups();
  unknown.mutable_routing()->mutable_ranges(1)->set_group_id(9);
  EXPECT_FALSE(ClusterView::FromSnapshot(unknown, {}).ok());
  tv1::TopologySnapshot out = TwoGroups();
  out.mutable_routing()->mutable_ranges(1)->set_last(20000);
  EXPECT_FALSE(ClusterView::FromSnapshot(out, {}).ok());
}

}  // namespace
}  // namespace tessera::gateway
