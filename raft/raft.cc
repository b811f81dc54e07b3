// The Raft state machine, after etcd/raft's raft.go, with Tessera's lease and learner rules.
#include "raft/raft.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"

namespace tessera::raft {
namespace {

constexpr char kCampaignTransfer[] = "CampaignTransfer";

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "raft invariant broken: %s\n", what.c_str());
  std::abort();
}

MessageType VoteRespType(MessageType t) {
  return t == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
}

}  // namespace

absl::Status Config::Validate() const {
  if (id == kNoNode) return RaftError(RaftErrc::kInvalidArgument, "id must not be 0");
  if (heartbeat_tick <= 0)
    return RaftError(RaftErrc::kInvalidArgument, "heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return RaftError(RaftErrc::kInvalidArgument,
                     "election_tick must be greater than heartbeat_tick");
  }
  if (storage == nullptr) return RaftError(RaftErrc::kInvalidArgument, "storage must be set");
  if (max_inflight_msgs == 0) {
    return RaftError(RaftErrc::kInvalidArgument, "max_inflight_msgs must be > 0");
  }
  if (read_only_option == ReadOnlyOption::kLeaseBased) {
    if (!check_quorum) {
      return RaftError(RaftErrc::kInvalidArgument, "lease-based reads require check_quorum");
    }
    if (lease_ticks < 0 || lease_ticks >= election_tick) {
      return RaftError(RaftErrc::kInvalidArgument,
                       "lease_ticks must be in [1, election_tick) (0 picks a default)");
    }
  }
  return absl::OkStatus();
}

Raft::Raft(const Config& c)
    : id_(c.id),
      log_(c.storage,
           c.max_committed_size_per_ready ? c.max_committed_size_per_ready : c.max_size_per_msg),
      max_msg_size_(c.max_size_per_msg),
      max_uncommitted_size_(c.max_uncommitted_entries_size ? c.max_uncommitted_entries_size
                                                           : kNoLimit),
      prs_(c.max_inflight_msgs),
      read_only_option_(c.read_only_option),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      heartbeat_timeout_(c.heartbeat_tick),
      election_timeout_(c.election_tick),
      lease_ticks_(c.lease_ticks > 0 ? c.lease_ticks : std::max(1, c.election_tick - 2)),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      rng_(c.seed ^ (c.id * 0x9e3779b97f4a7c15ULL)) {
  if (absl::Status s = c.Validate(); !s.ok()) Fatal("invalid config: " + s.ToString());
  auto init = c.storage->GetInitialState();
  if (!init.ok()) Fatal("initial state: " + init.status().ToString());
  prs_.ApplyConfState(init->conf_state, log_.LastIndex() + 1, id_);
  is_learner_ = init->conf_state.IsLearner(id_);
  if (!init->hard_state.IsEmpty()) LoadState(init->hard_state);
  // A node is never in a term below its own last log entry; storage that says otherwise
  // was written wrongly, and continuing could send term-0 replies.
  if (term_ < log_.LastTerm()) {
    Fatal(absl::StrCat("hard state term ", term_, " is below the last log term ", log_.LastTerm()));
  }
  if (c.applied > 0) log_.AppliedTo(c.applied);
  BecomeFollower(term_, kNoNode);
}

void Raft::LoadState(const HardState& hs) {
  if (hs.commit < log_.committed() || hs.commit > log_.LastIndex()) {
    Fatal(absl::StrCat("hard state commit ", hs.commit, " out of range [", log_.committed(), ", ",
                       log_.LastIndex(), "]"));
  }
  log_.CommitTo(hs.commit);
  term_ = hs.term;
  vote_ = hs.vote;
}

bool Raft::Promotable() const {
  const Progress* pr = prs_.Find(id_);
  return pr != nullptr && !pr->is_learner && !log_.HasPendingSnapshot();
}

void Raft::Send(Message m) {
  m.from = id_;
  if (m.type == MessageType::kVote || m.type == MessageType::kVoteResp ||
      m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResp) {
    if (m.term == 0)
      Fatal(absl::StrCat("term should be set when sending ", MessageTypeName(m.type)));
  } else {
    if (m.term != 0)
      Fatal(absl::StrCat("term should not be set when sending ", MessageTypeName(m.type)));
    // Proposals are forwarded without a term: they are a local message type.
    if (m.type != MessageType::kProp && m.type != MessageType::kReadIndex) m.term = term_;
  }
  msgs_.push_back(std::move(m));
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress* pr = prs_.Find(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  Message m;
  m.to = to;
  auto term = log_.Term(pr->next - 1);
  auto ents = log_.Entries(pr->next, max_msg_size_);
  if (ents.ok() && ents->empty() && !send_if_empty) return false;
  if (!term.ok() || !ents.ok()) {
    // The entries the peer needs are compacted: send a snapshot instead.
    if (!pr->recent_active) return false;
    auto snap = log_.GetSnapshot();
    if (!snap.ok()) {
      if (RaftErrcOf(snap.status()) == RaftErrc::kSnapshotTemporarilyUnavailable) return false;
      Fatal("snapshot: " + snap.status().ToString());
    }
    if (snap->IsEmpty()) Fatal("need non-empty snapshot");
    m.type = MessageType::kSnap;
    m.snapshot = *std::move(snap);
    pr->BecomeSnapshot(m.snapshot.metadata.index);
  } else {
    m.type = MessageType::kApp;
    m.index = pr->next - 1;
    m.log_term = *term;
    m.entries = *std::move(ents);
    m.commit = log_.committed();
    m.lease_tick = ticks_;
    if (!m.entries.empty()) {
      uint64_t last = m.entries.back().index;
      if (pr->state == ProgressState::kReplicate) {
        pr->OptimisticUpdate(last);
        pr->inflights.Add(last);
      } else if (pr->state == ProgressState::kProbe) {
        pr->probe_sent = true;
      }
    }
  }
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(NodeId to, const std::string& ctx) {
  const Progress* pr = prs_.Find(to);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // Never tell a follower to commit beyond what it is known to have.
  m.commit = std::min(pr ? pr->match : 0, log_.committed());
  m.context = ctx;
  m.lease_tick = ticks_;
  Send(std::move(m));
}

void Raft::SendTimeoutNow(NodeId to) {
  // Once the target may campaign past its peers' leases, this leader's lease is void.
  lease_revoked_term_ = term_;
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  Send(std::move(m));
}

void Raft::BcastAppend() {
  for (auto& [id, pr] : prs_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BcastHeartbeat(const std::string& ctx) {
  for (auto& [id, pr] : prs_.progress()) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

bool Raft::MaybeCommit() { return log_.MaybeCommit(prs_.Committed(), term_); }

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  prs_.ResetVotes();
  prs_.ResetProgress(log_.LastIndex(), id_);
  pending_conf_index_ = 0;
  uncommitted_size_ = 0;
  read_only_ = ReadOnly();
  pending_read_index_messages_.clear();
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(rng_() % static_cast<uint64_t>(election_timeout_));
}

bool Raft::AppendEntry(std::vector<Entry>& es) {
  uint64_t li = log_.LastIndex();
  uint64_t size = 0;
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].term = term_;
    es[i].index = li + 1 + i;
    size += EntryPayloadSize(es[i]);
  }
  // Refuse growth past the limit, but always admit something when nothing is in flight.
  if (uncommitted_size_ > 0 && size > 0 && uncommitted_size_ + size > max_uncommitted_size_) {
    return false;
  }
  uncommitted_size_ += size;
  li = log_.Append(es);
  prs_.Find(id_)->MaybeUpdate(li);
  MaybeCommit();
  return true;
}

void Raft::ReduceUncommittedSize(const std::vector<Entry>& ents) {
  if (uncommitted_size_ == 0) return;  // followers never count
  uint64_t s = 0;
  for (const Entry& e : ents) s += EntryPayloadSize(e);
  uncommitted_size_ = s > uncommitted_size_ ? 0 : uncommitted_size_ - s;
}

void Raft::AppliedTo(uint64_t index) {
  log_.AppliedTo(index);
  // An automatic leave of joint state would go here; single-step changes need nothing.
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    Message m;
    m.type = MessageType::kHup;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      Message m;
      m.type = MessageType::kCheckQuorum;
      m.from = id_;
      (void)Step(std::move(m));
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (role_ == Role::kLeader && lead_transferee_ != kNoNode) AbortLeaderTransfer();
  }
  if (role_ != Role::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    Message m;
    m.type = MessageType::kBeat;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::Tick() {
  ++ticks_;
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::BecomeFollower(uint64_t term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::BecomeCandidate() {
  if (role_ == Role::kLeader) Fatal("invalid transition [leader -> candidate]");
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::BecomePreCandidate() {
  if (role_ == Role::kLeader) Fatal("invalid transition [leader -> pre-candidate]");
  // A pre-candidate changes neither term nor vote.
  prs_.ResetVotes();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void Raft::BecomeLeader() {
  if (role_ == Role::kFollower) Fatal("invalid transition [follower -> leader]");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  // Followers start in probe; the leader itself is in replicate.
  prs_.Find(id_)->BecomeReplicate();
  // The leader is always active for its own CheckQuorum.
  prs_.Find(id_)->recent_active = true;
  // Conservatively treat everything not yet applied as a possible pending conf change.
  pending_conf_index_ = log_.LastIndex();
  std::vector<Entry> noop(1);
  if (!AppendEntry(noop)) Fatal("empty entry was dropped");
  // The noop does not count against the uncommitted-size limit.
  uncommitted_size_ = 0;
}

bool Raft::HasUnappliedConfChanges() const {
  if (log_.applied() >= log_.committed()) return false;
  auto ents = log_.Slice(log_.applied() + 1, log_.committed() + 1, kNoLimit);
  if (!ents.ok()) Fatal("unapplied entries: " + ents.status().ToString());
  for (const Entry& e : *ents) {
    if (e.type == EntryType::kConfChange) return true;
  }
  return false;
}

void Raft::Hup(CampaignType t) {
  if (role_ == Role::kLeader) return;
  if (!Promotable()) return;
  // A pending conf change could change who may vote; wait until it is applied.
  if (HasUnappliedConfChanges()) return;
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  uint64_t term;
  MessageType vote_msg;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_msg = MessageType::kPreVote;
    term = term_ + 1;  // the term we would campaign in
  } else {
    BecomeCandidate();
    vote_msg = MessageType::kVote;
    term = term_;
  }
  if (Poll(id_, true) == ProgressTracker::VoteResult::kWon) {
    // Single-voter group: won already.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId id : prs_.conf_state().voters) {
    if (id == id_) continue;
    Message m;
    m.type = vote_msg;
    m.to = id;
    m.term = term;
    m.index = log_.LastIndex();
    m.log_term = log_.LastTerm();
    if (t == CampaignType::kTransfer) m.context = kCampaignTransfer;
    Send(std::move(m));
  }
}

ProgressTracker::VoteResult Raft::Poll(NodeId id, bool granted) {
  prs_.RecordVote(id, granted);
  return prs_.TallyVotes(nullptr, nullptr);
}

bool Raft::InVoteLease() const {
  if (!check_quorum_) return false;
  if (lead_ != kNoNode && election_elapsed_ < election_timeout_) return true;
  // After a restart we may have acked a leader's lease just before going down: honour it
  // for one election timeout before voting. Only leases need this.
  return read_only_option_ == ReadOnlyOption::kLeaseBased &&
         ticks_ <= static_cast<uint64_t>(election_timeout_);
}

absl::Status Raft::Step(Message m) {
  if (m.term == 0) {
    // Local message.
  } else if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      bool force = m.context == kCampaignTransfer;
      if (!force && InVoteLease()) {
        // We heard from a leader within the minimum election timeout: ignore, so a
        // partitioned node cannot disrupt a healthy leader (and leases stay sound).
        return absl::OkStatus();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // Never change term in response to a pre-vote.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the future term; we bump it when we win.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnap) {
      BecomeFollower(m.term, m.from);
    } else {
      BecomeFollower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp)) {
      // A stale leader: tell it our term so it steps down (needed with CheckQuorum and
      // PreVote, where we would otherwise never raise the term it sees).
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      Send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResp;
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  switch (m.type) {
    case MessageType::kHup:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return absl::OkStatus();
    case MessageType::kVote:
    case MessageType::kPreVote: {
      bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                      (m.type == MessageType::kPreVote && m.term > term_);
      Message resp;
      resp.type = VoteRespType(m.type);
      resp.to = m.from;
      if (can_vote && log_.IsUpToDate(m.index, m.log_term)) {
        // Reply with the message's term: for a pre-vote it is the future term.
        resp.term = m.term;
        resp.reject = false;
        Send(std::move(resp));
        if (m.type == MessageType::kVote) {
          election_elapsed_ = 0;
          vote_ = m.from;
        }
      } else {
        resp.term = term_;
        resp.reject = true;
        Send(std::move(resp));
      }
      return absl::OkStatus();
    }
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

absl::Status Raft::CheckConfChange(const ConfChange& cc, bool promotion) const {
  if (cc.node_id == kNoNode) return RaftError(RaftErrc::kInvalidArgument, "conf change node id 0");
  if (pending_conf_index_ > log_.applied()) {
    return RaftError(RaftErrc::kConfChangePending,
                     absl::StrCat("conf change at index ", pending_conf_index_,
                                  " not yet applied (applied ", log_.applied(), ")"));
  }
  const ConfState& cs = prs_.conf_state();
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      if (cs.IsVoter(cc.node_id)) return RaftError(RaftErrc::kAlreadyMember, "already a voter");
      if (cs.IsLearner(cc.node_id) && !promotion) {
        return RaftError(RaftErrc::kAddVoterIsLearner,
                         "node is a learner: promote it with PromoteLearner");
      }
      break;
    case ConfChangeType::kAddLearnerNode:
      if (cs.IsVoter(cc.node_id)) {
        return RaftError(RaftErrc::kLearnerIsVoter, "node is a voter; voters are never demoted");
      }
      if (cs.IsLearner(cc.node_id)) return RaftError(RaftErrc::kAlreadyMember, "already a learner");
      break;
    case ConfChangeType::kRemoveNode:
      if (!cs.IsVoter(cc.node_id) && !cs.IsLearner(cc.node_id)) {
        return RaftError(RaftErrc::kUnknownServer,
                         absl::StrCat("node ", cc.node_id, " not a member"));
      }
      if (cs.IsVoter(cc.node_id) && cs.voters.size() == 1) {
        return RaftError(RaftErrc::kLastVoter, "cannot remove the last voter");
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::StepProposal(Message& m, bool promotion) {
  if (m.entries.empty()) return RaftError(RaftErrc::kInvalidArgument, "empty proposal");
  if (prs_.Find(id_) == nullptr) {
    // Removed from the configuration: no longer leads anything.
    return RaftError(RaftErrc::kProposalDropped, "leader was removed from the configuration");
  }
  if (lead_transferee_ != kNoNode) {
    return RaftError(RaftErrc::kProposalDropped, "leadership transfer in progress");
  }
  for (Entry& e : m.entries) {
    if (e.type != EntryType::kConfChange) continue;
    ConfChange cc;
    if (!DecodeConfChange(e.data, &cc)) {
      return RaftError(RaftErrc::kInvalidArgument, "malformed conf change");
    }
    if (absl::Status s = CheckConfChange(cc, promotion); !s.ok()) return s;
    pending_conf_index_ = log_.LastIndex() + 1 + static_cast<uint64_t>(&e - m.entries.data());
  }
  if (!AppendEntry(m.entries)) {
    return RaftError(RaftErrc::kTooLarge, "uncommitted entries exceed the configured limit");
  }
  BcastAppend();
  return absl::OkStatus();
}

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

bool Raft::LeaseValid() const { return LeaseExpiryTick() != 0; }

uint64_t Raft::LeaseExpiryTick() const {
  if (role_ != Role::kLeader || read_only_option_ != ReadOnlyOption::kLeaseBased) return 0;
  if (lease_revoked_term_ == term_) return 0;
  if (!CommittedEntryInCurrentTerm()) return 0;
  uint64_t start = prs_.QuorumValue([this](NodeId id) -> uint64_t {
    if (id == id_) return ticks_;
    const Progress* p = prs_.Find(id);
    return p ? p->lease_ack_tick : 0;
  });
  if (start == 0) return 0;
  const uint64_t end = start + static_cast<uint64_t>(lease_ticks_);
  return ticks_ < end ? end : 0;
}

void Raft::RespondToReadIndex(const ReadIndexStatus& req, uint64_t index) {
  if (req.from == kNoNode || req.from == id_) {
    read_states_.push_back(ReadState{index, req.ctx});
    return;
  }
  Message resp;
  resp.type = MessageType::kReadIndexResp;
  resp.to = req.from;
  resp.index = index;
  resp.context = req.ctx;
  Send(std::move(resp));
}

void Raft::StepReadIndex(const Message& m) {
  ReadIndexStatus req{m.context, m.from, 0, {}};
  if (prs_.VoterCount() <= 1 && prs_.IsVoter(id_)) {
    // Sole voter: nobody else can be leader.
    RespondToReadIndex(req, log_.committed());
    return;
  }
  if (!CommittedEntryInCurrentTerm()) {
    // Until our noop commits we do not know the commit index; answer once it does.
    pending_read_index_messages_.push_back(m);
    return;
  }
  if (LeaseValid()) {
    RespondToReadIndex(req, log_.committed());
    return;
  }
  read_only_.AddRequest(log_.committed(), m.from, m.context);
  read_only_.RecvAck(id_, m.context);
  BcastHeartbeat(m.context);
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_messages_.empty() || !CommittedEntryInCurrentTerm()) return;
  std::vector<Message> pending = std::move(pending_read_index_messages_);
  pending_read_index_messages_.clear();
  for (const Message& m : pending) StepReadIndex(m);
}

absl::Status Raft::StepLeader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      BcastHeartbeat(read_only_.LastPendingRequestCtx());
      return absl::OkStatus();
    case MessageType::kCheckQuorum: {
      if (!prs_.QuorumActive()) {
        BecomeFollower(term_, kNoNode);
        return absl::OkStatus();
      }
      for (auto& [id, pr] : prs_.progress()) pr.recent_active = id == id_;
      return absl::OkStatus();
    }
    case MessageType::kProp:
      return StepProposal(m, /*promotion=*/false);
    case MessageType::kReadIndex:
      StepReadIndex(m);
      return absl::OkStatus();
    default:
      break;
  }

  Progress* pr = prs_.Find(m.from);
  if (pr == nullptr) return absl::OkStatus();
  switch (m.type) {
    case MessageType::kAppResp: {
      pr->recent_active = true;
      pr->lease_ack_tick = std::max(pr->lease_ack_tick, m.lease_tick);
      if (m.reject) {
        uint64_t next_probe = m.reject_hint;
        if (m.log_term > 0) {
          // Skip every entry of the follower's conflicting term in one round trip.
          next_probe = log_.FindConflictByTerm(m.reject_hint, m.log_term).first;
        }
        if (pr->MaybeDecrTo(m.index, next_probe)) {
          if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
          SendAppend(m.from);
        }
        return absl::OkStatus();
      }
      bool old_paused = pr->IsPaused();
      if (!pr->MaybeUpdate(m.index)) {
        if (old_paused) SendAppend(m.from);
        return absl::OkStatus();
      }
      switch (pr->state) {
        case ProgressState::kProbe:
          pr->BecomeReplicate();
          break;
        case ProgressState::kSnapshot:
          if (pr->match >= pr->pending_snapshot) {
            pr->BecomeProbe();
            pr->BecomeReplicate();
          }
          break;
        case ProgressState::kReplicate:
          pr->inflights.FreeLE(m.index);
          break;
      }
      if (MaybeCommit()) {
        ReleasePendingReadIndexMessages();
        BcastAppend();
      } else if (old_paused) {
        SendAppend(m.from);
      }
      // Drain the window while there is room and something to send.
      while (MaybeSendAppend(m.from, false)) {
      }
      if (m.from == lead_transferee_ && pr->match == log_.LastIndex()) SendTimeoutNow(m.from);
      return absl::OkStatus();
    }
    case MessageType::kHeartbeatResp: {
      pr->recent_active = true;
      pr->lease_ack_tick = std::max(pr->lease_ack_tick, m.lease_tick);
      pr->probe_sent = false;
      if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) {
        pr->inflights.FreeFirstOne();
      }
      if (pr->match < log_.LastIndex()) SendAppend(m.from);
      if (m.context.empty()) return absl::OkStatus();
      const std::set<NodeId>* acks = read_only_.RecvAck(m.from, m.context);
      if (acks == nullptr) return absl::OkStatus();
      size_t voter_acks = 0;
      for (NodeId id : *acks) voter_acks += prs_.IsVoter(id) ? 1 : 0;
      if (voter_acks < prs_.VoterCount() / 2 + 1) return absl::OkStatus();
      for (const ReadIndexStatus& rs : read_only_.Advance(m.context)) {
        RespondToReadIndex(rs, rs.index);
      }
      return absl::OkStatus();
    }
    case MessageType::kSnapStatus:
      if (pr->state != ProgressState::kSnapshot) return absl::OkStatus();
      if (m.reject) pr->pending_snapshot = 0;
      pr->BecomeProbe();
      // Wait for a heartbeat response before probing again.
      pr->probe_sent = true;
      return absl::OkStatus();
    case MessageType::kUnreachable:
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status Raft::StepCandidate(Message& m) {
  MessageType my_resp =
      role_ == Role::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kProp:
      return RaftError(RaftErrc::kNotLeader, "no leader (election in progress)");
    case MessageType::kApp:
      BecomeFollower(m.term, m.from);
      HandleAppendEntries(m);
      break;
    case MessageType::kHeartbeat:
      BecomeFollower(m.term, m.from);
      HandleHeartbeat(m);
      break;
    case MessageType::kSnap:
      BecomeFollower(m.term, m.from);
      HandleSnapshot(m);
      break;
    default:
      if (m.type != my_resp) break;
      switch (Poll(m.from, !m.reject)) {
        case ProgressTracker::VoteResult::kWon:
          if (role_ == Role::kPreCandidate) {
            Campaign(CampaignType::kElection);
          } else {
            BecomeLeader();
            BcastAppend();
          }
          break;
        case ProgressTracker::VoteResult::kLost:
          // A pre-candidate's m.term may be the future term; our own term stays.
          BecomeFollower(term_, kNoNode);
          break;
        case ProgressTracker::VoteResult::kPending:
          break;
      }
  }
  return absl::OkStatus();
}

absl::Status Raft::StepFollower(Message& m) {
  switch (m.type) {
    case MessageType::kProp:
      if (lead_ == kNoNode) return RaftError(RaftErrc::kNotLeader, "no leader");
      if (disable_proposal_forwarding_) {
        return RaftError(RaftErrc::kNotLeader, absl::StrCat("leader is ", lead_));
      }
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      return absl::OkStatus();
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kTimeoutNow:
      // Leadership transfer: campaign now, past the voters' leases.
      Hup(CampaignType::kTransfer);
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

void Raft::HandleAppendEntries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  resp.lease_tick = m.lease_tick;
  if (m.index < log_.committed()) {
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  }
  if (auto last = log_.MaybeAppend(m.index, m.log_term, m.commit, m.entries)) {
    resp.index = *last;
    Send(std::move(resp));
    return;
  }
  // Reject, with a hint that lets the leader skip a whole conflicting term at once.
  uint64_t hint_index = std::min(m.index, log_.LastIndex());
  auto [hi, ht] = log_.FindConflictByTerm(hint_index, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hi;
  resp.log_term = ht;
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const Message& m) {
  log_.CommitTo(std::min(m.commit, log_.LastIndex()));
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  resp.context = m.context;
  resp.lease_tick = m.lease_tick;
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  resp.index = Restore(m.snapshot) ? log_.LastIndex() : log_.committed();
  Send(std::move(resp));
}

bool Raft::Restore(const Snapshot& s) {
  if (s.metadata.index <= log_.committed()) return false;
  if (role_ != Role::kFollower) {
    // Only a leader in our term sends snapshots, so this cannot happen.
    BecomeFollower(term_ + 1, kNoNode);
    return false;
  }
  const ConfState& cs = s.metadata.conf_state;
  if (!cs.IsVoter(id_) && !cs.IsLearner(id_)) return false;  // not for us
  if (log_.MatchTerm(s.metadata.index, s.metadata.term)) {
    // We have the entries already: fast-forward the commit index instead.
    log_.CommitTo(s.metadata.index);
    return false;
  }
  log_.Restore(s);
  prs_.ApplyConfState(cs, log_.LastIndex() + 1, id_);
  prs_.ResetProgress(log_.LastIndex(), id_);
  is_learner_ = cs.IsLearner(id_);
  return true;
}

ConfState Raft::ApplyConfChange(const ConfChange& cc) {
  // No node 0 exists: such a change (never proposed by this core) keeps the configuration.
  if (cc.node_id == kNoNode) return prs_.conf_state();
  ConfState cs = prs_.conf_state();
  auto erase = [](std::vector<NodeId>& v, NodeId id) { std::erase(v, id); };
  auto insert = [](std::vector<NodeId>& v, NodeId id) {
    if (!std::binary_search(v.begin(), v.end(), id))
      v.insert(std::upper_bound(v.begin(), v.end(), id), id);
  };
  // Applying is deterministic on every replica: a change that became invalid is a no-op.
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      erase(cs.learners, cc.node_id);
      insert(cs.voters, cc.node_id);
      break;
    case ConfChangeType::kAddLearnerNode:
      if (!cs.IsVoter(cc.node_id)) insert(cs.learners, cc.node_id);
      break;
    case ConfChangeType::kRemoveNode:
      if (cs.IsVoter(cc.node_id) && cs.voters.size() == 1) break;  // never remove the last voter
      erase(cs.voters, cc.node_id);
      erase(cs.learners, cc.node_id);
      break;
  }
  prs_.ApplyConfState(cs, log_.LastIndex() + 1, id_);
  is_learner_ = cs.IsLearner(id_);
  if (role_ != Role::kLeader) return cs;
  if (!cs.IsVoter(id_)) {
    // A leader that is no longer a voter steps down; the others elect a new leader.
    BecomeFollower(term_, kNoNode);
    return cs;
  }
  if (lead_transferee_ != kNoNode && !cs.IsVoter(lead_transferee_)) AbortLeaderTransfer();
  // The quorum may have shrunk: this can commit entries.
  if (MaybeCommit()) {
    ReleasePendingReadIndexMessages();
    BcastAppend();
  } else {
    for (auto& [id, pr] : prs_.progress()) {
      if (id != id_) MaybeSendAppend(id, false);
    }
  }
  return cs;
}

absl::Status Raft::ProposeConfChange(const ConfChange& cc) {
  return ProposeConfChangeEntry(cc, /*promotion=*/false);
}

absl::Status Raft::ProposeConfChangeEntry(const ConfChange& cc, bool promotion) {
  if (role_ != Role::kLeader)
    return RaftError(RaftErrc::kNotLeader, absl::StrCat("leader is ", lead_));
  Message m;
  m.type = MessageType::kProp;
  m.from = id_;
  m.entries.push_back(Entry{0, 0, EntryType::kConfChange, EncodeConfChange(cc)});
  return StepProposal(m, promotion);
}

absl::Status Raft::PromoteLearner(NodeId id, uint64_t min_applied_index, bool skip) {
  // Checked in the order of the membership spec; the first failure wins.
  if (id == kNoNode) return RaftError(RaftErrc::kInvalidArgument, "empty node id");
  if (min_applied_index == 0 && !skip) {
    return RaftError(RaftErrc::kPromoteLearnerMinAppliedZero,
                     "min_applied_index is required unless skip_min_applied_check=true");
  }
  if (role_ != Role::kLeader)
    return RaftError(RaftErrc::kNotLeader, absl::StrCat("leader is ", lead_));
  if (pending_conf_index_ > log_.applied()) {
    return RaftError(RaftErrc::kConfChangePending, "another membership change is pending");
  }
  if (!prs_.conf_state().IsLearner(id)) {
    return RaftError(RaftErrc::kPromoteLearnerNotLearner,
                     absl::StrCat("node ", id, " is not a learner"));
  }
  if (!skip) {
    const Progress* pr = prs_.Find(id);
    if (pr == nullptr) {
      return RaftError(RaftErrc::kPromoteLearnerNoProgress,
                       absl::StrCat("no progress for node ", id));
    }
    if (pr->match < min_applied_index) {
      return RaftError(
          RaftErrc::kPromoteLearnerNotCaughtUp,
          absl::StrCat("match ", pr->match, " < min_applied_index ", min_applied_index));
    }
  }
  return ProposeConfChangeEntry(ConfChange{ConfChangeType::kAddNode, id, {}}, /*promotion=*/true);
}

absl::Status Raft::TransferLeader(NodeId target, const TransferOptions& opts) {
  if (role_ != Role::kLeader)
    return RaftError(RaftErrc::kNotLeader, absl::StrCat("leader is ", lead_));
  if (target == id_) return absl::OkStatus();  // already leader
  if (!prs_.conf_state().IsVoter(target)) {
    return RaftError(RaftErrc::kTransferTargetNotVoter,
                     absl::StrCat("node ", target, " is not a voter"));
  }
  if (pending_conf_index_ > log_.applied()) {
    return RaftError(RaftErrc::kConfChangePending, "a membership change is pending");
  }
  Progress* pr = prs_.Find(target);
  uint64_t last = log_.LastIndex();
  if (opts.gated && last - std::min(last, pr->match) > opts.max_lag) {
    return RaftError(RaftErrc::kTargetNotCaughtUp, absl::StrCat("target lags by ", last - pr->match,
                                                                " > max_lag ", opts.max_lag));
  }
  if (lead_transferee_ == target) return absl::OkStatus();  // already under way
  lead_transferee_ = target;
  // The transfer must finish within an election timeout.
  election_elapsed_ = 0;
  if (pr->match == last) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target);
  }
  return absl::OkStatus();
}

absl::Status Raft::ReadIndex(const std::string& request_ctx) {
  if (role_ != Role::kLeader)
    return RaftError(RaftErrc::kNotLeader, absl::StrCat("leader is ", lead_));
  if (is_learner_ || !prs_.IsVoter(id_)) return RaftError(RaftErrc::kNotLeader, "not a voter");
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = id_;
  m.context = request_ctx;
  StepReadIndex(m);
  return absl::OkStatus();
}

Status Raft::GetStatus() const {
  Status s;
  s.id = id_;
  s.hard_state = hard_state();
  s.soft_state = soft_state();
  s.applied = log_.applied();
  s.last_index = log_.LastIndex();
  s.lead_transferee = lead_transferee_;
  s.pending_conf_index = pending_conf_index_;
  s.conf_state = prs_.conf_state();
  if (role_ == Role::kLeader) {
    for (const auto& [id, pr] : prs_.progress()) {
      s.progress.emplace(id, PeerStatus{pr.match, pr.next, pr.state, pr.recent_active,
                                        pr.is_learner, pr.pending_snapshot, pr.inflights.Count()});
    }
  }
  return s;
}

}  // namespace tessera::raft
