// libFuzzer target of the consensus core: input bytes become a bounded script of peer
// messages, ticks, proposals and Ready rounds against a small in-memory group.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
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

// Bounds that keep one input in the microsecond range.
constexpr int kMaxOps = 200;
constexpr size_t kMaxEntriesPerMsg = 4;
constexpr size_t kMaxDataBytes = 32;
constexpr size_t kMaxContextBytes = 8;
constexpr int kMaxTicksPerOp = 24;
constexpr uint64_t kUncommittedCap = 64;
// Fuzzed sender and receiver ids range over the group and a few strangers.
constexpr NodeId kMaxFuzzedId = 5;
constexpr NodeId kLearnerId = 4;
constexpr char kCampaignTransfer[] = "CampaignTransfer";

[[noreturn]] void HarnessFatal(const char* what, NodeId id) {
  std::fprintf(stderr, "raft fuzz harness: node %llu: %s\n", static_cast<unsigned long long>(id),
               what);
  std::abort();
}

struct Replica {
  NodeId id = kNoNode;
  MemoryStorage storage;
  std::unique_ptr<RawNode> node;
  uint64_t applied = 0;
};

// The group's shape, from the first input byte: bit 0 adds learner 4, bit 1 turns on lease
// reads, bit 2 caps uncommitted entry bytes.
struct Shape {
  explicit Shape(uint8_t bits)
      : with_learner(bits & 1), lease_reads(bits & 2), cap_uncommitted(bits & 4) {}
  bool with_learner;
  bool lease_reads;
  bool cap_uncommitted;
};

// Voters 1..3 and, when asked, learner 4, bootstrapped as testing_network.h does: a snapshot
// [1@1] carrying the ConfState and HardState{term 1, commit 1}. Replicas hold their storage
// by address, so a group never moves.
class Group {
 public:
  explicit Group(const Shape& shape) : size_(shape.with_learner ? 4 : 3) {
    Snapshot boot;
    boot.metadata.index = 1;
    boot.metadata.term = 1;
    boot.metadata.conf_state.voters = {1, 2, 3};
    if (shape.with_learner) boot.metadata.conf_state.learners = {kLearnerId};
    for (size_t i = 0; i < size_; ++i) {
      Replica& r = replicas_[i];
      r.id = i + 1;
      if (!r.storage.ApplySnapshot(boot).ok()) HarnessFatal("bootstrap snapshot refused", r.id);
      r.storage.SetHardState(HardState{1, kNoNode, 1});
      Config c;
      c.id = r.id;
      c.election_tick = 10;
      c.heartbeat_tick = 1;
      c.storage = &r.storage;
      c.max_size_per_msg = 256;
      c.max_inflight_msgs = 4;
      c.check_quorum = true;
      c.pre_vote = true;
      if (shape.lease_reads) c.read_only_option = ReadOnlyOption::kLeaseBased;
      if (shape.cap_uncommitted) c.max_uncommitted_entries_size = kUncommittedCap;
      r.node = std::make_unique<RawNode>(c);
      r.applied = 1;
    }
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  size_t size() const { return size_; }
  Replica& at(size_t i) { return replicas_[i]; }
  Replica* Find(NodeId id) { return id >= 1 && id <= size_ ? &replicas_[id - 1] : nullptr; }

  // Persist, send (each message delivered when `deliver` says so), apply, Advance.
  template <typename DeliverFn>
  void HandleReady(Replica& r, DeliverFn deliver) {
    if (!r.node->HasReady()) return;
    Ready rd = r.node->GetReady();
    Persist(r, rd);
    for (Message& m : rd.messages) {
      Replica* to = Find(m.to);
      if (to == nullptr || to == &r || !deliver()) continue;
      // A peer may refuse a message (stale, unknown sender): the transport drops it.
      (void)to->node->Step(std::move(m));
    }
    Apply(r, rd);
    r.node->Advance(rd);
  }

 private:
  static void Persist(Replica& r, const Ready& rd) {
    if (!rd.snapshot.IsEmpty() && !r.storage.ApplySnapshot(rd.snapshot).ok()) {
      HarnessFatal("storage refused the Ready snapshot", r.id);
    }
    for (size_t i = 1; i < rd.entries.size(); ++i) {
      if (rd.entries[i].index != rd.entries[i - 1].index + 1) {
        HarnessFatal("Ready.entries are not contiguous", r.id);
      }
    }
    if (!r.storage.Append(rd.entries).ok()) HarnessFatal("storage refused Ready.entries", r.id);
    if (!rd.hard_state.IsEmpty()) r.storage.SetHardState(rd.hard_state);
  }

  static void Apply(Replica& r, const Ready& rd) {
    if (!rd.snapshot.IsEmpty()) r.applied = rd.snapshot.metadata.index;
    for (const Entry& e : rd.committed_entries) {
      if (e.index != r.applied + 1) HarnessFatal("committed entries skip or repeat an index", r.id);
      r.applied = e.index;
      ConfChange cc;
      if (e.type == EntryType::kConfChange && DecodeConfChange(e.data, &cc)) {
        r.node->ApplyConfChange(cc);
      }
    }
  }

  size_t size_;
  std::array<Replica, 4> replicas_;
};

// Decodes fuzz bytes into values that mostly sit near the receiver's state (so checks
// like term and index matching pass often) and occasionally anywhere in the range.
class Script {
 public:
  explicit Script(FuzzedDataProvider& in) : in_(in) {}

  bool done() const { return in_.remaining_bytes() == 0; }
  int Pick(int n) { return in_.ConsumeIntegralInRange<int>(0, n - 1); }
  bool Bool() { return in_.ConsumeBool(); }
  NodeId AnyId() { return in_.ConsumeIntegralInRange<NodeId>(0, kMaxFuzzedId); }

  uint64_t Near(uint64_t base) {
    switch (Pick(4)) {
      case 0:
        return base;
      case 1:
        return base + in_.ConsumeIntegralInRange<uint64_t>(1, 3);
      case 2:
        return base - std::min<uint64_t>(base, in_.ConsumeIntegralInRange<uint64_t>(1, 3));
      default:
        return Bool() ? in_.ConsumeIntegralInRange<uint64_t>(0, 16)
                      : in_.ConsumeIntegral<uint64_t>();
    }
  }

  std::string Bytes(size_t max) { return in_.ConsumeRandomLengthString(max); }

  std::string Context() {
    switch (Pick(3)) {
      case 0:
        return {};
      case 1:
        return kCampaignTransfer;
      default:
        return Bytes(kMaxContextBytes);
    }
  }

  ConfChange FuzzConfChange() {
    ConfChange cc;
    cc.type = static_cast<ConfChangeType>(Pick(3));
    cc.node_id = AnyId();
    cc.context = Bytes(kMaxContextBytes);
    return cc;
  }

  ConfState FuzzConfState() {
    ConfState cs;
    for (NodeId id = 1; id <= kMaxFuzzedId; ++id) {
      switch (Pick(3)) {
        case 1:
          cs.voters.push_back(id);
          break;
        case 2:
          cs.learners.push_back(id);
          break;
        default:
          break;
      }
    }
    return cs;
  }

  // An arbitrary message of a valid type, with fields drawn near the receiver's state.
  Message FuzzMessage(const Raft& r) {
    const RaftLog& log = r.log();
    Message m;
    m.type = static_cast<MessageType>(Pick(kNumMessageTypes));
    m.from = AnyId();
    m.to = Bool() ? r.id() : AnyId();
    m.term = Near(r.term());
    m.index = Near(log.LastIndex());
    m.log_term = Bool() ? log.TermOrZero(m.index) : Near(r.term());
    m.commit = Near(log.committed());
    m.reject = Bool();
    m.reject_hint = Near(log.LastIndex());
    m.lease_tick = Near(0);
    m.context = Context();
    size_t n = in_.ConsumeIntegralInRange<size_t>(0, kMaxEntriesPerMsg);
    uint64_t next = m.index + 1;
    for (size_t i = 0; i < n; ++i) {
      Entry e;
      e.index = Bool() ? next : Near(next);
      e.term = Bool() ? log.TermOrZero(e.index) : Near(m.term);
      if (Bool()) {
        e.type = EntryType::kConfChange;
        e.data = Bool() ? EncodeConfChange(FuzzConfChange()) : Bytes(kMaxDataBytes);
      } else {
        e.data = Bytes(kMaxDataBytes);
      }
      next = e.index + 1;
      m.entries.push_back(std::move(e));
    }
    if (m.type == MessageType::kSnap || Pick(8) == 0) {
      m.snapshot.metadata.index = Near(log.committed());
      m.snapshot.metadata.term = Near(r.term());
      m.snapshot.metadata.conf_state = Bool() ? r.GetStatus().conf_state : FuzzConfState();
      m.snapshot.data = Bytes(kMaxDataBytes);
    }
    return m;
  }

 private:
  FuzzedDataProvider& in_;
};

enum class Op {
  kStepMessage,
  kTick,
  kCampaign,
  kPropose,
  kProposeConfChange,
  kPromoteLearner,
  kTransferLeader,
  kReadIndex,
  kReportUnreachable,
  kReportSnapshot,
  kHandleReady,
  kStabilize,
  kCompact,
  kNumOps,
};

void Compact(Replica& r) {
  ConfState cs = r.node->GetStatus().conf_state;
  // Refusals (nothing new applied, already compacted) leave storage as it was.
  if (!r.storage.CreateSnapshot(r.applied, &cs, "state").ok()) return;
  (void)r.storage.Compact(r.applied);
}

void RunScript(const Shape& shape, FuzzedDataProvider& in) {
  Script s(in);
  Group group(shape);
  for (int op = 0; op < kMaxOps && !s.done(); ++op) {
    Replica& r = group.at(static_cast<size_t>(s.Pick(static_cast<int>(group.size()))));
    RawNode& node = *r.node;
    switch (static_cast<Op>(s.Pick(static_cast<int>(Op::kNumOps)))) {
      case Op::kStepMessage:
        (void)node.Step(s.FuzzMessage(node.raft()));
        break;
      case Op::kTick:
        for (int t = s.Pick(kMaxTicksPerOp) + 1; t > 0; --t) node.Tick();
        break;
      case Op::kCampaign:
        node.Campaign();
        break;
      case Op::kPropose: {
        std::vector<std::string> batch(static_cast<size_t>(s.Pick(3) + 1));
        for (std::string& d : batch) d = s.Bytes(kMaxDataBytes);
        (void)node.ProposeBatch(std::move(batch));
        break;
      }
      case Op::kProposeConfChange:
        (void)node.ProposeConfChange(s.FuzzConfChange());
        break;
      case Op::kPromoteLearner: {
        NodeId id = s.AnyId();
        uint64_t min_applied = s.Near(node.raft().log().LastIndex());
        (void)node.PromoteLearner(id, min_applied, s.Bool());
        break;
      }
      case Op::kTransferLeader: {
        NodeId target = s.AnyId();
        TransferOptions opts;
        opts.gated = s.Bool();
        opts.max_lag = s.Near(0);
        (void)node.TransferLeader(target, opts);
        break;
      }
      case Op::kReadIndex:
        (void)node.ReadIndex(s.Bytes(kMaxContextBytes));
        break;
      case Op::kReportUnreachable:
        node.ReportUnreachable(s.AnyId());
        break;
      case Op::kReportSnapshot: {
        NodeId id = s.AnyId();
        node.ReportSnapshot(id, /*failed=*/s.Bool());
        break;
      }
      case Op::kHandleReady: {
        // Each message is delivered with a probability chosen by the input.
        const int keep = s.Pick(5);
        group.HandleReady(r, [&] { return s.Pick(4) < keep; });
        break;
      }
      case Op::kStabilize:
        // A few lossless rounds over the whole group: lets elections and replication finish.
        for (int round = s.Pick(8) + 1; round > 0; --round) {
          for (size_t i = 0; i < group.size(); ++i) {
            group.HandleReady(group.at(i), [] { return true; });
          }
        }
        break;
      case Op::kCompact:
        Compact(r);
        break;
      case Op::kNumOps:
        break;
    }
  }
}

}  // namespace
}  // namespace tessera::raft

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Byte 0 shapes the group; the rest is the script.
  FuzzedDataProvider in(data + 1, size - 1);
  tessera::raft::RunScript(tessera::raft::Shape(data[0]), in);
  return 0;
}
