// Three drivers × two groups in one process over a LoopbackHub, each node with its own RocksDB:
// election, replication, NOT_LEADER, reads, restart without re-bootstrap, partition, BUSY,
// and the group-commit property.
#include "shard/driver/driver.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "raft/errors.h"
#include "shard/config/config_errc.h"
#include "shard/data/store.h"
#include "shard/driver/bootstrap.h"
#include "shard/driver/loopback_transport.h"
#include "shard/driver/snapshot_writer.h"
#include "shard/membership/node_id.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using std::chrono::milliseconds;
using storage_testing::TempDir;

constexpr GroupId kGroups[] = {1, 2};
constexpr milliseconds kWait{10'000};

// Bounded poll: true as soon as `pred` holds, false at the deadline.
bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

// A callback that fulfils a future; the waiter bounds its wait.
std::pair<Driver::Callback, std::future<absl::Status>> StatusPromise() {
  auto p = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> f = p->get_future();
  return {[p](absl::Status s) { p->set_value(std::move(s)); }, std::move(f)};
}

absl::Status Await(std::future<absl::Status>& f, milliseconds timeout = kWait) {
  if (f.wait_for(timeout) != std::future_status::ready) {
    return absl::InternalError("test: callback not called in time");
  }
  return f.get();
}

struct Node {
  std::string raft_id;
  NodeId id = 0;
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>();
  std::unique_ptr<StorageEngine> engine;
  std::unique_ptr<LoopbackTransport> transport;
  std::unique_ptr<Driver> driver;
};

class Cluster {
 public:
  explicit Cluster(int n = 3) {
    for (int i = 1; i <= n; ++i) {
      auto node = std::make_unique<Node>();
      node->raft_id = absl::StrCat("n", i);
      node->id = DeriveNodeId(node->raft_id);
      for (GroupId g : kGroups) {
        lists_[g].push_back(Server{node->id, node->raft_id, Address(i, g), true});
      }
      nodes_.push_back(std::move(node));
    }
    for (auto& [g, list] : lists_) {
      std::sort(list.begin(), list.end(),
                [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    }
  }
  ~Cluster() { StopAll(); }

  static std::string Address(int i, GroupId g) { return absl::StrCat("10.0.0.", i, ":505", g); }

  DriverOptions Options(int i) const {
    DriverOptions o;
    o.node_id = nodes_[i]->id;
    for (GroupId g : kGroups) o.groups[g] = Address(i + 1, g);
    o.bootstrap_lists = lists_;
    o.tick_interval = milliseconds(10);
    o.election_ticks = 10;
    o.heartbeat_ticks = 1;
    o.request_queue_capacity = request_queue_capacity;
    o.request_timeout = request_timeout;
    o.data_dir = nodes_[i]->dir->path();
    o.expire_interval = milliseconds(50);
    o.snapshot_count = snapshot_count;
    o.log_retain_entries = log_retain_entries;
    o.lease_reads = lease_reads;
    return o;
  }

  void Open(int i) {
    Node& n = *nodes_[i];
    auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    n.engine = *std::move(engine);
    n.transport = std::make_unique<LoopbackTransport>(&hub, n.id, n.dir->path());
    auto driver = Driver::Open(n.engine.get(), n.transport.get(), Options(i));
    ASSERT_TRUE(driver.ok()) << driver.status();
    n.driver = *std::move(driver);
  }

  void StartAll() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->driver) Open(static_cast<int>(i));
      ASSERT_TRUE(nodes_[i]->driver->Start().ok());
    }
  }

  void StopAll() {
    for (auto& n : nodes_) {
      if (n->driver) n->driver->Stop();
    }
    for (auto& n : nodes_) {
      n->driver.reset();
      n->transport.reset();
      if (n->engine) {
        EXPECT_TRUE(n->engine->Close().ok());
      }
      n->engine.reset();
    }
  }

  // Stops node i and gives it an empty data directory (the operator's wipe).
  void StopAndWipe(int i) {
    Node& n = *nodes_[i];
    n.driver->Stop();
    n.driver.reset();
    n.transport.reset();
    EXPECT_TRUE(n.engine->Close().ok());
    n.engine.reset();
    n.dir = std::make_unique<TempDir>();
  }

  Node& node(int i) { return *nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Server>& list(GroupId g) { return lists_[g]; }

  // The index of the node that leads `g`, once every node not in `excluded` agrees on it.
  int AgreedLeader(GroupId g, NodeId excluded = 0) {
    NodeId leader = 0;
    int leader_index = -1;
    for (int i = 0; i < size(); ++i) {
      if (nodes_[i]->id == excluded) continue;
      auto st = nodes_[i]->driver->Status(g);
      if (!st.ok() || st->leader == 0 || st->leader == excluded) return -1;
      if (leader != 0 && st->leader != leader) return -1;
      leader = st->leader;
      if (st->role == raft::Role::kLeader) leader_index = i;
    }
    return leader_index;
  }

  int WaitForLeader(GroupId g, NodeId excluded = 0) {
    int leader = -1;
    WaitFor([&] { return (leader = AgreedLeader(g, excluded)) >= 0; });
    return leader;
  }

  absl::Status Set(int i, GroupId g, const std::string& key, const std::string& value) {
    auto [done, f] = StatusPromise();
    nodes_[i]->driver->Propose(g, EncodeSetCommand(key, value), std::move(done));
    return Await(f);
  }

  absl::Status Read(int i, GroupId g) {
    auto [done, f] = StatusPromise();
    nodes_[i]->driver->Read(g, std::move(done));
    return Await(f);
  }

  std::optional<std::string> Get(int i, GroupId g, const std::string& key) {
    auto v = nodes_[i]->driver->kv().Get(g, key);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }

  LoopbackHub hub;
  size_t request_queue_capacity = 4096;
  milliseconds request_timeout{5000};
  uint64_t snapshot_count = 0;  // no snapshots unless a test asks
  uint64_t log_retain_entries = 5000;
  bool lease_reads = true;

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  absl::flat_hash_map<GroupId, std::vector<Server>> lists_;
};

// Proposes key{0..count} = value{...}-suffix on the leader without waiting in between.
void ProposeMany(Cluster& c, int leader, GroupId g, int count, const std::string& suffix,
                 std::vector<std::future<absl::Status>>& futures) {
  for (int k = 0; k < count; ++k) {
    auto [done, f] = StatusPromise();
    c.node(leader).driver->Propose(
        g, EncodeSetCommand(absl::StrCat("key", k), absl::StrCat("value", k, suffix)),
        std::move(done));
    futures.push_back(std::move(f));
  }
}

// The leader's commit index once its published status has caught up with its whole log. A
// callback runs inside a driver iteration and Status is published at the iteration's end, so
// right after the last proposal completes the published commit may still be the previous one.
uint64_t SettledCommit(Cluster& c, int leader, GroupId g) {
  EXPECT_TRUE(WaitFor([&] {
    const GroupStatus st = *c.node(leader).driver->Status(g);
    return st.commit >= st.last_index && st.applied >= st.last_index;
  }));
  return c.node(leader).driver->Status(g)->commit;
}

TEST(DriverTest, EveryGroupElectsALeaderAndListsThreeVoters) {
  Cluster c;
  c.StartAll();
  for (GroupId g : kGroups) {
    ASSERT_GE(c.WaitForLeader(g), 0) << "group " << g;
    for (int i = 0; i < c.size(); ++i) {
      auto st = c.node(i).driver->Status(g);
      ASSERT_TRUE(st.ok());
      std::vector<NodeId> expected;
      for (const Server& s : c.list(g)) expected.push_back(s.node_id);
      EXPECT_EQ(st->conf_state.voters, expected);
      EXPECT_TRUE(st->conf_state.learners.empty());
    }
  }
  for (int i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.node(i).driver->bootstrapped_groups(), (std::vector<GroupId>{1, 2}));
  }
}

TEST(DriverTest, HundredProposalsPerGroupApplyOnEveryNode) {
  Cluster c;
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 100, absl::StrCat("-g", g), futures);
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  }
  for (GroupId g : kGroups) {
    const uint64_t commit = SettledCommit(c, c.WaitForLeader(g), g);
    for (int i = 0; i < c.size(); ++i) {
      ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->applied >= commit; }));
      for (int k = 0; k < 100; ++k) {
        EXPECT_EQ(c.Get(i, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-g", g))
            << "node " << i << " group " << g;
      }
    }
  }
}

TEST(DriverTest, FollowerProposalIsNotLeaderNamingTheLeader) {
  Cluster c;
  c.StartAll();
  const int leader = c.WaitForLeader(1);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % c.size();
  absl::Status s = c.Set(follower, 1, "k", "v");
  EXPECT_TRUE(IsNotLeader(s)) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(NotLeaderHint(s), c.node(leader).id);
  absl::Status r = c.Read(follower, 1);
  EXPECT_TRUE(IsNotLeader(r)) << r;
  EXPECT_EQ(NotLeaderHint(r), c.node(leader).id);
}

TEST(DriverTest, ReadOnLeaderSeesAcknowledgedWrite) {
  Cluster c;
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    const std::string key = absl::StrCat("greeting", g);
    ASSERT_TRUE(c.Set(leader, g, key, absl::StrCat("hello", g)).ok());
    ASSERT_TRUE(c.Read(leader, g).ok());
    EXPECT_EQ(c.Get(leader, g, key), absl::StrCat("hello", g));
    // Rows are per group: the other group never sees it.
    EXPECT_EQ(c.Get(leader, g == 1 ? 2 : 1, key), std::nullopt);
  }
  // DEL through the same path.
  const int leader = c.WaitForLeader(1);
  auto [done, f] = StatusPromise();
  c.node(leader).driver->Propose(1, EncodeDelCommand({"greeting1", "absent"}), std::move(done));
  ASSERT_TRUE(Await(f).ok());
  ASSERT_TRUE(c.Read(leader, 1).ok());
  EXPECT_EQ(c.Get(leader, 1, "greeting1"), std::nullopt);
}

TEST(DriverTest, RestartDoesNotReBootstrapAndKeepsData) {
  Cluster c;
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 20, "-before", futures);
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  }
  // Let every node apply everything before stopping, so data is checked on all three.
  for (GroupId g : kGroups) {
    const uint64_t commit = SettledCommit(c, c.WaitForLeader(g), g);
    for (int i = 0; i < c.size(); ++i) {
      ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->applied >= commit; }));
    }
  }
  std::vector<std::map<GroupId, uint64_t>> last_index(c.size());
  for (int i = 0; i < c.size(); ++i) {
    for (GroupId g : kGroups) last_index[i][g] = c.node(i).driver->Status(g)->last_index;
  }
  c.StopAll();

  for (int i = 0; i < c.size(); ++i) {
    c.Open(i);
    Node& n = c.node(i);
    EXPECT_TRUE(n.driver->bootstrapped_groups().empty());
    for (GroupId g : kGroups) {
      auto log = GroupLog::Load(n.engine.get(), g);
      ASSERT_TRUE(log.ok());
      EXPECT_EQ((*log)->LastIndex(), last_index[i][g]);
      auto head = (*log)->Entries(1, 4, raft::kNoLimit);
      ASSERT_TRUE(head.ok());
      EXPECT_EQ(*head, BootstrapEntries(c.list(g)));
      EXPECT_GT((*log)->hard_state().term, 1u);
      for (int k = 0; k < 20; ++k) {
        EXPECT_EQ(c.Get(i, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-before"));
      }
    }
  }
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    ASSERT_TRUE(c.Set(leader, g, "after", "restart").ok());
    ASSERT_TRUE(c.Read(leader, g).ok());
    EXPECT_EQ(c.Get(leader, g, "after"), "restart");
    EXPECT_EQ(c.Get(leader, g, "key7"), "value7-before");
  }
}

TEST(DriverTest, PartitionedLeaderIsReplacedAndAcknowledgedWritesSurvive) {
  Cluster c;
  c.request_timeout = milliseconds(1000);
  c.StartAll();
  const int old_leader = c.WaitForLeader(1);
  ASSERT_GE(old_leader, 0);
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.Set(old_leader, 1, absl::StrCat("acked", k), "yes").ok());
  }
  const NodeId old_id = c.node(old_leader).id;
  c.hub.Isolate(old_id);
  // A write on the isolated leader never succeeds: it times out or is refused.
  absl::Status stale = c.Set(old_leader, 1, "lost", "x");
  EXPECT_FALSE(stale.ok());
  EXPECT_TRUE(stale.code() == absl::StatusCode::kDeadlineExceeded || IsNotLeader(stale)) << stale;

  // A new leader among the other two within a few election timeouts (10 ticks × 10 ms).
  int new_leader = -1;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          if (i == old_leader) continue;
          auto st = c.node(i).driver->Status(1);
          if (st->role == raft::Role::kLeader) {
            new_leader = i;
            return true;
          }
        }
        return false;
      },
      milliseconds(3000)));
  ASSERT_TRUE(c.Read(new_leader, 1).ok());
  for (int k = 0; k < 10; ++k) EXPECT_EQ(c.Get(new_leader, 1, absl::StrCat("acked", k)), "yes");
  EXPECT_EQ(c.Get(new_leader, 1, "lost"), std::nullopt);
  ASSERT_TRUE(c.Set(new_leader, 1, "during", "partition").ok());

  c.hub.HealAll();
  // The old leader rejoins as a follower and catches up.
  ASSERT_TRUE(WaitFor([&] { return c.Get(old_leader, 1, "during") == "partition"; }));
  EXPECT_EQ(c.Get(old_leader, 1, "lost"), std::nullopt);
}

TEST(DriverTest, FullRequestQueueIsBusy) {
  Cluster c;
  c.request_queue_capacity = 3;
  c.Open(0);  // not started: nothing drains the queue
  std::vector<std::future<absl::Status>> pending;
  for (int k = 0; k < 3; ++k) {
    auto [done, f] = StatusPromise();
    c.node(0).driver->Propose(1, EncodeSetCommand("k", "v"), std::move(done));
    pending.push_back(std::move(f));
  }
  auto [done, f] = StatusPromise();
  c.node(0).driver->Read(1, std::move(done));
  ASSERT_EQ(f.wait_for(milliseconds(0)), std::future_status::ready);  // refused synchronously
  EXPECT_EQ(f.get().code(), absl::StatusCode::kResourceExhausted);
  c.node(0).driver->Stop();
  for (auto& p : pending) EXPECT_EQ(Await(p).code(), absl::StatusCode::kUnavailable);
}

TEST(DriverTest, GroupCommitWritesManyEntriesPerSync) {
  Cluster c;
  c.StartAll();
  const int leader1 = c.WaitForLeader(1);
  const int leader2 = c.WaitForLeader(2);
  ASSERT_GE(leader1, 0);
  ASSERT_GE(leader2, 0);
  std::vector<DriverCounters> before;
  for (int i = 0; i < c.size(); ++i) before.push_back(c.node(i).driver->counters());
  std::vector<std::future<absl::Status>> futures;
  constexpr int kBurst = 500;
  for (int k = 0; k < kBurst; k += 50) {  // interleave the two groups
    ProposeMany(c, leader1, 1, 50, absl::StrCat("-", k), futures);
    ProposeMany(c, leader2, 2, 50, absl::StrCat("-", k), futures);
  }
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  // Followers persist and apply shortly after the leaders acknowledge.
  for (GroupId g : kGroups) {
    const uint64_t commit = SettledCommit(c, g == 1 ? leader1 : leader2, g);
    for (int i = 0; i < c.size(); ++i) {
      ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->applied >= commit; }));
    }
  }
  uint64_t syncs = 0;
  uint64_t entries = 0;
  for (int i = 0; i < c.size(); ++i) {
    const DriverCounters after = c.node(i).driver->counters();
    const uint64_t s = after.log_syncs - before[i].log_syncs;
    const uint64_t e = after.entries_persisted - before[i].entries_persisted;
    std::cout << "node " << i << (i == leader1 ? " (leader g1)" : "")
              << (i == leader2 ? " (leader g2)" : "") << ": " << e << " entries in " << s
              << " synced batches = " << (s ? static_cast<double>(e) / s : 0.0)
              << " entries/sync\n";
    syncs += s;
    entries += e;
  }
  const double per_sync = static_cast<double>(entries) / static_cast<double>(syncs);
  std::cout << "cluster: " << entries << " entries in " << syncs << " synced batches = " << per_sync
            << " entries/sync\n";
  EXPECT_GE(entries, 3u * 2 * kBurst);
  EXPECT_GT(per_sync, 1.0);
}

// Waits until every running node has applied the leader's commit index of `g`.
void WaitAllApplied(Cluster& c, GroupId g) {
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  const uint64_t commit = SettledCommit(c, leader, g);
  for (int i = 0; i < c.size(); ++i) {
    if (!c.node(i).driver) continue;
    ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->applied >= commit; }))
        << "node " << i << " group " << g;
  }
}

TEST(DriverSnapshotTest, SnapshotsEveryCountEntriesAndCompactsTheLog) {
  Cluster c;
  c.snapshot_count = 10;
  c.log_retain_entries = 5;
  c.StartAll();
  const GroupId g = 1;
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  // Four rounds of ten writes, each awaited until every node recorded a newer snapshot.
  for (int round = 0; round < 4; ++round) {
    std::vector<uint64_t> before;
    for (int i = 0; i < c.size(); ++i)
      before.push_back(c.node(i).driver->Status(g)->snapshot_index);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 10, absl::StrCat("-", round), futures);
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
    WaitAllApplied(c, g);
    for (int i = 0; i < c.size(); ++i) {
      ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->snapshot_index > before[i]; }))
          << "node " << i << " round " << round;
    }
  }
  for (int i = 0; i < c.size(); ++i) {
    Driver& d = *c.node(i).driver;
    const GroupStatus st = *d.Status(g);
    // Entries up to snapshot - retain are gone; the log starts right after them.
    EXPECT_GT(st.first_index, 1u);
    EXPECT_LE(st.first_index, st.snapshot_index - c.log_retain_entries + 1);
    // The recorded file is the one on disk, and it verifies against the recorded token.
    auto log = GroupLog::Load(c.node(i).engine.get(), g);
    ASSERT_TRUE(log.ok());
    const raft::Snapshot rec = *(*log)->GetSnapshot();
    auto token = DecodeSnapshotToken(rec.data);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(token->index, rec.metadata.index);
    EXPECT_EQ(rec.metadata.conf_state.voters.size(), 3u);
    const std::string path = FsmPath(c.node(i).dir->path(), g, rec.metadata.index);
    EXPECT_TRUE(VerifyFsmFile(path, token->crc32c).ok());
    // Older snapshot files were pruned: only the recorded one remains.
    int fsm_files = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(GroupSnapshotDir(c.node(i).dir->path(), g))) {
      if (ParseFsmFileName(entry.path().filename().string()).has_value()) ++fsm_files;
    }
    EXPECT_EQ(fsm_files, 1) << "node " << i;
    // The durable applied index is at least the snapshot's (§3 invariant).
    auto applied = c.node(i).engine->LastAppliedIndex(g);
    ASSERT_TRUE(applied.ok());
    EXPECT_TRUE(applied->present);
    EXPECT_GE(applied->value, rec.metadata.index);
    EXPECT_EQ(d.counters().snapshots_created, 4u);
    EXPECT_EQ(c.Get(i, g, "key9"), "value9-3");
  }
}

TEST(DriverSnapshotTest, LaggingFollowerCatchesUpThroughASnapshot) {
  Cluster c;
  c.snapshot_count = 10;
  c.log_retain_entries = 2;
  c.StartAll();
  const GroupId g = 1;
  int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % c.size();
  c.hub.Isolate(c.node(lagging).id);
  const uint64_t lag_last = c.node(lagging).driver->Status(g)->last_index;
  leader = c.WaitForLeader(g, c.node(lagging).id);
  ASSERT_GE(leader, 0);
  std::vector<std::future<absl::Status>> futures;
  ProposeMany(c, leader, g, 60, "-lag", futures);
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  // The leader's log no longer holds what the lagging node needs next.
  ASSERT_TRUE(
      WaitFor([&] { return c.node(leader).driver->Status(g)->first_index > lag_last + 1; }));
  c.hub.HealAll();
  const uint64_t commit = SettledCommit(c, leader, g);
  ASSERT_TRUE(WaitFor([&] { return c.node(lagging).driver->Status(g)->applied >= commit; }));
  EXPECT_GE(c.node(lagging).driver->counters().snapshots_installed, 1u);
  for (int k = 0; k < 60; ++k) {
    EXPECT_EQ(c.Get(lagging, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-lag"));
  }
}

TEST(DriverSnapshotTest, WipedNodeReAddedWithTheSameListCatchesUpThroughASnapshot) {
  Cluster c;
  c.snapshot_count = 10;
  c.log_retain_entries = 2;
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 30, "-wipe", futures);
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  }
  const int victim = (c.WaitForLeader(1) + 1) % c.size();
  c.StopAndWipe(victim);
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g, c.node(victim).id);
    ASSERT_GE(leader, 0);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 30, "-wipe", futures);  // move past the bootstrap entries
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
    ASSERT_TRUE(WaitFor([&] { return c.node(leader).driver->Status(g)->first_index > 4; }));
  }
  c.Open(victim);  // same bootstrap list on an empty directory: deterministic re-bootstrap
  ASSERT_TRUE(c.node(victim).driver->Start().ok());
  for (GroupId g : kGroups) WaitAllApplied(c, g);
  EXPECT_GE(c.node(victim).driver->counters().snapshots_installed, 2u);
  for (GroupId g : kGroups) {
    for (int k = 0; k < 30; ++k) {
      EXPECT_EQ(c.Get(victim, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-wipe"));
    }
    EXPECT_EQ(c.node(victim).driver->Status(g)->conf_state.voters.size(), 3u);
  }
}

TEST(DriverSnapshotTest, RestartSkipsTheRestoreAndKeepsData) {
  Cluster c;
  c.snapshot_count = 10;
  c.log_retain_entries = 5;
  c.StartAll();
  for (GroupId g : kGroups) {
    const int leader = c.WaitForLeader(g);
    ASSERT_GE(leader, 0);
    std::vector<std::future<absl::Status>> futures;
    ProposeMany(c, leader, g, 25, "-skip", futures);
    for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
    WaitAllApplied(c, g);
    for (int i = 0; i < c.size(); ++i) {
      ASSERT_TRUE(WaitFor([&] { return c.node(i).driver->Status(g)->snapshot_index >= 20; }));
    }
  }
  c.StopAll();
  for (int i = 0; i < c.size(); ++i) {
    c.Open(i);
    for (GroupId g : kGroups) {
      const GroupStatus st = *c.node(i).driver->Status(g);
      ASSERT_TRUE(st.cold_start.has_value());
      EXPECT_EQ(*st.cold_start, ColdStartDecision::kSkip) << "node " << i << " group " << g;
      EXPECT_GE(st.applied, st.snapshot_index);
      for (int k = 0; k < 25; ++k) {
        EXPECT_EQ(c.Get(i, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-skip"));
      }
    }
  }
  c.StartAll();
  const int leader = c.WaitForLeader(1);
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(c.Set(leader, 1, "after", "restart").ok());
}

TEST(DriverSnapshotTest, CorruptSnapshotRefusesStartupAndLeavesDataAlone) {
  Cluster c;
  c.snapshot_count = 10;
  c.StartAll();
  const GroupId g = 1;
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  std::vector<std::future<absl::Status>> futures;
  ProposeMany(c, leader, g, 20, "-c", futures);
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  WaitAllApplied(c, g);
  ASSERT_TRUE(WaitFor([&] { return c.node(0).driver->Status(g)->snapshot_index >= 10; }));
  c.StopAll();
  Node& n = c.node(0);
  auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  // The recorded snapshot, read once nothing runs (a newer one may have replaced the one
  // Status showed a moment before the stop).
  uint64_t snap = 0;
  {
    auto log = GroupLog::Load(engine->get(), g);
    ASSERT_TRUE(log.ok()) << log.status();
    snap = (*log)->GetSnapshot()->metadata.index;
  }
  ASSERT_GE(snap, 10u);

  // Flip one body byte of node 0's recorded snapshot.
  const std::string path = FsmPath(c.node(0).dir->path(), g, snap);
  const auto size = std::filesystem::file_size(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size - 20));
    char b = 0;
    f.read(&b, 1);
    b = static_cast<char>(b ^ 0x01);
    f.seekp(static_cast<std::streamoff>(size - 20));
    f.write(&b, 1);
  }
  LoopbackTransport transport(&c.hub, n.id, n.dir->path());
  auto driver = Driver::Open(engine->get(), &transport, c.Options(0));
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetSnapshotErrc(driver.status()), SnapshotErrc::kSnapshotFileCrc) << driver.status();
  // Nothing was rewritten: the rows and the applied index are what they were.
  auto applied = (*engine)->LastAppliedIndex(g);
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(applied->present);
  EXPECT_GE(applied->value, snap);
  std::string row;
  ASSERT_TRUE(
      (*engine)
          ->db()
          ->Get(rocksdb::ReadOptions(), (*engine)->data(), data::MetadataKey(g, "key19"), &row)
          .ok());
  ASSERT_FALSE(row.empty());
  EXPECT_EQ(row[0], '\0');  // value header: cleartext
  auto m = data::DecodeMetadata(std::string_view(row).substr(1));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->payload, "value19-c");
}

TEST(DriverTest, StateOfAGroupNoLongerListedRefusesToOpen) {
  Cluster c;
  c.StartAll();
  ASSERT_GE(c.WaitForLeader(2), 0);
  c.StopAll();
  Node& n = c.node(0);
  auto engine = StorageEngine::Open(n.dir->path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  LoopbackTransport transport(&c.hub, n.id, n.dir->path());
  DriverOptions options = c.Options(0);
  options.groups.erase(2);  // --raftGroups without group 2
  options.bootstrap_lists.erase(2);
  auto driver = Driver::Open(engine->get(), &transport, options);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(GetConfigErrc(driver.status()), ConfigErrc::kUnlistedGroupState) << driver.status();
  EXPECT_NE(driver.status().message().find("group 2"), std::string::npos) << driver.status();
}

// ColdStartIntegrationTest.AppliedIndexSweep: with meta:applied_index forced to K - N (K the
// durable commit), a restart skips iff N = 0, and the data is right afterwards in every case.
TEST(DriverSnapshotTest, AppliedIndexSweep) {
  Cluster c;
  c.snapshot_count = 100;
  c.StartAll();
  const GroupId g = 1;
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  std::vector<std::future<absl::Status>> futures;
  ProposeMany(c, leader, g, 1100, "-sweep", futures);
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  WaitAllApplied(c, g);
  const int victim = (leader + 1) % c.size();
  ASSERT_TRUE(WaitFor([&] { return c.node(victim).driver->Status(g)->snapshot_index >= 1000; }));
  for (const uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{1000}}) {
    SCOPED_TRACE(absl::StrCat("N = ", n));
    Node& node = c.node(victim);
    node.driver->Stop();
    node.driver.reset();
    node.transport.reset();
    {
      auto log = GroupLog::Load(node.engine.get(), g);
      ASSERT_TRUE(log.ok());
      const uint64_t k = (*log)->hard_state().commit;
      ASSERT_GT(k, n);
      rocksdb::WriteBatch batch;
      batch.Put(node.engine->meta(), MetaKey(g, meta::kAppliedIndex), EncodeU64BE(k - n));
      ASSERT_TRUE(node.engine->Write(batch, /*sync=*/true).ok());
    }
    ASSERT_TRUE(node.engine->Close().ok());
    node.engine.reset();
    c.Open(victim);
    const GroupStatus st = *node.driver->Status(g);
    ASSERT_TRUE(st.cold_start.has_value());
    EXPECT_EQ(*st.cold_start, n == 0 ? ColdStartDecision::kSkip : ColdStartDecision::kExecute);
    ASSERT_TRUE(node.driver->Start().ok());
    WaitAllApplied(c, g);
    for (int k = 0; k < 1100; k += 7) {
      EXPECT_EQ(c.Get(victim, g, absl::StrCat("key", k)), absl::StrCat("value", k, "-sweep"));
    }
    EXPECT_EQ(c.Get(victim, g, "key1099"), "value1099-sweep");
  }
}

// ColdStartIntegrationTest.IdleClusterStillSkips: heartbeats and elections without writes
// do not cost the skip.
TEST(DriverSnapshotTest, IdleClusterStillSkips) {
  Cluster c;
  c.snapshot_count = 10;
  c.StartAll();
  const int leader = c.WaitForLeader(1);
  ASSERT_GE(leader, 0);
  std::vector<std::future<absl::Status>> futures;
  ProposeMany(c, leader, 1, 12, "-idle", futures);
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  WaitAllApplied(c, 1);
  // Idle for 2 x snapshot count x lease interval (election timeout) of heartbeats, the
  // behaviour under test rather than a synchronization.
  std::this_thread::sleep_for(milliseconds(2 * 10 * 10 * 10));
  c.StopAll();
  for (int i = 0; i < c.size(); ++i) {
    c.Open(i);
    for (GroupId g : kGroups) {
      const GroupStatus st = *c.node(i).driver->Status(g);
      if (g == 1) {
        ASSERT_TRUE(st.cold_start.has_value()) << "node " << i;
        EXPECT_EQ(*st.cold_start, ColdStartDecision::kSkip) << "node " << i;
        EXPECT_EQ(c.Get(i, g, "key11"), "value11-idle");
      }
    }
  }
}

TEST(DriverSnapshotTest, SnapshotOverMaxBytesIsNotRecorded) {
  TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  const GroupId g = 3;
  rocksdb::WriteBatch batch;
  batch.Put((*engine)->meta(), MetaKey(g, meta::kConfState),
            EncodeConfStateRecord(ConfStateRecord{1, raft::ConfState{{1}, {}}}));
  for (int i = 0; i < 100; ++i) {
    batch.Put((*engine)->data(), DataKey(g, absl::StrCat("k", 100 + i)), std::string(100, 'x'));
  }
  ASSERT_TRUE((*engine)->Write(batch, true).ok());
  const rocksdb::Snapshot* view = (*engine)->db()->GetSnapshot();
  auto too_large = WriteGroupSnapshot(engine->get(), dir.path(), g, 5, view, /*max_bytes=*/1000);
  EXPECT_EQ(GetSnapshotErrc(too_large.status()), SnapshotErrc::kSnapshotTooLarge)
      << too_large.status();
  EXPECT_FALSE(std::filesystem::exists(FsmPath(dir.path(), g, 5)));
  auto fits = WriteGroupSnapshot(engine->get(), dir.path(), g, 5, view);
  (*engine)->db()->ReleaseSnapshot(view);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->rows, 100u);
  EXPECT_TRUE(VerifyFsmFile(fits->path, fits->crc).ok());
}

// Replica determinism: after a mixed workload of replicated commands (TTL arithmetic, counters,
// floats, deletes, renames), every replica's `data` rows for the group are byte-identical.
TEST(DriverTest, ReplicasHoldByteIdenticalRowsAfterAMixedWorkload) {
  Cluster c;
  c.StartAll();
  const GroupId g = 1;
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  std::vector<std::vector<std::string>> workload;
  for (int i = 0; i < 40; ++i) {
    const std::string k = absl::StrCat("k", i % 7);
    switch (i % 8) {
      case 0:
        workload.push_back({"SET", k, absl::StrCat("v", i), "PX", "100000"});
        break;
      case 1:
        workload.push_back({"INCRBY", absl::StrCat("n", i % 3), absl::StrCat(i)});
        break;
      case 2:
        workload.push_back({"INCRBYFLOAT", "f", "0.1"});
        break;
      case 3:
        workload.push_back({"APPEND", k, "x"});
        break;
      case 4:
        workload.push_back({"EXPIRE", k, "1000"});
        break;
      case 5:
        workload.push_back({"DEL", absl::StrCat("k", (i + 3) % 7)});
        break;
      case 6:
        workload.push_back({"RENAME", "f", "f2"});
        break;
      default:
        workload.push_back({"MSET", k, "m", absl::StrCat(k, "b"), "n"});
        break;
    }
  }
  std::vector<std::future<absl::Status>> futures;
  for (const auto& argv : workload) {
    auto [done, f] = StatusPromise();
    std::vector<std::string_view> views(argv.begin(), argv.end());
    c.node(leader).driver->Propose(g, EncodeCommand(views), std::move(done));
    futures.push_back(std::move(f));
  }
  for (auto& f : futures) ASSERT_TRUE(Await(f).ok());
  WaitAllApplied(c, g);
  auto rows = [&](int i) {
    StorageEngine& e = *c.node(i).engine;
    std::string all;
    std::unique_ptr<rocksdb::Iterator> it(e.db()->NewIterator(rocksdb::ReadOptions(), e.data()));
    const std::string begin = GroupKey(g, {});
    const std::string end = GroupKeyEnd(g);
    for (it->Seek(begin); it->Valid() && it->key().ToString() < end; it->Next()) {
      absl::StrAppend(&all, it->key().size(), ":", it->key().ToString(), "=", it->value().size(),
                      ":", it->value().ToString(), ";");
    }
    EXPECT_TRUE(it->status().ok());
    return all;
  };
  const std::string reference = rows(leader);
  EXPECT_FALSE(reference.empty());
  for (int i = 0; i < c.size(); ++i) EXPECT_EQ(rows(i), reference) << "node " << i;
}

// Active expiry: the leader proposes the deletion of keys whose TTL ran out, so their rows are
// removed on every replica without any read touching them; a key given a new TTL survives.
TEST(DriverTest, ActiveExpiryRemovesExpiredRowsOnEveryReplica) {
  Cluster c;
  c.StartAll();
  const GroupId g = 1;
  const int leader = c.WaitForLeader(g);
  ASSERT_GE(leader, 0);
  for (int i = 0; i < 20; ++i) {
    const std::string key = absl::StrCat("gone", i);
    const std::string_view argv[] = {"SET", key, "v", "PX", "30"};
    auto [done, f] = StatusPromise();
    c.node(leader).driver->Propose(g, EncodeCommand(argv), std::move(done));
    ASSERT_TRUE(Await(f).ok());
  }
  ASSERT_TRUE(c.Set(leader, g, "kept", "v").ok());
  auto row_exists = [&](int i, const std::string& key) {
    std::string value;
    return c.node(i)
        .engine->db()
        ->Get(rocksdb::ReadOptions(), c.node(i).engine->data(), data::MetadataKey(g, key), &value)
        .ok();
  };
  for (int i = 0; i < c.size(); ++i) {
    ASSERT_TRUE(WaitFor([&] {
      for (int k = 0; k < 20; ++k) {
        if (row_exists(i, absl::StrCat("gone", k))) return false;
      }
      return true;
    })) << "node "
        << i;
    EXPECT_TRUE(row_exists(i, "kept")) << "node " << i;
  }
}

TEST(DriverLeaseTest, OnlyTheLeaderReadsUnderItsLeaseAndTheLeaseEndsBeforeANewLeaderIsElected) {
  Cluster c;
  c.StartAll();
  const int old_leader = c.WaitForLeader(1);
  ASSERT_GE(old_leader, 0);
  ASSERT_TRUE(c.Set(old_leader, 1, "k", "v").ok());
  ASSERT_TRUE(WaitFor([&] { return c.node(old_leader).driver->LeaseReadable(1); }));
  for (int i = 0; i < c.size(); ++i) {
    if (i != old_leader) {
      EXPECT_FALSE(c.node(i).driver->LeaseReadable(1)) << "follower " << i;
    }
  }
  EXPECT_FALSE(c.node(old_leader).driver->LeaseReadable(99)) << "not a hosted group";

  // Cut off, the old leader keeps its lease only until the others may elect someone else:
  // never may a reader see its lease while another node already leads.
  const uint64_t old_term = c.node(old_leader).driver->Status(1)->term;
  c.hub.Isolate(c.node(old_leader).id);
  int new_leader = -1;
  bool overlap = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < c.size(); ++i) {
          if (i == old_leader) continue;
          auto st = c.node(i).driver->Status(1);
          if (st.ok() && st->role == raft::Role::kLeader && st->term > old_term) new_leader = i;
        }
        if (new_leader >= 0 && c.node(old_leader).driver->LeaseReadable(1)) overlap = true;
        return new_leader >= 0;
      },
      milliseconds(5000)));
  EXPECT_FALSE(overlap) << "the old leader's lease outlived the election of node " << new_leader;
  EXPECT_FALSE(c.node(old_leader).driver->LeaseReadable(1));
  ASSERT_TRUE(c.Set(new_leader, 1, "k", "new").ok());
  EXPECT_TRUE(WaitFor([&] { return c.node(new_leader).driver->LeaseReadable(1); }));
  c.hub.HealAll();
}

TEST(DriverLeaseTest, WithoutLeaseReadsNothingIsReadableOutsideTheDriver) {
  Cluster c;
  c.lease_reads = false;
  c.StartAll();
  const int leader = c.WaitForLeader(1);
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(c.Set(leader, 1, "k", "v").ok());
  ASSERT_TRUE(c.Read(leader, 1).ok());  // ReadIndex still serves reads
  EXPECT_EQ(c.Get(leader, 1, "k"), "v");
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(c.Read(leader, 1).ok());
    EXPECT_FALSE(c.node(leader).driver->LeaseReadable(1));
  }
}

TEST(DriverLeaseTest, TheReadDeadlineEndsATickBeforeTheLeaseTickIsDue) {
  using std::chrono::steady_clock;
  const steady_clock::time_point next_tick = steady_clock::time_point(milliseconds(1000));
  const milliseconds interval(10);
  // Ticks 6, 7 and 8 are due at 1000, 1010 and 1020 ms; the lease ends when tick 8 arrives.
  EXPECT_EQ(LeaseReadDeadline(next_tick, interval, 5, 8), next_tick + milliseconds(10));
  EXPECT_EQ(LeaseReadDeadline(next_tick, interval, 5, 15), next_tick + milliseconds(80));
  // Never past the due time of the expiry tick, whatever is left.
  for (uint64_t left = 0; left < 40; ++left) {
    const auto deadline = LeaseReadDeadline(next_tick, interval, 100, 100 + left);
    if (!deadline.has_value()) {
      EXPECT_LE(left, 2u);
      continue;
    }
    const steady_clock::time_point expiry_due = next_tick + interval * (left - 1);
    EXPECT_LT(*deadline, expiry_due) << left;
    EXPECT_GE(*deadline, next_tick) << left;
  }
  EXPECT_EQ(LeaseReadDeadline(next_tick, interval, 5, 0), std::nullopt);  // no lease
  EXPECT_EQ(LeaseReadDeadline(next_tick, interval, 5, 7), std::nullopt);  // too little left
}

}  // namespace
}  // namespace tessera::shard
