// The full restore of snapshots-and-cold-start.md §6: verify, marker batch, streamed rows, final
// meta batch. Every read that can fail happens before the first write.
#include "shard/driver/restore.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/transfer_progress.h"
#include "rocksdb/write_batch.h"
#include "shard/driver/bootstrap.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/membership/node_id.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/storage/keys.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

constexpr char kOne[] = "\x01";

// Debian's abseil has its own string_view; StrCat needs it spelled out.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusOr<std::optional<std::string>> MetaGet(StorageEngine* engine, GroupId gid,
                                                   std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("read meta:", Av(name)));
  return std::optional<std::string>(std::move(value));
}

// A u64 BE meta row; absent = 0. Any other length is corrupt: guessing could lower a ceiling.
absl::StatusOr<uint64_t> ReadMetaU64(StorageEngine* engine, GroupId gid, std::string_view name) {
  absl::StatusOr<std::optional<std::string>> value = MetaGet(engine, gid, name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return 0;
  if ((*value)->size() != 8) {
    return SnapshotError(SnapshotErrc::kCorruptGroupState,
                         absl::StrCat("group ", gid, ": meta:", Av(name), " is ", (*value)->size(),
                                      " bytes, not 8"));
  }
  return DecodeU64BE(**value);
}

// membership.md §3: bootstrap_era goes 1 → 0 when the restored ConfState is not exactly the
// bootstrap voter set; it is never set back to 1. Returns whether to write 0.
absl::StatusOr<bool> ShouldClearBootstrapEra(StorageEngine* engine, GroupId gid,
                                             const raft::ConfState& cs) {
  absl::StatusOr<std::optional<std::string>> era = MetaGet(engine, gid, meta::kBootstrapEra);
  if (!era.ok()) return era.status();
  if (!era->has_value() || **era != kOne) return false;
  absl::StatusOr<std::optional<std::string>> bytes = MetaGet(engine, gid, meta::kBootstrap);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) {
    spdlog::warn("group {}: bootstrap_era is 1 without a bootstrap record; restore clears it", gid);
    return true;
  }
  absl::StatusOr<BootstrapRecord> record = DecodeBootstrapRecord(**bytes);
  if (!record.ok()) {
    spdlog::warn("group {}: bootstrap record unreadable ({}); restore clears bootstrap_era", gid,
                 record.status().ToString());
    return true;
  }
  if (!cs.learners.empty()) return true;
  std::vector<NodeId> bootstrap_voters;
  for (const Server& s : record->voters) bootstrap_voters.push_back(s.node_id);
  std::vector<NodeId> voters = cs.voters;
  std::sort(bootstrap_voters.begin(), bootstrap_voters.end());
  std::sort(voters.begin(), voters.end());
  return voters != bootstrap_voters;
}

absl::Status RunStage(const RestoreRequest& r, std::string_view stage) {
  if (!r.after_stage) return absl::OkStatus();
  return r.after_stage(stage);
}

// Everything batch B needs, read before batch A so that no read error strands the marker.
struct FinalMeta {
  uint64_t clock_ceiling_ms = 0;
  std::optional<PeersRecord> peers;  // stamped; nullopt = write neither conf_state nor peers
  bool clear_bootstrap_era = false;
};

absl::StatusOr<FinalMeta> PrepareFinalMeta(StorageEngine* engine, const RestoreRequest& r,
                                           const FsmHeader& header) {
  FinalMeta out;
  absl::StatusOr<uint64_t> ceiling = ReadMetaU64(engine, r.gid, meta::kClockCeilingMs);
  if (!ceiling.ok()) return ceiling.status();
  out.clock_ceiling_ms = std::max(*ceiling, header.clock_ceiling_ms);

  if (r.peers.has_value()) {
    if (absl::Status s = CheckCarriedPeers(*r.peers); !s.ok()) return s;
    out.peers = StampSuffrage(*r.peers, r.conf_state, r.index);
  } else {
    absl::StatusOr<std::optional<std::string>> bytes = MetaGet(engine, r.gid, meta::kPeers);
    if (!bytes.ok()) return bytes.status();
    if (bytes->has_value()) {
      absl::StatusOr<PeersRecord> existing = DecodePeersRecord(**bytes);
      if (!existing.ok()) return existing.status();
      out.peers = StampSuffrage(*existing, r.conf_state, r.index);
    } else {
      absl::StatusOr<std::optional<std::string>> cs = MetaGet(engine, r.gid, meta::kConfState);
      if (!cs.ok()) return cs.status();
      if (cs->has_value()) {
        return SnapshotError(
            SnapshotErrc::kCorruptGroupState,
            absl::StrCat("group ", r.gid, " has meta:conf_state but no meta:peers"));
      }
      spdlog::warn(
          "group {}: restore at {} has no peers record (none carried, none durable); "
          "conf_state and peers stay unwritten",
          r.gid, r.index);
    }
  }

  absl::StatusOr<bool> clear = ShouldClearBootstrapEra(engine, r.gid, r.conf_state);
  if (!clear.ok()) return clear.status();
  out.clear_bootstrap_era = *clear;
  return out;
}

}  // namespace

// The carried record comes off the network: check what EncodePeersRecord would abort on.
absl::Status CheckCarriedPeers(const PeersRecord& record) {
  if (record.peers.size() > kMaxPeers) {
    return absl::InvalidArgumentError("carried peers record has more than 1024 peers");
  }
  std::vector<NodeId> ids;
  for (const Server& s : record.peers) {
    if (s.raft_id.empty() || s.raft_id.size() > kMaxRaftIdLength || s.address.empty() ||
        s.address.size() > kMaxAddressLength || s.node_id != DeriveNodeId(s.raft_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("carried peers record: malformed member ", s.raft_id));
    }
    ids.push_back(s.node_id);
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
    return absl::InvalidArgumentError("carried peers record: duplicate node id");
  }
  return absl::OkStatus();
}

// Suffrage comes from the ConfState only; members outside it are dropped.
PeersRecord StampSuffrage(const PeersRecord& source, const raft::ConfState& cs, uint64_t index) {
  PeersRecord out{index, {}};
  for (const Server& s : source.peers) {
    const bool voter = std::find(cs.voters.begin(), cs.voters.end(), s.node_id) != cs.voters.end();
    const bool learner =
        std::find(cs.learners.begin(), cs.learners.end(), s.node_id) != cs.learners.end();
    if (!voter && !learner) continue;
    Server stamped = s;
    stamped.voter = voter;
    out.peers.push_back(std::move(stamped));
  }
  std::sort(out.peers.begin(), out.peers.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  return out;
}

absl::StatusOr<RestoreResult> RestoreGroupFromFsm(StorageEngine* engine, const RestoreRequest& r) {
  if (r.gid == 0 || r.gid == std::numeric_limits<GroupId>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("restore: invalid group id ", r.gid));
  }
  if (r.index == 0) return absl::InvalidArgumentError("restore: snapshot index 0");

  // (1) Verify without mutating anything.
  absl::StatusOr<FsmHeader> header = VerifyFsmFile(r.fsm_path, r.token_crc, r.max_bytes);
  if (!header.ok()) return header.status();
  absl::StatusOr<FinalMeta> final_meta = PrepareFinalMeta(engine, r, *header);
  if (!final_meta.ok()) return final_meta.status();
  // Opened before batch A too: a file that vanished since the verify fails with nothing written.
  absl::StatusOr<std::unique_ptr<FsmReader>> reader =
      FsmReader::Open(r.fsm_path, r.token_crc, r.max_bytes);
  if (!reader.ok()) return reader.status();

  rocksdb::ColumnFamilyHandle* meta_cf = engine->meta();
  rocksdb::ColumnFamilyHandle* data_cf = engine->data();

  // (2) Batch A: from here until batch B the group's applied index reads as absent.
  {
    rocksdb::WriteBatch batch;
    batch.Put(meta_cf, MetaKey(r.gid, meta::kRestoreMarker), EncodeU64BE(r.index));
    batch.Delete(meta_cf, MetaKey(r.gid, meta::kAppliedIndex));
    batch.DeleteRange(data_cf, GroupKey(r.gid, {}), GroupKeyEnd(r.gid));
    if (absl::Status s = engine->Write(batch, /*sync=*/true); !s.ok()) return s;
  }
  if (absl::Status s = RunStage(r, kRestoreStageBatchA); !s.ok()) return s;

  // (3) Rows. Not synced: batch B's sync makes the WAL prefix before it durable.
  uint64_t rows = 0;
  // Progress by file bytes consumed: each row is two u32 lengths plus its key and value.
  common::TransferProgress progress((*reader)->file_size(), common::TransferProgress::Clock::now());
  uint64_t consumed = 0;
  {
    rocksdb::WriteBatch batch;
    auto flush = [&]() -> absl::Status {
      if (batch.Count() == 0) return absl::OkStatus();
      if (absl::Status s = engine->Write(batch, /*sync=*/false); !s.ok()) return s;
      batch.Clear();
      return RunStage(r, kRestoreStageDataBatch);
    };
    std::string key;
    std::string value;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(&key, &value);
      if (!more.ok()) return more.status();  // kSnapshotFileCrc among others: marker stays
      if (!*more) break;
      const std::string data_key = DataKey(r.gid, key);
      const size_t row_bytes = data_key.size() + value.size() + 16;  // + WriteBatch framing
      if (batch.Count() > 0 && batch.GetDataSize() + row_bytes > kRestoreDataBatchBytes) {
        if (absl::Status s = flush(); !s.ok()) return s;
      }
      batch.Put(data_cf, data_key, value);
      ++rows;
      consumed += 8 + key.size() + value.size();
      if (auto line = progress.Update(consumed, common::TransferProgress::Clock::now())) {
        spdlog::info("group {}: restoring snapshot {}: {} rows, {}", r.gid, r.index, rows, *line);
      }
    }
    if (absl::Status s = flush(); !s.ok()) return s;
  }
  if (absl::Status s = RunStage(r, kRestoreStageBeforeBatchB); !s.ok()) return s;

  // (4) Batch B.
  {
    const FinalMeta& m = *final_meta;
    rocksdb::WriteBatch batch;
    batch.Put(meta_cf, MetaKey(r.gid, meta::kAppliedIndex), EncodeU64BE(r.index));
    batch.Put(meta_cf, MetaKey(r.gid, meta::kClockCeilingMs), EncodeU64BE(m.clock_ceiling_ms));
    // Pure assignment: the snapshot is the authority for its prefix; absent reads as 0.
    if (header->raft_envelope_cutover_index != 0) {
      batch.Put(meta_cf, MetaKey(r.gid, meta::kRaftEnvelopeCutoverIndex),
                EncodeU64BE(header->raft_envelope_cutover_index));
    } else {
      batch.Delete(meta_cf, MetaKey(r.gid, meta::kRaftEnvelopeCutoverIndex));
    }
    if (m.peers.has_value()) {
      batch.Put(meta_cf, MetaKey(r.gid, meta::kConfState),
                EncodeConfStateRecord(ConfStateRecord{r.index, r.conf_state}));
      batch.Put(meta_cf, MetaKey(r.gid, meta::kPeers), EncodePeersRecord(*m.peers));
    }
    if (m.clear_bootstrap_era) {
      batch.Put(meta_cf, MetaKey(r.gid, meta::kBootstrapEra), std::string(1, '\0'));
    }
    batch.Put(meta_cf, MetaKey(r.gid, meta::kInitialized), kOne);
    batch.Delete(meta_cf, MetaKey(r.gid, meta::kRestoreMarker));
    if (absl::Status s = engine->Write(batch, /*sync=*/true); !s.ok()) return s;
  }
  spdlog::info("group {}: restored {} rows from {} at index {}: {}", r.gid, rows, r.fsm_path,
               r.index,
               progress.Summary((*reader)->file_size(), common::TransferProgress::Clock::now()));
  return RestoreResult{r.index, *header, rows};
}

}  // namespace tessera::shard
