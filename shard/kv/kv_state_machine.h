// The first replicated state machine of a shard: plain SET/DEL over the `data` column family,
// its entry format, and the durable applied index written in the same batch as every effect.
//
// Entry payload (a normal raft entry; empty entries are the leader's noop):
//   proposer u64 BE ‖ request_id u64 BE ‖ command
// The proposer's node id and its request id let the proposing driver match the applied entry to
// the waiting client; other replicas ignore them. Commands (all integers big-endian):
//   SET: 0x01 ‖ key_len u32 ‖ key ‖ value (the rest of the payload)
//   DEL: 0x02 ‖ count u32 ‖ { key_len u32 ‖ key }*
// A row lives at `data` key gid(8 BE) ‖ key; the value is stored verbatim.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "rocksdb/write_batch.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

enum class KvOp : uint8_t { kSet = 1, kDel = 2 };

inline constexpr size_t kEntryHeaderSize = 16;  // proposer u64 ‖ request_id u64

// Who proposed an entry: only the proposer's driver holds a waiter for it.
struct ProposalId {
  raft::NodeId proposer = raft::kNoNode;
  uint64_t request_id = 0;

  bool operator==(const ProposalId&) const = default;
};

std::string EncodeSetCommand(std::string_view key, std::string_view value);
std::string EncodeDelCommand(const std::vector<std::string>& keys);
std::string EncodeEntryPayload(ProposalId id, std::string_view command);
// INVALID_ARGUMENT when the payload is shorter than the header.
absl::StatusOr<ProposalId> DecodeEntryProposalId(std::string_view payload);

// The `data` CF key of a row: gid(8 BE) ‖ key.
std::string DataKey(GroupId gid, std::string_view key);

// What applying one entry produced, for the driver to complete a waiting proposal.
struct AppliedEntry {
  uint64_t index = 0;
  std::optional<ProposalId> proposal;  // absent for empty entries and conf changes
  absl::Status result;                 // a malformed command applies as a no-op and says why
};

// Not thread-safe except Get: the driver thread stages applies; any thread may Get.
class KvStateMachine {
 public:
  // Loads the durable applied index of each group (absent = 0). The engine outlives this.
  static absl::StatusOr<std::unique_ptr<KvStateMachine>> Open(StorageEngine* engine,
                                                              const std::vector<GroupId>& groups);

  // The applied index this state machine has staged (durable once the batch is written).
  uint64_t applied_index(GroupId gid) const;

  // Stages the effects of a committed entry and meta:applied_index = entry.index into `batch`.
  // Entries at or below the applied index were applied before a restart: skipped (nullopt), so
  // a replay is idempotent. Entries must come in index order.
  std::optional<AppliedEntry> StageApply(rocksdb::WriteBatch& batch, GroupId gid,
                                         const raft::Entry& entry);

  // Advance-only (§7.3): after a snapshot restore rewrote the group's rows and set
  // meta:applied_index = `index` durably, or at Open to max(snapshot, effective applied);
  // later entries continue from there. An index at or below the current one is ignored.
  // Driver thread.
  void AdvanceApplied(GroupId gid, uint64_t index) {
    uint64_t& applied = applied_[gid];
    if (index > applied) applied = index;
  }

  // The row's value, or nullopt when absent. Thread-safe.
  absl::StatusOr<std::optional<std::string>> Get(GroupId gid, std::string_view key) const;

 private:
  explicit KvStateMachine(StorageEngine* engine) : engine_(engine) {}

  absl::Status StageCommand(rocksdb::WriteBatch& batch, GroupId gid, std::string_view command);

  StorageEngine* engine_;                           // not owned
  absl::flat_hash_map<GroupId, uint64_t> applied_;  // driver thread only
};

}  // namespace tessera::shard
