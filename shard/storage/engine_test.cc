// Tests of StorageEngine: opening and reopening, the key encoding, the applied-index read rules,
// a failed fsync reaching the stop hook (and aborting by default), and synced-write latency.
#include "shard/storage/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "rocksdb/options.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using storage_testing::FailingSyncFileSystem;
using storage_testing::TempDir;

constexpr GroupId kTopGroup = UINT64_MAX - 1;  // the highest valid group id

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

std::unique_ptr<StorageEngine> OpenOrDie(const std::string& dir, const EngineOptions& opts = {}) {
  absl::StatusOr<std::unique_ptr<StorageEngine>> engine = StorageEngine::Open(dir, opts);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

TEST(KeysTest, GroupKeyIsBigEndianPrefix) {
  EXPECT_EQ(Hex(GroupKey(1, "applied_index")), "0000000000000001" + Hex("applied_index"));
  EXPECT_EQ(Hex(GroupKey(0x0102030405060708, "")), "0102030405060708");
  EXPECT_EQ(MetaKey(7, meta::kAppliedIndex), GroupKey(7, "applied_index"));
  // Groups sort numerically and a group's keys sit below the next group's prefix.
  EXPECT_LT(GroupKey(1, "\xff\xff"), GroupKey(2, ""));
  EXPECT_LT(GroupKey(255, "zz"), GroupKey(256, ""));
  EXPECT_LT(GroupKey(kTopGroup, "\xff"), GroupKeyEnd(kTopGroup));
  EXPECT_EQ(GroupKeyEnd(1), GroupKey(2, ""));
}

TEST(KeysTest, U64RoundTrip) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}, UINT64_MAX}) {
    std::string enc = EncodeU64BE(v);
    ASSERT_EQ(enc.size(), 8u);
    EXPECT_EQ(DecodeU64BE(enc), v);
  }
  EXPECT_EQ(Hex(EncodeU64BE(100)), "0000000000000064");
}

TEST(StorageEngineTest, OpenCreatesDirectoriesAndColumnFamilies) {
  TempDir tmp;
  const std::string data_dir = tmp.path() + "/nested/data";
  {
    auto engine = OpenOrDie(data_dir);
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(engine->raftlog()->GetName(), "raftlog");
    EXPECT_EQ(engine->data()->GetName(), "data");
    EXPECT_EQ(engine->meta()->GetName(), "meta");
    const rocksdb::DBOptions opts = engine->db()->GetDBOptions();
    EXPECT_EQ(opts.wal_recovery_mode, rocksdb::WALRecoveryMode::kPointInTimeRecovery);
    EXPECT_TRUE(opts.atomic_flush);

    rocksdb::WriteBatch batch;
    batch.Put(engine->data(), GroupKey(1, "k"), "v");
    batch.Put(engine->meta(), MetaKey(1, meta::kAppliedIndex), EncodeU64BE(5));
    ASSERT_TRUE(engine->Write(batch, /*sync=*/false).ok());
  }
  EXPECT_TRUE(std::filesystem::is_directory(data_dir + "/rocksdb"));
  std::vector<std::string> cfs;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data_dir + "/rocksdb", &cfs).ok());
  std::sort(cfs.begin(), cfs.end());
  EXPECT_EQ(cfs, (std::vector<std::string>{"data", "default", "meta", "raftlog"}));

  // An unsynced write is still in the WAL and survives the reopen.
  auto engine = OpenOrDie(data_dir);
  ASSERT_NE(engine, nullptr);
  std::string value;
  ASSERT_TRUE(
      engine->db()->Get(rocksdb::ReadOptions(), engine->data(), GroupKey(1, "k"), &value).ok());
  EXPECT_EQ(value, "v");
  EXPECT_EQ(*engine->LastAppliedIndex(1), (AppliedIndex{5, true}));
  EXPECT_TRUE(engine->Close().ok());
  EXPECT_TRUE(engine->Close().ok());  // idempotent
}

class AppliedIndexReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = OpenOrDie(tmp_.path());
    ASSERT_NE(engine_, nullptr);
  }
  void PutMeta(GroupId gid, std::string_view name, std::string value) {
    rocksdb::WriteBatch batch;
    batch.Put(engine_->meta(), MetaKey(gid, name), value);
    ASSERT_TRUE(engine_->Write(batch, true).ok());
  }
  AppliedIndex Read(GroupId gid) {
    absl::StatusOr<AppliedIndex> a = engine_->LastAppliedIndex(gid);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : AppliedIndex{};
  }

  TempDir tmp_;
  std::unique_ptr<StorageEngine> engine_;
};

TEST_F(AppliedIndexReadTest, AbsentKeyReadsAbsent) { EXPECT_EQ(Read(1), AppliedIndex{}); }

TEST_F(AppliedIndexReadTest, EightByteValueReadsPresent) {
  PutMeta(1, meta::kAppliedIndex, EncodeU64BE(0x0102030405060708));
  EXPECT_EQ(Read(1), (AppliedIndex{0x0102030405060708, true}));
  PutMeta(2, meta::kAppliedIndex, EncodeU64BE(0));
  EXPECT_EQ(Read(2), (AppliedIndex{0, true}));
}

TEST_F(AppliedIndexReadTest, WrongLengthReadsAbsent) {
  PutMeta(1, meta::kAppliedIndex, EncodeU64BE(42).substr(1));  // 7 bytes
  EXPECT_EQ(Read(1), AppliedIndex{});
  PutMeta(2, meta::kAppliedIndex, EncodeU64BE(42) + "x");  // 9 bytes
  EXPECT_EQ(Read(2), AppliedIndex{});
  PutMeta(3, meta::kAppliedIndex, "");
  EXPECT_EQ(Read(3), AppliedIndex{});
}

TEST_F(AppliedIndexReadTest, RestoreMarkerReadsAbsent) {
  PutMeta(1, meta::kAppliedIndex, EncodeU64BE(42));
  PutMeta(1, meta::kRestoreMarker, EncodeU64BE(100));
  EXPECT_EQ(Read(1), AppliedIndex{});
  // Other groups are not affected by group 1's marker.
  PutMeta(2, meta::kAppliedIndex, EncodeU64BE(7));
  EXPECT_EQ(Read(2), (AppliedIndex{7, true}));
}

struct FaultyEngine {
  std::shared_ptr<FailingSyncFileSystem> fs = std::make_shared<FailingSyncFileSystem>();
  EngineOptions options;
  FaultyEngine() { options.env = rocksdb::NewCompositeEnv(fs); }
};

TEST(StorageEngineSyncFailureTest, FailedFsyncReachesTheStopHook) {
  TempDir tmp;
  FaultyEngine faulty;
  int stops = 0;
  faulty.options.on_sync_failure = [&stops] { ++stops; };
  auto engine = OpenOrDie(tmp.path(), faulty.options);
  ASSERT_NE(engine, nullptr);

  rocksdb::WriteBatch batch;
  batch.Put(engine->raftlog(), GroupKey(1, "h"), "before");
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  EXPECT_EQ(stops, 0);

  faulty.fs->fail_sync = true;
  // An unsynced write never fsyncs: it succeeds and does not stop anything.
  batch.Clear();
  batch.Put(engine->raftlog(), GroupKey(1, "x"), "unsynced");
  ASSERT_TRUE(engine->Write(batch, /*sync=*/false).ok());
  EXPECT_EQ(stops, 0);

  batch.Clear();
  batch.Put(engine->raftlog(), GroupKey(1, "h"), "after");
  ::testing::internal::CaptureStderr();
  absl::Status s = engine->Write(batch, /*sync=*/true);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(stops, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(err.find("fatal: fsync of the raft log failed: "), std::string::npos) << err;
  EXPECT_NE(err.find("injected fsync failure"), std::string::npos) << err;
  EXPECT_NE(err.find("; stopping\n"), std::string::npos) << err;

  faulty.fs->fail_sync = false;
  (void)engine->Close();  // may report the background error RocksDB latched
}

TEST(StorageEngineSyncFailureDeathTest, DefaultHookAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The threadsafe style re-runs this body in a child that dies without cleaning up, so the
  // child works in the parent's directory, passed down through the environment.
  constexpr char kDirVar[] = "TESSERA_STORAGE_DEATH_TEST_DIR";
  std::optional<TempDir> own;
  std::string dir;
  if (const char* inherited = std::getenv(kDirVar); inherited != nullptr) {
    dir = inherited;
  } else {
    own.emplace();
    dir = own->path();
    setenv(kDirVar, dir.c_str(), 1);
  }
  EXPECT_DEATH(
      {
        FaultyEngine faulty;
        auto engine = StorageEngine::Open(dir + "/child", faulty.options);
        if (!engine.ok()) return;
        faulty.fs->fail_sync = true;
        rocksdb::WriteBatch batch;
        batch.Put((*engine)->raftlog(), GroupKey(1, "h"), "x");
        (void)(*engine)->Write(batch, /*sync=*/true);
      },
      "fatal: fsync of the raft log failed: .*injected fsync failure.*; stopping");
  if (own.has_value()) unsetenv(kDirVar);
}

// Not a benchmark: one figure for the record of what a group commit costs on this machine.
TEST(StorageEngineTest, SyncedWriteLatency) {
  TempDir tmp;
  auto engine = OpenOrDie(tmp.path());
  ASSERT_NE(engine, nullptr);
  constexpr int kWrites = 200;
  std::vector<double> micros;
  const std::string payload(100, 'p');
  for (int i = 0; i < kWrites; ++i) {
    rocksdb::WriteBatch batch;
    batch.Put(engine->raftlog(), GroupKey(1, "e" + EncodeU64BE(i)), payload);
    batch.Put(engine->raftlog(), GroupKey(1, "h"),
              EncodeU64BE(i) + EncodeU64BE(0) + EncodeU64BE(i));
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(micros.begin(), micros.end());
  std::printf("synced WriteBatch on %s: median %.0f us, p90 %.0f us, max %.0f us (%d writes)\n",
              tmp.path().c_str(), micros[kWrites / 2], micros[kWrites * 9 / 10], micros.back(),
              kWrites);
  RecordProperty("synced_write_median_us", static_cast<int>(micros[kWrites / 2]));
}

}  // namespace
}  // namespace tessera::shard
