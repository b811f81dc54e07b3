// WipeGroup: checks the bootstrap era and counts client entries before deleting anything; the
// three column families' group ranges go in one synced batch, then the snapshot files.
#include "shard/admin/wipe_group.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "rocksdb/write_batch.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"
#include "shard/storage/keys.h"

namespace tessera::shard {

absl::StatusOr<WipeGroupResult> WipeGroup(const std::string& data_dir, uint64_t gid,
                                          bool confirm_data_loss) {
  if (gid == 0 || gid == UINT64_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("invalid group id ", gid));
  }
  if (!std::filesystem::exists(std::filesystem::path(data_dir) / "rocksdb")) {
    return absl::NotFoundError(absl::StrCat("no database under ", data_dir));
  }
  absl::StatusOr<std::unique_ptr<StorageEngine>> engine =
      StorageEngine::Open(data_dir, EngineOptions{});
  if (!engine.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", data_dir, " (is the shard still running?): ", engine.status().message()));
  }
  StorageEngine* e = engine->get();
  std::string value;
  rocksdb::Status rs =
      e->db()->Get(rocksdb::ReadOptions(), e->meta(), MetaKey(gid, meta::kInitialized), &value);
  if (rs.IsNotFound()) {
    (void)e->Close();
    return absl::NotFoundError(absl::StrCat("group ", gid, " has no state in ", data_dir));
  }
  rs = e->db()->Get(rocksdb::ReadOptions(), e->meta(), MetaKey(gid, meta::kBootstrapEra), &value);
  if (!rs.ok() || value != std::string(1, '\x01')) {
    (void)e->Close();
    return absl::FailedPreconditionError(
        absl::StrCat("group ", gid,
                     " is not in its bootstrap era (a membership change committed, or it joined): "
                     "wipe-group only repairs a divergent first boot; use remove_server and "
                     "add_learner instead"));
  }
  WipeGroupResult result;
  absl::StatusOr<std::unique_ptr<GroupLog>> log = GroupLog::Load(e, gid);
  if (!log.ok()) {
    (void)e->Close();
    return log.status();
  }
  const uint64_t first = (*log)->FirstIndex();
  const uint64_t last = (*log)->LastIndex();
  for (uint64_t lo = first; lo <= last;) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        (*log)->Entries(lo, last + 1, uint64_t{64} << 20);
    if (!entries.ok() || entries->empty()) break;
    for (const raft::Entry& entry : *entries) {
      if (entry.type == raft::EntryType::kNormal && !entry.data.empty()) ++result.data_entries;
    }
    lo = entries->back().index + 1;
  }
  if (result.data_entries > 0 && !confirm_data_loss) {
    (void)e->Close();
    return absl::FailedPreconditionError(
        absl::StrCat("group ", gid, "'s log holds ", result.data_entries,
                     " client entries; pass --confirm-data-loss to wipe them"));
  }
  rocksdb::WriteBatch batch;
  for (rocksdb::ColumnFamilyHandle* cf : {e->raftlog(), e->meta(), e->data()}) {
    batch.DeleteRange(cf, GroupKey(gid, {}), GroupKeyEnd(gid));
  }
  if (absl::Status s = e->Write(batch, /*sync=*/true); !s.ok()) {
    (void)e->Close();
    return s;
  }
  if (absl::Status s = e->Close(); !s.ok()) return s;
  const std::filesystem::path dir = GroupSnapshotDir(data_dir, gid);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) ++result.snapshot_files;
    }
    std::filesystem::remove_all(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("removing ", dir.string(), ": ", ec.message()));
  }
  return result;
}

}  // namespace tessera::shard
