// End to end: three raft::RawNode over GroupLogs in three engines commit proposals with one
// synced WriteBatch per Ready, shut down, reopen, and carry on from exactly what was durable.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/rawnode.h"
#include "raft/testing_network.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using raft::NodeId;
using storage_testing::TempDir;

constexpr GroupId kGroup = 42;

// One replica: its engine, the group's log and the RawNode over it, plus what it applied.
struct Replica {
  NodeId id = raft::kNoNode;
  TempDir dir;
  std::unique_ptr<StorageEngine> engine;
  std::unique_ptr<GroupLog> log;
  std::unique_ptr<raft::RawNode> node;
  uint64_t applied = 0;
  std::vector<std::string> applied_data;  // payloads of applied normal entries, in order
  int synced_writes = 0;
};

class Cluster {
 public:
  explicit Cluster(std::vector<NodeId> ids) {
    for (NodeId id : ids) {
      auto r = std::make_unique<Replica>();
      r->id = id;
      replicas_[id] = std::move(r);
    }
  }

  // Opens every engine and writes the bootstrap state of raft/testing_network.h: a snapshot
  // at 1@1 holding the initial ConfState and HardState{term 1, commit 1}.
  void Bootstrap() {
    raft::ConfState conf;
    for (auto& [id, r] : replicas_) conf.voters.push_back(id);
    for (auto& [id, r] : replicas_) {
      OpenStorage(*r);
      rocksdb::WriteBatch batch;
      raft::Snapshot snap;
      snap.metadata = raft::SnapshotMetadata{conf, raft::testing::kBootstrapIndex,
                                             raft::testing::kBootstrapTerm};
      ASSERT_TRUE(r->log->StageSnapshot(batch, snap).ok());
      r->log->StageHardState(batch, raft::HardState{raft::testing::kBootstrapTerm, raft::kNoNode,
                                                    raft::testing::kBootstrapIndex});
      ASSERT_TRUE(r->engine->Write(batch, true).ok());
      r->applied = raft::testing::kBootstrapIndex;
      StartNode(*r);
    }
  }

  void OpenStorage(Replica& r) {
    absl::StatusOr<std::unique_ptr<StorageEngine>> engine = StorageEngine::Open(r.dir.path(), {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    r.engine = *std::move(engine);
    absl::StatusOr<std::unique_ptr<GroupLog>> log = GroupLog::Load(r.engine.get(), kGroup);
    ASSERT_TRUE(log.ok()) << log.status();
    r.log = *std::move(log);
  }

  void StartNode(Replica& r) {
    raft::Config c = raft::testing::TestConfig(r.id, r.log.get());
    c.seed = r.id;
    c.applied = r.applied;
    r.node = std::make_unique<raft::RawNode>(c);
  }

  // Drops every node, log and engine (a clean shutdown), then reopens them all.
  void Restart() {
    queue_.clear();
    for (auto& [id, r] : replicas_) {
      r->node.reset();
      r->log.reset();
      ASSERT_TRUE(r->engine->Close().ok());
      r->engine.reset();
    }
    for (auto& [id, r] : replicas_) {
      OpenStorage(*r);
      StartNode(*r);
    }
  }

  // Persist (one synced batch), send, apply, Advance: the order of rawnode.h.
  bool ProcessReady(Replica& r) {
    if (!r.node->HasReady()) return false;
    raft::Ready rd = r.node->GetReady();
    rocksdb::WriteBatch batch;
    if (!rd.snapshot.IsEmpty()) {
      EXPECT_TRUE(r.log->StageSnapshot(batch, rd.snapshot).ok());
    }
    absl::Status s = r.log->StageAppend(batch, rd.entries);
    EXPECT_TRUE(s.ok()) << s;
    if (!rd.hard_state.IsEmpty()) r.log->StageHardState(batch, rd.hard_state);
    if (batch.Count() > 0) {
      s = r.engine->Write(batch, /*sync=*/true);
      EXPECT_TRUE(s.ok()) << s;
      ++r.synced_writes;
    }
    for (raft::Message& m : rd.messages) queue_.push_back(std::move(m));
    if (!rd.snapshot.IsEmpty()) r.applied = rd.snapshot.metadata.index;
    for (const raft::Entry& e : rd.committed_entries) {
      EXPECT_EQ(e.index, r.applied + 1) << "node " << r.id << " applied out of order";
      if (e.type == raft::EntryType::kConfChange) {
        raft::ConfChange cc;
        EXPECT_TRUE(raft::DecodeConfChange(e.data, &cc));
        r.node->ApplyConfChange(cc);
      } else if (!e.data.empty()) {
        r.applied_data.push_back(e.data);
      }
      r.applied = e.index;
    }
    r.node->Advance(rd);
    return true;
  }

  void Stabilize() {
    for (int round = 0; round < 10000; ++round) {
      bool busy = false;
      for (auto& [id, r] : replicas_) busy |= ProcessReady(*r);
      std::vector<raft::Message> batch = std::move(queue_);
      queue_.clear();
      for (raft::Message& m : batch) (void)replicas_.at(m.to)->node->Step(std::move(m));
      busy |= !batch.empty();
      if (!busy) return;
    }
    ADD_FAILURE() << "not quiescent";
  }

  NodeId Leader() const {
    for (const auto& [id, r] : replicas_) {
      if (r->node->raft().role() == raft::Role::kLeader) return id;
    }
    return raft::kNoNode;
  }

  NodeId TickUntilLeader() {
    for (int t = 0; t < 1000 && Leader() == raft::kNoNode; ++t) {
      for (auto& [id, r] : replicas_) r->node->Tick();
      Stabilize();
    }
    return Leader();
  }

  // Proposes `count` values on the leader, `per_round` at a time, stabilizing in between.
  void ProposeAll(const std::string& prefix, int count, int per_round) {
    for (int i = 0; i < count; ++i) {
      const NodeId leader = Leader();
      ASSERT_NE(leader, raft::kNoNode);
      absl::Status s = replicas_.at(leader)->node->Propose(prefix + std::to_string(i));
      ASSERT_TRUE(s.ok()) << s;
      if ((i + 1) % per_round == 0) Stabilize();
    }
    Stabilize();
  }

  Replica& at(NodeId id) { return *replicas_.at(id); }
  std::map<NodeId, std::unique_ptr<Replica>>& replicas() { return replicas_; }

 private:
  std::map<NodeId, std::unique_ptr<Replica>> replicas_;
  std::vector<raft::Message> queue_;
};

// What a replica's storage holds, to compare before and after a restart.
struct Durable {
  uint64_t first = 0;
  uint64_t last = 0;
  raft::HardState hard_state;
  raft::Snapshot snapshot;
  std::vector<raft::Entry> entries;
  std::vector<uint64_t> terms;  // Term(first-1 .. last)

  bool operator==(const Durable&) const = default;
};

Durable Capture(const GroupLog& log) {
  Durable d;
  d.first = log.FirstIndex();
  d.last = log.LastIndex();
  d.hard_state = log.hard_state();
  d.snapshot = *log.GetSnapshot();
  absl::StatusOr<std::vector<raft::Entry>> ents = log.Entries(d.first, d.last + 1, raft::kNoLimit);
  EXPECT_TRUE(ents.ok()) << ents.status();
  if (ents.ok()) d.entries = *std::move(ents);
  for (uint64_t i = d.first - 1; i <= d.last; ++i) d.terms.push_back(*log.Term(i));
  return d;
}

std::vector<std::string> Values(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST(GroupLogRaftTest, ThreeNodesCommitRestartAndCommitMore) {
  Cluster c({1, 2, 3});
  c.Bootstrap();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  c.at(1).node->Campaign();
  c.Stabilize();
  ASSERT_EQ(c.Leader(), 1u);

  c.ProposeAll("v", 200, 5);
  const uint64_t commit = c.at(1).node->raft().log().committed();
  for (auto& [id, r] : c.replicas()) {
    EXPECT_EQ(r->applied_data, Values("v", 0, 200)) << "node " << id;
    EXPECT_EQ(r->applied, commit) << "node " << id;
    EXPECT_EQ(r->log->hard_state().commit, commit) << "node " << id;
    EXPECT_GT(r->synced_writes, 40) << "node " << id;
  }

  // Each node records a snapshot and compacts below it, as the snapshot scheduler will.
  for (auto& [id, r] : c.replicas()) {
    rocksdb::WriteBatch batch;
    const raft::ConfState conf = r->node->GetStatus().conf_state;
    ASSERT_TRUE(r->log->StageCreateSnapshot(batch, commit - 50, &conf, "token").ok());
    ASSERT_TRUE(r->log->StageCompact(batch, commit - 60).ok());
    ASSERT_TRUE(r->engine->Write(batch, true).ok());
  }

  std::map<NodeId, Durable> before;
  std::map<NodeId, uint64_t> terms;
  for (auto& [id, r] : c.replicas()) {
    before[id] = Capture(*r->log);
    terms[id] = r->node->raft().term();
    EXPECT_EQ(before[id].first, commit - 60 + 1);
    EXPECT_EQ(before[id].last, commit);
  }
  // Log matching across replicas.
  EXPECT_EQ(before[1].entries, before[2].entries);
  EXPECT_EQ(before[1].entries, before[3].entries);

  c.Restart();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  for (auto& [id, r] : c.replicas()) {
    EXPECT_EQ(Capture(*r->log), before[id]) << "node " << id;
    const raft::Status st = r->node->GetStatus();
    EXPECT_EQ(st.hard_state.commit, commit) << "node " << id;
    EXPECT_EQ(st.hard_state.term, terms[id]) << "node " << id;
    EXPECT_EQ(st.applied, commit) << "node " << id;
    EXPECT_EQ(st.conf_state, (raft::ConfState{{1, 2, 3}, {}})) << "node " << id;
  }

  // Nothing committed is delivered again; a new leader is elected in a later term and commits.
  const NodeId leader = c.TickUntilLeader();
  ASSERT_NE(leader, raft::kNoNode);
  EXPECT_GT(c.at(leader).node->raft().term(), terms[1]);
  c.ProposeAll("w", 50, 10);
  std::vector<std::string> want = Values("v", 0, 200);
  for (const std::string& v : Values("w", 0, 50)) want.push_back(v);
  for (auto& [id, r] : c.replicas()) {
    EXPECT_EQ(r->applied_data, want) << "node " << id;
    EXPECT_GE(r->log->hard_state().commit, commit + 51) << "node " << id;  // noop + 50
  }
  const std::vector<raft::Entry> leader_log = Capture(*c.at(leader).log).entries;
  for (auto& [id, r] : c.replicas()) {
    EXPECT_EQ(Capture(*r->log).entries, leader_log) << "node " << id;
  }
}

}  // namespace
}  // namespace tessera::shard
