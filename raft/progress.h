// The leader's view of each peer: replication progress (probe / replicate / snapshot),
// the inflight window, and the quorum arithmetic over voters (learners never count).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "raft/types.h"

namespace tessera::raft {

// A ring of the last indexes of in-flight MsgApps, bounded by a window size.
class Inflights {
 public:
  explicit Inflights(size_t size) : buffer_(size) {}
  void Add(uint64_t index);
  // Frees every inflight message whose last index is <= to.
  void FreeLE(uint64_t to);
  void FreeFirstOne();
  bool Full() const { return count_ == buffer_.size(); }
  size_t Count() const { return count_; }
  void Reset() { count_ = 0, start_ = 0; }

 private:
  std::vector<uint64_t> buffer_;
  size_t start_ = 0;
  size_t count_ = 0;
};

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  uint64_t match = 0;
  uint64_t next = 1;
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;  // index of the snapshot being sent, in kSnapshot
  bool recent_active = false;     // heard from since the last CheckQuorum round
  bool probe_sent = false;        // in kProbe: one MsgApp per heartbeat interval
  bool is_learner = false;
  uint64_t lease_ack_tick = 0;  // the latest leader tick this peer's timer was reset by
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // Records a successful append ack; false if n is stale.
  bool MaybeUpdate(uint64_t n);
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // Handles a rejection of the MsgApp sent at `rejected` with hint `match_hint`.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  bool IsPaused() const;
};

class ProgressTracker {
 public:
  ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  void ApplyConfState(const ConfState& cs, uint64_t next_index, NodeId self);
  // Fresh progress for every member (new term): next = last_index + 1, self matched.
  void ResetProgress(uint64_t last_index, NodeId self);
  const ConfState& conf_state() const { return conf_; }
  bool IsVoter(NodeId id) const { return conf_.IsVoter(id); }
  size_t VoterCount() const { return conf_.voters.size(); }

  Progress* Find(NodeId id);
  const Progress* Find(NodeId id) const;
  std::map<NodeId, Progress>& progress() { return progress_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }

  // The largest index replicated on a majority of voters.
  uint64_t Committed() const;
  // The quorum-th largest value of f(voter) over voters.
  template <typename F>
  uint64_t QuorumValue(F f) const;

  // Vote bookkeeping for (pre-)campaigns.
  enum class VoteResult { kPending, kWon, kLost };
  void ResetVotes() { votes_.clear(); }
  void RecordVote(NodeId id, bool granted);
  VoteResult TallyVotes(size_t* granted, size_t* rejected) const;

  bool QuorumActive() const;

 private:
  size_t max_inflight_;
  ConfState conf_;
  std::map<NodeId, Progress> progress_;
  std::map<NodeId, bool> votes_;
};

template <typename F>
uint64_t ProgressTracker::QuorumValue(F f) const {
  if (conf_.voters.empty()) return UINT64_MAX;  // no voters: anything is committed (etcd)
  std::vector<uint64_t> vals;
  vals.reserve(conf_.voters.size());
  for (NodeId id : conf_.voters) vals.push_back(f(id));
  // The value held by a majority: sort descending and take element n/2.
  std::sort(vals.begin(), vals.end(), std::greater<>());
  return vals[vals.size() / 2];
}

}  // namespace tessera::raft
