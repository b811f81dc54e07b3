// Tests for background collection (gc.h): O(1) DEL queues the dead version, TESSERA.GC entries
// delete its rows in bounded steps, replicas applying the same log in different apply batches
// stay byte-identical, and a snapshot taken mid-collection restores and finishes the same way.
#include "shard/data/gc.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/data/data_testing.h"
#include "shard/driver/cold_start_testing.h"
#include "shard/driver/restore.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::data {
namespace {

using cold_start_testing::ReadRows;
using cold_start_testing::Rows;
using data_testing::Resp2Reply;

constexpr GroupId kGid = 7;
constexpr uint64_t kNowMs = 1'000'000;
constexpr size_t kBudget = 1000;

using Argv = std::vector<std::string>;

// One replica: a real engine that applies log entries with the data model's handlers, the
// entry index as the seed, several entries per WriteBatchWithIndex when asked (as the driver's
// apply batches do).
class Replica {
 public:
  Replica() {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    EXPECT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // Applies log[applied_, applied_ + n) in one batch; returns the replies.
  std::vector<std::string> Apply(const std::vector<Argv>& log, size_t n) {
    rocksdb::WriteBatchWithIndex batch;
    std::vector<std::string> replies;
    for (size_t i = 0; i < n && applied_ < log.size(); ++i, ++applied_) {
      const Argv& args = log[applied_];
      const DataCommand* command = FindDataCommand(absl::AsciiStrToLower(args[0]));
      EXPECT_NE(command, nullptr) << args[0];
      if (command == nullptr) continue;
      std::vector<std::string_view> argv(args.begin(), args.end());
      ExecContext ctx{engine_.get(), kGid, &batch, kNowMs + applied_, applied_ + 1};
      Resp2Reply reply;
      EXPECT_TRUE(command->handler(ctx, argv, reply).ok());
      replies.push_back(reply.text());
    }
    EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), /*sync=*/false).ok());
    return replies;
  }
  void ApplyAll(const std::vector<Argv>& log, size_t batch) {
    while (applied_ < log.size()) Apply(log, batch);
  }

  Rows AllRows() { return ReadRows(engine_.get(), kGid); }
  // Rows of the group whose tag (the byte after the group id) is `tag`.
  size_t CountRows(char tag) {
    size_t n = 0;
    for (const auto& [key, value] : AllRows()) n += !key.empty() && key[0] == tag ? 1 : 0;
    return n;
  }

  StorageEngine* engine() { return engine_.get(); }
  const std::string& dir() const { return dir_.path(); }
  size_t applied() const { return applied_; }
  void set_applied(size_t applied) { applied_ = applied; }

 private:
  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  size_t applied_ = 0;
};

// What a leader does: proposes TESSERA.GC from its applied state while garbage is queued.
// Returns false when the queue is empty.
bool ProposeGc(Replica& leader, std::vector<Argv>* log, std::string* cursor,
               size_t budget = kBudget) {
  absl::StatusOr<std::optional<std::vector<std::string>>> command =
      NextGcCommand(leader.engine(), kGid, budget, cursor);
  EXPECT_TRUE(command.ok()) << command.status();
  if (!command.ok() || !command->has_value()) return false;
  log->push_back(**command);
  return true;
}

Argv BigHset(std::string_view key, int fields) {
  Argv argv = {"HSET", std::string(key)};
  for (int i = 0; i < fields; ++i) {
    argv.push_back(absl::StrCat("field", i));
    argv.push_back(absl::StrCat("value", i));
  }
  return argv;
}

TEST(GcTest, GarbageRowGoldenBytes) {
  Replica a;
  rocksdb::WriteBatchWithIndex batch;
  ExecContext ctx{a.engine(), kGid, &batch, kNowMs, /*seed=*/0x0102};
  RecordGarbage(ctx, "key", 0x0A0B);
  ASSERT_TRUE(a.engine()->Write(*batch.GetWriteBatch(), false).ok());
  // gid ‖ 'G' ‖ deleted_at u64 ‖ version u64 -> key_len u32 ‖ key (‖ resume, empty here),
  // after the value header (0x00: cleartext).
  const std::string key("G\0\0\0\0\0\0\x01\x02\0\0\0\0\0\0\x0a\x0b", 17);
  EXPECT_EQ(a.AllRows(), (Rows{{key, std::string("\0\0\0\0\x03key", 8)}}));
  EXPECT_EQ(GarbageKeyBegin(kGid), std::string("\0\0\0\0\0\0\0\x07G", 9));
  EXPECT_EQ(GarbageKeyEnd(kGid), std::string("\0\0\0\0\0\0\0\x07H", 9));
}

TEST(GcTest, DelOfTenThousandFieldHashIsCollectedAndReplicasStayIdentical) {
  Replica a, b;
  std::vector<Argv> log = {BigHset("h", 10'000), {"SET", "s", "v"}};
  a.ApplyAll(log, 1);
  EXPECT_EQ(a.CountRows('S'), 10'000u);

  // DEL is O(1): the metadata row goes, one garbage row comes, the sub-rows stay for now.
  log.push_back({"DEL", "h"});
  EXPECT_EQ(a.Apply(log, 1), std::vector<std::string>{":1\r\n"});
  EXPECT_EQ(a.CountRows('S'), 10'000u);
  EXPECT_EQ(a.CountRows('G'), 1u);
  EXPECT_EQ(a.CountRows('M'), 1u);  // "s"

  // The leader proposes until nothing is queued; each entry deletes at most the budget.
  std::string cursor;
  int entries = 0;
  while (ProposeGc(a, &log, &cursor)) {
    ASSERT_LT(++entries, 100);
    const std::vector<std::string> replies = a.Apply(log, 1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_TRUE(replies[0] == absl::StrCat(":", kBudget, "\r\n") || replies[0] == ":0\r\n")
        << replies[0];
  }
  EXPECT_EQ(entries, 11);  // ten full budgets, then one that finds the version empty
  EXPECT_EQ(a.CountRows('S'), 0u);
  EXPECT_EQ(a.CountRows('G'), 0u);
  EXPECT_EQ(a.AllRows().size(), 1u);

  // A replica applying the same log in other batches (GC entries in the same batch as the DEL
  // and as each other) ends byte-identical.
  b.ApplyAll(log, 5);
  EXPECT_EQ(b.AllRows(), a.AllRows());
}

TEST(GcTest, OverwriteExpiryUnlinkFlushAndStoreQueueEveryCollectionType) {
  Replica a;
  std::vector<Argv> log = {
      {"HSET", "h", "f1", "v", "f2", "v"},
      {"SADD", "s", "a", "b", "c"},
      {"RPUSH", "l", "x", "y"},
      {"ZADD", "z", "1", "m1", "2", "m2"},
      {"HSET", "ttl", "f", "v"},
      {"PEXPIRE", "ttl", "1"},
      {"SADD", "dst", "old"},
      {"SET", "h", "now a string"},             // overwrite
      {"UNLINK", "s"},                          // unlink
      {"SUNIONSTORE", "dst", "nosuch1", "l2"},  // store over dst: empty result deletes it
      {"HSET", "ttl", "g", "v"},                // the expired hash is dropped, a new one made
      {"FLUSHDB"},
  };
  a.ApplyAll(log, 1);
  // h (2 fields), s (3), dst (1), ttl (old version, 1) were queued before FLUSHDB; FLUSHDB
  // queued l, z and the new ttl.
  EXPECT_EQ(a.CountRows('G'), 7u);
  EXPECT_EQ(a.CountRows('M'), 0u);
  std::string cursor;
  int entries = 0;
  while (ProposeGc(a, &log, &cursor, 4)) {
    ASSERT_LT(++entries, 100);
    a.Apply(log, 1);
  }
  EXPECT_EQ(a.AllRows(), Rows{});
}

TEST(GcTest, CollectionsEmptiedByTheirOwnCommandsQueueNothing) {
  Replica a;
  std::vector<Argv> log = {
      {"RPUSH", "l", "x"},      {"LPOP", "l"},       {"SADD", "s", "a"},      {"SPOP", "s"},
      {"HSET", "h", "f", "v"},  {"HDEL", "h", "f"},  {"ZADD", "z", "1", "m"}, {"ZPOPMIN", "z"},
      {"ZADD", "z2", "1", "m"}, {"ZREM", "z2", "m"},
  };
  a.ApplyAll(log, 1);
  EXPECT_EQ(a.AllRows(), Rows{});
  std::string cursor;
  EXPECT_FALSE(ProposeGc(a, &log, &cursor));
}

TEST(GcTest, BudgetBoundsRowsAndRecordsPerEntry) {
  Replica a;
  std::vector<Argv> log;
  for (int i = 0; i < 300; ++i) log.push_back({"SADD", absl::StrCat("s", i), "a", "b"});
  for (int i = 0; i < 300; ++i) log.push_back({"DEL", absl::StrCat("s", i)});
  a.ApplyAll(log, 50);
  EXPECT_EQ(a.CountRows('G'), 300u);
  // A budget of 5 rows: two records and half of a third.
  log.push_back({"TESSERA.GC", "5"});
  EXPECT_EQ(a.Apply(log, 1), std::vector<std::string>{":5\r\n"});
  EXPECT_EQ(a.CountRows('G'), 298u);
  EXPECT_EQ(a.CountRows('S'), 595u);
  // A large budget still stops after kGcRecordsPerEntry records.
  log.push_back({"TESSERA.GC", "100000"});
  EXPECT_EQ(a.Apply(log, 1),
            std::vector<std::string>{absl::StrCat(":", 2 * kGcRecordsPerEntry - 1, "\r\n")});
  EXPECT_EQ(a.CountRows('G'), 298u - kGcRecordsPerEntry);
}

TEST(GcTest, MalformedEntriesChangeNothing) {
  Replica a;
  std::vector<Argv> log = {{"SADD", "s", "a"}, {"DEL", "s"}};
  a.ApplyAll(log, 1);
  const Rows before = a.AllRows();
  for (Argv bad : {Argv{"TESSERA.GC"}, Argv{"TESSERA.GC", "0"}, Argv{"TESSERA.GC", "x"},
                   Argv{"TESSERA.GC", "5", "short"}, Argv{"TESSERA.GC", "5", "a", "b"}}) {
    log.push_back(bad);
    EXPECT_EQ(a.Apply(log, 1), std::vector<std::string>{"-ERR malformed tessera.gc entry\r\n"});
  }
  EXPECT_EQ(a.AllRows(), before);
}

TEST(GcTest, CursorSkipsCollectedRowsAndSeesRowsQueuedLater) {
  Replica a;
  std::vector<Argv> log = {{"SADD", "s1", "a"}, {"DEL", "s1"}};
  a.ApplyAll(log, 1);
  std::string cursor;
  ASSERT_TRUE(ProposeGc(a, &log, &cursor));
  a.Apply(log, 1);
  EXPECT_FALSE(ProposeGc(a, &log, &cursor));
  EXPECT_FALSE(cursor.empty());
  // A key deleted later queues after the cursor.
  log.push_back({"SADD", "s0", "a"});
  log.push_back({"DEL", "s0"});
  a.ApplyAll(log, 1);
  ASSERT_TRUE(ProposeGc(a, &log, &cursor));
  a.Apply(log, 1);
  EXPECT_EQ(a.AllRows(), Rows{});
}

TEST(GcTest, SnapshotTakenMidCollectionRestoresAndFinishesIdentically) {
  Replica a, c;
  std::vector<Argv> log = {
      BigHset("h", 3000), {"ZADD", "z", "1", "a", "2", "b"}, {"DEL", "h"}, {"DEL", "z"}};
  a.ApplyAll(log, 1);
  std::string cursor;
  ASSERT_TRUE(ProposeGc(a, &log, &cursor));
  ASSERT_TRUE(ProposeGc(a, &log, &cursor));  // the same head twice: the second continues
  a.ApplyAll(log, 1);
  ASSERT_EQ(a.CountRows('S'), 1000u + 4u);  // part of h, all of z
  ASSERT_EQ(a.CountRows('G'), 2u);

  // Snapshot at this index, through the production file format and restore.
  const Rows snapshot_rows = a.AllRows();
  absl::StatusOr<cold_start_testing::WrittenSnapshot> file = cold_start_testing::WriteSnapshotFile(
      c.dir(), kGid, log.size(), FsmHeader{FsmHeaderVersion::kV1, kNowMs}, snapshot_rows);
  ASSERT_TRUE(file.ok()) << file.status();
  RestoreRequest r;
  r.gid = kGid;
  r.fsm_path = file->path;
  r.token_crc = file->crc;
  r.index = log.size();
  r.conf_state = raft::ConfState{{1}, {}};
  absl::StatusOr<RestoreResult> restored = RestoreGroupFromFsm(c.engine(), r);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(c.AllRows(), snapshot_rows);
  c.set_applied(log.size());

  // The restored replica becomes leader with a fresh cursor; both apply the rest of the log.
  std::string fresh_cursor;
  while (ProposeGc(c, &log, &fresh_cursor)) {
    c.Apply(log, 1);
    ASSERT_LT(log.size(), 100u);
  }
  a.ApplyAll(log, 3);
  EXPECT_EQ(c.AllRows(), Rows{});
  EXPECT_EQ(a.AllRows(), c.AllRows());
}

}  // namespace
}  // namespace tessera::shard::data
