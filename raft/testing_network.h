// Test-only harness after etcd/raft's raft_test.go `network`: N RawNodes over MemoryStorage,
// a lossy in-process transport with partitions and filters, and a Stabilize() loop.
//
// Bootstrap: every member's storage starts with a snapshot at index 1, term 1 carrying the
// group's initial ConfState (MemoryStorage::ApplySnapshot refuses index 0) and HardState
// {term 1, commit 1}, as etcd's bootstrap leaves a node. So the log of a fresh group is [1@1],
// committed and applied everywhere; the first election is term 2 and its noop lands at index 2.
// (The hard state matters: with term 0 the first leader, of term 1, would take the bootstrap
// entry for one of its own and serve reads before its noop commits.) A joiner gets the same
// bootstrap storage (it is not in that ConfState) and learns of itself from the conf-change
// entries it receives.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/types.h"

namespace tessera::raft {
// Readable gtest failure output for the core's value types (found by ADL).
inline void PrintTo(const Entry& e, std::ostream* os) {
  *os << e.index << "@" << e.term << (e.type == EntryType::kConfChange ? " cc" : "") << " '"
      << e.data << "'";
}
inline void PrintTo(const Message& m, std::ostream* os) {
  *os << MessageTypeName(m.type) << " " << m.from << "->" << m.to << " term " << m.term << " index "
      << m.index << " log_term " << m.log_term << " commit " << m.commit << " entries "
      << m.entries.size() << (m.reject ? " reject" : "");
}
}  // namespace tessera::raft

namespace tessera::raft::testing {

inline constexpr uint64_t kBootstrapIndex = 1;
inline constexpr uint64_t kBootstrapTerm = 1;
inline constexpr uint64_t kFirstElectionTerm = kBootstrapTerm + 1;

inline ConfState MakeConf(std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
  std::sort(voters.begin(), voters.end());
  std::sort(learners.begin(), learners.end());
  return ConfState{std::move(voters), std::move(learners)};
}

// A storage holding only the bootstrap snapshot [1@1] with the given membership.
inline std::unique_ptr<MemoryStorage> BootstrapStorage(const ConfState& cs) {
  auto storage = std::make_unique<MemoryStorage>();
  Snapshot snap;
  snap.metadata = SnapshotMetadata{cs, kBootstrapIndex, kBootstrapTerm};
  absl::Status s = storage->ApplySnapshot(snap);
  EXPECT_TRUE(s.ok()) << s;
  storage->SetHardState(HardState{kBootstrapTerm, kNoNode, kBootstrapIndex});
  return storage;
}

// The test defaults: etcd's classic 10/1 ticks; everything else is the core's default.
inline Config TestConfig(NodeId id, const Storage* storage) {
  Config c;
  c.id = id;
  c.storage = storage;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.seed = 42;
  return c;
}

inline Entry MakeEntry(uint64_t index, uint64_t term, std::string data = {}) {
  return Entry{term, index, EntryType::kNormal, std::move(data)};
}

inline Message MakeMsg(MessageType type, NodeId from, NodeId to, uint64_t term = 0) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

inline ConfChange MakeCC(ConfChangeType type, NodeId id) { return ConfChange{type, id, {}}; }

struct Peer {
  NodeId id = kNoNode;
  Config config;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  ConfState conf;              // as of the last applied conf change or snapshot
  std::vector<Entry> applied;  // every applied entry, in order (snapshots not expanded)
  uint64_t applied_index = 0;
  std::vector<ReadState> read_states;
  std::vector<Snapshot> snapshots;  // every snapshot applied from a Ready
  std::vector<Ready> readies;       // only when Network::record_readies is set

  const Raft& raft() const { return node->raft(); }
  Role role() const { return node->raft().role(); }
  uint64_t term() const { return node->raft().term(); }
  uint64_t committed() const { return node->raft().log().committed(); }
  uint64_t last_index() const { return node->raft().log().LastIndex(); }
  // Data of the applied normal entries with a payload (noops skipped).
  std::vector<std::string> AppliedData() const {
    std::vector<std::string> out;
    for (const Entry& e : applied) {
      if (e.type == EntryType::kNormal && !e.data.empty()) out.push_back(e.data);
    }
    return out;
  }
};

class Network {
 public:
  using ConfigTweak = std::function<void(Config&)>;
  // Decides a message's fate in flight; may rewrite it. false drops it.
  using Filter = std::function<bool(Message&)>;

  explicit Network(ConfigTweak tweak = {}) : tweak_(std::move(tweak)) {}
  Network(std::vector<NodeId> voters, std::vector<NodeId> learners = {}, ConfigTweak tweak = {})
      : tweak_(std::move(tweak)), initial_conf_(MakeConf(std::move(voters), std::move(learners))) {
    for (NodeId id : initial_conf_.voters) AddPeer(id, BootstrapStorage(initial_conf_));
    for (NodeId id : initial_conf_.learners) AddPeer(id, BootstrapStorage(initial_conf_));
  }

  // A node over a storage the test prepared (custom logs, hard state).
  Peer& AddPeer(NodeId id, std::unique_ptr<MemoryStorage> storage) {
    Peer p;
    p.id = id;
    p.storage = std::move(storage);
    p.config = TestConfig(id, p.storage.get());
    if (tweak_) tweak_(p.config);
    auto snap = p.storage->GetSnapshot();
    if (snap.ok()) p.conf = snap->metadata.conf_state;
    p.applied_index = p.storage->FirstIndex() - 1;
    p.node = std::make_unique<RawNode>(p.config);
    auto [it, inserted] = peers_.insert_or_assign(id, std::move(p));
    return it->second;
  }

  // A node that is not yet a member: bootstrapped with the group's initial snapshot.
  Peer& AddJoiner(NodeId id) { return AddPeer(id, BootstrapStorage(initial_conf_)); }

  // Rebuilds a node from its storage, as after a crash (unpersisted state is lost).
  void Restart(NodeId id) {
    Peer& p = peer(id);
    p.config.applied = p.applied_index;
    p.node = std::make_unique<RawNode>(p.config);
  }

  Peer& peer(NodeId id) {
    if (!peers_.contains(id)) ADD_FAILURE() << "no peer " << id;
    return peers_.at(id);  // throws for an unknown id; gtest reports it
  }
  RawNode& node(NodeId id) { return *peer(id).node; }
  MemoryStorage& storage(NodeId id) { return *peer(id).storage; }
  std::map<NodeId, Peer>& peers() { return peers_; }

  // --- The transport. ---
  void Isolate(NodeId id) { isolated_.insert(id); }
  void Rejoin(NodeId id) { isolated_.erase(id); }
  void Cut(NodeId a, NodeId b) {
    cuts_.insert({a, b});
    cuts_.insert({b, a});
  }
  // Takes the node out for good: it is neither ticked nor processed, and its messages drop.
  void Remove(NodeId id) { removed_.insert(id); }
  void AddFilter(Filter f) { filters_.push_back(std::move(f)); }
  void DropIf(std::function<bool(const Message&)> drop) {
    filters_.push_back([drop = std::move(drop)](Message& m) { return !drop(m); });
  }
  void ClearFilters() { filters_.clear(); }
  // Heals partitions and filters (removed nodes stay removed).
  void Heal() {
    isolated_.clear();
    cuts_.clear();
    filters_.clear();
  }
  bool Active(NodeId id) const { return peers_.contains(id) && !removed_.contains(id); }

  // Every message any node emitted, dropped or not, in emission order.
  const std::vector<Message>& sent() const { return sent_; }
  void ClearSent() { sent_.clear(); }
  size_t CountSent(const std::function<bool(const Message&)>& pred) const {
    size_t n = 0;
    for (const Message& m : sent_) n += pred(m) ? 1 : 0;
    return n;
  }

  // Hands m to its recipient now (bypassing filters), as the transport would.
  absl::Status Deliver(Message m) {
    if (!Active(m.to)) return absl::NotFoundError("no such node");
    return node(m.to).Step(std::move(m));
  }

  // Processes at most one Ready of the node: persist, queue messages, apply, Advance.
  // Returns false when the node had nothing ready.
  bool ProcessReady(NodeId id) {
    Peer& p = peer(id);
    if (!p.node->HasReady()) return false;
    Ready rd = p.node->GetReady();
    if (record_readies) p.readies.push_back(rd);
    if (!rd.snapshot.IsEmpty()) {
      absl::Status s = p.storage->ApplySnapshot(rd.snapshot);
      EXPECT_TRUE(s.ok()) << "node " << id << ": " << s;
    }
    absl::Status s = p.storage->Append(rd.entries);
    EXPECT_TRUE(s.ok()) << "node " << id << ": " << s;
    if (!rd.hard_state.IsEmpty()) p.storage->SetHardState(rd.hard_state);
    for (Message& m : rd.messages) Send(std::move(m));
    if (!rd.snapshot.IsEmpty()) {
      p.snapshots.push_back(rd.snapshot);
      p.conf = rd.snapshot.metadata.conf_state;
      p.applied_index = rd.snapshot.metadata.index;
    }
    for (const Entry& e : rd.committed_entries) Apply(p, e);
    for (const ReadState& r : rd.read_states) p.read_states.push_back(r);
    if (p.role() == Role::kLeader) leaders_by_term_[p.term()].insert(id);
    p.node->Advance(rd);
    return true;
  }

  // Queued messages go to their recipients; returns how many were delivered.
  size_t DeliverQueued() {
    std::vector<Message> batch = std::move(queue_);
    queue_.clear();
    for (Message& m : batch) {
      if (!Active(m.to)) continue;
      (void)node(m.to).Step(std::move(m));  // refusals (e.g. unknown sender) are dropped
    }
    return batch.size();
  }

  // Runs Ready processing and delivery until nothing is left to do anywhere.
  void Stabilize(int max_rounds = 10000) {
    for (int round = 0; round < max_rounds; ++round) {
      bool busy = false;
      for (auto& [id, p] : peers_) {
        if (Active(id)) busy |= ProcessReady(id);
      }
      busy |= DeliverQueued() > 0;
      if (!busy) return;
    }
    ADD_FAILURE() << "network not quiescent after " << max_rounds << " rounds";
  }

  void Tick(NodeId id, int n = 1) {
    for (int i = 0; i < n; ++i) node(id).Tick();
  }
  // n times: tick every active node once, then stabilize.
  void TickAll(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, p] : peers_) {
        if (Active(id)) p.node->Tick();
      }
      Stabilize();
    }
  }

  void Campaign(NodeId id) {
    node(id).Campaign();
    Stabilize();
  }

  // The leader of the highest term among active nodes, or kNoNode.
  NodeId Leader() {
    NodeId leader = kNoNode;
    uint64_t term = 0;
    for (auto& [id, p] : peers_) {
      if (Active(id) && p.role() == Role::kLeader && p.term() >= term) {
        leader = id;
        term = p.term();
      }
    }
    return leader;
  }

  // Ticks everyone until some node leads; returns the ticks it took (or -1).
  int TickUntilLeader(int max_ticks = 1000) {
    for (int t = 1; t <= max_ticks; ++t) {
      TickAll(1);
      if (Leader() != kNoNode) return t;
    }
    ADD_FAILURE() << "no leader after " << max_ticks << " ticks";
    return -1;
  }

  // Makes `id` the leader: a campaign, or else wait for any leader and transfer to `id`.
  void ElectLeader(NodeId id) {
    Campaign(id);
    if (peer(id).role() == Role::kLeader) return;
    if (Leader() == kNoNode) TickUntilLeader();
    NodeId leader = Leader();
    if (leader != id && leader != kNoNode) {
      absl::Status s = node(leader).TransferLeader(id);
      EXPECT_TRUE(s.ok()) << s;
      Stabilize();
    }
    EXPECT_EQ(peer(id).role(), Role::kLeader) << "could not elect " << id;
  }

  absl::Status Propose(NodeId id, std::string data) {
    absl::Status s = node(id).Propose(std::move(data));
    Stabilize();
    return s;
  }
  absl::Status ProposeConfChange(NodeId id, const ConfChange& cc) {
    absl::Status s = node(id).ProposeConfChange(cc);
    Stabilize();
    return s;
  }

  // term -> nodes that led in it (election safety: never more than one).
  const std::map<uint64_t, std::set<NodeId>>& leaders_by_term() const { return leaders_by_term_; }

  bool record_readies = false;

 private:
  void Send(Message m) {
    sent_.push_back(m);
    if (!Active(m.from) || !Active(m.to)) return;
    if (isolated_.contains(m.from) || isolated_.contains(m.to)) return;
    if (cuts_.contains({m.from, m.to})) return;
    for (Filter& f : filters_) {
      if (!f(m)) return;
    }
    queue_.push_back(std::move(m));
  }

  void Apply(Peer& p, const Entry& e) {
    // State-machine safety across the group: one entry per index, whoever applies it.
    auto [it, first] = committed_by_index_.emplace(e.index, e);
    if (!first) {
      EXPECT_EQ(it->second, e) << "node " << p.id << " applied a different entry at " << e.index;
    }
    EXPECT_EQ(e.index, p.applied_index + 1) << "node " << p.id << " applied out of order";
    if (e.type == EntryType::kConfChange) {
      ConfChange cc;
      EXPECT_TRUE(DecodeConfChange(e.data, &cc)) << "malformed conf change at " << e.index;
      p.conf = p.node->ApplyConfChange(cc);
    }
    p.applied.push_back(e);
    p.applied_index = e.index;
  }

  ConfigTweak tweak_;
  ConfState initial_conf_;
  std::map<NodeId, Peer> peers_;
  std::vector<Message> queue_;
  std::vector<Message> sent_;
  std::set<NodeId> isolated_;
  std::set<NodeId> removed_;
  std::set<std::pair<NodeId, NodeId>> cuts_;
  std::vector<Filter> filters_;
  std::map<uint64_t, std::set<NodeId>> leaders_by_term_;
  std::map<uint64_t, Entry> committed_by_index_;
};

}  // namespace tessera::raft::testing
