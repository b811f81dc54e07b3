// Offline removal of one group's state from a stopped shard's data directory, the recovery
// from divergent first-boot lists (spec/membership.md §5, `tessera-admin raft wipe-group`).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace tessera::shard {

struct WipeGroupResult {
  uint64_t data_entries = 0;    // non-empty normal log entries that were in the group's log
  uint64_t snapshot_files = 0;  // files removed under the group's snapshot directory
};

// Deletes every key of `gid` in the raftlog, meta and data column families and the group's
// snapshot directory. Refuses (FAILED_PRECONDITION) unless the group is in its bootstrap era
// (bootstrap_era == 1: no membership change ever committed), and, when the log holds non-empty
// normal entries (client data), unless `confirm_data_loss`; the message then carries the
// count. NOT_FOUND when the group has no state. The shard must be stopped: its running process
// holds the database lock and Open fails.
absl::StatusOr<WipeGroupResult> WipeGroup(const std::string& data_dir, uint64_t gid,
                                          bool confirm_data_loss);

}  // namespace tessera::shard
