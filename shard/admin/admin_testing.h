// Test harness for the admin surface: drivers of one process on a LoopbackHub, each node with
// its own RocksDB, groups bootstrapped from a chosen voter list; joiners open empty.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/driver/driver.h"
#include "shard/driver/loopback_transport.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/membership/node_id.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::admin_testing {

using std::chrono::milliseconds;
inline constexpr milliseconds kWait{10'000};

// Bounded poll: true as soon as `pred` holds, false at the deadline.
inline bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

inline CallContext Ctx(milliseconds timeout = kWait) { return CallContext::WithTimeout(timeout); }

struct TestNode {
  std::string raft_id;
  NodeId id = 0;
  bool join_as_learner = false;
  bool bootstrap = false;  // in the initial voter list
  std::unique_ptr<storage_testing::TempDir> dir = std::make_unique<storage_testing::TempDir>();
  std::unique_ptr<StorageEngine> engine;
  std::unique_ptr<LoopbackTransport> transport;
  std::unique_ptr<Driver> driver;

  RaftAdmin* admin(GroupId g) const { return driver->Admin(g); }
};

class AdminCluster {
 public:
  // Nodes n1..n<voters> bootstrap `groups` together; n<voters+1>..n<voters+joiners> open empty.
  AdminCluster(int voters, int joiners, std::vector<GroupId> groups = {1})
      : groups_(std::move(groups)) {
    for (int i = 1; i <= voters + joiners; ++i) {
      auto n = std::make_unique<TestNode>();
      n->raft_id = absl::StrCat("n", i);
      n->id = DeriveNodeId(n->raft_id);
      n->bootstrap = i <= voters;
      nodes_.push_back(std::move(n));
    }
    for (GroupId g : groups_) {
      for (auto& n : nodes_) {
        if (n->bootstrap) lists_[g].push_back(Server{n->id, n->raft_id, Address(*n, g), true});
      }
      std::sort(lists_[g].begin(), lists_[g].end(),
                [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    }
  }
  ~AdminCluster() { StopAll(); }

  static std::string Address(const TestNode& n, GroupId g) {
    return absl::StrCat("10.0.0.", n.raft_id.substr(1), ":", 5050 + g);
  }

  DriverOptions Options(const TestNode& n) const {
    DriverOptions o;
    o.node_id = n.id;
    for (GroupId g : groups_) o.groups[g] = Address(n, g);
    if (n.bootstrap) o.bootstrap_lists = lists_;
    o.join_as_learner = n.join_as_learner;
    o.tick_interval = milliseconds(10);
    o.election_ticks = 10;
    o.data_dir = n.dir->path();
    o.snapshot_count = snapshot_count;
    o.log_retain_entries = log_retain_entries;
    return o;
  }

  void Open(int i) {
    TestNode& n = *nodes_[i];
    auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    n.engine = *std::move(engine);
    n.transport = std::make_unique<LoopbackTransport>(&hub, n.id, n.dir->path());
    auto driver = Driver::Open(n.engine.get(), n.transport.get(), Options(n));
    ASSERT_TRUE(driver.ok()) << driver.status();
    n.driver = *std::move(driver);
  }
  void Start(int i) {
    if (!nodes_[i]->driver) Open(i);
    ASSERT_TRUE(nodes_[i]->driver->Start().ok());
  }
  void StartAll() {
    for (int i = 0; i < size(); ++i) Start(i);
  }
  void Stop(int i) {
    TestNode& n = *nodes_[i];
    if (n.driver) n.driver->Stop();
    n.driver.reset();
    n.transport.reset();
    if (n.engine) {
      EXPECT_TRUE(n.engine->Close().ok());
    }
    n.engine.reset();
  }
  void StopAll() {
    for (int i = 0; i < size(); ++i) Stop(i);
  }

  TestNode& node(int i) { return *nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<GroupId>& groups() const { return groups_; }

  // The index of the node every running bootstrap voter agrees leads `g`, or -1.
  int Leader(GroupId g) {
    int found = -1;
    WaitFor([&] {
      NodeId leader = 0;
      for (int i = 0; i < size(); ++i) {
        if (!nodes_[i]->driver || !nodes_[i]->bootstrap) continue;
        auto st = nodes_[i]->driver->Status(g);
        if (!st.ok() || st->leader == 0 || (leader != 0 && st->leader != leader)) return false;
        leader = st->leader;
      }
      for (int i = 0; i < size(); ++i) {
        if (nodes_[i]->id == leader && nodes_[i]->driver) {
          auto st = nodes_[i]->driver->Status(g);
          if (st.ok() && st->role == raft::Role::kLeader) {
            found = i;
            return true;
          }
        }
      }
      return false;
    });
    return found;
  }

  absl::Status Set(int i, GroupId g, const std::string& key, const std::string& value) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    auto f = p->get_future();
    nodes_[i]->driver->Propose(g, EncodeSetCommand(key, value),
                               [p](absl::Status s) { p->set_value(std::move(s)); });
    if (f.wait_for(kWait) != std::future_status::ready) return absl::InternalError("timeout");
    return f.get();
  }
  absl::Status Read(int i, GroupId g) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    auto f = p->get_future();
    nodes_[i]->driver->Read(g, [p](absl::Status s) { p->set_value(std::move(s)); });
    if (f.wait_for(kWait) != std::future_status::ready) return absl::InternalError("timeout");
    return f.get();
  }
  std::optional<std::string> Get(int i, GroupId g, const std::string& key) {
    auto v = nodes_[i]->driver->kv().Get(g, key);
    return v.ok() ? *v : std::nullopt;
  }
  // True once node i has applied at least `index` in g.
  bool WaitApplied(int i, GroupId g, uint64_t index) {
    return WaitFor([&] {
      auto st = nodes_[i]->driver->Status(g);
      return st.ok() && st->applied >= index;
    });
  }

  LoopbackHub hub;
  uint64_t snapshot_count = 10000;
  uint64_t log_retain_entries = 5000;

 private:
  std::vector<GroupId> groups_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  absl::flat_hash_map<GroupId, std::vector<Server>> lists_;
};

}  // namespace tessera::shard::admin_testing
