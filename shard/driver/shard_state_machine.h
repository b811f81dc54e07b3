// The production cold-start state machine of a shard: the §7.5 seams (applied-index reader,
// two-phase header applier, restorer) over the shard's one StorageEngine, per group.
#pragma once

#include <concepts>
#include <cstdint>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shard/driver/cold_start.h"
#include "shard/driver/restore.h"
#include "shard/snapshot/byte_source.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

// Keeps each group's in-memory clock ceiling and raft-envelope cutover, the header state of
// snapshots-and-cold-start.md §7.5. Seam calls for one group come from the thread that owns it;
// the getters are safe from any thread (mu_ guards the map).
class ShardStateMachine final : public ColdStartFsm, public AppliedIndexReader {
 public:
  // The engine must outlive this.
  explicit ShardStateMachine(StorageEngine* engine) : engine_(engine) {}
  ShardStateMachine(const ShardStateMachine&) = delete;
  ShardStateMachine& operator=(const ShardStateMachine&) = delete;

  // AppliedIndexReader: StorageEngine::LastAppliedIndex.
  absl::StatusOr<AppliedIndex> LastAppliedIndex(GroupId gid) const override;

  // SnapshotHeaderApplier. Parse: ReadFsmHeader, then drain; touches nothing.
  absl::StatusOr<FsmHeader> ParseSnapshotHeader(ByteSource& in) override;
  // Ceiling = max(current, header) — the current value holds the durable one once
  // LoadDurableHeaderState ran, and never decreases. Cutover: kRestore → the header's; kSkip →
  // the durable value loaded by LoadDurableHeaderState (checked against the header by the gate).
  void ApplySnapshotHeader(GroupId gid, const FsmHeader& header, ApplyMode mode) noexcept override;

  // SnapshotRestorer: RestoreGroupFromFsm on this engine.
  absl::StatusOr<RestoreResult> Restore(const RestoreRequest& request) override;

  // ColdStartFsm.
  const AppliedIndexReader* applied_index_reader() const override { return this; }
  // meta:raft_envelope_cutover_index, absent = 0; kCorruptGroupState if not 8 bytes.
  absl::StatusOr<uint64_t> DurableCutoverIndex(GroupId gid) const override;
  // Reads meta:clock_ceiling_ms (max'd into memory) and meta:raft_envelope_cutover_index.
  absl::Status LoadDurableHeaderState(GroupId gid) override;

  // In-memory header state of a group; 0 for a group never loaded or applied.
  uint64_t clock_ceiling_ms(GroupId gid) const;
  uint64_t cutover_index(GroupId gid) const;

 private:
  struct HeaderState {
    uint64_t clock_ceiling_ms = 0;
    uint64_t cutover_index = 0;          // in force
    uint64_t durable_cutover_index = 0;  // as last loaded from meta
  };

  absl::StatusOr<uint64_t> ReadMetaU64(GroupId gid, std::string_view name) const;

  StorageEngine* const engine_;  // not owned
  mutable std::mutex mu_;
  absl::flat_hash_map<GroupId, HeaderState> state_;  // guarded by mu_
};

// §7.5: drift in the seams fails the build instead of silently disabling the skip.
static_assert(std::derived_from<ShardStateMachine, SnapshotHeaderApplier>);
static_assert(std::derived_from<ShardStateMachine, AppliedIndexReader>);
static_assert(std::derived_from<ShardStateMachine, SnapshotRestorer>);
static_assert(std::derived_from<ShardStateMachine, ColdStartFsm>);

}  // namespace tessera::shard
