// Snapshot creation (spec/snapshots-and-cold-start.md §4): one group's `data` rows and header
// state, read from one RocksDB snapshot view, written crash-safely as a .fsm file.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "raft/types.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

// A durable .fsm file, not yet recorded: the caller records {index, term, conf_state, token}
// with the applied-index checkpoint in one synced batch, or removes the file.
struct WrittenSnapshot {
  uint64_t index = 0;
  uint32_t crc = 0;               // the footer, for the token
  raft::ConfState conf_state;     // meta:conf_state in the view
  FsmHeader header;               // as written (v1 or v2, §2 writer choice)
  bool meta_below_latch = false;  // the latch overrode a lower meta cutover: log one ERROR
  uint64_t rows = 0;
  uint64_t bytes = 0;  // file size, footer included
  std::string path;
};

// Writes <dataDir>/snapshots/<gid>/<index>.fsm from `view`, which must show the group's state
// at exactly `index` (taken right after the apply batch of `index` was written). Every row of
// `data` in [gid, gid+1) goes into the body with the group prefix stripped; the clock ceiling,
// the cutover, the header latch and the ConfState come from `meta` in the same view. A file
// that already exists is never replaced (kIo, EEXIST). `writer_options` is a test seam.
// A file that would grow past `max_bytes` (--raftMaxSnapshotBytes) is abandoned with
// kSnapshotTooLarge.
absl::StatusOr<WrittenSnapshot> WriteGroupSnapshot(StorageEngine* engine,
                                                   const std::string& data_dir, GroupId gid,
                                                   uint64_t index, const rocksdb::Snapshot* view,
                                                   uint64_t max_bytes = kDefaultMaxSnapshotBytes,
                                                   FsmWriterOptions writer_options = {});

// The §3 checkpoint, staged into the caller's batch (which also carries the snapshot record
// and is written with sync = true whatever --fsmSyncMode says): meta:applied_index = x unless
// the durable-or-pending value is already >= x, so a snapshot never rewinds an index that
// apply advanced meanwhile. Reads the engine (memtable included); UNAVAILABLE on a RocksDB
// error. Call on the thread that owns the group's applies.
absl::Status StageAppliedIndexCheckpoint(StorageEngine* engine, GroupId gid, uint64_t x,
                                         rocksdb::WriteBatch& batch);

}  // namespace tessera::shard
