// RawNode: the thread-unsafe handle an application drives. Feed it ticks and messages,
// take a Ready (what to persist, send and apply), then Advance. All I/O is the caller's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/raft.h"

namespace tessera::raft {

// Everything the application must do, in this order: persist hard_state, entries and
// snapshot (one durable write); then send messages; then apply the snapshot and
// committed_entries; then call Advance(ready).
struct Ready {
  std::optional<SoftState> soft_state;  // set when it changed
  HardState hard_state;                 // empty when unchanged
  std::vector<ReadState> read_states;
  std::vector<Entry> entries;  // to persist
  Snapshot snapshot;           // to persist and apply (empty if none)
  std::vector<Entry> committed_entries;
  std::vector<Message> messages;
  bool must_sync = false;  // the write of entries / hard state must be fsynced
};

class RawNode {
 public:
  // Restarts from the config's storage (empty storage = a fresh joiner or a bootstrapped
  // node whose storage already holds its initial ConfState).
  explicit RawNode(const Config& config);

  void Tick() { raft_.Tick(); }
  // Starts an election now (no-op for learners and leaders).
  void Campaign();
  absl::Status Propose(std::string data);
  // Several entries in one proposal: one log append, one broadcast.
  absl::Status ProposeBatch(std::vector<std::string> data);
  absl::Status ProposeConfChange(const ConfChange& cc);
  // Promotes a learner after checking, on the leader, that it is a learner whose match is
  // at least min_applied_index (unless skip_min_applied_check); nothing is proposed on error.
  absl::Status PromoteLearner(NodeId id, uint64_t min_applied_index, bool skip_min_applied_check);
  ConfState ApplyConfChange(const ConfChange& cc) { return raft_.ApplyConfChange(cc); }
  // A message from a peer. Local message types are refused.
  absl::Status Step(Message m);
  absl::Status ReadIndex(const std::string& request_ctx) { return raft_.ReadIndex(request_ctx); }
  absl::Status TransferLeader(NodeId target, const TransferOptions& opts = {}) {
    return raft_.TransferLeader(target, opts);
  }
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, bool failed);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  Status GetStatus() const { return raft_.GetStatus(); }
  bool LeaseValid() const { return raft_.LeaseValid(); }
  uint64_t LeaseExpiryTick() const { return raft_.LeaseExpiryTick(); }
  const Raft& raft() const { return raft_; }

 private:
  Raft raft_;
  SoftState prev_soft_;
  HardState prev_hard_;
};

}  // namespace tessera::raft
