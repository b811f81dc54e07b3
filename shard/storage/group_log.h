// GroupLog: one Raft group's log, hard state and snapshot record in the shared `raftlog` column
// family: the raft::Storage the core reads, plus mutators that stage into a group-commit batch.
//
// Keys of a group in `raftlog` (gid = 8 bytes big-endian; all integers big-endian):
//   gid ‖ 'c'              → compaction point: index u64 ‖ term u64 (absent = index 0, term 0)
//   gid ‖ 'e' ‖ index u64  → entry: term u64 ‖ type u8 (0 normal, 1 conf change) ‖ data
//   gid ‖ 'h'              → hard state: term u64 ‖ vote u64 ‖ commit u64
//   gid ‖ 's'              → snapshot record: index u64 ‖ term u64 ‖ voter count u32 ‖ voters u64…
//   ‖
//                            learner count u32 ‖ learners u64… ‖ data (the snapshot token bytes)
// The compaction point is MemoryStorage's dummy entry: entries ≤ it are gone, FirstIndex() is
// its index + 1 and Term(its index) still answers. Entries are always contiguous from there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/storage.h"
#include "raft/types.h"
#include "rocksdb/write_batch.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

// Row encodings, public for golden-bytes tests and tools.
std::string EncodeLogEntryValue(const raft::Entry& e);
std::string EncodeHardState(const raft::HardState& hs);
std::string EncodeSnapshotRecord(const raft::Snapshot& snap);
absl::StatusOr<raft::Snapshot> DecodeSnapshotRecord(std::string_view in);

// Keys of the `raftlog` rows of a group (see the table above).
std::string LogEntryKey(GroupId gid, uint64_t index);
std::string HardStateKey(GroupId gid);
std::string SnapshotRecordKey(GroupId gid);
std::string CompactionPointKey(GroupId gid);

// Not thread-safe: one owner, the driver thread (which also owns the group's RawNode).
//
// The Stage* mutators put their rows into the caller's batch and update the in-memory view at
// once, so the driver can stage every group of a Ready round into one synced write; the batch
// must then be written (StorageEngine::Write stops the process if a synced write fails) before
// the view is read again through raft::Storage or RawNode::Advance. They follow
// raft::MemoryStorage exactly, including its errors; on an error nothing is staged.
class GroupLog final : public raft::Storage {
 public:
  // Loads the cached view (compaction point, last index, hard state, snapshot record). The
  // engine must outlive the GroupLog.
  static absl::StatusOr<std::unique_ptr<GroupLog>> Load(StorageEngine* engine, GroupId gid);

  // raft::Storage.
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                   uint64_t max_size) const override;
  absl::StatusOr<uint64_t> Term(uint64_t i) const override;
  uint64_t FirstIndex() const override { return compact_index_ + 1; }
  uint64_t LastIndex() const override { return last_index_; }
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override { return snapshot_; }

  // MemoryStorage::Append: appends contiguous entries, dropping any already compacted and
  // truncating a conflicting suffix; kInvalidArgument on a gap after LastIndex().
  absl::Status StageAppend(rocksdb::WriteBatch& batch, const std::vector<raft::Entry>& entries);
  void StageHardState(rocksdb::WriteBatch& batch, const raft::HardState& hs);
  // MemoryStorage::ApplySnapshot: records a received snapshot and drops every entry;
  // kSnapOutOfDate unless newer than the recorded one.
  absl::Status StageSnapshot(rocksdb::WriteBatch& batch, const raft::Snapshot& snap);
  // MemoryStorage::CreateSnapshot: records a snapshot of the local state at index i (written
  // entry, not compacted), keeping the entries. conf_state null keeps the recorded ConfState.
  absl::StatusOr<raft::Snapshot> StageCreateSnapshot(rocksdb::WriteBatch& batch, uint64_t i,
                                                     const raft::ConfState* conf_state,
                                                     std::string data);
  // MemoryStorage::Compact: drops entries ≤ compact_index, which becomes the compaction point.
  // The entry must already be written (its term is read from RocksDB).
  absl::Status StageCompact(rocksdb::WriteBatch& batch, uint64_t compact_index);

  GroupId group_id() const { return gid_; }
  const raft::HardState& hard_state() const { return hard_state_; }

 private:
  GroupLog(StorageEngine* engine, GroupId gid) : engine_(engine), gid_(gid) {}

  // Term of a written entry in (compact_index_, last_index_].
  absl::StatusOr<uint64_t> ReadTerm(uint64_t i) const;

  StorageEngine* engine_;  // not owned
  const GroupId gid_;
  uint64_t compact_index_ = 0;  // the dummy entry: index and term
  uint64_t compact_term_ = 0;
  uint64_t last_index_ = 0;
  uint64_t last_term_ = 0;  // Term(last_index_), asked on every append and vote
  raft::HardState hard_state_;
  raft::Snapshot snapshot_;
};

}  // namespace tessera::shard
