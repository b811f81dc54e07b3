// The driver's side of the raft envelope (spec/encryption.md §9) on three drivers over a
// LoopbackHub: an entry sealed under a key a replica does not hold pauses its apply (never
// skipped, never fatal) until the key arrives; a new leader holds proposals until it applied its
// term's first entry; the cutover barrier holds proposals until it lifts or their deadline.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/driver/driver.h"
#include "shard/driver/loopback_transport.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/testing.h"
#include "shard/membership/node_id.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using std::chrono::milliseconds;
using storage_testing::TempDir;

constexpr GroupId kGroup = 1;
constexpr uint32_t kRaftKey = 22;
constexpr milliseconds kWait{10'000};

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

// True when `pred` held at every poll for the whole window: the bounded check that something
// does NOT happen.
bool HoldsFor(const std::function<bool()>& pred, milliseconds window) {
  const auto end = std::chrono::steady_clock::now() + window;
  while (std::chrono::steady_clock::now() < end) {
    if (!pred()) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

struct EncNode {
  std::string raft_id;
  NodeId id = 0;
  TempDir dir;
  std::unique_ptr<StorageEngine> engine;
  encryption::EncryptionRuntime runtime;
  std::unique_ptr<encryption::EncryptionApplier> applier;
  std::unique_ptr<LoopbackTransport> transport;
  std::unique_ptr<Driver> driver;
};

// Three replicas of group 1, cut over to the raft envelope at index 1 (every normal entry is
// sealed) with raft DEK 22 active; `missing_key` (-1: none) does not hold that key.
class EncryptedCluster {
 public:
  EncryptedCluster() = default;
  // Opens and starts the three drivers (a void function, so ASSERT_* may stop it).
  void Start(int missing_key, milliseconds request_timeout = milliseconds(5000)) {
    std::vector<Server> list;
    for (int i = 0; i < 3; ++i) {
      auto n = std::make_unique<EncNode>();
      n->raft_id = absl::StrCat("e", i + 1);
      n->id = DeriveNodeId(n->raft_id);
      list.push_back(Server{n->id, n->raft_id, Address(i), true});
      nodes_.push_back(std::move(n));
    }
    std::sort(list.begin(), list.end(),
              [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    for (int i = 0; i < 3; ++i) {
      EncNode& n = *nodes_[i];
      auto engine = StorageEngine::Open(n.dir.path(), EngineOptions{});
      ASSERT_TRUE(engine.ok()) << engine.status();
      n.engine = *std::move(engine);
      rocksdb::WriteBatch b;
      b.Put(n.engine->meta(), MetaKey(kGroup, meta::kRaftEnvelopeCutoverIndex), EncodeU64BE(1));
      ASSERT_TRUE(n.engine->Write(b, true).ok());
      n.runtime.kek = encryption::testing::TestKey(100);
      n.runtime.sidecar_path = n.dir.path() + "/encryption/keys.json";
      if (i != missing_key) {
        n.runtime.keys->Install(kRaftKey, encryption::DekPurpose::kRaft,
                                encryption::testing::TestKey(7));
      }
      n.runtime.state->set_active_raft_id(kRaftKey);
      n.applier = std::make_unique<encryption::EncryptionApplier>(n.engine.get(), kGroup, n.runtime,
                                                                  encryption::Sidecar{});
      n.transport = std::make_unique<LoopbackTransport>(&hub_, n.id, n.dir.path());
      DriverOptions o;
      o.node_id = n.id;
      o.groups[kGroup] = Address(i);
      o.bootstrap_lists[kGroup] = list;
      o.tick_interval = milliseconds(10);
      o.election_ticks = 10;
      o.heartbeat_ticks = 1;
      o.request_timeout = request_timeout;
      o.data_dir = n.dir.path();
      o.expire_interval = milliseconds(0);
      o.snapshot_count = 0;
      o.encryption_applier = n.applier.get();
      o.encryption_key_resync = [this, i] { ++resync_requests_[i]; };
      auto driver = Driver::Open(n.engine.get(), n.transport.get(), o);
      ASSERT_TRUE(driver.ok()) << driver.status();
      n.driver = *std::move(driver);
    }
    for (auto& n : nodes_) ASSERT_TRUE(n->driver->Start().ok());
  }
  ~EncryptedCluster() {
    for (auto& n : nodes_) {
      if (n->driver) n->driver->Stop();
    }
    for (auto& n : nodes_) {
      n->driver.reset();
      n->transport.reset();
      if (n->engine) {
        EXPECT_TRUE(n->engine->Close().ok());
      }
    }
  }

  static std::string Address(int i) { return absl::StrCat("10.0.1.", i + 1, ":5051"); }
  EncNode& node(int i) { return *nodes_[i]; }
  GroupStatus Status(int i) { return *nodes_[i]->driver->Status(kGroup); }

  // The node every replica agrees leads, or -1.
  int Leader() {
    NodeId leader = 0;
    int index = -1;
    for (int i = 0; i < 3; ++i) {
      GroupStatus st = Status(i);
      if (st.leader == 0 || (leader != 0 && st.leader != leader)) return -1;
      leader = st.leader;
      if (st.role == raft::Role::kLeader) index = i;
    }
    return index;
  }
  int WaitForLeader() {
    int leader = -1;
    WaitFor([&] { return (leader = Leader()) >= 0; });
    return leader;
  }

  std::future<absl::Status> Propose(int i, const std::string& key, const std::string& value) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> f = p->get_future();
    nodes_[i]->driver->Propose(kGroup, EncodeSetCommand(key, value),
                               [p](absl::Status s) { p->set_value(std::move(s)); });
    return f;
  }
  std::optional<std::string> Get(int i, const std::string& key) {
    auto v = nodes_[i]->driver->kv().Get(kGroup, key);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }
  absl::StatusOr<std::string> Transfer(int from, int to) {
    TransferRequest req;
    req.target.raft_id = nodes_[to]->raft_id;
    return nodes_[from]->driver->Admin(kGroup)->TransferLeadership(
        CallContext::WithTimeout(milliseconds(5000)), req);
  }
  int resync_requests(int i) const { return resync_requests_[i].load(); }

 private:
  LoopbackHub hub_;
  std::vector<std::unique_ptr<EncNode>> nodes_;
  std::atomic<int> resync_requests_[3] = {0, 0, 0};
};

absl::Status Await(std::future<absl::Status>& f, milliseconds timeout = kWait) {
  if (f.wait_for(timeout) != std::future_status::ready) {
    return absl::InternalError("test: callback not called in time");
  }
  return f.get();
}

constexpr int kLagging = 2;

// Leads from a node holding the key, commits one sealed entry ("a" = "1") and checks that
// the replica without the key pauses at it: committed, not applied, the process alive, a resync
// requested. Returns the sealed entry's index (0 after a fatal failure).
uint64_t PauseTheLaggingReplica(EncryptedCluster& c, int* leader_out) {
  int leader = c.WaitForLeader();
  EXPECT_GE(leader, 0);
  if (leader < 0) return 0;
  if (leader == kLagging) {
    // The lagging node cannot seal its own proposals; lead from a node holding the key.
    EXPECT_TRUE(c.Transfer(leader, 0).ok());
    EXPECT_TRUE(WaitFor([&] { return c.Leader() == 0; }));
    leader = 0;
  }
  *leader_out = leader;
  std::future<absl::Status> first = c.Propose(leader, "a", "1");
  if (absl::Status s = Await(first); !s.ok()) {
    ADD_FAILURE() << s;
    return 0;
  }
  // Status is published at the end of the driver iteration that ran the callback: wait for it.
  EXPECT_TRUE(WaitFor([&] {
    const GroupStatus st = c.Status(leader);
    return st.applied >= st.last_index;
  }));
  const uint64_t sealed_index = c.Status(leader).last_index;
  EXPECT_TRUE(WaitFor([&] { return c.Status(kLagging).commit >= sealed_index; }));
  EXPECT_TRUE(
      HoldsFor([&] { return c.Status(kLagging).applied < sealed_index; }, milliseconds(300)));
  EXPECT_EQ(c.Get(kLagging, "a"), std::nullopt);
  EXPECT_GE(c.resync_requests(kLagging), 1);
  const int other = 3 - leader - kLagging;
  EXPECT_TRUE(WaitFor([&] { return c.Get(other, "a") == "1"; }));
  return sealed_index;
}

void DeliverTheKey(EncryptedCluster& c) {
  // As a default-group apply or a runtime resync would install it.
  c.node(kLagging).runtime.keys->Install(kRaftKey, encryption::DekPurpose::kRaft,
                                         encryption::testing::TestKey(7));
}

// RaftEnvelopeTest.UnknownKeyWaitsThenProceeds (§16; another suite name, as RaftEnvelopeTest is
// a fixture of the state-machine tests): the replica without the key pauses at the sealed entry
// (never skipped, never fatal) and applies it, and what follows, once the key arrives.
TEST(RaftEnvelopeDriverTest, UnknownKeyWaitsThenProceeds) {
  EncryptedCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(kLagging));
  int leader = -1;
  const uint64_t sealed_index = PauseTheLaggingReplica(c, &leader);
  ASSERT_GT(sealed_index, 0u);
  std::future<absl::Status> more = c.Propose(leader, "c", "3");
  ASSERT_TRUE(Await(more).ok());  // the group goes on without the paused replica
  EXPECT_EQ(c.Get(kLagging, "c"), std::nullopt);
  DeliverTheKey(c);
  ASSERT_TRUE(WaitFor([&] { return c.Get(kLagging, "a") == "1" && c.Get(kLagging, "c") == "3"; }));
  EXPECT_GE(c.Status(kLagging).applied, sealed_index + 1);
}

// RaftEnvelopeTest.NewLeaderWaitsForTermStartApply (§9, §16): made leader while its apply is
// paused, a node holds proposals (nothing enters its log) until its apply reaches its term's
// first entry; then the held proposal commits on every replica.
TEST(RaftEnvelopeDriverTest, NewLeaderWaitsForTermStartApply) {
  EncryptedCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(kLagging));
  int leader = -1;
  const uint64_t sealed_index = PauseTheLaggingReplica(c, &leader);
  ASSERT_GT(sealed_index, 0u);
  // Leadership moves to the paused node: its log is current, its apply is not.
  ASSERT_TRUE(c.Transfer(leader, kLagging).ok());
  ASSERT_TRUE(WaitFor([&] { return c.Status(kLagging).role == raft::Role::kLeader; }));
  const uint64_t term_start = c.Status(kLagging).last_index;
  std::future<absl::Status> held = c.Propose(kLagging, "b", "2");
  EXPECT_TRUE(HoldsFor(
      [&] {
        const GroupStatus st = c.Status(kLagging);
        return st.role != raft::Role::kLeader ||
               (st.last_index == term_start && st.applied < sealed_index);
      },
      milliseconds(300)));
  EXPECT_EQ(held.wait_for(milliseconds(0)), std::future_status::timeout);
  DeliverTheKey(c);
  ASSERT_TRUE(WaitFor([&] { return c.Get(kLagging, "a") == "1"; }));
  ASSERT_TRUE(Await(held).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return c.Get(i, "b") == "2"; })) << "node " << i;
  }
}

TEST(RaftEnvelopeDriverTest, BarrierHoldsIntakeUntilLifted) {
  EncryptedCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(/*missing_key=*/-1));
  const int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  std::future<absl::Status> warm = c.Propose(leader, "w", "0");
  ASSERT_TRUE(Await(warm).ok());
  const uint64_t before = c.Status(leader).last_index;
  c.node(leader).runtime.state->set_intake_blocked(kGroup, true);
  std::future<absl::Status> held = c.Propose(leader, "k", "v");
  // Held, not refused, and nothing enters the log while the barrier stands.
  EXPECT_TRUE(HoldsFor([&] { return c.Status(leader).last_index == before; }, milliseconds(300)));
  EXPECT_EQ(held.wait_for(milliseconds(0)), std::future_status::timeout);
  c.node(leader).runtime.state->set_intake_blocked(kGroup, false);
  ASSERT_TRUE(Await(held).ok());
  EXPECT_EQ(c.Get(leader, "k"), "v");
}

TEST(RaftEnvelopeDriverTest, BarrierHoldsIntakePastRpcDeadline) {
  EncryptedCluster c;
  ASSERT_NO_FATAL_FAILURE(c.Start(/*missing_key=*/-1, /*request_timeout=*/milliseconds(400)));
  const int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  c.node(leader).runtime.state->set_intake_blocked(kGroup, true);
  const uint64_t before = c.Status(leader).last_index;
  const auto start = std::chrono::steady_clock::now();
  std::future<absl::Status> held = c.Propose(leader, "k", "v");
  absl::Status s = Await(held);
  // The caller waited for its whole deadline, then got a retryable UNAVAILABLE.
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("cutover in progress"), std::string_view::npos) << s;
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(350));
  EXPECT_EQ(c.Status(leader).last_index, before);
  c.node(leader).runtime.state->set_intake_blocked(kGroup, false);
  EXPECT_EQ(c.Get(leader, "k"), std::nullopt);  // never proposed
}

}  // namespace
}  // namespace tessera::shard
