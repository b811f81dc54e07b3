// RaftAdminService over gRPC on 127.0.0.1: requests reach the engine as given, engine errors
// map to the codes of spec/membership.md §8, group_id and token checks; gated transfers on a
// real three-node driver cluster.
#include "shard/admin/raft_admin_service.h"

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "shard/admin/admin_testing.h"
#include "shard/admin/fake_raft_admin.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::admin::v1;
using admin_testing::FakeRaftAdmin;
using admin_testing::TestAdminServer;

std::unique_ptr<v1::RaftAdmin::Stub> Stub(const std::string& address) {
  return v1::RaftAdmin::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

void Deadline(grpc::ClientContext* c, int ms = 5000) {
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

TEST(RaftAdminServerTest, MapsEngineAdminMethods) {
  FakeRaftAdmin fake;
  TestAdminServer server(&fake);
  auto stub = Stub(server.address());

  {
    grpc::ClientContext c;
    Deadline(&c);
    v1::AddLearnerRequest req;
    req.set_id("n4");
    req.set_address("10.0.0.4:5051");
    req.set_previous_index(7);
    v1::ChangeResponse resp;
    ASSERT_TRUE(stub->AddLearner(&c, req, &resp).ok());
    EXPECT_EQ(resp.index(), 42u);
  }
  {
    grpc::ClientContext c;
    Deadline(&c);
    v1::PromoteLearnerRequest req;
    req.set_id("n4");
    req.set_previous_index(43);
    req.set_min_applied_index(1000);
    req.set_skip_min_applied_check(true);
    v1::ChangeResponse resp;
    ASSERT_TRUE(stub->PromoteLearner(&c, req, &resp).ok());
    EXPECT_EQ(resp.index(), 42u);
  }
  std::vector<FakeRaftAdmin::Call> calls = fake.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "AddLearner");
  EXPECT_EQ(calls[0].id, "n4");
  EXPECT_EQ(calls[0].address, "10.0.0.4:5051");
  EXPECT_EQ(calls[0].previous_index, 7u);
  EXPECT_EQ(calls[1].method, "PromoteLearner");
  EXPECT_EQ(calls[1].previous_index, 43u);
  EXPECT_EQ(calls[1].min_applied_index, 1000u);
  EXPECT_TRUE(calls[1].skip);

  // Every engine error is FAILED_PRECONDITION with the errc name first.
  for (const absl::Status& error :
       {raft::RaftError(raft::RaftErrc::kPromoteLearnerNotCaughtUp, "match 3 < 10"),
        AdminError(AdminErrc::kConfigIndexMismatch, "stale"),
        raft::RaftError(raft::RaftErrc::kNotLeader, "leader n2")}) {
    fake.next_error = error;
    grpc::ClientContext c;
    Deadline(&c);
    v1::RemoveServerRequest req;
    req.set_id("n4");
    v1::ChangeResponse resp;
    grpc::Status s = stub->RemoveServer(&c, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_EQ(s.error_message(), std::string(error.message()));
  }
  fake.next_error = absl::OkStatus();

  // The caller's deadline reaches the engine: DEADLINE_EXCEEDED.
  fake.block_until_context_ends = true;
  {
    grpc::ClientContext c;
    Deadline(&c, 200);
    v1::AddVoterRequest req;
    req.set_id("n5");
    req.set_address("10.0.0.5:5051");
    v1::ChangeResponse resp;
    EXPECT_EQ(stub->AddVoter(&c, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // A cancelled call: the engine sees the cancellation and gives up (CANCELLED).
  {
    grpc::ClientContext c;
    Deadline(&c);
    v1::AddVoterRequest req;
    req.set_id("n5");
    req.set_address("10.0.0.5:5051");
    v1::ChangeResponse resp;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      c.TryCancel();
    });
    EXPECT_EQ(stub->AddVoter(&c, req, &resp).error_code(), grpc::StatusCode::CANCELLED);
    canceller.join();
  }
  fake.block_until_context_ends = false;
  // The engine's own CANCELLED / DEADLINE_EXCEEDED statuses keep their codes.
  for (auto [error, code] :
       {std::pair{AdminError(AdminErrc::kCanceled, "x"), grpc::StatusCode::CANCELLED},
        std::pair{AdminError(AdminErrc::kDeadlineExceeded, "x"),
                  grpc::StatusCode::DEADLINE_EXCEEDED}}) {
    EXPECT_EQ(ToGrpcStatus(error).error_code(), code);
  }

  // Malformed requests never reach the engine.
  const size_t before = fake.calls().size();
  grpc::ClientContext c;
  Deadline(&c);
  v1::AddVoterRequest req;
  req.set_id("n6");
  v1::ChangeResponse resp;
  EXPECT_EQ(stub->AddVoter(&c, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fake.calls().size(), before);
}

TEST(RaftAdminServerTest, GroupIdMismatchRejected) {
  FakeRaftAdmin fake;
  TestAdminServer server(&fake, /*group=*/2);
  auto stub = Stub(server.address());
  for (uint64_t group : {uint64_t{0}, uint64_t{2}}) {
    grpc::ClientContext c;
    Deadline(&c);
    v1::ConfigurationRequest req;
    req.set_group_id(group);
    v1::ConfigurationResponse resp;
    EXPECT_TRUE(stub->Configuration(&c, req, &resp).ok()) << group;
    EXPECT_EQ(resp.group_id(), 2u);
  }
  grpc::ClientContext c;
  Deadline(&c);
  v1::ConfigurationRequest req;
  req.set_group_id(1);
  v1::ConfigurationResponse resp;
  grpc::Status s = stub->Configuration(&c, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("group_id 1"), std::string::npos) << s.error_message();
}

TEST(RaftAdminServerTest, TokenRequiredOnNonLoopbackListener) {
  FakeRaftAdmin fake;
  TestAdminServer server(&fake, 1, "s3cret", /*configured_address=*/"10.0.0.1:5051");
  auto stub = Stub(server.address());
  for (const std::string& presented : {std::string(), std::string("Bearer wrong")}) {
    grpc::ClientContext c;
    Deadline(&c);
    if (!presented.empty()) c.AddMetadata("authorization", presented);
    v1::StatusResponse resp;
    EXPECT_EQ(stub->Status(&c, v1::StatusRequest(), &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_TRUE(fake.calls().empty());
  grpc::ClientContext c;
  Deadline(&c);
  c.AddMetadata("authorization", "Bearer s3cret");
  v1::StatusResponse resp;
  EXPECT_TRUE(stub->Status(&c, v1::StatusRequest(), &resp).ok());

  // A loopback listener does not demand it.
  TestAdminServer local(&fake, 1, "s3cret", "127.0.0.1:5051");
  auto local_stub = Stub(local.address());
  grpc::ClientContext lc;
  Deadline(&lc);
  EXPECT_TRUE(local_stub->Status(&lc, v1::StatusRequest(), &resp).ok());
}

TEST(RaftAdminServerTest, TransferLeadershipGatedRespectsMaxLag) {
  admin_testing::AdminCluster cluster(3, 0);
  cluster.StartAll();
  const int leader = cluster.Leader(1);
  ASSERT_GE(leader, 0);
  const int target = (leader + 1) % 3;
  TestAdminServer server(cluster.node(leader).admin(1));
  auto stub = Stub(server.address());

  // The target misses 20 entries.
  cluster.hub.Isolate(cluster.node(target).id);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(cluster.Set(leader, 1, "k", std::to_string(i)).ok());
  const uint64_t term = cluster.node(leader).driver->Status(1)->term;
  {
    grpc::ClientContext c;
    Deadline(&c);
    v1::TransferLeadershipRequest req;
    req.set_target_id(cluster.node(target).raft_id);
    req.set_gated(true);
    req.set_max_lag(5);
    v1::TransferLeadershipResponse resp;
    grpc::Status s = stub->TransferLeadership(&c, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(s.error_message().rfind("kTargetNotCaughtUp", 0), 0u) << s.error_message();
  }
  // Nothing was attempted.
  auto st = cluster.node(leader).driver->Status(1);
  EXPECT_EQ(st->role, raft::Role::kLeader);
  EXPECT_EQ(st->term, term);

  cluster.hub.HealAll();
  ASSERT_TRUE(cluster.WaitApplied(target, 1, st->commit));
  grpc::ClientContext c;
  Deadline(&c);
  v1::TransferLeadershipRequest req;
  req.set_target_id(cluster.node(target).raft_id);
  req.set_gated(true);
  req.set_max_lag(5);
  v1::TransferLeadershipResponse resp;
  grpc::Status s;
  // The target must be replicating and recently active again: retry within the deadline.
  ASSERT_TRUE(admin_testing::WaitFor([&] {
    grpc::ClientContext attempt;
    Deadline(&attempt);
    s = stub->TransferLeadership(&attempt, req, &resp);
    return s.ok();
  })) << s.error_message();
  EXPECT_EQ(resp.transferee_id(), cluster.node(target).raft_id);
  EXPECT_TRUE(admin_testing::WaitFor(
      [&] { return cluster.node(target).driver->Status(1)->role == raft::Role::kLeader; }));
}

}  // namespace
}  // namespace tessera::shard
