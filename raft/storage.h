// The read side of a group's persistent state, as the consensus core sees it. The
// application writes (append, hard state, snapshots); the core only reads through this.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace tessera::raft {

inline constexpr uint64_t kNoLimit = UINT64_MAX;

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

class Storage {
 public:
  virtual ~Storage() = default;

  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;
  // Entries in [lo, hi), at most max_size payload bytes but always at least one entry.
  // kCompacted when lo is below FirstIndex(), kUnavailable when hi > LastIndex()+1.
  virtual absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_size) const = 0;
  // Term of entry i, for i in [FirstIndex()-1, LastIndex()].
  virtual absl::StatusOr<uint64_t> Term(uint64_t i) const = 0;
  virtual uint64_t FirstIndex() const = 0;
  virtual uint64_t LastIndex() const = 0;
  // The most recent snapshot; kSnapshotTemporarilyUnavailable when it is being built.
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;
};

}  // namespace tessera::raft
