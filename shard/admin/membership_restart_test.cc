// Restarts with the declared bootstrap lists on real cores and RocksDB (spec/membership.md §4,
// §11 MembershipRestartTest): idempotent restarts, declarations ignored after a live change,
// never a second bootstrap, and a moved listener refused.
#include <algorithm>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "shard/admin/admin_testing.h"
#include "shard/config/config_errc.h"
#include "shard/driver/bootstrap.h"
#include "shard/membership/peers_record.h"
#include "shard/storage/keys.h"

namespace tessera::shard {
namespace {

using admin_testing::AdminCluster;
using admin_testing::Ctx;
using admin_testing::TestNode;
using admin_testing::WaitFor;

constexpr GroupId kGroup = 1;

std::optional<std::string> Meta(const TestNode& n, std::string_view name) {
  std::string v;
  if (!n.engine->db()
           ->Get(rocksdb::ReadOptions(), n.engine->meta(), MetaKey(kGroup, name), &v)
           .ok()) {
    return std::nullopt;
  }
  return v;
}

// The durable membership records of node i, in a fixed order.
std::vector<std::optional<std::string>> Records(const TestNode& n) {
  return {Meta(n, meta::kInitialized), Meta(n, meta::kConfState), Meta(n, meta::kPeers),
          Meta(n, meta::kBootstrap), Meta(n, meta::kBootstrapEra)};
}

class MembershipRestartTest : public ::testing::Test {
 protected:
  // n1..n3 bootstrap the group; n4 opens empty.
  void SetUp() override {
    cluster_ = std::make_unique<AdminCluster>(3, 1);
    cluster_->StartAll();
    leader_ = cluster_->Leader(kGroup);
    ASSERT_GE(leader_, 0);
    ASSERT_TRUE(cluster_->Set(leader_, kGroup, "k", "v").ok());
  }
  RaftAdmin* leader() { return cluster_->node(leader_).admin(kGroup); }
  std::string address(int i) { return AdminCluster::Address(cluster_->node(i), kGroup); }
  // A bootstrap node other than the leader: the one restarted.
  int Follower() const { return leader_ == 0 ? 1 : 0; }
  // Waits until node i applied what the leader committed.
  void WaitCaughtUp(int i) {
    const uint64_t commit = cluster_->node(leader_).driver->Status(kGroup)->commit;
    ASSERT_TRUE(cluster_->WaitApplied(i, kGroup, commit));
  }
  // Restarts node i with its original flags (bootstrap list included) and expects it to open.
  void RestartWithOriginalList(int i) {
    cluster_->Stop(i);
    cluster_->Start(i);
    ASSERT_NE(cluster_->node(i).driver, nullptr);
  }
  void ExpectEraCleared(int i) {
    EXPECT_EQ(Meta(cluster_->node(i), meta::kBootstrapEra), std::string(1, '\0'));
  }

  std::unique_ptr<AdminCluster> cluster_;
  int leader_ = -1;
};

TEST_F(MembershipRestartTest, SameFlagsIsIdempotent) {
  const int f = Follower();
  WaitCaughtUp(f);
  const auto before = Records(cluster_->node(f));
  const auto conf_before = cluster_->node(f).driver->Configuration(kGroup);
  ASSERT_TRUE(conf_before.ok());
  RestartWithOriginalList(f);
  EXPECT_EQ(Records(cluster_->node(f)), before) << "Open wrote no membership record";
  EXPECT_EQ(Meta(cluster_->node(f), meta::kBootstrapEra), std::string(1, '\1'));
  const auto conf_after = cluster_->node(f).driver->Configuration(kGroup);
  ASSERT_TRUE(conf_after.ok());
  EXPECT_EQ(conf_after->index, conf_before->index);
  EXPECT_EQ(conf_after->servers, conf_before->servers);
  WaitCaughtUp(f);  // entries applied but not yet durable are applied again from the log
  EXPECT_EQ(cluster_->Get(f, kGroup, "k"), "v");
}

TEST_F(MembershipRestartTest, EditedListInBootstrapEraRejected) {
  const int f = Follower();
  WaitCaughtUp(f);
  cluster_->Stop(f);
  TestNode& n = cluster_->node(f);
  auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  LoopbackTransport transport(&cluster_->hub, n.id, n.dir->path());
  DriverOptions o = cluster_->Options(n);
  std::vector<Server>& list = o.bootstrap_lists[kGroup];
  const std::string original = ListHashHex(ListHash(list));
  const Server fourth{cluster_->node(3).id, "n4", address(3), true};
  list.push_back(fourth);
  std::sort(list.begin(), list.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  const std::string edited = ListHashHex(ListHash(list));
  auto driver = Driver::Open(engine->get(), &transport, o);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetConfigErrc(driver.status()), ConfigErrc::kClusterMismatch) << driver.status();
  const std::string message(driver.status().message());
  for (const std::string& part : {std::string("group 1"), original, edited}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " in " << message;
  }
  EXPECT_TRUE((*engine)->Close().ok());
}

TEST_F(MembershipRestartTest, OriginalListAfterAddVoterAccepted) {
  ASSERT_TRUE(leader()->AddVoter(Ctx(), "n4", address(3), 0).ok());
  const int f = Follower();
  WaitCaughtUp(f);
  ExpectEraCleared(f);
  RestartWithOriginalList(f);
  auto conf = cluster_->node(f).driver->Configuration(kGroup);
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->servers.size(), 4u) << "the declaration (3 voters) is ignored, not applied";
}

TEST_F(MembershipRestartTest, OriginalListAfterAddLearnerAccepted) {
  ASSERT_TRUE(leader()->AddLearner(Ctx(), "n4", address(3), 0).ok());
  const int f = Follower();
  WaitCaughtUp(f);
  ExpectEraCleared(f);
  RestartWithOriginalList(f);
  auto conf = cluster_->node(f).driver->Configuration(kGroup);
  ASSERT_TRUE(conf.ok());
  ASSERT_EQ(conf->servers.size(), 4u);
  EXPECT_FALSE(conf->servers.back().voter) << "n4 is still a learner";
}

TEST_F(MembershipRestartTest, OriginalListAfterRemoveServerAccepted) {
  const int removed = leader_ == 2 ? 1 : 2;
  const int f = 3 - leader_ - removed;  // the third bootstrap node
  ASSERT_TRUE(leader()->RemoveServer(Ctx(), cluster_->node(removed).raft_id, 0).ok());
  WaitCaughtUp(f);
  ExpectEraCleared(f);
  RestartWithOriginalList(f);
  auto conf = cluster_->node(f).driver->Configuration(kGroup);
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->servers.size(), 2u);
  // The shrunken group still commits with the restarted member.
  EXPECT_TRUE(WaitFor([&] { return cluster_->Set(leader_, kGroup, "k2", "v2").ok(); }));
}

TEST_F(MembershipRestartTest, BootstrapFlagOnInitializedGroupDoesNotRebootstrap) {
  // After a change and more writes, a restart with the bootstrap flags keeps the rows, the log
  // and the changed ConfState; nothing of a bootstrap is written again.
  ASSERT_TRUE(leader()->AddLearner(Ctx(), "n4", address(3), 0).ok());
  ASSERT_TRUE(cluster_->Set(leader_, kGroup, "k2", "v2").ok());
  const int f = Follower();
  WaitCaughtUp(f);
  const auto before = Records(cluster_->node(f));
  const uint64_t last = cluster_->node(f).driver->Status(kGroup)->last_index;
  RestartWithOriginalList(f);
  EXPECT_EQ(Records(cluster_->node(f)), before);
  EXPECT_GE(cluster_->node(f).driver->Status(kGroup)->last_index, last);
  WaitCaughtUp(f);
  EXPECT_EQ(cluster_->Get(f, kGroup, "k"), "v");
  EXPECT_EQ(cluster_->Get(f, kGroup, "k2"), "v2");
  EXPECT_EQ(cluster_->node(f).driver->Status(kGroup)->conf_state.learners.size(), 1u);
}

TEST_F(MembershipRestartTest, ListenerMoveRejected) {
  const int f = Follower();
  WaitCaughtUp(f);
  cluster_->Stop(f);
  TestNode& n = cluster_->node(f);
  auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  LoopbackTransport transport(&cluster_->hub, n.id, n.dir->path());
  DriverOptions o = cluster_->Options(n);
  o.bootstrap_lists.clear();  // the durable records alone must catch it
  o.groups[kGroup] = "10.0.0.99:6001";
  auto driver = Driver::Open(engine->get(), &transport, o);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetConfigErrc(driver.status()), ConfigErrc::kLocalAddrMismatch) << driver.status();
  EXPECT_NE(std::string(driver.status().message()).find("group 1"), std::string::npos)
      << driver.status();
  EXPECT_TRUE((*engine)->Close().ok());
}

TEST_F(MembershipRestartTest, UnlistedGroupStateRejected) {
  // The node's data dir holds group 1, but it is restarted hosting group 2 only.
  const int f = Follower();
  WaitCaughtUp(f);
  cluster_->Stop(f);
  TestNode& n = cluster_->node(f);
  auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  LoopbackTransport transport(&cluster_->hub, n.id, n.dir->path());
  DriverOptions o = cluster_->Options(n);
  o.bootstrap_lists.clear();
  o.groups = {{2, "10.0.0.9:5052"}};
  auto driver = Driver::Open(engine->get(), &transport, o);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetConfigErrc(driver.status()), ConfigErrc::kUnlistedGroupState) << driver.status();
  EXPECT_NE(std::string(driver.status().message()).find("group 1"), std::string::npos)
      << driver.status();
  EXPECT_TRUE((*engine)->Close().ok());
}

TEST_F(MembershipRestartTest, PartialBootstrapStateIsCorrupt) {
  // Log entries without meta:initialized cannot come from a crash (bootstrap is one synced
  // batch): such a group is refused, never bootstrapped over.
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  StorageEngine* e = engine->get();
  auto log = GroupLog::Load(e, kGroup);
  ASSERT_TRUE(log.ok());
  rocksdb::WriteBatch batch;
  ASSERT_TRUE((*log)->StageAppend(batch, {raft::Entry{1, 1, raft::EntryType::kNormal, "x"}}).ok());
  ASSERT_TRUE(e->Write(batch, true).ok());
  DriverOptions o = cluster_->Options(cluster_->node(0));
  LoopbackTransport transport(&cluster_->hub, DeriveNodeId("n9"), dir.path());
  o.node_id = DeriveNodeId("n9");
  auto driver = Driver::Open(e, &transport, o);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetConfigErrc(driver.status()), ConfigErrc::kCorruptGroupState) << driver.status();
  std::string initialized;
  EXPECT_TRUE(e->db()
                  ->Get(rocksdb::ReadOptions(), e->meta(), MetaKey(kGroup, meta::kInitialized),
                        &initialized)
                  .IsNotFound())
      << "nothing written";
  EXPECT_TRUE(e->Close().ok());
}

}  // namespace
}  // namespace tessera::shard
