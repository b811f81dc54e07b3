// The shard's replicated state machine: every write is a Redis command (argv) plus the leader's
// timestamp, executed deterministically by the data model (shard/data/) at apply on every
// replica, with the applied index and the clock ceiling in the same batch as its effects.
//
// Entry payload (a normal raft entry; empty entries are the leader's noop), all integers BE:
//   proposer u64 ‖ request_id u64 ‖ timestamp_ms u64 ‖ command
//   command = argc u32 ‖ { len u32 ‖ arg }*
// The proposer's node id and request id let the proposing driver match the applied entry to
// the waiting client; other replicas ignore them. The state machine's clock is
// max(timestamp_ms, the group's clock ceiling): it never goes backwards across leaders.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "shard/data/commands.h"
#include "shard/data/reply.h"
#include "shard/data/routing_rows.h"
#include "shard/storage/engine.h"

namespace tessera::shard {
namespace encryption {
class EncryptionApplier;
}

inline constexpr size_t kEntryHeaderSize = 24;  // proposer ‖ request_id ‖ timestamp_ms
inline constexpr uint32_t kMaxCommandArgs = 1u << 20;

// Who proposed an entry: only the proposer's driver holds a waiter for it.
struct ProposalId {
  raft::NodeId proposer = raft::kNoNode;
  uint64_t request_id = 0;
  bool operator==(const ProposalId&) const = default;
};

struct EntryHeader {
  ProposalId id;
  uint64_t timestamp_ms = 0;
};

std::string EncodeCommand(std::span<const std::string_view> argv);
// The argv views point into `command`. INVALID_ARGUMENT when truncated, empty, over
// kMaxCommandArgs, or with trailing bytes.
absl::StatusOr<std::vector<std::string_view>> DecodeCommand(std::string_view command);
// Shorthands used by tests and tools: {"SET", key, value} and {"DEL", keys...}.
std::string EncodeSetCommand(std::string_view key, std::string_view value);

// Whether a StageApply failure is the retryable key wait (nothing staged; see StageApply).
bool IsKeyWaitBeforeStaging(const absl::Status& status);
std::string EncodeDelCommand(const std::vector<std::string>& keys);

std::string EncodeEntryPayload(ProposalId id, uint64_t timestamp_ms, std::string_view command);
// INVALID_ARGUMENT when the payload is shorter than the header.
absl::StatusOr<EntryHeader> DecodeEntryHeader(std::string_view payload);
absl::StatusOr<ProposalId> DecodeEntryProposalId(std::string_view payload);

// The `data` CF key of a row: gid(8 BE) ‖ key.
std::string DataKey(GroupId gid, std::string_view key);

// What applying one entry produced, for the driver to complete a waiting proposal.
struct AppliedEntry {
  uint64_t index = 0;
  std::optional<ProposalId> proposal;  // absent for empty entries and conf changes
  absl::Status result;                 // a malformed entry applies as a no-op and says why
};

// The wall clock in ms since the epoch: what a leader stamps on the commands it proposes.
uint64_t WallClockMs();

// Not thread-safe except Get and ExecuteRead: the driver thread stages applies; any thread may
// read.
class KvStateMachine {
 public:
  // Loads each group's durable applied index (absent = 0) and clock ceiling. The engine
  // outlives this.
  static absl::StatusOr<std::unique_ptr<KvStateMachine>> Open(StorageEngine* engine,
                                                              const std::vector<GroupId>& groups);

  // The applied index this state machine has staged (durable once the batch is written).
  uint64_t applied_index(GroupId gid) const;
  // The group's state-machine clock ceiling: the latest apply time. Thread-safe.
  uint64_t clock_ceiling_ms(GroupId gid) const;

  // Stages the effects of a committed entry, meta:applied_index = entry.index and, when it
  // advanced, meta:clock_ceiling_ms into `batch` (indexed, so later entries of the batch see
  // earlier ones). The command's reply goes to `reply` (null: discarded). Entries at or below
  // the applied index were applied before: skipped (nullopt). Entries must come in index
  // order. A storage failure is returned as an error status: the caller must stop. The one
  // exception is marked IsKeyWaitBeforeStaging: a raft-envelope entry sealed under a key this
  // node does not hold yet, met before anything was staged; the caller may retry the same entry
  // later (spec/encryption.md §9). A missing key met while writing rows (kKeyUnavailable too)
  // is not marked: part of the command is staged, the apply halts.
  absl::StatusOr<std::optional<AppliedEntry>> StageApply(rocksdb::WriteBatchWithIndex& batch,
                                                         GroupId gid, const raft::Entry& entry,
                                                         data::Reply* reply);

  // Advance-only (§7.3): after a snapshot restore rewrote the group's rows and set
  // meta:applied_index = `index` durably, or at Open to max(snapshot, effective applied);
  // later entries continue from there. An index at or below the current one is ignored.
  // Driver thread.
  void AdvanceApplied(GroupId gid, uint64_t index);
  // Advance-only, like the ceiling itself (a restored snapshot header may raise it).
  void AdvanceClockCeiling(GroupId gid, uint64_t ms);

  // Runs a read-only data command for `gid` on this node's current state, at the group's
  // clock: max(wall clock, ceiling). The caller has passed a linearizable read barrier.
  // Thread-safe.
  absl::Status ExecuteRead(GroupId gid, const data::DataCommand& command,
                           std::span<const std::string_view> argv, data::Reply& reply) const;

  // The string value of `key`, or nullopt when absent, expired or not a string. Thread-safe.
  absl::StatusOr<std::optional<std::string>> Get(GroupId gid, std::string_view key) const;

  // Encryption ops ("tessera.enc", spec/encryption.md §8) go to `applier`; null (encryption
  // not enabled on this node) halts the apply of such an entry instead of guessing. Set before
  // the driver starts; the applier outlives this.
  void set_encryption_applier(encryption::EncryptionApplier* applier) { encryption_ = applier; }

 private:
  explicit KvStateMachine(StorageEngine* engine) : engine_(engine) {}

  StorageEngine* engine_;                                // not owned
  encryption::EncryptionApplier* encryption_ = nullptr;  // not owned
  // Whether the group may hold watch rows (data/watch.h); when not, applies skip stamping.
  void RefreshWatchRows(GroupId gid);
  // Reloads the group's slot fence (data/routing_rows.h) from `ctx` (the apply batch over the
  // database, or the database).
  void RefreshSlotFence(const data::ExecContext& ctx);
  // The fenced slot of a key `argv` names in group `gid`, or -1 (any thread).
  int FencedSlot(GroupId gid, std::span<const std::string_view> argv) const;

  absl::flat_hash_map<GroupId, uint64_t> applied_;  // driver thread only
  absl::flat_hash_map<GroupId, bool> watch_rows_;   // driver thread only
  // Slot fences of the groups that have one: written by the driver thread, read by the
  // listener threads' reads; fenced_groups_ lets the common case skip the lock.
  mutable std::mutex fence_mu_;
  absl::flat_hash_map<GroupId, data::SlotFence> fences_;
  std::atomic<size_t> fenced_groups_{0};
  // Clock ceilings: the map is fixed at Open, the values are atomics.
  absl::flat_hash_map<GroupId, std::unique_ptr<std::atomic<uint64_t>>> clock_;
};

}  // namespace tessera::shard
