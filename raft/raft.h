// The Raft state machine of one replica: elections (PreVote, CheckQuorum), replication
// with per-peer flow control, ReadIndex and lease reads, single-step membership and
// leadership transfer. No I/O: input is Step/Tick, output is msgs_ and the log.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/read_only.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace tessera::raft {

struct Config {
  NodeId id = kNoNode;
  // Ticks without hearing from a leader before a follower campaigns (randomized in
  // [election_tick, 2*election_tick)); heartbeat_tick must be smaller.
  int election_tick = 10;
  int heartbeat_tick = 1;
  const Storage* storage = nullptr;
  // The last index the application has applied; committed entries above it are returned.
  uint64_t applied = 0;
  uint64_t max_size_per_msg = 1 << 20;
  uint64_t max_committed_size_per_ready = 0;  // 0 = max_size_per_msg
  uint64_t max_uncommitted_entries_size = 0;  // 0 = unlimited
  size_t max_inflight_msgs = 256;
  bool check_quorum = true;
  bool pre_vote = true;
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;
  // kLeaseBased only: the lease length in ticks, in [1, election_tick). A lease starts at
  // the leader tick of the heartbeat a quorum acknowledged; followers refuse votes for an
  // election timeout after hearing from the leader, so a shorter lease leaves margin.
  int lease_ticks = 0;  // 0 = election_tick - 2 (at least 1)
  bool disable_proposal_forwarding = false;
  uint64_t seed = 0;

  absl::Status Validate() const;
};

struct PeerStatus {
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
  bool is_learner = false;
  uint64_t pending_snapshot = 0;
  size_t inflight = 0;
};

struct Status {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  uint64_t applied = 0;
  uint64_t last_index = 0;
  NodeId lead_transferee = kNoNode;
  uint64_t pending_conf_index = 0;
  ConfState conf_state;
  std::map<NodeId, PeerStatus> progress;  // leader only
};

struct TransferOptions {
  // Refuse (kTargetNotCaughtUp) when the target lags the leader's last index by more
  // than max_lag entries.
  bool gated = false;
  uint64_t max_lag = 0;
};

class Raft {
 public:
  explicit Raft(const Config& config);

  absl::Status Step(Message m);
  void Tick();

  absl::Status ProposeConfChange(const ConfChange& cc);
  absl::Status PromoteLearner(NodeId id, uint64_t min_applied_index, bool skip_min_applied_check);
  absl::Status TransferLeader(NodeId target, const TransferOptions& opts);
  absl::Status ReadIndex(const std::string& request_ctx);
  // Applies a committed conf change; the application calls this when it applies the entry.
  ConfState ApplyConfChange(const ConfChange& cc);

  // Valid lease right now (leader, lease mode, noop committed, quorum acks fresh).
  bool LeaseValid() const;
  // While the lease is valid, the first tick count at which it no longer is (it stays valid
  // while ticks() < this); 0 when it is not valid now. An embedder that reads outside the
  // core (without ReadIndex) turns this into a deadline on its own monotonic clock.
  uint64_t LeaseExpiryTick() const;
  // Ticks since this instance started (starts at 1): the clock leases are measured in.
  uint64_t ticks() const { return ticks_; }

  Status GetStatus() const;
  SoftState soft_state() const { return SoftState{lead_, role_}; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }

  // Output, drained by RawNode.
  std::vector<Message>& msgs() { return msgs_; }
  std::vector<ReadState>& read_states() { return read_states_; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  void ReduceUncommittedSize(const std::vector<Entry>& ents);
  void AppliedTo(uint64_t index);

  NodeId id() const { return id_; }
  uint64_t term() const { return term_; }
  Role role() const { return role_; }
  NodeId lead() const { return lead_; }
  const ProgressTracker& tracker() const { return prs_; }
  bool Promotable() const;

 private:
  enum class CampaignType { kPreElection, kElection, kTransfer };

  void BecomeFollower(uint64_t term, NodeId lead);
  void BecomeCandidate();
  void BecomePreCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  bool InVoteLease() const;

  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  ProgressTracker::VoteResult Poll(NodeId id, bool granted);

  absl::Status StepLeader(Message& m);
  absl::Status StepCandidate(Message& m);
  absl::Status StepFollower(Message& m);
  absl::Status StepProposal(Message& m, bool promotion);
  absl::Status ProposeConfChangeEntry(const ConfChange& cc, bool promotion);
  void StepReadIndex(const Message& m);

  void HandleAppendEntries(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(const Message& m);
  bool Restore(const Snapshot& s);

  void Send(Message m);
  void SendAppend(NodeId to) { MaybeSendAppend(to, true); }
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendHeartbeat(NodeId to, const std::string& ctx);
  void SendTimeoutNow(NodeId to);
  void BcastAppend();
  void BcastHeartbeat(const std::string& ctx);
  bool MaybeCommit();
  bool AppendEntry(std::vector<Entry>& es);
  bool CommittedEntryInCurrentTerm() const;
  void ReleasePendingReadIndexMessages();
  void RespondToReadIndex(const ReadIndexStatus& req, uint64_t index);
  void AbortLeaderTransfer() { lead_transferee_ = kNoNode; }
  bool HasUnappliedConfChanges() const;
  absl::Status CheckConfChange(const ConfChange& cc, bool promotion) const;
  void TickElection();
  void TickHeartbeat();
  void LoadState(const HardState& hs);

  NodeId id_;
  uint64_t term_ = 0;
  NodeId vote_ = kNoNode;
  std::vector<ReadState> read_states_;
  RaftLog log_;
  uint64_t max_msg_size_;
  uint64_t max_uncommitted_size_;
  ProgressTracker prs_;
  Role role_ = Role::kFollower;
  bool is_learner_ = false;
  std::vector<Message> msgs_;
  NodeId lead_ = kNoNode;
  NodeId lead_transferee_ = kNoNode;
  uint64_t pending_conf_index_ = 0;
  uint64_t uncommitted_size_ = 0;
  ReadOnly read_only_;
  ReadOnlyOption read_only_option_;
  std::vector<Message> pending_read_index_messages_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  bool check_quorum_;
  bool pre_vote_;
  int heartbeat_timeout_;
  int election_timeout_;
  int randomized_election_timeout_ = 0;
  int lease_ticks_;
  bool disable_proposal_forwarding_;
  // Ticks since this instance started (starts at 1); the clock of leases.
  uint64_t ticks_ = 1;
  // The term in which this leader sent MsgTimeoutNow: its lease is void for that term.
  uint64_t lease_revoked_term_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace tessera::raft
