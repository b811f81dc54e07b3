// The simulator: a seeded world of RawNodes, a faulty network and a small replicated KV,
// with checkers for election safety, log matching, leader completeness, state-machine
// safety, durability of committed entries, linearizable reads and liveness after heal.
#include "raft/sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"

namespace tessera::raft::sim {
namespace {

constexpr int kElectionTick = 10;
constexpr int kHealTicks = 600;  // the quiet tail of every run
// A leader must be elected this soon after heal. Without PreVote, stale nodes keep
// bumping terms; over 6000 seeds p99 was 82 ticks, p99.9 182, max 318.
constexpr int kLeaderBoundTicks = 500;
constexpr int kSettleTicks = 60;  // then it must keep leading, once settled
constexpr int kNumKeys = 2;
constexpr size_t kMaxPendingReads = 8;

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

uint64_t HashBytes(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// The replicated state machine: key -> (value, index of the write that set it).
struct KvValue {
  std::string value;
  uint64_t index = 0;
};
using Kv = std::map<std::string, KvValue>;

std::string EncodeKv(const Kv& kv) {
  std::string out;
  for (const auto& [k, v] : kv) absl::StrAppend(&out, k, "\x01", v.value, "\x01", v.index, "\n");
  return out;
}

Kv DecodeKv(const std::string& data) {
  Kv kv;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t a = data.find('\x01', pos);
    size_t b = data.find('\x01', a + 1);
    size_t c = data.find('\n', b + 1);
    kv[data.substr(pos, a - pos)] =
        KvValue{data.substr(a + 1, b - a - 1), std::stoull(data.substr(b + 1, c - b - 1))};
    pos = c + 1;
  }
  return kv;
}

// Writes are "w|key|value" with values unique across the run.
bool ParseWrite(const std::string& data, std::string* key, std::string* value) {
  if (data.size() < 4 || data[0] != 'w' || data[1] != '|') return false;
  size_t bar = data.find('|', 2);
  if (bar == std::string::npos) return false;
  *key = data.substr(2, bar - 2);
  *value = data.substr(bar + 1);
  return true;
}

struct ShadowEntry {
  uint64_t term = 0;
  uint64_t chain = 0;  // hash of the whole log prefix up to and including this entry
};

struct PendingRead {
  std::string key;
  uint64_t lower_bound = 0;  // the oldest write index a linearizable read may return
  std::optional<uint64_t> read_index;
  int invoked_tick = 0;
};

struct Node {
  NodeId id = 0;
  bool alive = false;
  bool removed = false;        // removed from the group: stopped for good
  uint64_t removal_index = 0;  // index of the applied conf change that removed it
  bool started = false;        // ever provisioned (initial member or added)
  uint64_t incarnation = 0;
  int restart_at = -1;
  std::unique_ptr<MemoryStorage> disk;  // what survives a crash
  std::vector<ShadowEntry> shadow;      // the persisted log as seen by the checker, from index 0
  std::unique_ptr<RawNode> raft;
  Kv kv;
  uint64_t applied = 0;
  ConfState conf;  // as of `applied`
  std::map<std::string, PendingRead> reads;
  uint64_t last_snapshot_applied = 0;
  // Sabotage kLostFsync: an older copy of the disk that a restart comes back with.
  std::unique_ptr<MemoryStorage> old_disk;
  std::vector<ShadowEntry> old_shadow;
};

struct InFlight {
  int deliver_at = 0;
  uint64_t seq = 0;
  Message msg;
};

struct WriteRecord {
  NodeId proposer = 0;
  uint64_t incarnation = 0;
  std::string key;
};

struct CommittedEntry {
  uint64_t term = 0;
  uint64_t data_hash = 0;
  uint64_t chain = 0;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : opts_(o), rng_(Mix(o.seed, 0x5eed)) {}

  SimResult Run();

 private:
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  void Trace(const std::string& s) {
    if (opts_.verbose) std::fprintf(stderr, "[seed %lu t=%d] %s\n", opts_.seed, now_, s.c_str());
  }
  void Violation(const std::string& what) {
    if (violation_.empty()) violation_ = absl::StrCat("tick ", now_, ": ", what);
  }

  Config MakeConfig(NodeId id, uint64_t applied) const;
  void Bootstrap();
  void StartNode(Node& n);
  void Crash(Node& n, bool mid_write);
  void Send(const Message& m);
  void DeliverDue();
  void ProcessReady(Node& n);
  void Persist(Node& n, const Ready& rd);
  void ApplySnapshot(Node& n, const Snapshot& s);
  void ApplyEntry(Node& n, const Entry& e);
  void ServeReads(Node& n);
  void MaybeCompact(Node& n);
  void OnBecameLeader(Node& n, uint64_t term);
  void InjectFaults();
  void RetireRemovedNodes();
  void KillMinority();
  void ClientOps();
  void MembershipOps();
  void Heal();
  void CheckLiveness();
  Node* PickLeader();
  std::vector<Node*> LiveNodes();

  SimOptions opts_;
  std::mt19937_64 rng_;
  int now_ = 0;
  std::string violation_;
  SimStats stats_;

  // Per-seed knobs.
  double drop_ = 0, dup_ = 0, straggle_ = 0;
  int max_delay_ = 0;
  double crash_rate_ = 0, partition_rate_ = 0, membership_rate_ = 0;
  bool lease_ = false, pre_vote_ = true;
  size_t max_inflight_ = 1;
  uint64_t max_msg_size_ = 0;
  bool healed_ = false;
  int heal_at_ = 0;
  bool kill_minority_pending_ = false;
  NodeId settled_leader_ = kNoNode;
  uint64_t settled_term_ = 0;

  std::map<NodeId, Node> nodes_;
  std::set<std::pair<NodeId, NodeId>> blocked_;  // directed (from, to)
  std::vector<InFlight> network_;
  uint64_t seq_ = 0;

  // Checker state.
  std::map<uint64_t, NodeId> leader_of_term_;
  std::map<uint64_t, CommittedEntry> committed_;  // every entry applied anywhere
  uint64_t max_committed_ = 0;
  std::map<std::string, WriteRecord> writes_;  // value -> who proposed it
  std::map<std::string, uint64_t> max_acked_index_;
  std::map<std::string, uint64_t> max_read_index_;
  uint64_t next_value_ = 0;
  uint64_t next_read_ = 0;
};

Config Simulation::MakeConfig(NodeId id, uint64_t applied) const {
  Config c;
  c.id = id;
  c.election_tick = kElectionTick;
  c.heartbeat_tick = 1;
  c.storage = nodes_.at(id).disk.get();
  c.applied = applied;
  c.max_size_per_msg = max_msg_size_;
  c.max_inflight_msgs = max_inflight_;
  c.check_quorum = true;
  c.pre_vote = pre_vote_;
  c.read_only_option = lease_ ? ReadOnlyOption::kLeaseBased : ReadOnlyOption::kSafe;
  c.lease_ticks = lease_ ? kElectionTick - 2 : 0;
  c.seed = Mix(opts_.seed, id);
  return c;
}

void Simulation::Bootstrap() {
  size_t voters = Chance(0.5) ? 3 : 5;
  size_t learners = Rand(3);
  size_t spares = 3;
  drop_ = Chance(0.3) ? 0 : 0.01 * static_cast<double>(Rand(15));
  dup_ = 0.01 * static_cast<double>(Rand(8));
  straggle_ = 0.005 * static_cast<double>(Rand(5));
  max_delay_ = static_cast<int>(Rand(5));
  crash_rate_ = 0.001 * static_cast<double>(1 + Rand(6));
  partition_rate_ = 0.002 * static_cast<double>(1 + Rand(10));
  membership_rate_ = 0.001 * static_cast<double>(Rand(12));
  lease_ = Chance(0.5);
  pre_vote_ = Chance(0.7);
  max_inflight_ = 1 + Rand(64);
  max_msg_size_ = Chance(0.3) ? kNoLimit : 16 + Rand(512);
  Trace(absl::StrCat("voters=", voters, " learners=", learners, " drop=", drop_, " dup=", dup_,
                     " delay=", max_delay_, " lease=", lease_, " prevote=", pre_vote_,
                     " inflight=", max_inflight_));

  ConfState cs;
  NodeId id = 1;
  for (size_t i = 0; i < voters; ++i) cs.voters.push_back(id++);
  for (size_t i = 0; i < learners; ++i) cs.learners.push_back(id++);
  for (size_t i = 0; i < spares; ++i) id++;
  // Index 1 is the bootstrap point every initial member shares (as a snapshot).
  Snapshot boot;
  boot.metadata = SnapshotMetadata{cs, 1, 1};
  boot.data = EncodeKv({});
  committed_[1] = CommittedEntry{1, 0, Mix(0, 1)};
  max_committed_ = 1;
  for (NodeId n = 1; n < id; ++n) {
    Node& node = nodes_[n];
    node.id = n;
    node.disk = std::make_unique<MemoryStorage>();
    node.shadow.push_back(ShadowEntry{0, 0});
    bool member = cs.IsVoter(n) || cs.IsLearner(n);
    if (!member) continue;  // a spare, provisioned when added
    (void)node.disk->ApplySnapshot(boot);
    node.disk->SetHardState(HardState{1, kNoNode, 1});
    node.shadow.push_back(ShadowEntry{1, committed_[1].chain});
    StartNode(node);
  }
}

void Simulation::StartNode(Node& n) {
  n.started = true;
  n.alive = true;
  n.incarnation++;
  n.restart_at = -1;
  auto snap = n.disk->GetSnapshot();
  n.kv = snap->IsEmpty() ? Kv{} : DecodeKv(snap->data);
  n.applied = snap->metadata.index;
  n.conf = snap->metadata.conf_state;
  n.last_snapshot_applied = n.applied;
  n.reads.clear();
  n.raft = std::make_unique<RawNode>(MakeConfig(n.id, n.applied));
  // Everything the node durably claims as committed must still be there.
  uint64_t commit = n.disk->hard_state().commit;
  if (commit > n.disk->LastIndex()) Violation(absl::StrCat("node ", n.id, " commit beyond log"));
}

void Simulation::Crash(Node& n, bool mid_write) {
  Trace(absl::StrCat("crash node ", n.id, mid_write ? " (mid-write)" : ""));
  stats_.crashes++;
  if (mid_write) stats_.crashes_mid_write++;
  n.alive = false;
  n.raft.reset();
  n.reads.clear();
  n.restart_at = now_ + 10 + static_cast<int>(Rand(150));
}

std::vector<Node*> Simulation::LiveNodes() {
  std::vector<Node*> out;
  for (auto& [id, n] : nodes_) {
    if (n.alive) out.push_back(&n);
  }
  return out;
}

void Simulation::Send(const Message& m) {
  int copies = Chance(dup_) ? 2 : 1;
  if (Chance(drop_)) {
    stats_.messages_dropped++;
    if (m.type == MessageType::kSnap) {
      if (auto it = nodes_.find(m.from); it != nodes_.end() && it->second.alive) {
        it->second.raft->ReportSnapshot(m.to, /*failed=*/true);
      }
    }
    return;
  }
  for (int i = 0; i < copies; ++i) {
    int delay = static_cast<int>(Rand(max_delay_ + 1));
    // A few stragglers arrive long after newer messages: stale terms, stale appends.
    if (Chance(straggle_)) delay += 10 + static_cast<int>(Rand(40));
    network_.push_back(InFlight{now_ + delay, seq_++, m});
  }
}

void Simulation::DeliverDue() {
  std::vector<InFlight> due;
  std::vector<InFlight> later;
  for (auto& f : network_) (f.deliver_at <= now_ ? due : later).push_back(std::move(f));
  network_ = std::move(later);
  std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) {
    return a.deliver_at != b.deliver_at ? a.deliver_at < b.deliver_at : a.seq < b.seq;
  });
  for (auto& f : due) {
    const Message& m = f.msg;
    auto to = nodes_.find(m.to);
    bool delivered = to != nodes_.end() && to->second.alive && !blocked_.contains({m.from, m.to});
    auto from = nodes_.find(m.from);
    if (m.type == MessageType::kSnap && from != nodes_.end() && from->second.alive) {
      from->second.raft->ReportSnapshot(m.to, !delivered);
    }
    if (!delivered) {
      stats_.messages_dropped++;
      continue;
    }
    stats_.messages_delivered++;
    (void)to->second.raft->Step(m);
  }
}

void Simulation::Persist(Node& n, const Ready& rd) {
  if (!rd.snapshot.IsEmpty()) {
    const SnapshotMetadata& md = rd.snapshot.metadata;
    if (absl::Status s = n.disk->ApplySnapshot(rd.snapshot); !s.ok()) {
      Violation(absl::StrCat("node ", n.id, " snapshot persist failed: ", s.ToString()));
    }
    if (md.index > max_committed_) {
      Violation(absl::StrCat("snapshot at ", md.index, " beyond anything committed"));
      return;
    }
    n.shadow.resize(1);
    for (uint64_t i = 1; i <= md.index; ++i)
      n.shadow.push_back({committed_[i].term, committed_[i].chain});
    if (committed_[md.index].term != md.term) {
      Violation(absl::StrCat("snapshot term mismatch at ", md.index));
    }
  }
  if (!rd.entries.empty()) {
    uint64_t first = rd.entries.front().index;
    uint64_t durable_commit = n.disk->hard_state().commit;
    if (first <= durable_commit) {
      for (const Entry& e : rd.entries) {
        if (e.index <= durable_commit && e.index < n.shadow.size() &&
            n.shadow[e.index].term != e.term) {
          Violation(absl::StrCat("node ", n.id, " overwrites its committed entry ", e.index));
        }
      }
    }
    if (absl::Status s = n.disk->Append(rd.entries); !s.ok()) {
      Violation(absl::StrCat("node ", n.id, " append failed: ", s.ToString()));
      return;
    }
    if (first > n.shadow.size()) {
      Violation(absl::StrCat("node ", n.id, " log gap: append at ", first, " after ",
                             n.shadow.size() - 1));
      return;
    }
    n.shadow.resize(first);
    for (const Entry& e : rd.entries) {
      uint64_t chain = Mix(n.shadow.back().chain, Mix(e.term, HashBytes(e.data)));
      n.shadow.push_back({e.term, chain});
      // Log matching: same index and term on two nodes means identical prefixes.
      for (auto& [oid, o] : nodes_) {
        if (oid == n.id || o.shadow.size() <= e.index) continue;
        if (o.shadow[e.index].term == e.term && o.shadow[e.index].chain != chain) {
          Violation(absl::StrCat("log matching: nodes ", n.id, " and ", oid, " agree on (", e.index,
                                 ",", e.term, ") but not on the prefix"));
        }
      }
    }
  }
  if (!rd.hard_state.IsEmpty()) {
    if (rd.hard_state.term < n.disk->hard_state().term) {
      Violation(absl::StrCat("node ", n.id, " term went backwards"));
    }
    n.disk->SetHardState(rd.hard_state);
  }
}

void Simulation::ApplySnapshot(Node& n, const Snapshot& s) {
  n.kv = DecodeKv(s.data);
  n.applied = s.metadata.index;
  n.conf = s.metadata.conf_state;
  n.last_snapshot_applied = n.applied;
  stats_.snapshots_installed++;
  Trace(absl::StrCat("node ", n.id, " installed snapshot at ", s.metadata.index));
}

void Simulation::ApplyEntry(Node& n, const Entry& e) {
  if (e.index != n.applied + 1) {
    Violation(absl::StrCat("node ", n.id, " applies ", e.index, " after ", n.applied));
    return;
  }
  n.applied = e.index;
  uint64_t h = HashBytes(e.data);
  auto it = committed_.find(e.index);
  if (it != committed_.end()) {
    if (it->second.term != e.term || it->second.data_hash != h) {
      Violation(absl::StrCat("state machine safety: node ", n.id, " applies a different entry at ",
                             e.index));
      return;
    }
  } else {
    if (e.index != max_committed_ + 1) {
      Violation(absl::StrCat("node ", n.id, " applied ", e.index, " before ", max_committed_ + 1));
      return;
    }
    uint64_t chain = Mix(committed_[e.index - 1].chain, Mix(e.term, h));
    committed_[e.index] = CommittedEntry{e.term, h, chain};
    max_committed_ = e.index;
  }
  if (e.type == EntryType::kConfChange) {
    ConfChange cc;
    if (!DecodeConfChange(e.data, &cc)) {
      Violation("undecodable conf change");
      return;
    }
    n.conf = n.raft->ApplyConfChange(cc);
    stats_.conf_changes_applied++;
    if (cc.type == ConfChangeType::kRemoveNode && nodes_[cc.node_id].removal_index == 0) {
      Trace(absl::StrCat("node ", cc.node_id, " removed at index ", e.index));
      nodes_[cc.node_id].removal_index = e.index;
    }
    return;
  }
  std::string key, value;
  if (!ParseWrite(e.data, &key, &value)) return;  // noop
  n.kv[key] = KvValue{value, e.index};
  auto w = writes_.find(value);
  if (w != writes_.end() && w->second.proposer == n.id && w->second.incarnation == n.incarnation) {
    // The proposer applied it: the client is acknowledged now.
    max_acked_index_[key] = std::max(max_acked_index_[key], e.index);
    stats_.writes_acked++;
    writes_.erase(w);
  }
}

void Simulation::ServeReads(Node& n) {
  for (auto it = n.reads.begin(); it != n.reads.end();) {
    PendingRead& r = it->second;
    if (!r.read_index || *r.read_index > n.applied) {
      ++it;
      continue;
    }
    uint64_t seen = n.kv.contains(r.key) ? n.kv[r.key].index : 0;
    if (seen < r.lower_bound) {
      Violation(absl::StrCat("stale read on node ", n.id, " key ", r.key, ": saw write at index ",
                             seen, " but a write at index ", r.lower_bound,
                             " completed before the read began"));
    }
    max_read_index_[r.key] = std::max(max_read_index_[r.key], seen);
    stats_.reads_served++;
    it = n.reads.erase(it);
  }
}

void Simulation::MaybeCompact(Node& n) {
  if (n.applied < n.last_snapshot_applied + 20 + Rand(60)) return;
  if (n.applied <= n.disk->GetSnapshot()->metadata.index) return;
  auto snap = n.disk->CreateSnapshot(n.applied, &n.conf, EncodeKv(n.kv));
  if (!snap.ok()) return;
  n.last_snapshot_applied = n.applied;
  uint64_t keep = Rand(20);
  if (n.applied > keep + 1 && n.applied - keep > n.disk->FirstIndex()) {
    (void)n.disk->Compact(n.applied - keep);
  }
}

void Simulation::OnBecameLeader(Node& n, uint64_t term) {
  stats_.leaders_elected++;
  Trace(absl::StrCat("node ", n.id, " leads term ", term));
  auto [it, inserted] = leader_of_term_.emplace(term, n.id);
  if (!inserted && it->second != n.id) {
    Violation(absl::StrCat("election safety: nodes ", it->second, " and ", n.id, " both lead term ",
                           term));
  }
  // Leader completeness: every committed entry is in the new leader's log.
  const RaftLog& log = n.raft->raft().log();
  if (log.LastIndex() < max_committed_) {
    Violation(absl::StrCat("leader completeness: leader ", n.id, " of term ", term,
                           " lacks committed index ", max_committed_));
    return;
  }
  for (uint64_t i = std::max<uint64_t>(log.FirstIndex(), 2); i <= max_committed_; ++i) {
    if (log.TermOrZero(i) != committed_[i].term) {
      Violation(absl::StrCat("leader completeness: leader ", n.id, " of term ", term,
                             " has a different entry at committed index ", i));
      return;
    }
  }
}

void Simulation::ProcessReady(Node& n) {
  if (!n.alive || !n.raft->HasReady()) return;
  Ready rd = n.raft->GetReady();
  if (!healed_ && Chance(crash_rate_ / 4)) {
    // Power loss before the write reached the disk: this Ready never happened.
    Crash(n, /*mid_write=*/true);
    return;
  }
  Persist(n, rd);
  for (const Message& m : rd.messages) Send(m);
  if (rd.soft_state) {
    Trace(absl::StrCat("node ", n.id, " is ", RoleName(rd.soft_state->role), " term ",
                       n.raft->raft().term(), " lead ", rd.soft_state->lead, " last ",
                       n.raft->raft().log().LastIndex(), "/", n.raft->raft().log().LastTerm(),
                       " applied ", n.applied));
  }
  if (rd.soft_state && rd.soft_state->role == Role::kLeader) {
    OnBecameLeader(n, n.raft->raft().term());
  }
  if (rd.soft_state && rd.soft_state->role != Role::kLeader) {
    // Reads still waiting for their index died with the leadership.
    for (auto it = n.reads.begin(); it != n.reads.end();) {
      it = it->second.read_index ? std::next(it) : n.reads.erase(it);
    }
  }
  if (!rd.snapshot.IsEmpty()) ApplySnapshot(n, rd.snapshot);
  for (const Entry& e : rd.committed_entries) {
    if (!violation_.empty()) return;
    ApplyEntry(n, e);
  }
  for (const ReadState& rs : rd.read_states) {
    auto it = n.reads.find(rs.request_ctx);
    if (it != n.reads.end()) it->second.read_index = rs.index;
  }
  n.raft->Advance(rd);
  ServeReads(n);
  MaybeCompact(n);
}

Node* Simulation::PickLeader() {
  std::vector<Node*> leaders;
  for (Node* n : LiveNodes()) {
    if (n->raft->raft().role() == Role::kLeader) leaders.push_back(n);
  }
  if (leaders.empty()) return nullptr;
  return leaders[Rand(leaders.size())];
}

void Simulation::ClientOps() {
  // Every node that believes it leads gets traffic: stale leaders are where reads go wrong.
  for (Node* l : LiveNodes()) {
    if (l->raft->raft().role() != Role::kLeader || !Chance(0.6)) continue;
    std::string key = absl::StrCat("k", Rand(kNumKeys));
    if (Chance(0.5)) {
      std::string value = absl::StrCat("v", next_value_++);
      if (l->raft->Propose(absl::StrCat("w|", key, "|", value)).ok()) {
        writes_[value] = WriteRecord{l->id, l->incarnation, key};
      }
    } else if (l->reads.size() < kMaxPendingReads) {
      std::string ctx = absl::StrCat("r", next_read_++);
      PendingRead r;
      r.key = key;
      r.lower_bound = std::max(max_acked_index_[key], max_read_index_[key]);
      r.invoked_tick = now_;
      bool lease = l->raft->LeaseValid();
      if (opts_.sabotage == Sabotage::kLocalReads) {
        r.read_index = 0;  // answered from local state at once
        l->reads.emplace(ctx, r);
        ServeReads(*l);
      } else if (l->raft->ReadIndex(ctx).ok()) {
        if (lease) stats_.lease_reads++;
        l->reads.emplace(ctx, r);
      }
    }
  }
}

void Simulation::MembershipOps() {
  Node* l = PickLeader();
  if (l == nullptr) return;
  const ConfState& cs = l->raft->raft().tracker().conf_state();
  switch (Rand(4)) {
    case 0: {  // add a learner from the spares
      if (cs.learners.size() >= 2) return;
      for (auto& [id, n] : nodes_) {
        if (n.started) continue;
        if (l->raft->ProposeConfChange(ConfChange{ConfChangeType::kAddLearnerNode, id, {}}).ok()) {
          Trace(absl::StrCat("propose add learner ", id));
          StartNode(n);  // a joiner with an empty disk, waiting for the leader
        }
        return;
      }
      return;
    }
    case 1: {  // promote a learner, usually with the catch-up gate
      if (cs.learners.empty()) return;
      NodeId id = cs.learners[Rand(cs.learners.size())];
      bool skip = Chance(0.2);
      uint64_t min = Chance(0.5) ? l->raft->raft().log().committed() : 1 + Rand(5);
      absl::Status s = l->raft->PromoteLearner(id, min, skip);
      Trace(absl::StrCat("promote ", id, " min=", min, " skip=", skip, ": ", s.ToString()));
      return;
    }
    case 2: {  // remove a voter (keeping three) or a learner
      std::vector<NodeId> candidates = cs.learners;
      if (cs.voters.size() > 3)
        candidates.insert(candidates.end(), cs.voters.begin(), cs.voters.end());
      if (candidates.empty()) return;
      NodeId id = candidates[Rand(candidates.size())];
      absl::Status s = l->raft->ProposeConfChange(ConfChange{ConfChangeType::kRemoveNode, id, {}});
      Trace(absl::StrCat("propose remove ", id, ": ", s.ToString()));
      return;
    }
    default: {  // transfer leadership
      NodeId target = cs.voters[Rand(cs.voters.size())];
      TransferOptions t{Chance(0.5), Rand(8)};
      absl::Status s = l->raft->TransferLeader(target, t);
      if (s.ok()) stats_.transfers++;
      Trace(absl::StrCat("transfer ", l->id, " -> ", target, ": ", s.ToString()));
      return;
    }
  }
}

void Simulation::RetireRemovedNodes() {
  // Like an operator, stop a removed node only once every other member has applied its
  // removal; earlier, a member still counting it as a voter may need its vote.
  for (auto& [id, n] : nodes_) {
    if (n.removal_index == 0 || n.removed) continue;
    bool everyone_applied = true;
    for (auto& [oid, o] : nodes_) {
      if (oid != id && o.started && !o.removed && o.applied < n.removal_index)
        everyone_applied = false;
    }
    if (!everyone_applied) continue;
    Trace(absl::StrCat("retire removed node ", id));
    n.removed = true;
    n.alive = false;
    n.raft.reset();
  }
}

void Simulation::InjectFaults() {
  for (auto& [id, n] : nodes_) {
    if (opts_.sabotage == Sabotage::kLostFsync && n.alive && now_ % 40 == 0) {
      n.old_disk = std::make_unique<MemoryStorage>(*n.disk);
      n.old_shadow = n.shadow;
    }
    if (!n.alive && !n.removed && n.started && n.restart_at >= 0 && now_ >= n.restart_at) {
      if (opts_.sabotage == Sabotage::kLostFsync && n.old_disk) {
        n.disk = std::move(n.old_disk);
        n.shadow = std::move(n.old_shadow);
      }
      Trace(absl::StrCat("restart node ", id));
      StartNode(n);
    }
  }
  if (Chance(crash_rate_)) {
    auto live = LiveNodes();
    if (!live.empty()) Crash(*live[Rand(live.size())], /*mid_write=*/false);
  }
  if (Chance(partition_rate_)) {
    stats_.partitions++;
    blocked_.clear();
    std::vector<NodeId> ids;
    for (auto& [id, n] : nodes_) ids.push_back(id);
    switch (Rand(5)) {
      case 3: {  // cut the leader's link to one follower only: that follower campaigns
        Node* l = PickLeader();
        if (l == nullptr) break;
        NodeId f = ids[Rand(ids.size())];
        if (f != l->id) blocked_.insert({l->id, f});
        Trace(absl::StrCat("partition: cut ", l->id, " -> ", f));
        break;
      }
      case 0: {  // isolate one node (often the leader)
        Node* l = PickLeader();
        NodeId victim = l && Chance(0.6) ? l->id : ids[Rand(ids.size())];
        for (NodeId o : ids) {
          if (o != victim) blocked_.insert({victim, o}), blocked_.insert({o, victim});
        }
        Trace(absl::StrCat("partition: isolate ", victim));
        break;
      }
      case 1: {  // split into two sides
        std::set<NodeId> side;
        for (NodeId o : ids) {
          if (Chance(0.5)) side.insert(o);
        }
        for (NodeId a : ids) {
          for (NodeId b : ids) {
            if (side.contains(a) != side.contains(b)) blocked_.insert({a, b});
          }
        }
        Trace("partition: split");
        break;
      }
      case 2: {  // one-way loss
        NodeId a = ids[Rand(ids.size())];
        for (NodeId o : ids) {
          if (o != a && Chance(0.6)) blocked_.insert({a, o});
        }
        Trace(absl::StrCat("partition: asymmetric from ", a));
        break;
      }
      default:
        Trace("partition: heal");
        break;
    }
  }
  if (Chance(membership_rate_)) MembershipOps();
}

void Simulation::Heal() {
  healed_ = true;
  heal_at_ = now_;
  blocked_.clear();
  drop_ = 0;
  dup_ = 0;
  straggle_ = 0;
  for (auto& [id, n] : nodes_) {
    if (!n.alive && !n.removed && n.started) StartNode(n);
  }
  kill_minority_pending_ = Chance(0.5);
  Trace("heal");
}

void Simulation::KillMinority() {
  const Node* l = nullptr;
  for (Node* n : LiveNodes()) {
    if (n->raft->raft().role() == Role::kLeader &&
        (l == nullptr || n->raft->raft().term() > l->raft->raft().term())) {
      l = n;
    }
  }
  std::vector<NodeId> voters = l->raft->raft().tracker().conf_state().voters;
  for (size_t down = (voters.size() - 1) / 2; down > 0; --down) {
    size_t pick = Rand(voters.size());
    Node& n = nodes_[voters[pick]];
    voters.erase(voters.begin() + static_cast<std::ptrdiff_t>(pick));
    if (n.alive) Crash(n, /*mid_write=*/false);
    n.restart_at = -1;  // stays down
    Trace(absl::StrCat("keep node ", n.id, " down"));
  }
  heal_at_ = now_;
  stats_.heal_ticks_to_leader = -1;
}

void Simulation::CheckLiveness() {
  if (stats_.heal_ticks_to_leader >= 0) {
    // Without faults, leadership settles: once a leader has held its term for a grace
    // period, nobody else may lead until the end of the run.
    if (now_ - heal_at_ < stats_.heal_ticks_to_leader + kSettleTicks) return;
    uint64_t term = 0;
    NodeId lead = kNoNode;
    for (Node* n : LiveNodes()) {
      if (n->raft->raft().role() == Role::kLeader && n->raft->raft().term() >= term) {
        term = n->raft->raft().term();
        lead = n->id;
      }
    }
    if (settled_leader_ == kNoNode && kill_minority_pending_ && lead != kNoNode) {
      // Second phase: with a minority of the settled leader's voters down, the rest must
      // elect (if needed) and settle again.
      kill_minority_pending_ = false;
      KillMinority();
      return;
    }
    if (settled_leader_ == kNoNode) {
      settled_leader_ = lead;
      settled_term_ = term;
    } else if (lead != settled_leader_ || term != settled_term_) {
      Violation(absl::StrCat("stability: leader changed from ", settled_leader_, " (term ",
                             settled_term_, ") to ", lead, " (term ", term, ") with no faults"));
    }
    return;
  }
  // A leader whose current voters (a majority of them) all follow it.
  for (Node* l : LiveNodes()) {
    if (l->raft->raft().role() != Role::kLeader) continue;
    const ConfState& cs = l->raft->raft().tracker().conf_state();
    size_t following = 0;
    for (NodeId v : cs.voters) {
      auto it = nodes_.find(v);
      if (it != nodes_.end() && it->second.alive && it->second.raft->raft().lead() == l->id &&
          it->second.raft->raft().term() == l->raft->raft().term()) {
        following++;
      }
    }
    if (following >= cs.voters.size() / 2 + 1) {
      stats_.heal_ticks_to_leader = now_ - heal_at_;
      return;
    }
  }
  if (now_ - heal_at_ > kLeaderBoundTicks) {
    Violation(
        absl::StrCat("liveness: no leader ", kLeaderBoundTicks, " ticks after the faults healed"));
  }
}

SimResult Simulation::Run() {
  Bootstrap();
  int heal_tick = std::max(0, opts_.ticks - kHealTicks);
  for (now_ = 1; now_ <= opts_.ticks && violation_.empty(); ++now_) {
    if (!healed_ && now_ >= heal_tick) Heal();
    if (!healed_) InjectFaults();
    if (Chance(0.6)) ClientOps();
    for (Node* n : LiveNodes()) n->raft->Tick();
    for (int round = 0; round < 3 && violation_.empty(); ++round) {
      DeliverDue();
      for (auto& [id, n] : nodes_) {
        if (violation_.empty()) ProcessReady(n);
      }
    }
    RetireRemovedNodes();
    if (healed_) CheckLiveness();
  }
  if (violation_.empty() && healed_ && stats_.heal_ticks_to_leader < 0) {
    Violation("liveness: no leader by the end of the run");
  }
  return SimResult{opts_.seed, violation_, stats_};
}

}  // namespace

SimResult RunSimulation(const SimOptions& options) { return Simulation(options).Run(); }

}  // namespace tessera::raft::sim
