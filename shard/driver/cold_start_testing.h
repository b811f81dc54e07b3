// Test helpers for the cold-start and restore tests: real .fsm files, direct `data`/`meta` access
// on a real StorageEngine, and RecordingObserver. Header-only; included by *_test.cc only.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "raft/types.h"
#include "rocksdb/write_batch.h"
#include "shard/driver/cold_start.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/storage/engine.h"
#include "shard/storage/keys.h"

namespace tessera::shard::cold_start_testing {

using Rows = std::vector<std::pair<std::string, std::string>>;

struct WrittenSnapshot {
  std::string path;
  uint32_t crc = 0;
};

// Writes <data_dir>/snapshots/<gid>/<index>.fsm through the production writer.
inline absl::StatusOr<WrittenSnapshot> WriteSnapshotFile(const std::string& data_dir, GroupId gid,
                                                         uint64_t index, const FsmHeader& header,
                                                         const Rows& rows) {
  if (absl::Status s = CreateSnapshotDirs(data_dir, gid); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<FsmWriter>> writer =
      FsmWriter::Open(GroupSnapshotDir(data_dir, gid), index);
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->WriteHeader(header); !s.ok()) return s;
  for (const auto& [key, value] : rows) {
    if (absl::Status s = (*writer)->AddRow(key, value); !s.ok()) return s;
  }
  absl::StatusOr<uint32_t> crc = (*writer)->Finish();
  if (!crc.ok()) return crc.status();
  return WrittenSnapshot{(*writer)->path(), *crc};
}

// The snapshot record of a group as GroupLog holds it: metadata plus the token.
inline raft::Snapshot SnapshotRecord(uint64_t index, uint32_t crc, raft::ConfState conf_state = {},
                                     uint64_t term = 1) {
  raft::Snapshot snap;
  snap.metadata.index = index;
  snap.metadata.term = term;
  snap.metadata.conf_state = std::move(conf_state);
  snap.data = EncodeSnapshotToken(SnapshotToken{index, crc});
  return snap;
}

// The big-endian CRC footer of a whole file image.
inline uint32_t FooterCrc(std::string_view file) {
  uint32_t crc = 0;
  for (char c : file.substr(file.size() - 4)) crc = (crc << 8) | static_cast<uint8_t>(c);
  return crc;
}

// XORs one byte of a file in place.
inline void FlipByte(const std::string& path, off_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, offset), 1);
  c = static_cast<char>(c ^ 0x5a);
  ASSERT_EQ(::pwrite(fd, &c, 1, offset), 1);
  ::close(fd);
}

inline void PutRows(StorageEngine* engine, GroupId gid, const Rows& rows) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : rows) batch.Put(engine->data(), GroupKey(gid, key), value);
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
}

// Every row of the group, group prefix stripped, in key order.
inline Rows ReadRows(StorageEngine* engine, GroupId gid) {
  Rows rows;
  const std::string begin = GroupKey(gid, {});
  const std::string end = GroupKeyEnd(gid);
  std::unique_ptr<rocksdb::Iterator> it(
      engine->db()->NewIterator(rocksdb::ReadOptions(), engine->data()));
  for (it->Seek(begin); it->Valid() && it->key().ToStringView() < std::string_view(end);
       it->Next()) {
    rows.emplace_back(std::string(it->key().ToStringView().substr(8)), it->value().ToString());
  }
  EXPECT_TRUE(it->status().ok());
  return rows;
}

inline void PutMeta(StorageEngine* engine, GroupId gid, std::string_view name,
                    std::string_view value) {
  rocksdb::WriteBatch batch;
  batch.Put(engine->meta(), MetaKey(gid, name), rocksdb::Slice(value.data(), value.size()));
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
}

inline std::optional<std::string> GetMeta(StorageEngine* engine, GroupId gid,
                                          std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &value);
  if (!s.ok()) return std::nullopt;
  return value;
}

// Records every observer call per group; executed gaps use the production formula.
class RecordingObserver final : public ColdStartObserver {
 public:
  struct Calls {
    std::vector<uint64_t> skipped;   // have − snap
    std::vector<uint64_t> executed;  // |snap − have|
    std::vector<std::string> fallback_reasons;
    int regenerated = 0;
  };

  void RestoreSkipped(GroupId gid, uint64_t snap_index, uint64_t have) noexcept override {
    groups[gid].skipped.push_back(have - snap_index);
  }
  void RestoreExecuted(GroupId gid, uint64_t snap_index, uint64_t have) noexcept override {
    groups[gid].executed.push_back(ExecutedAppliedIndexGap(snap_index, have));
  }
  void RestoreFallback(GroupId gid, uint64_t /*snap_index*/,
                       std::string_view reason) noexcept override {
    groups[gid].fallback_reasons.emplace_back(reason);
  }
  void SnapshotRegenerated(GroupId gid) noexcept override { ++groups[gid].regenerated; }

  bool empty() const { return groups.empty(); }

  std::map<GroupId, Calls> groups;
};

}  // namespace tessera::shard::cold_start_testing
