// The full restore of one group from a verified .fsm file (snapshots-and-cold-start.md §6):
// the marker-protected rewrite of the group's `data` range and the final meta batch.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "shard/membership/peers_record.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

// Upper bound of one `data` batch of the second pass; a single larger row gets a batch alone.
inline constexpr size_t kRestoreDataBatchBytes = size_t{4} << 20;

// Stage names passed to RestoreRequest::after_stage.
inline constexpr std::string_view kRestoreStageBatchA = "batch_a";
inline constexpr std::string_view kRestoreStageDataBatch = "data_batch";
inline constexpr std::string_view kRestoreStageBeforeBatchB = "before_batch_b";

struct RestoreRequest {
  GroupId gid = 0;
  std::string fsm_path;
  uint32_t token_crc = 0;
  uint64_t index = 0;                // snapshot metadata index X
  raft::ConfState conf_state;        // metadata ConfState at X
  std::optional<PeersRecord> peers;  // carried record (runtime install); nullopt keeps meta:peers
  uint64_t max_bytes = kDefaultMaxSnapshotBytes;
  // Test seam: called after batch A, after each data batch, before batch B; a non-OK status
  // aborts the restore there as a crash would (nothing further written).
  std::function<absl::Status(std::string_view stage)> after_stage;
};

struct RestoreResult {
  uint64_t index = 0;  // X
  FsmHeader header;    // the file's header, for ApplySnapshotHeader(kRestore)
  uint64_t rows = 0;   // rows written into `data`
};

// Replaces group `r.gid`'s rows with the file's and sets its meta to the snapshot view:
//   1. VerifyFsmFile (token CRC, size, header, body, CRC) and every meta read; nothing written.
//   2. Batch A (synced): restore_marker = X, delete applied_index, DeleteRange of the group's
//      `data` rows. From here on the group reads as "applied index absent".
//   3. The rows, in `data` batches of at most kRestoreDataBatchBytes, while the CRC is recomputed;
//      kSnapshotFileCrc (or any failure) leaves the marker, so the next Open falls back.
//   4. Batch B (synced): applied_index = X, clock_ceiling_ms = max(existing, header),
//      raft_envelope_cutover_index = header cutover (deleted when 0), conf_state = {X, ConfState},
//      peers = the carried or the existing record with suffrage from the ConfState (members not
//      in it dropped) and index X, bootstrap_era cleared per membership.md §3, initialized = 1,
//      restore_marker deleted.
// With neither a carried nor a durable peers record (a joiner that crashed inside its first
// install), conf_state and peers are both left unwritten: one without the other is corrupt
// state (membership.md §4), and the snapshot record still carries the ConfState.
// Runs on the thread that owns the group's apply path; not safe against concurrent applies.
// A peers record that came off the network: what EncodePeersRecord would abort on (too many
// members, malformed ids or addresses, duplicates) is an InvalidArgument.
absl::Status CheckCarriedPeers(const PeersRecord& record);

// `source` restamped for the ConfState at `index`: suffrage from the ConfState only, members
// outside it dropped, sorted by node id.
PeersRecord StampSuffrage(const PeersRecord& source, const raft::ConfState& cs, uint64_t index);

absl::StatusOr<RestoreResult> RestoreGroupFromFsm(StorageEngine* engine, const RestoreRequest& r);

}  // namespace tessera::shard
