// TopologyService: snapshots built from declared members, live ConfState and leader, and the
// Redis map; GetTopology and WatchTopology over a real gRPC server on loopback.
#include "shard/topology/topology_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace tessera::shard {
namespace {

namespace tv1 = topology::v1;

Server Member(const std::string& raft_id, const std::string& address) {
  return Server{DeriveNodeId(raft_id), raft_id, address, true};
}

TopologyOptions ThreeNodesTwoGroups() {
  TopologyOptions o;
  o.raft_id = "n1";
  o.node_id = DeriveNodeId("n1");
  o.groups = {1, 2};
  std::map<std::string, std::string> redis_map;
  for (GroupId g : o.groups) {
    for (int n = 1; n <= 3; ++n) {
      const std::string raft = "127.0.0.1:" + std::to_string(5000 + 10 * n + static_cast<int>(g));
      o.members[g].push_back(Member("n" + std::to_string(n), raft));
      redis_map[raft] = "127.0.0.1:" + std::to_string(6000 + n);
    }
  }
  o.redis_addresses = std::make_shared<RedisAddressBook>(std::move(redis_map));
  o.watch_poll = std::chrono::milliseconds(5);
  return o;
}

// A status source the test changes while a watch runs.
class FakeStatus {
 public:
  void Set(GroupId g, absl::StatusOr<GroupStatus> s) {
    std::lock_guard<std::mutex> lk(mu_);
    statuses_.insert_or_assign(g, std::move(s));
  }
  GroupStatusSource Source() {
    return [this](GroupId g) -> absl::StatusOr<GroupStatus> {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = statuses_.find(g);
      if (it == statuses_.end()) return absl::NotFoundError("no such group");
      return it->second;
    };
  }

 private:
  std::mutex mu_;
  std::map<GroupId, absl::StatusOr<GroupStatus>> statuses_;
};

GroupStatus Led(const std::string& leader, uint64_t term, bool self_leads) {
  GroupStatus s;
  s.leader = DeriveNodeId(leader);
  s.term = term;
  s.role = self_leads ? raft::Role::kLeader : raft::Role::kFollower;
  s.conf_state.voters = {DeriveNodeId("n1"), DeriveNodeId("n2"), DeriveNodeId("n3")};
  return s;
}

TEST(BuildTopologyTest, TableMembersLeadersAndRedisAddresses) {
  const TopologyOptions o = ThreeNodesTwoGroups();
  FakeStatus fake;
  fake.Set(1, Led("n1", 3, /*self_leads=*/true));
  fake.Set(2, absl::UnavailableError("not open"));
  const tv1::TopologySnapshot t = BuildTopology(o, fake.Source());

  ASSERT_EQ(t.routing().version(), 1u);
  ASSERT_EQ(t.routing().ranges_size(), 2);
  EXPECT_EQ(t.routing().ranges(0).first(), 0u);
  EXPECT_EQ(t.routing().ranges(0).last(), 8191u);
  EXPECT_EQ(t.routing().ranges(0).group_id(), 1u);
  EXPECT_EQ(t.routing().ranges(1).first(), 8192u);
  EXPECT_EQ(t.routing().ranges(1).last(), 16383u);
  EXPECT_EQ(t.routing().ranges(1).group_id(), 2u);
  EXPECT_EQ(t.default_group(), 1u);
  EXPECT_EQ(t.served_by(), "n1");
  EXPECT_TRUE(t.authoritative());

  ASSERT_EQ(t.groups_size(), 2);
  const tv1::GroupTopology& g1 = t.groups(0);
  EXPECT_EQ(g1.group_id(), 1u);
  EXPECT_EQ(g1.term(), 3u);
  EXPECT_EQ(g1.leader_id(), DeriveNodeId("n1"));
  EXPECT_EQ(g1.leader_raft_address(), "127.0.0.1:5011");
  EXPECT_EQ(g1.leader_redis_address(), "127.0.0.1:6001");
  ASSERT_EQ(g1.members_size(), 3);
  for (const tv1::GroupMember& m : g1.members()) {
    EXPECT_EQ(m.suffrage(), tv1::SUFFRAGE_VOTER);
    EXPECT_FALSE(m.raft_address().empty());
    EXPECT_FALSE(m.redis_address().empty());
  }
  // Group 2 has no status yet: declared members, no leader.
  const tv1::GroupTopology& g2 = t.groups(1);
  EXPECT_EQ(g2.leader_id(), 0u);
  EXPECT_EQ(g2.leader_redis_address(), "");
  EXPECT_EQ(g2.members_size(), 3);

  ASSERT_EQ(t.nodes_size(), 3);
  for (const tv1::NodeTopology& n : t.nodes()) {
    EXPECT_EQ(n.redis_address(), "127.0.0.1:600" + n.raft_id().substr(1));
  }
}

TEST(BuildTopologyTest, TheStoredTableWinsOverTheEvenSpread) {
  const TopologyOptions o = ThreeNodesTwoGroups();
  FakeStatus fake;
  fake.Set(1, Led("n2", 3, /*self_leads=*/false));
  fake.Set(2, Led("n2", 3, /*self_leads=*/false));
  absl::StatusOr<routing::RoutingTable> stored = routing::RoutingTable::FromRanges(
      {{0, 99, 2}, {100, 8191, 1}, {8192, 16383, 2}}, /*version=*/3);
  ASSERT_TRUE(stored.ok());
  const tv1::TopologySnapshot t = BuildTopology(
      o, fake.Source(), [&] { return std::optional<routing::RoutingTable>(*stored); });
  EXPECT_EQ(t.routing().version(), 3u);
  ASSERT_EQ(t.routing().ranges_size(), 3);
  EXPECT_EQ(t.routing().ranges(0).last(), 99u);
  EXPECT_EQ(t.routing().ranges(0).group_id(), 2u);
  EXPECT_FALSE(t.authoritative());
  // Nothing stored yet: the even spread at version 1, as bootstrap will store it.
  const tv1::TopologySnapshot even =
      BuildTopology(o, fake.Source(), [] { return std::optional<routing::RoutingTable>(); });
  EXPECT_EQ(even.routing().version(), 1u);
  EXPECT_EQ(even.routing().ranges_size(), 2);
  EXPECT_EQ(CurrentRoutingTable({1, 2}, std::nullopt).Ranges(),
            routing::RoutingTable::EvenSpread({1, 2}, 1).Ranges());
}

TEST(BuildTopologyTest, LearnerFromConfStateAndUnknownMemberWithoutAddress) {
  const TopologyOptions o = ThreeNodesTwoGroups();
  FakeStatus fake;
  GroupStatus s = Led("n2", 4, /*self_leads=*/false);
  s.conf_state.voters = {DeriveNodeId("n1"), DeriveNodeId("n2")};
  s.conf_state.learners = {DeriveNodeId("n3"), DeriveNodeId("n9")};
  fake.Set(1, s);
  fake.Set(2, s);
  const tv1::TopologySnapshot t = BuildTopology(o, fake.Source());
  EXPECT_FALSE(t.authoritative());
  ASSERT_EQ(t.groups(0).members_size(), 4);
  int learners = 0;
  for (const tv1::GroupMember& m : t.groups(0).members()) {
    if (m.suffrage() == tv1::SUFFRAGE_LEARNER) ++learners;
    if (m.node_id() == DeriveNodeId("n9")) {
      EXPECT_EQ(m.raft_address(), "");
    }
  }
  EXPECT_EQ(learners, 2);
  EXPECT_EQ(t.groups(0).leader_redis_address(), "127.0.0.1:6002");
}

TEST(BuildTopologyTest, NodeAddedAtRuntimeLeadsWithItsAnnouncedRedisAddress) {
  // n4 joined by AddLearner, was promoted and now leads group 1: it is in no declaration and
  // no --raftRedisMap, only in the live configuration and in what n4 announced.
  TopologyOptions o = ThreeNodesTwoGroups();
  auto book = std::make_shared<RedisAddressBook>(
      std::const_pointer_cast<RedisAddressBook>(o.redis_addresses)->Entries());
  o.redis_addresses = book;
  FakeStatus fake;
  GroupStatus s = Led("n4", 7, /*self_leads=*/false);
  s.conf_state.voters = {DeriveNodeId("n1"), DeriveNodeId("n2"), DeriveNodeId("n3"),
                         DeriveNodeId("n4")};
  auto conf = std::make_shared<ClusterConfiguration>();
  conf->index = 12;
  for (const Server& m : o.members.at(1)) conf->servers.push_back(m);
  conf->servers.push_back(Member("n4", "127.0.0.1:5041"));
  s.configuration = conf;
  fake.Set(1, s);
  fake.Set(2, Led("n1", 3, /*self_leads=*/true));

  tv1::TopologySnapshot t = BuildTopology(o, fake.Source());
  ASSERT_EQ(t.groups(0).members_size(), 4);
  EXPECT_EQ(t.groups(0).leader_raft_address(), "127.0.0.1:5041");
  EXPECT_EQ(t.groups(0).leader_redis_address(), "") << "not announced yet";

  book->Learn({"127.0.0.1:5041", "127.0.0.1:5042"}, "127.0.0.1:6004");
  t = BuildTopology(o, fake.Source());
  EXPECT_EQ(t.groups(0).leader_redis_address(), "127.0.0.1:6004");
  bool found = false;
  for (const tv1::GroupMember& m : t.groups(0).members()) {
    if (m.node_id() != DeriveNodeId("n4")) continue;
    found = true;
    EXPECT_EQ(m.raft_id(), "n4");
    EXPECT_EQ(m.raft_address(), "127.0.0.1:5041");
    EXPECT_EQ(m.redis_address(), "127.0.0.1:6004");
    EXPECT_EQ(m.suffrage(), tv1::SUFFRAGE_VOTER);
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(t.nodes_size(), 4);
  bool node_listed = false;
  for (const tv1::NodeTopology& n : t.nodes()) {
    if (n.raft_id() == "n4") node_listed = n.redis_address() == "127.0.0.1:6004";
  }
  EXPECT_TRUE(node_listed);
  EXPECT_EQ(t.groups(1).leader_redis_address(), "127.0.0.1:6001");
}

class TopologyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_unique<TopologyService>(ThreeNodesTwoGroups());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    stub_ = tv1::Topology::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                                       grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    service_->Stop();
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  static std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds timeout) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    return c;
  }

  FakeStatus fake_;
  std::unique_ptr<TopologyService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<tv1::Topology::Stub> stub_;
  int port_ = 0;
};

TEST_F(TopologyServiceTest, GetTopologyIsUnavailableUntilTheDriverIsThere) {
  tv1::TopologySnapshot snap;
  auto ctx = Context(std::chrono::seconds(5));
  grpc::Status s = stub_->GetTopology(ctx.get(), tv1::GetTopologyRequest(), &snap);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);

  fake_.Set(1, Led("n2", 2, false));
  fake_.Set(2, Led("n3", 5, false));
  service_->SetStatusSource(fake_.Source());
  ctx = Context(std::chrono::seconds(5));
  s = stub_->GetTopology(ctx.get(), tv1::GetTopologyRequest(), &snap);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(snap.groups(1).leader_redis_address(), "127.0.0.1:6003");
  EXPECT_EQ(snap.groups(1).term(), 5u);
}

TEST_F(TopologyServiceTest, WatchSendsTheCurrentStateThenEveryChange) {
  fake_.Set(1, Led("n1", 2, true));
  fake_.Set(2, Led("n2", 2, false));
  service_->SetStatusSource(fake_.Source());
  auto ctx = Context(std::chrono::seconds(20));
  tv1::WatchTopologyRequest req;
  auto reader = stub_->WatchTopology(ctx.get(), req);
  tv1::TopologySnapshot snap;
  ASSERT_TRUE(reader->Read(&snap));
  EXPECT_EQ(snap.groups(1).leader_redis_address(), "127.0.0.1:6002");

  fake_.Set(2, Led("n3", 3, false));  // a new leader for group 2
  ASSERT_TRUE(reader->Read(&snap));
  EXPECT_EQ(snap.groups(1).leader_redis_address(), "127.0.0.1:6003");
  EXPECT_EQ(snap.groups(1).term(), 3u);

  service_->Stop();  // ends the stream
  EXPECT_FALSE(reader->Read(&snap));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TopologyServiceTest, WatchAfterTheCurrentVersionWaitsForANewerTable) {
  fake_.Set(1, Led("n1", 2, true));
  fake_.Set(2, Led("n2", 2, false));
  service_->SetStatusSource(fake_.Source());
  auto ctx = Context(std::chrono::milliseconds(300));
  tv1::WatchTopologyRequest req;
  req.set_after_version(1);
  auto reader = stub_->WatchTopology(ctx.get(), req);
  tv1::TopologySnapshot snap;
  EXPECT_FALSE(reader->Read(&snap));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace
}  // namespace tessera::shard
