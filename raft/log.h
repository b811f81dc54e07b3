// The replicated log as the core sees it: the stable prefix in Storage plus the unstable
// tail (entries and possibly a snapshot) that the application has not yet persisted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace tessera::raft {

// Entries and snapshot not yet handed to (and confirmed by) stable storage.
// entries_[i] has index offset_ + i.
class Unstable {
 public:
  std::optional<uint64_t> MaybeFirstIndex() const;
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;

  void StableTo(uint64_t i, uint64_t t);
  void StableSnapTo(uint64_t i);
  void Restore(const Snapshot& s);
  void TruncateAndAppend(const std::vector<Entry>& ents);
  // Entries in [lo, hi); the range must lie within the unstable entries.
  void AppendSlice(uint64_t lo, uint64_t hi, std::vector<Entry>* out) const;

  const std::vector<Entry>& entries() const { return entries_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

 private:
  std::optional<Snapshot> snapshot_;
  std::vector<Entry> entries_;
  uint64_t offset_ = 0;
};

class RaftLog {
 public:
  RaftLog(const Storage* storage, uint64_t max_next_ents_size);

  // Appends ents after checking that (index, log_term) matches; returns the new last
  // index, or nullopt on mismatch. Panics (aborts) on an attempt to overwrite committed entries.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                      const std::vector<Entry>& ents);
  uint64_t Append(const std::vector<Entry>& ents);
  uint64_t FindConflict(const std::vector<Entry>& ents) const;
  // The largest index <= index whose term is <= term, with that term: the fast
  // backtracking probe of a rejected append.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  std::vector<Entry> UnstableEntries() const { return unstable_.entries(); }
  std::vector<Entry> NextCommittedEntries() const;
  bool HasNextCommittedEntries() const;
  bool HasPendingSnapshot() const;
  absl::StatusOr<Snapshot> GetSnapshot() const;

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  absl::StatusOr<uint64_t> Term(uint64_t i) const;
  // Term(i), or 0 when i is compacted or unavailable.
  uint64_t TermOrZero(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t t) const;
  bool IsUpToDate(uint64_t last_index, uint64_t term) const;

  absl::StatusOr<std::vector<Entry>> Entries(uint64_t i, uint64_t max_size) const;
  // Entries in [lo, hi) limited to max_size bytes (at least one entry).
  absl::StatusOr<std::vector<Entry>> Slice(uint64_t lo, uint64_t hi, uint64_t max_size) const;

  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void CommitTo(uint64_t tocommit);
  void AppliedTo(uint64_t i);
  void StableTo(uint64_t i, uint64_t t) { unstable_.StableTo(i, t); }
  void StableSnapTo(uint64_t i) { unstable_.StableSnapTo(i); }
  void Restore(const Snapshot& s);

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  const Unstable& unstable() const { return unstable_; }

 private:
  absl::Status CheckOutOfBounds(uint64_t lo, uint64_t hi) const;

  const Storage* storage_;
  Unstable unstable_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t max_next_ents_size_;
};

}  // namespace tessera::raft
