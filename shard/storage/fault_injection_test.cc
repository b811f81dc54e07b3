// Storage fault injection: what a crash or a bad disk leaves behind is detected, never served.
//  - A torn last WAL record (the crash hit mid-write of a batch that was never acknowledged):
//    recovery yields exactly the prefix of synced batches before it (kPointInTimeRecovery).
//  - A torn or corrupt snapshot file: the typed snapshot errors, with nothing mutated.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "raft/types.h"
#include "rocksdb/write_batch.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

namespace fs = std::filesystem;
using storage_testing::TempDir;

constexpr GroupId kGroup = 7;

raft::Entry MakeEntry(uint64_t index) {
  raft::Entry e;
  e.index = index;
  e.term = 2;
  e.data = std::string(512, static_cast<char>('a' + index % 26));
  return e;
}

// The newest WAL file of the RocksDB under `data_dir`.
fs::path NewestWal(const std::string& data_dir) {
  std::vector<fs::path> wals;
  for (const auto& entry : fs::directory_iterator(fs::path(data_dir) / "rocksdb")) {
    if (entry.path().extension() == ".log") wals.push_back(entry.path());
  }
  EXPECT_FALSE(wals.empty());
  std::sort(wals.begin(), wals.end());
  return wals.empty() ? fs::path() : wals.back();
}

// Copies a live database directory: with every batch synced, the copy is what a power loss at
// this instant would leave on disk.
void CopyTree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

TEST(StorageFaultTest, TornLastWalRecordRecoversTheSyncedPrefix) {
  TempDir live;
  TempDir crashed;
  {
    auto engine = StorageEngine::Open(live.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto log = GroupLog::Load(engine->get(), kGroup);
    ASSERT_TRUE(log.ok());
    // Ten acknowledged appends, each one synced batch with its hard state.
    for (uint64_t i = 1; i <= 10; ++i) {
      rocksdb::WriteBatch batch;
      ASSERT_TRUE((*log)->StageAppend(batch, {MakeEntry(i)}).ok());
      (*log)->StageHardState(batch, raft::HardState{2, 1, i});
      ASSERT_TRUE((*engine)->Write(batch, /*sync=*/true).ok());
    }
    CopyTree(live.path(), crashed.path());
    // The engine is still open: closing would flush the memtable and retire the WAL.
    const fs::path wal = NewestWal(crashed.path());
    const auto size = fs::file_size(wal);
    ASSERT_GT(size, 600u);
    // Tear the last record (entry 10 is ~530 bytes): cut into its middle.
    fs::resize_file(wal, size - 200);
  }
  auto engine = StorageEngine::Open(crashed.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto log = GroupLog::Load(engine->get(), kGroup);
  ASSERT_TRUE(log.ok()) << log.status();
  // Exactly the prefix: entries 1..9 and the hard state written with entry 9.
  EXPECT_EQ((*log)->LastIndex(), 9u);
  EXPECT_EQ((*log)->hard_state().commit, 9u);
  auto entries = (*log)->Entries(1, 10, raft::kNoLimit);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 9u);
  for (uint64_t i = 1; i <= 9; ++i) EXPECT_EQ((*entries)[i - 1], MakeEntry(i));
}

TEST(StorageFaultTest, CorruptWalRecordBeforeTheTailStopsAtThePrefix) {
  TempDir live;
  TempDir crashed;
  {
    auto engine = StorageEngine::Open(live.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto log = GroupLog::Load(engine->get(), kGroup);
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 1; i <= 10; ++i) {
      rocksdb::WriteBatch batch;
      ASSERT_TRUE((*log)->StageAppend(batch, {MakeEntry(i)}).ok());
      (*log)->StageHardState(batch, raft::HardState{2, 1, i});
      ASSERT_TRUE((*engine)->Write(batch, /*sync=*/true).ok());
    }
    CopyTree(live.path(), crashed.path());
  }
  // Flip a byte in the middle of the WAL: recovery must not skip the bad record and serve
  // later ones (kSkipAnyCorruptedRecords would); it stops at the last good record.
  const fs::path wal = NewestWal(crashed.path());
  const auto size = fs::file_size(wal);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(&c, 1);
  }
  auto engine = StorageEngine::Open(crashed.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto log = GroupLog::Load(engine->get(), kGroup);
  ASSERT_TRUE(log.ok()) << log.status();
  const uint64_t last = (*log)->LastIndex();
  EXPECT_LT(last, 10u);
  EXPECT_GE(last, 1u);
  // A prefix: contiguous, and the hard state is the one written with the last entry.
  EXPECT_EQ((*log)->hard_state().commit, last);
  auto entries = (*log)->Entries(1, last + 1, raft::kNoLimit);
  ASSERT_TRUE(entries.ok()) << entries.status();
  for (uint64_t i = 1; i <= last; ++i) EXPECT_EQ((*entries)[i - 1], MakeEntry(i));
}

// A snapshot file written in full, then damaged the ways a crash or a disk can damage it.
class SnapshotFileFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = FsmWriter::Open(dir_.path(), 42);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->WriteHeader(FsmHeader{}).ok());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*w)->AddRow(absl::StrCat("key", 1000 + i), std::string(100, 'v')).ok());
    }
    auto crc = (*w)->Finish();
    ASSERT_TRUE(crc.ok()) << crc.status();
    crc_ = *crc;
    path_ = (*w)->path();
    size_ = fs::file_size(path_);
  }

  TempDir dir_;
  std::string path_;
  uint32_t crc_ = 0;
  uint64_t size_ = 0;
};

TEST_F(SnapshotFileFaultTest, IntactFileVerifies) { EXPECT_TRUE(VerifyFsmFile(path_, crc_).ok()); }

TEST_F(SnapshotFileFaultTest, TornTailIsATokenCrcError) {
  fs::resize_file(path_, size_ / 2);  // the write stopped halfway; the footer is body bytes
  EXPECT_EQ(GetSnapshotErrc(VerifyFsmFile(path_, crc_).status()), SnapshotErrc::kSnapshotTokenCrc);
}

TEST_F(SnapshotFileFaultTest, TruncatedToNothingIsTooSmall) {
  fs::resize_file(path_, 0);
  EXPECT_EQ(GetSnapshotErrc(VerifyFsmFile(path_, crc_).status()), SnapshotErrc::kSnapshotTooSmall);
}

TEST_F(SnapshotFileFaultTest, FlippedBodyByteIsAFileCrcError) {
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(size_ / 2);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(at);
    f.write(&c, 1);
  }
  EXPECT_EQ(GetSnapshotErrc(VerifyFsmFile(path_, crc_).status()), SnapshotErrc::kSnapshotFileCrc);
}

TEST_F(SnapshotFileFaultTest, MissingFileIsNotFound) {
  fs::remove(path_);
  EXPECT_EQ(GetSnapshotErrc(VerifyFsmFile(path_, crc_).status()), SnapshotErrc::kSnapshotNotFound);
}

}  // namespace
}  // namespace tessera::shard
