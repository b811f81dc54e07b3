// In-memory Storage: for tests, the simulator and benchmarks. Not thread-safe; one owner.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "raft/storage.h"

namespace tessera::raft {

class MemoryStorage final : public Storage {
 public:
  MemoryStorage();

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                             uint64_t max_size) const override;
  absl::StatusOr<uint64_t> Term(uint64_t i) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  void SetHardState(const HardState& hs) { hard_state_ = hs; }
  const HardState& hard_state() const { return hard_state_; }
  // Replaces all state with the snapshot; kSnapOutOfDate if older than the current one.
  absl::Status ApplySnapshot(const Snapshot& snap);
  // Records a snapshot at index i (<= LastIndex) with the given state-machine bytes.
  absl::StatusOr<Snapshot> CreateSnapshot(uint64_t i, const ConfState* cs, std::string data);
  // Discards entries before compact_index (which becomes the dummy entry).
  absl::Status Compact(uint64_t compact_index);
  // Appends entries, truncating any conflicting suffix. Entries must be contiguous.
  absl::Status Append(const std::vector<Entry>& entries);

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  // ents_[0] is a dummy entry holding the index and term of the last compacted entry.
  std::vector<Entry> ents_;
};

}  // namespace tessera::raft
