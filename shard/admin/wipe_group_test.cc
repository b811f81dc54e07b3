// wipe-group on a stopped node: refusals (running, not in the bootstrap era, client entries
// without confirmation, unknown group), then a wiped replica re-bootstraps and catches up.
#include "shard/admin/wipe_group.h"

#include "gtest/gtest.h"
#include "shard/admin/admin_testing.h"

namespace tessera::shard {
namespace {

using admin_testing::AdminCluster;
using admin_testing::Ctx;

TEST(WipeGroupTest, WipedReplicaRebootstrapsAndCatchesUp) {
  AdminCluster cluster(3, 0);
  cluster.StartAll();
  const int leader = cluster.Leader(1);
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(cluster.Set(leader, 1, "k", "v").ok());
  const int victim = (leader + 1) % 3;
  const std::string dir = cluster.node(victim).dir->path();

  // While it runs, its database is locked.
  EXPECT_EQ(WipeGroup(dir, 1, true).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(cluster.WaitApplied(victim, 1, cluster.node(leader).driver->Status(1)->commit));
  cluster.Stop(victim);

  absl::StatusOr<WipeGroupResult> refused = WipeGroup(dir, 1, false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("1 client entries"), absl::string_view::npos)
      << refused.status();
  EXPECT_EQ(WipeGroup(dir, 7, true).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<WipeGroupResult> wiped = WipeGroup(dir, 1, true);
  ASSERT_TRUE(wiped.ok()) << wiped.status();
  EXPECT_EQ(wiped->data_entries, 1u);
  EXPECT_EQ(WipeGroup(dir, 1, true).status().code(), absl::StatusCode::kNotFound);

  cluster.Start(victim);
  ASSERT_EQ(cluster.node(victim).driver->bootstrapped_groups(), std::vector<GroupId>{1});
  ASSERT_TRUE(cluster.Set(leader, 1, "k2", "v2").ok());
  ASSERT_TRUE(cluster.WaitApplied(victim, 1, cluster.node(leader).driver->Status(1)->commit));
  EXPECT_EQ(cluster.Get(victim, 1, "k"), "v");
  EXPECT_EQ(cluster.Get(victim, 1, "k2"), "v2");
}

TEST(WipeGroupTest, RefusedAfterAMembershipChange) {
  AdminCluster cluster(1, 1);
  cluster.StartAll();
  ASSERT_EQ(cluster.Leader(1), 0);
  ASSERT_TRUE(cluster.node(0)
                  .admin(1)
                  ->AddLearner(Ctx(), "n2", AdminCluster::Address(cluster.node(1), 1), 0)
                  .ok());
  cluster.Stop(0);
  absl::StatusOr<WipeGroupResult> r = WipeGroup(cluster.node(0).dir->path(), 1, true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("bootstrap era"), absl::string_view::npos) << r.status();
}

}  // namespace
}  // namespace tessera::shard
