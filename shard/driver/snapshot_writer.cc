#include "shard/driver/snapshot_writer.h"

#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "shard/driver/bootstrap.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/storage/keys.h"

namespace tessera::shard {
namespace {

// A u64 BE meta row of the group in `view`; absent (or not 8 bytes) reads as 0.
absl::StatusOr<uint64_t> ReadMetaU64(StorageEngine* engine, const rocksdb::Snapshot* view,
                                     GroupId gid, std::string_view name) {
  rocksdb::ReadOptions ro;
  ro.snapshot = view;
  std::string value;
  rocksdb::Status s = engine->db()->Get(ro, engine->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok())
    return FromRocksStatus(
        s, absl::StrCat("snapshot: read meta ", absl::string_view(name.data(), name.size())));
  return value.size() == 8 ? DecodeU64BE(value) : 0;
}

}  // namespace

absl::StatusOr<WrittenSnapshot> WriteGroupSnapshot(StorageEngine* engine,
                                                   const std::string& data_dir, GroupId gid,
                                                   uint64_t index, const rocksdb::Snapshot* view,
                                                   uint64_t max_bytes,
                                                   FsmWriterOptions writer_options) {
  WrittenSnapshot out;
  out.index = index;

  rocksdb::ReadOptions ro;
  ro.snapshot = view;
  std::string cs_bytes;
  rocksdb::Status rs =
      engine->db()->Get(ro, engine->meta(), MetaKey(gid, meta::kConfState), &cs_bytes);
  if (!rs.ok()) {
    return rs.IsNotFound() ? absl::FailedPreconditionError(
                                 absl::StrCat("snapshot of group ", gid, ": no conf_state record"))
                           : FromRocksStatus(rs, "snapshot: read conf_state");
  }
  absl::StatusOr<ConfStateRecord> cs = DecodeConfStateRecord(cs_bytes);
  if (!cs.ok()) return cs.status();
  out.conf_state = cs->conf_state;

  absl::StatusOr<uint64_t> ceiling = ReadMetaU64(engine, view, gid, meta::kClockCeilingMs);
  if (!ceiling.ok()) return ceiling.status();
  absl::StatusOr<uint64_t> cutover =
      ReadMetaU64(engine, view, gid, meta::kRaftEnvelopeCutoverIndex);
  if (!cutover.ok()) return cutover.status();
  absl::StatusOr<uint64_t> latch = ReadMetaU64(engine, view, gid, meta::kSnapshotHeaderLatch);
  if (!latch.ok()) return latch.status();
  const FsmHeaderChoice choice = ChooseFsmHeader(*ceiling, *cutover, *latch);
  out.header = choice.header;
  out.meta_below_latch = choice.meta_below_latch;

  if (absl::Status s = CreateSnapshotDirs(data_dir, gid); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<FsmWriter>> writer =
      FsmWriter::Open(GroupSnapshotDir(data_dir, gid), index, std::move(writer_options));
  if (!writer.ok()) return writer.status();
  FsmWriter& w = **writer;
  if (absl::Status s = w.WriteHeader(out.header); !s.ok()) return s;

  const std::string lower = GroupKey(gid, {});
  const std::string upper = GroupKeyEnd(gid);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iter_options;
  iter_options.snapshot = view;
  iter_options.iterate_upper_bound = &upper_slice;
  iter_options.fill_cache = false;  // a full scan would evict the working set
  std::unique_ptr<rocksdb::Iterator> it(engine->db()->NewIterator(iter_options, engine->data()));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (absl::Status s = w.AddRow(std::string_view(key.data() + 8, key.size() - 8),
                                  std::string_view(value.data(), value.size()));
        !s.ok()) {
      return s;  // the writer's destructor removes the temp file
    }
    if (w.bytes_written() + kFsmFooterSize > max_bytes) {
      return SnapshotError(SnapshotErrc::kSnapshotTooLarge,
                           absl::StrCat("snapshot of group ", gid, " at ", index,
                                        " exceeds --raftMaxSnapshotBytes=", max_bytes));
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "snapshot: scan data");
  absl::StatusOr<uint32_t> crc = w.Finish();
  if (!crc.ok()) return crc.status();
  if (w.bytes_written() > max_bytes) {  // rows are checked per flushed buffer; this is exact
    std::error_code ec;
    std::filesystem::remove(w.path(), ec);
    return SnapshotError(
        SnapshotErrc::kSnapshotTooLarge,
        absl::StrCat("snapshot of group ", gid, " at ", index, " is ", w.bytes_written(),
                     " bytes, over --raftMaxSnapshotBytes=", max_bytes));
  }
  out.crc = *crc;
  out.rows = w.rows();
  out.bytes = w.bytes_written();
  out.path = w.path();
  return out;
}

absl::Status StageAppliedIndexCheckpoint(StorageEngine* engine, GroupId gid, uint64_t x,
                                         rocksdb::WriteBatch& batch) {
  absl::StatusOr<AppliedIndex> have = engine->LastAppliedIndex(gid);
  if (!have.ok()) return have.status();
  if (!have->present || have->value < x) {
    batch.Put(engine->meta(), MetaKey(gid, meta::kAppliedIndex), EncodeU64BE(x));
  }
  return absl::OkStatus();
}

}  // namespace tessera::shard
