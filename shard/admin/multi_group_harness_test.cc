// 3 nodes x 2 groups in one process on real gRPC listeners (127.0.0.1), each node with its own
// RocksDB and a RaftAdmin service on every group listener (spec/membership.md §11
// MultiGroupHarnessTest): configurations, leadership transfer per group, the overview, and a
// learner attached and promoted in one group only.
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <unistd.h>

#include <future>
#include <optional>

#include "gtest/gtest.h"
#include "proto/raft_admin.grpc.pb.h"
#include "shard/admin/admin_testing.h"
#include "shard/admin/raft_admin_service.h"
#include "shard/admin/wipe_group.h"
#include "shard/storage/keys.h"
#include "shard/transport/grpc_transport.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::admin::v1;
using admin_testing::WaitFor;
using std::chrono::milliseconds;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

struct GrpcNode {
  std::string raft_id;
  NodeId id = 0;
  std::map<GroupId, std::string> listeners;
  std::unique_ptr<storage_testing::TempDir> dir = std::make_unique<storage_testing::TempDir>();
  std::unique_ptr<StorageEngine> engine;
  std::unique_ptr<GrpcTransport> transport;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<AdminDirectory> directory;
  std::vector<std::unique_ptr<RaftAdminService>> services;

  void Stop() {
    if (driver) driver->Stop();
    driver.reset();
    transport.reset();
    services.clear();
    directory.reset();
    if (engine) {
      EXPECT_TRUE(engine->Close().ok());
    }
    engine.reset();
  }
};

class MultiGroupHarnessTest : public ::testing::Test {
 protected:
  static constexpr GroupId kGroups[] = {1, 2};

  void SetUp() override {
    for (int i = 1; i <= 3; ++i) AddNode(absl::StrCat("n", i), {1, 2});
    for (GroupId g : kGroups) {
      for (auto& n : nodes_) lists_[g].push_back(Server{n->id, n->raft_id, n->listeners[g], true});
      std::sort(lists_[g].begin(), lists_[g].end(),
                [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    }
    for (int i = 0; i < 3; ++i) Start(i, /*bootstrap=*/true);
  }
  void TearDown() override {
    for (auto& n : nodes_) n->Stop();
  }

  GrpcNode& AddNode(const std::string& raft_id, std::vector<GroupId> groups) {
    auto n = std::make_unique<GrpcNode>();
    n->raft_id = raft_id;
    n->id = DeriveNodeId(raft_id);
    for (GroupId g : groups) n->listeners[g] = absl::StrCat("127.0.0.1:", FreePort());
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // `lists`: this node's declaration instead of lists_ (a first-boot mistake).
  void Start(int i, bool bootstrap,
             const absl::flat_hash_map<GroupId, std::vector<Server>>* lists = nullptr) {
    GrpcNode& n = *nodes_[i];
    auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    n.engine = *std::move(engine);
    GrpcTransportOptions t;
    t.local_node = n.id;
    t.listen_addresses = n.listeners;
    t.data_dir = n.dir->path();
    t.reconnect_max = milliseconds(200);
    n.transport = std::make_unique<GrpcTransport>(t);
    DriverOptions o;
    o.node_id = n.id;
    o.groups = n.listeners;
    if (bootstrap) {
      o.bootstrap_lists = lists != nullptr ? *lists : lists_;
      for (const auto& [g, list] : o.bootstrap_lists) {
        for (const Server& s : list) n.transport->SetPeerAddress(g, s.node_id, s.address);
      }
    }
    o.tick_interval = milliseconds(20);
    o.election_ticks = 10;
    o.data_dir = n.dir->path();
    auto driver = Driver::Open(n.engine.get(), n.transport.get(), o);
    ASSERT_TRUE(driver.ok()) << driver.status();
    n.driver = *std::move(driver);
    AdminDirectory::Options a;
    a.local_node = n.id;
    a.local_raft_id = n.raft_id;
    a.local_listeners = n.listeners;
    for (const auto& [g, address] : n.listeners) a.engines[g] = n.driver->Admin(g);
    n.directory = std::make_unique<AdminDirectory>(std::move(a));
    for (const auto& [g, address] : n.listeners) {
      n.services.push_back(std::make_unique<RaftAdminService>(g, address, n.directory.get()));
      n.transport->RegisterGroupService(g, n.services.back().get());
    }
    ASSERT_TRUE(n.driver->Start().ok());
  }

  std::unique_ptr<v1::RaftAdmin::Stub> Stub(int i, GroupId g) {
    return v1::RaftAdmin::NewStub(
        grpc::CreateChannel(nodes_[i]->listeners[g], grpc::InsecureChannelCredentials()));
  }

  // The index of the node leading g (by its own status), -1 if none yet.
  int Leader(GroupId g) {
    int leader = -1;
    WaitFor([&] {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (!nodes_[i]->driver || !nodes_[i]->listeners.contains(g)) continue;
        auto st = nodes_[i]->driver->Status(g);
        if (st.ok() && st->role == raft::Role::kLeader) {
          leader = static_cast<int>(i);
          return true;
        }
      }
      return false;
    });
    return leader;
  }

  grpc::Status Transfer(int via, GroupId g, const std::string& to, std::string* transferee) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TransferLeadershipRequest req;
    req.set_target_id(to);
    req.set_gated(true);
    req.set_max_lag(1024);
    v1::TransferLeadershipResponse resp;
    grpc::Status s = Stub(via, g)->TransferLeadership(&c, req, &resp);
    *transferee = resp.transferee_id();
    return s;
  }

  std::vector<std::unique_ptr<GrpcNode>> nodes_;
  absl::flat_hash_map<GroupId, std::vector<Server>> lists_;
};

TEST_F(MultiGroupHarnessTest, EachGroupListsThreeVoters) {
  for (GroupId g : kGroups) ASSERT_GE(Leader(g), 0);
  for (int i = 0; i < 3; ++i) {
    for (GroupId g : kGroups) {
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::ConfigurationRequest req;
      v1::ConfigurationResponse resp;
      ASSERT_TRUE(Stub(i, g)->Configuration(&c, req, &resp).ok());
      EXPECT_EQ(resp.group_id(), g);
      ASSERT_EQ(resp.servers_size(), 3);
      for (const v1::Member& m : resp.servers()) {
        EXPECT_EQ(m.suffrage(), "voter");
        EXPECT_EQ(m.address(), nodes_[std::stoi(m.id().substr(1)) - 1]->listeners[g]);
      }
    }
  }
}

TEST_F(MultiGroupHarnessTest, TransferLeadershipAcrossNodesPerGroup) {
  for (GroupId g : kGroups) {
    for (int target = 0; target < 3; ++target) {
      const int leader = Leader(g);
      ASSERT_GE(leader, 0);
      std::string transferee;
      grpc::Status s;
      // Right after an election the target may not be replicating yet: retry until gated.
      ASSERT_TRUE(WaitFor([&] {
        s = Transfer(leader, g, nodes_[target]->raft_id, &transferee);
        return s.ok();
      })) << s.error_message();
      EXPECT_EQ(transferee, nodes_[target]->raft_id);
      EXPECT_TRUE(WaitFor([&] { return Leader(g) == target; }));
    }
  }
  // The groups may be led by different nodes.
  std::string transferee;
  ASSERT_TRUE(WaitFor([&] { return Transfer(Leader(1), 1, "n1", &transferee).ok(); }));
  ASSERT_TRUE(WaitFor([&] { return Transfer(Leader(2), 2, "n3", &transferee).ok(); }));
  EXPECT_TRUE(WaitFor([&] { return Leader(1) == 0 && Leader(2) == 2; }));
}

TEST_F(MultiGroupHarnessTest, AdminOverviewListsAllNodes) {
  for (GroupId g : kGroups) ASSERT_GE(Leader(g), 0);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::OverviewResponse resp;
    ASSERT_TRUE(Stub(i, 1)->GetClusterOverview(&c, v1::OverviewRequest(), &resp).ok());
    ASSERT_EQ(resp.nodes_size(), 3);
    for (const v1::Node& n : resp.nodes()) {
      EXPECT_TRUE(n.reachable()) << n.raft_id() << ": " << n.error();
      ASSERT_EQ(n.groups_size(), 2) << n.raft_id();
      for (const v1::GroupView& v : n.groups()) {
        EXPECT_NE(v.leader_id(), 0u);
        EXPECT_EQ(v.suffrage(), v1::VOTER);
      }
    }
  }
}

TEST_F(MultiGroupHarnessTest, RestartAllNodesIsIdempotent) {
  // Data in both groups, then every node stopped and started again with the same flags: the
  // same configurations, the data intact, leaders elected again, no bootstrap write.
  for (GroupId g : kGroups) {
    const int leader = Leader(g);
    ASSERT_GE(leader, 0);
    auto done = std::make_shared<std::promise<absl::Status>>();
    nodes_[leader]->driver->Propose(g, EncodeSetCommand(absl::StrCat("k", g), "v"),
                                    [done](absl::Status s) { done->set_value(std::move(s)); });
    auto f = done->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  auto applied_everywhere = [&](GroupId g, uint64_t index) {
    return WaitFor([&] {
      for (auto& n : nodes_) {
        auto st = n->driver->Status(g);
        if (!st.ok() || st->applied < index) return false;
      }
      return true;
    });
  };
  std::map<GroupId, ClusterConfiguration> confs;
  std::map<GroupId, uint64_t> commits;
  for (GroupId g : kGroups) {
    commits[g] = nodes_[Leader(g)]->driver->Status(g)->commit;
    ASSERT_TRUE(applied_everywhere(g, commits[g]));
    confs[g] = *nodes_[0]->driver->Configuration(g);
  }
  auto records = [&](GrpcNode& n) {
    std::vector<std::string> out;
    for (GroupId g : kGroups) {
      for (std::string_view name : {meta::kInitialized, meta::kConfState, meta::kPeers,
                                    meta::kBootstrap, meta::kBootstrapEra}) {
        std::string v;
        n.engine->db()->Get(rocksdb::ReadOptions(), n.engine->meta(), MetaKey(g, name), &v);
        out.push_back(std::move(v));
      }
    }
    return out;
  };
  std::vector<std::vector<std::string>> before;
  for (auto& n : nodes_) before.push_back(records(*n));

  for (auto& n : nodes_) n->Stop();
  for (int i = 0; i < 3; ++i) Start(i, /*bootstrap=*/true);

  for (int i = 0; i < 3; ++i) EXPECT_EQ(records(*nodes_[i]), before[i]) << "n" << i + 1;
  for (GroupId g : kGroups) {
    ASSERT_GE(Leader(g), 0) << "group " << g;
    ASSERT_TRUE(applied_everywhere(g, commits[g]));
    for (auto& n : nodes_) {
      auto conf = n->driver->Configuration(g);
      ASSERT_TRUE(conf.ok());
      EXPECT_EQ(conf->index, confs[g].index);
      EXPECT_EQ(conf->servers, confs[g].servers);
      auto v = n->driver->kv().Get(g, absl::StrCat("k", g));
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(*v, std::optional<std::string>("v")) << n->raft_id << " group " << g;
    }
  }
}

TEST_F(MultiGroupHarnessTest, MismatchedFirstBootHasNoSharedLeader) {
  // A second cluster, n5..n7, on fresh data dirs: n7 declares n8 (never started) instead of n6.
  // It bootstraps its own configuration, which no amount of time repairs (the symptom of
  // spec/membership.md §5: no leader, or a leader whose ConfState differs from some replicas');
  // the handshake detects it, and wipe-group + a restart with the identical list recovers.
  for (const char* id : {"n5", "n6", "n7"}) AddNode(id, {1, 2});
  GrpcNode& n5 = *nodes_[3];
  GrpcNode& n6 = *nodes_[4];
  GrpcNode& n7 = *nodes_[5];
  absl::flat_hash_map<GroupId, std::vector<Server>> right, wrong;
  for (GroupId g : kGroups) {
    for (GrpcNode* n : {&n5, &n6, &n7}) {
      right[g].push_back(Server{n->id, n->raft_id, n->listeners[g], true});
    }
    wrong[g] = {right[g][0], right[g][2],
                Server{DeriveNodeId("n8"), "n8", absl::StrCat("127.0.0.1:", FreePort()), true}};
    for (auto* l : {&right[g], &wrong[g]}) {
      std::sort(l->begin(), l->end(),
                [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    }
  }
  Start(3, true, &right);
  Start(4, true, &right);
  Start(5, true, &wrong);
  auto members = [](GrpcNode& n, GroupId g) {
    std::vector<std::string> ids;
    auto conf = n.driver->Configuration(g);
    if (conf.ok()) {
      for (const Server& s : conf->servers) ids.push_back(s.raft_id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  const std::vector<std::string> declared = {"n5", "n6", "n7"};
  // Detected on the transport handshake, counted, never rejected.
  EXPECT_TRUE(WaitFor([&] {
    uint64_t mismatches = 0;
    for (GrpcNode* n : {&n5, &n6, &n7}) mismatches += n->transport->Counters().bootstrap_mismatches;
    return mismatches > 0;
  }));
  // Five election timeouts (10 ticks of 20 ms) later n7 still holds the configuration it made
  // up: the majority and n7 share no configuration.
  std::this_thread::sleep_for(milliseconds(5 * 10 * 20));
  for (GroupId g : kGroups) {
    EXPECT_EQ(members(n5, g), declared);
    EXPECT_EQ(members(n7, g), (std::vector<std::string>{"n5", "n7", "n8"})) << "group " << g;
  }

  // Recovery: stop n7, wipe both groups offline, restart it with the identical list.
  const std::string n7_dir = n7.dir->path();
  n7.Stop();
  for (GroupId g : kGroups) {
    absl::StatusOr<WipeGroupResult> wiped = WipeGroup(n7_dir, g, /*confirm_data_loss=*/true);
    ASSERT_TRUE(wiped.ok()) << wiped.status();
  }
  Start(5, true, &right);
  for (GroupId g : kGroups) {
    EXPECT_TRUE(WaitFor([&] { return members(n7, g) == declared; })) << "group " << g;
    // A write through the majority's leader: its append reaches the wiped replica, whose
    // rejection makes the leader back up and resend what the wipe removed.
    int leader = -1;  // among n5..n7 (n1..n3 are another cluster in the same process)
    ASSERT_TRUE(WaitFor([&] {
      for (int i = 3; i < 6; ++i) {
        auto st = nodes_[i]->driver->Status(g);
        if (st.ok() && st->role == raft::Role::kLeader) leader = i;
      }
      return leader >= 0;
    }));
    auto done = std::make_shared<std::promise<absl::Status>>();
    nodes_[leader]->driver->Propose(g, EncodeSetCommand("after-wipe", "v"),
                                    [done](absl::Status st) { done->set_value(std::move(st)); });
    auto f = done->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
    EXPECT_TRUE(WaitFor([&] {
      auto a = n5.driver->Status(g), b = n7.driver->Status(g);
      return a.ok() && b.ok() && a->leader != 0 && a->leader == b->leader &&
             b->applied >= a->commit;
    })) << "group "
        << g << ": n7 follows the leader of n5 and n6; " << [&] {
             std::string out;
             for (GrpcNode* n : {&n5, &n6, &n7}) {
               auto st = n->driver->Status(g);
               if (st.ok()) {
                 absl::StrAppend(&out, n->raft_id, " role=", static_cast<int>(st->role),
                                 " leader=", st->leader, " term=", st->term, " commit=", st->commit,
                                 " applied=", st->applied, " last=", st->last_index, "; ");
               }
             }
             return out;
           }();
  }
}

TEST_F(MultiGroupHarnessTest, LearnerAttachAndPromoteInOneGroup) {
  // n4 hosts group 2 only and knows nobody: the leader reaches it through AddLearner's
  // address, and it answers through the stream handshake.
  GrpcNode& n4 = AddNode("n4", {2});
  Start(3, /*bootstrap=*/false);
  const int leader = Leader(2);
  ASSERT_GE(leader, 0);
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::AddLearnerRequest req;
    req.set_id("n4");
    req.set_address(n4.listeners[2]);
    v1::ChangeResponse resp;
    grpc::Status s = Stub(leader, 2)->AddLearner(&c, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(resp.index(), 0u);
  }
  // AdminDiscoveryUsesLiveConfiguration: the overview includes n4 once the asked node
  // (any member, not necessarily the leader) applied the change.
  EXPECT_TRUE(WaitFor([&] {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::OverviewResponse resp;
    return Stub(0, 1)->GetClusterOverview(&c, v1::OverviewRequest(), &resp).ok() &&
           resp.nodes_size() == 4;
  }));
  // Catch-up per the leader's progress, then promote with that index.
  uint64_t commit = 0;
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::StatusResponse st;
    if (!Stub(leader, 2)->Status(&c, v1::StatusRequest(), &st).ok()) return false;
    for (const v1::PeerProgress& p : st.peers()) {
      if (p.raft_id() == "n4" && p.match() >= st.commit_index()) {
        commit = st.commit_index();
        return true;
      }
    }
    return false;
  }));
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PromoteLearnerRequest req;
    req.set_id("n4");
    req.set_min_applied_index(commit);
    v1::ChangeResponse resp;
    grpc::Status s = Stub(leader, 2)->PromoteLearner(&c, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Group 2 has four voters, group 1 still three.
  for (auto [g, voters] : {std::pair{GroupId{1}, 3}, std::pair{GroupId{2}, 4}}) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ConfigurationResponse resp;
    ASSERT_TRUE(Stub(0, g)->Configuration(&c, v1::ConfigurationRequest(), &resp).ok());
    EXPECT_EQ(resp.servers_size(), voters) << "group " << g;
  }
  // n4 can lead group 2.
  std::string transferee;
  ASSERT_TRUE(WaitFor([&] { return Transfer(Leader(2), 2, "n4", &transferee).ok(); }));
  EXPECT_TRUE(WaitFor([&] { return Leader(2) == 3; }));
}

}  // namespace
}  // namespace tessera::shard
