// Where a group's snapshot files live under a shard's data directory, and the cleanup that
// removes what a crash or a finished transfer left behind (spec/snapshots-and-cold-start.md §2).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::shard {

// Layout:
//   <dataDir>/snapshots/<gid %016x>/<index %016x>.fsm          recorded or in-flight snapshots
//   <dataDir>/snapshots/<gid %016x>/<index %016x>.fsm.tmp      FsmWriter's temp file
//   <dataDir>/snapshots/<gid %016x>/spool/<index %016x>-<nonce %016x>.fsm.tmp   receive spool
// Any other name (quarantine/, foreign files) is never touched by cleanup.

// Snapshot index 0 never exists in raft, so it stands for "no snapshot recorded".
inline constexpr uint64_t kNoSnapshotIndex = 0;

std::string FsmFileName(uint64_t index);                    // "<index %016x>.fsm"
std::string FsmTempFileName(uint64_t index);                // "<index %016x>.fsm.tmp"
std::string SpoolFileName(uint64_t index, uint64_t nonce);  // "<index>-<nonce>.fsm.tmp"

// The index of a "<16 lowercase hex digits>.fsm" name; nullopt for any other name.
std::optional<uint64_t> ParseFsmFileName(std::string_view name);

std::string SnapshotsRootDir(std::string_view data_dir);                // <dataDir>/snapshots
std::string GroupSnapshotDir(std::string_view data_dir, uint64_t gid);  // .../<gid %016x>
std::string FsmPath(std::string_view data_dir, uint64_t gid, uint64_t index);
std::string SpoolDir(std::string_view data_dir, uint64_t gid);  // <group dir>/spool

// Creates (0700, like `mkdir -p`) the snapshots root, the group directory and its spool
// directory, and fsyncs each parent whose entries changed.
absl::Status CreateSnapshotDirs(std::string_view data_dir, uint64_t gid);

// Startup cleanup: removes every *.fsm.tmp in `group_dir` and in its spool directory, and every
// .fsm file except `referenced_index` (the group's snapshot record; kNoSnapshotIndex for none)
// and `in_flight` (files being sent to peers). Only safe while no FsmWriter and no spool of the
// group is live. A missing directory is not an error. Returns the removed paths.
absl::StatusOr<std::vector<std::string>> CleanupSnapshotDir(
    const std::string& group_dir, uint64_t referenced_index,
    std::span<const uint64_t> in_flight = {});

// Runtime pruning after a new snapshot is recorded: removes only .fsm files older than
// `referenced_index` and not `in_flight`, never a newer one (an inbound snapshot waiting to be
// installed), temp or spool files. Returns the removed paths.
absl::StatusOr<std::vector<std::string>> RemoveUnreferencedFsmFiles(
    const std::string& group_dir, uint64_t referenced_index,
    std::span<const uint64_t> in_flight = {});

}  // namespace tessera::shard
