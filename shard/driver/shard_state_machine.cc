// ShardStateMachine: the cold-start seams over the shard's RocksDB and the per-group in-memory
// clock ceiling and cutover they maintain.
#include "shard/driver/shard_state_machine.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/storage/keys.h"

namespace tessera::shard {

absl::StatusOr<AppliedIndex> ShardStateMachine::LastAppliedIndex(GroupId gid) const {
  return engine_->LastAppliedIndex(gid);
}

absl::StatusOr<FsmHeader> ShardStateMachine::ParseSnapshotHeader(ByteSource& in) {
  absl::StatusOr<FsmHeader> header = ReadFsmHeader(in);
  if (!header.ok()) return header.status();
  // Without the drain a CRC tee around `in` would cover only the header.
  absl::StatusOr<uint64_t> drained = DrainToEnd(in);
  if (!drained.ok()) return drained.status();
  return header;
}

void ShardStateMachine::ApplySnapshotHeader(GroupId gid, const FsmHeader& header,
                                            ApplyMode mode) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  HeaderState& s = state_[gid];
  s.clock_ceiling_ms = std::max(s.clock_ceiling_ms, header.clock_ceiling_ms);
  s.cutover_index =
      mode == ApplyMode::kRestore ? header.raft_envelope_cutover_index : s.durable_cutover_index;
  if (mode == ApplyMode::kRestore) s.durable_cutover_index = header.raft_envelope_cutover_index;
}

absl::StatusOr<RestoreResult> ShardStateMachine::Restore(const RestoreRequest& request) {
  return RestoreGroupFromFsm(engine_, request);
}

absl::StatusOr<uint64_t> ShardStateMachine::ReadMetaU64(GroupId gid, std::string_view name) const {
  std::string value;
  rocksdb::Status s =
      engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return 0;
  const absl::string_view aname(name.data(), name.size());
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("read meta:", aname));
  if (value.size() != 8) {
    return SnapshotError(
        SnapshotErrc::kCorruptGroupState,
        absl::StrCat("group ", gid, ": meta:", aname, " is ", value.size(), " bytes, not 8"));
  }
  return DecodeU64BE(value);
}

absl::StatusOr<uint64_t> ShardStateMachine::DurableCutoverIndex(GroupId gid) const {
  return ReadMetaU64(gid, meta::kRaftEnvelopeCutoverIndex);
}

absl::Status ShardStateMachine::LoadDurableHeaderState(GroupId gid) {
  absl::StatusOr<uint64_t> ceiling = ReadMetaU64(gid, meta::kClockCeilingMs);
  if (!ceiling.ok()) return ceiling.status();
  absl::StatusOr<uint64_t> cutover = DurableCutoverIndex(gid);
  if (!cutover.ok()) return cutover.status();
  std::lock_guard<std::mutex> lock(mu_);
  HeaderState& s = state_[gid];
  s.clock_ceiling_ms = std::max(s.clock_ceiling_ms, *ceiling);
  s.durable_cutover_index = *cutover;
  s.cutover_index = *cutover;
  return absl::OkStatus();
}

uint64_t ShardStateMachine::clock_ceiling_ms(GroupId gid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.find(gid);
  return it == state_.end() ? 0 : it->second.clock_ceiling_ms;
}

uint64_t ShardStateMachine::cutover_index(GroupId gid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.find(gid);
  return it == state_.end() ? 0 : it->second.cutover_index;
}

}  // namespace tessera::shard
