// Progress state transitions, the inflight ring and majority arithmetic.
#include "raft/progress.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>

namespace tessera::raft {

void Inflights::Add(uint64_t index) {
  if (Full()) {
    std::fprintf(stderr, "raft: inflights overflow\n");
    std::abort();
  }
  buffer_[(start_ + count_) % buffer_.size()] = index;
  ++count_;
}

void Inflights::FreeLE(uint64_t to) {
  if (count_ == 0 || to < buffer_[start_]) return;
  size_t i = 0;
  size_t idx = start_;
  for (; i < count_; ++i) {
    if (to < buffer_[idx]) break;
    idx = (idx + 1) % buffer_.size();
  }
  count_ -= i;
  start_ = idx;
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ > 0) FreeLE(buffer_[start_]);
}

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::BecomeProbe() {
  // After a snapshot, resume right after it if the peer acknowledged it.
  if (state == ProgressState::kSnapshot) {
    uint64_t pending = pending_snapshot;
    state = ProgressState::kProbe;
    next = std::max(match + 1, pending + 1);
  } else {
    state = ProgressState::kProbe;
    next = match + 1;
  }
  probe_sent = false;
  pending_snapshot = 0;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.Reset();
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  pending_snapshot = snapshot_index;
  inflights.Reset();
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // A stale rejection, or one for an index already matched.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe, only the rejection of the last probe (next - 1) counts.
  if (next - 1 != rejected) return false;
  next = std::max<uint64_t>(std::min(rejected, match_hint + 1), 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void ProgressTracker::ApplyConfState(const ConfState& cs, uint64_t next_index, NodeId self) {
  conf_ = cs;
  std::map<NodeId, Progress> next_progress;
  auto carry = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it != progress_.end()) {
      it->second.is_learner = learner;
      next_progress.emplace(id, std::move(it->second));
      return;
    }
    Progress p(max_inflight_);
    p.next = next_index;
    p.match = 0;
    p.is_learner = learner;
    // A new peer counts as active so CheckQuorum does not step the leader down at once.
    p.recent_active = true;
    if (id == self) p.match = next_index - 1;
    next_progress.emplace(id, std::move(p));
  };
  for (NodeId id : cs.voters) carry(id, false);
  for (NodeId id : cs.learners) carry(id, true);
  progress_ = std::move(next_progress);
}

void ProgressTracker::ResetProgress(uint64_t last_index, NodeId self) {
  for (auto& [id, pr] : progress_) {
    bool learner = pr.is_learner;
    pr = Progress(max_inflight_);
    pr.next = last_index + 1;
    pr.is_learner = learner;
    if (id == self) pr.match = last_index;
  }
}

Progress* ProgressTracker::Find(NodeId id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Find(NodeId id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

uint64_t ProgressTracker::Committed() const {
  return QuorumValue([this](NodeId id) {
    const Progress* p = Find(id);
    return p ? p->match : 0;
  });
}

void ProgressTracker::RecordVote(NodeId id, bool granted) { votes_.emplace(id, granted); }

ProgressTracker::VoteResult ProgressTracker::TallyVotes(size_t* granted, size_t* rejected) const {
  size_t yes = 0, no = 0;
  for (NodeId id : conf_.voters) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? yes : no)++;
  }
  if (granted) *granted = yes;
  if (rejected) *rejected = no;
  size_t q = conf_.voters.size() / 2 + 1;
  if (yes >= q) return VoteResult::kWon;
  if (yes + (conf_.voters.size() - yes - no) >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

bool ProgressTracker::QuorumActive() const {
  size_t active = 0;
  for (NodeId id : conf_.voters) {
    const Progress* p = Find(id);
    if (p && p->recent_active) ++active;
  }
  return active >= conf_.voters.size() / 2 + 1;
}

}  // namespace tessera::raft
