// RawNode: Ready assembly and acknowledgement on top of Raft.
#include "raft/rawnode.h"

#include "raft/errors.h"

namespace tessera::raft {
namespace {

// Shape checks for a message that came off the network: anything a correct peer never
// sends is refused here, before it can reach the log.
absl::Status ValidatePeerMessage(const Message& m) {
  auto bad = [](std::string_view why) { return RaftError(RaftErrc::kInvalidArgument, why); };
  if (static_cast<int>(m.type) >= kNumMessageTypes) return bad("unknown message type");
  // Proposals travel without a term; everything else carries one.
  if (m.type == MessageType::kProp && m.term != 0) return bad("proposal with a term");
  if (m.type != MessageType::kProp && m.term == 0) return bad("peer message without a term");
  // No real term or index comes near 2^62; values beyond would overflow term+1 or index+1.
  constexpr uint64_t kMaxSane = uint64_t{1} << 62;
  const SnapshotMetadata& smd = m.snapshot.metadata;
  for (uint64_t v : {m.term, m.log_term, m.index, m.commit, m.reject_hint, smd.index, smd.term}) {
    if (v >= kMaxSane) return bad("term or index out of range");
  }
  if (m.index + m.entries.size() >= kMaxSane) return bad("entry index out of range");
  uint64_t prev_term = m.log_term;
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    if (static_cast<uint8_t>(e.type) > static_cast<uint8_t>(EntryType::kConfChange)) {
      return bad("unknown entry type");
    }
    if (m.type != MessageType::kApp) continue;
    if (e.index != m.index + 1 + i) return bad("append entries are not contiguous");
    if (e.term < prev_term || e.term > m.term) return bad("append entry terms out of order");
    prev_term = e.term;
  }
  if (m.type == MessageType::kApp && m.log_term > m.term) return bad("append log term above term");
  if (m.type != MessageType::kApp && m.type != MessageType::kProp && !m.entries.empty()) {
    return bad("entries on a message type that carries none");
  }
  if (m.type == MessageType::kSnap) {
    const SnapshotMetadata& md = m.snapshot.metadata;
    if (md.index == 0 || md.term == 0 || md.term > m.term) return bad("invalid snapshot metadata");
    if (md.conf_state.voters.empty()) return bad("snapshot without voters");
  }
  return absl::OkStatus();
}

}  // namespace

RawNode::RawNode(const Config& config) : raft_(config) {
  prev_soft_ = raft_.soft_state();
  prev_hard_ = raft_.hard_state();
}

void RawNode::Campaign() {
  Message m;
  m.type = MessageType::kHup;
  m.from = raft_.id();
  (void)raft_.Step(std::move(m));
}

absl::Status RawNode::Propose(std::string data) {
  std::vector<std::string> one;
  one.push_back(std::move(data));
  return ProposeBatch(std::move(one));
}

absl::Status RawNode::ProposeBatch(std::vector<std::string> data) {
  if (data.empty()) return RaftError(RaftErrc::kInvalidArgument, "empty proposal");
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_.id();
  m.entries.resize(data.size());
  for (size_t i = 0; i < data.size(); ++i) m.entries[i].data = std::move(data[i]);
  return raft_.Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const ConfChange& cc) {
  return raft_.ProposeConfChange(cc);
}

absl::Status RawNode::PromoteLearner(NodeId id, uint64_t min_applied_index, bool skip) {
  return raft_.PromoteLearner(id, min_applied_index, skip);
}

absl::Status RawNode::Step(Message m) {
  if (IsLocalMessage(m.type)) {
    return RaftError(RaftErrc::kInvalidArgument, "local message type from the network");
  }
  if (m.from == kNoNode) return RaftError(RaftErrc::kInvalidArgument, "message without sender");
  if (m.to != kNoNode && m.to != raft_.id()) {
    return RaftError(RaftErrc::kInvalidArgument, "message addressed to another node");
  }
  if (absl::Status s = ValidatePeerMessage(m); !s.ok()) return s;
  if (IsResponseMessage(m.type) && raft_.tracker().Find(m.from) == nullptr) {
    return RaftError(RaftErrc::kUnknownServer, "response from a node not in the configuration");
  }
  if (m.type == MessageType::kReadIndex || m.type == MessageType::kReadIndexResp ||
      m.type == MessageType::kTransferLeader) {
    // Reads and transfers are requested locally on the leader only.
    return RaftError(RaftErrc::kInvalidArgument, "message type is not accepted from peers");
  }
  return raft_.Step(std::move(m));
}

void RawNode::ReportUnreachable(NodeId id) {
  Message m;
  m.type = MessageType::kUnreachable;
  m.from = id;
  (void)raft_.Step(std::move(m));
}

void RawNode::ReportSnapshot(NodeId id, bool failed) {
  Message m;
  m.type = MessageType::kSnapStatus;
  m.from = id;
  m.reject = failed;
  (void)raft_.Step(std::move(m));
}

bool RawNode::HasReady() const {
  const Raft& r = raft_;
  if (r.soft_state() != prev_soft_) return true;
  HardState hs = r.hard_state();
  if (!hs.IsEmpty() && hs != prev_hard_) return true;
  if (r.log().HasPendingSnapshot()) return true;
  if (!r.log().unstable().entries().empty()) return true;
  if (r.log().HasNextCommittedEntries()) return true;
  if (!const_cast<Raft&>(r).msgs().empty()) return true;
  if (!const_cast<Raft&>(r).read_states().empty()) return true;
  return false;
}

Ready RawNode::GetReady() {
  Ready rd;
  rd.entries = raft_.log().UnstableEntries();
  rd.committed_entries = raft_.log().NextCommittedEntries();
  rd.messages = std::move(raft_.msgs());
  raft_.msgs().clear();
  SoftState ss = raft_.soft_state();
  if (ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  HardState hs = raft_.hard_state();
  if (hs != prev_hard_) rd.hard_state = hs;
  if (raft_.log().HasPendingSnapshot()) rd.snapshot = *raft_.log().unstable().snapshot();
  rd.read_states = std::move(raft_.read_states());
  raft_.read_states().clear();
  rd.must_sync = !rd.entries.empty() || hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  if (!rd.hard_state.IsEmpty()) prev_hard_ = rd.hard_state;
  if (!rd.committed_entries.empty()) {
    raft_.AppliedTo(rd.committed_entries.back().index);
    raft_.ReduceUncommittedSize(rd.committed_entries);
  } else if (!rd.snapshot.IsEmpty()) {
    raft_.AppliedTo(rd.snapshot.metadata.index);
  }
  if (!rd.entries.empty()) raft_.log().StableTo(rd.entries.back().index, rd.entries.back().term);
  if (!rd.snapshot.IsEmpty()) raft_.log().StableSnapTo(rd.snapshot.metadata.index);
}

}  // namespace tessera::raft
