// Google Benchmark of the consensus core alone: a 3-voter group in memory, messages handed
// straight to the peer's Step, no I/O. Measures committed entries per second by batch size.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace tessera::raft {
namespace {

constexpr size_t kGroupSize = 3;
constexpr NodeId kLeaderId = 1;
constexpr size_t kEntryBytes = 64;
// Each replica snapshots and compacts its storage after this many applied entries, so the
// in-memory log stays bounded however long the benchmark runs.
constexpr uint64_t kCompactEvery = 100'000;
// A batch commits in a handful of Ready rounds; far more means the group is stuck.
constexpr int kMaxRoundsPerBatch = 10'000;

struct Replica {
  MemoryStorage storage;
  std::unique_ptr<RawNode> node;
  uint64_t applied = 0;
  uint64_t compacted = 0;
};

// Three replicas bootstrapped as testing_network.h does: a snapshot [1@1] listing the voters
// and HardState{term 1, commit 1}. Replicas hold their storage by address, so a group never
// moves.
class Group {
 public:
  Group() {
    ConfState cs;
    for (size_t i = 0; i < kGroupSize; ++i) cs.voters.push_back(i + 1);
    Snapshot boot;
    boot.metadata.index = 1;
    boot.metadata.term = 1;
    boot.metadata.conf_state = cs;
    for (size_t i = 0; i < kGroupSize; ++i) {
      Replica& r = replicas_[i];
      if (absl::Status s = r.storage.ApplySnapshot(boot); !s.ok()) Fail(s.ToString());
      r.storage.SetHardState(HardState{1, kNoNode, 1});
      Config c;
      c.id = i + 1;
      c.election_tick = 10;
      c.heartbeat_tick = 1;
      c.storage = &r.storage;
      c.max_size_per_msg = 1 << 20;
      c.max_inflight_msgs = 256;
      c.check_quorum = true;
      c.pre_vote = true;
      r.node = std::make_unique<RawNode>(c);
      r.applied = 1;
      r.compacted = 1;
    }
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // Elects node 1 and waits until every replica has applied its noop.
  bool ElectLeader() {
    Leader().Campaign();
    for (int round = 0; round < kMaxRoundsPerBatch; ++round) {
      if (!StabilizeOnce()) break;
    }
    if (Leader().raft().role() != Role::kLeader) return false;
    uint64_t last = Leader().raft().log().LastIndex();
    for (const Replica& r : replicas_) {
      if (r.applied != last) return false;
    }
    return true;
  }

  // Proposes `batch` on the leader and pumps the group until the leader has applied it.
  bool CommitBatch(std::vector<std::string> batch) {
    if (!Leader().ProposeBatch(std::move(batch)).ok()) return false;
    uint64_t target = Leader().raft().log().LastIndex();
    for (int round = 0; round < kMaxRoundsPerBatch; ++round) {
      if (replicas_[0].applied >= target) return true;
      if (!StabilizeOnce()) break;
    }
    return replicas_[0].applied >= target;
  }

  uint64_t leader_committed_entries() const { return leader_committed_entries_; }

 private:
  RawNode& Leader() { return *replicas_[kLeaderId - 1].node; }

  [[noreturn]] static void Fail(const std::string& what) {
    std::fprintf(stderr, "raft bench: %s\n", what.c_str());
    std::abort();
  }

  // One Ready round on every replica; false when no replica had anything to do.
  bool StabilizeOnce() {
    bool any = false;
    for (size_t i = 0; i < kGroupSize; ++i) {
      Replica& r = replicas_[i];
      if (!r.node->HasReady()) continue;
      any = true;
      Ready rd = r.node->GetReady();
      Persist(r, rd);
      for (Message& m : rd.messages) {
        if (m.to == kNoNode || m.to > kGroupSize) continue;
        // Errors (e.g. a stale response) are part of normal operation; nothing to do.
        (void)replicas_[m.to - 1].node->Step(std::move(m));
      }
      Apply(r, rd, /*count=*/i + 1 == kLeaderId);
      r.node->Advance(rd);
      MaybeCompact(r);
    }
    return any;
  }

  static void Persist(Replica& r, const Ready& rd) {
    if (!rd.snapshot.IsEmpty()) {
      if (absl::Status s = r.storage.ApplySnapshot(rd.snapshot); !s.ok()) Fail(s.ToString());
    }
    if (absl::Status s = r.storage.Append(rd.entries); !s.ok()) Fail(s.ToString());
    if (!rd.hard_state.IsEmpty()) r.storage.SetHardState(rd.hard_state);
  }

  void Apply(Replica& r, const Ready& rd, bool count) {
    if (!rd.snapshot.IsEmpty()) r.applied = rd.snapshot.metadata.index;
    if (rd.committed_entries.empty()) return;
    if (count) {
      for (const Entry& e : rd.committed_entries) {
        if (e.type == EntryType::kNormal && !e.data.empty()) ++leader_committed_entries_;
      }
    }
    r.applied = rd.committed_entries.back().index;
  }

  static void MaybeCompact(Replica& r) {
    if (r.applied - r.compacted < kCompactEvery) return;
    ConfState cs = r.node->GetStatus().conf_state;
    if (auto snap = r.storage.CreateSnapshot(r.applied, &cs, {}); !snap.ok()) {
      Fail(snap.status().ToString());
    }
    if (absl::Status s = r.storage.Compact(r.applied); !s.ok()) Fail(s.ToString());
    r.compacted = r.applied;
  }

  std::array<Replica, kGroupSize> replicas_;
  uint64_t leader_committed_entries_ = 0;
};

void BM_CommitBatch(benchmark::State& state) {
  const auto batch_size = static_cast<size_t>(state.range(0));
  const std::string payload(kEntryBytes, 'x');
  auto group = std::make_unique<Group>();
  if (!group->ElectLeader()) {
    state.SkipWithError("node 1 did not become leader");
    return;
  }
  for (auto _ : state) {
    if (!group->CommitBatch(std::vector<std::string>(batch_size, payload))) {
      state.SkipWithError("batch did not commit");
      return;
    }
  }
  const uint64_t total_entries = state.iterations() * batch_size;
  if (group->leader_committed_entries() != total_entries) {
    state.SkipWithError("leader applied a different number of entries than proposed");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(total_entries));
  state.counters["entries_per_second"] =
      benchmark::Counter(static_cast<double>(total_entries), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitBatch)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);

}  // namespace
}  // namespace tessera::raft

BENCHMARK_MAIN();
