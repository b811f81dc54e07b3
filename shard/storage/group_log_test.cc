// Tests of GroupLog: golden bytes of its rows, conformance with raft::MemoryStorage (scripted and
// seeded random operations, reopening the engine on the way), group isolation, and reopen.
#include "shard/storage/group_log.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/testing_network.h"  // PrintTo for entries
#include "rocksdb/iterator.h"
#include "shard/storage/engine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::HardState;
using raft::RaftErrc;
using raft::RaftErrcOf;
using raft::Snapshot;
using storage_testing::TempDir;

constexpr GroupId kTopGroup = UINT64_MAX - 1;  // the highest valid group id

std::string Hex(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

Entry E(uint64_t index, uint64_t term, std::string data = {}) {
  return Entry{term, index, EntryType::kNormal, std::move(data)};
}

// Entries lo..hi (inclusive) of one term, each carrying a payload of its own.
std::vector<Entry> Ents(uint64_t lo, uint64_t hi, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = lo; i <= hi; ++i)
    out.push_back(E(i, term, "t" + std::to_string(term) + "-" + std::to_string(i)));
  return out;
}

Snapshot Snap(uint64_t index, uint64_t term, ConfState cs = {{1, 2, 3}, {}},
              std::string data = {}) {
  Snapshot s;
  s.metadata = raft::SnapshotMetadata{std::move(cs), index, term};
  s.data = std::move(data);
  return s;
}

std::unique_ptr<StorageEngine> OpenEngine(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<StorageEngine>> engine = StorageEngine::Open(dir, {});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

std::unique_ptr<GroupLog> LoadLog(StorageEngine* engine, GroupId gid) {
  absl::StatusOr<std::unique_ptr<GroupLog>> log = GroupLog::Load(engine, gid);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

// Everything a raft::Storage answers, for comparing two storages or one before and after reopen.
void ExpectSameAnswers(const raft::Storage& want, const raft::Storage& got, bool all_ranges) {
  ASSERT_EQ(want.FirstIndex(), got.FirstIndex());
  ASSERT_EQ(want.LastIndex(), got.LastIndex());
  EXPECT_EQ(*want.GetSnapshot(), *got.GetSnapshot());
  EXPECT_EQ(want.GetInitialState()->hard_state, got.GetInitialState()->hard_state);
  EXPECT_EQ(want.GetInitialState()->conf_state, got.GetInitialState()->conf_state);
  const uint64_t top = want.LastIndex() + 2;
  for (uint64_t i = 0; i <= top; ++i) {
    absl::StatusOr<uint64_t> w = want.Term(i);
    absl::StatusOr<uint64_t> g = got.Term(i);
    ASSERT_EQ(w.ok(), g.ok()) << "Term(" << i << "): " << w.status() << " vs " << g.status();
    if (w.ok()) {
      EXPECT_EQ(*w, *g) << "Term(" << i << ")";
    } else {
      EXPECT_EQ(RaftErrcOf(w.status()), RaftErrcOf(g.status())) << "Term(" << i << ")";
    }
  }
  const uint64_t first = want.FirstIndex();
  for (uint64_t lo = first > 2 ? first - 2 : 0; lo <= top; ++lo) {
    for (uint64_t hi = lo; hi <= top; ++hi) {
      if (!all_ranges && hi != top - 1 && hi != lo + 1 && hi != top) continue;
      for (uint64_t max_size :
           {uint64_t{0}, uint64_t{5}, uint64_t{12}, uint64_t{30}, raft::kNoLimit}) {
        auto w = want.Entries(lo, hi, max_size);
        auto g = got.Entries(lo, hi, max_size);
        ASSERT_EQ(w.ok(), g.ok()) << "Entries(" << lo << ", " << hi << ", " << max_size
                                  << "): " << w.status() << " vs " << g.status();
        if (w.ok()) {
          EXPECT_EQ(*w, *g) << "Entries(" << lo << ", " << hi << ", " << max_size << ")";
        } else {
          EXPECT_EQ(RaftErrcOf(w.status()), RaftErrcOf(g.status()));
        }
      }
    }
  }
}

// The same operation on a MemoryStorage and on a GroupLog (one batch per operation; unsynced,
// durability is not what this checks), checking that both accept or refuse it alike.
class Twin {
 public:
  explicit Twin(GroupId gid = 1) : gid_(gid) { Reopen(); }

  void Reopen() {
    log_.reset();
    engine_.reset();
    engine_ = OpenEngine(tmp_.path());
    ASSERT_NE(engine_, nullptr);
    log_ = LoadLog(engine_.get(), gid_);
    ASSERT_NE(log_, nullptr);
  }

  RaftErrc Append(const std::vector<Entry>& entries) {
    rocksdb::WriteBatch batch;
    return Both(mem_.Append(entries), log_->StageAppend(batch, entries), batch);
  }
  RaftErrc Compact(uint64_t i) {
    rocksdb::WriteBatch batch;
    return Both(mem_.Compact(i), log_->StageCompact(batch, i), batch);
  }
  RaftErrc ApplySnapshot(const Snapshot& snap) {
    rocksdb::WriteBatch batch;
    return Both(mem_.ApplySnapshot(snap), log_->StageSnapshot(batch, snap), batch);
  }
  RaftErrc CreateSnapshot(uint64_t i, const ConfState* cs, std::string data) {
    rocksdb::WriteBatch batch;
    auto m = mem_.CreateSnapshot(i, cs, data);
    auto g = log_->StageCreateSnapshot(batch, i, cs, data);
    if (m.ok() && g.ok()) {
      EXPECT_EQ(*m, *g);
    }
    return Both(m.status(), g.status(), batch);
  }
  void SetHardState(const HardState& hs) {
    rocksdb::WriteBatch batch;
    mem_.SetHardState(hs);
    log_->StageHardState(batch, hs);
    EXPECT_TRUE(engine_->Write(batch, /*sync=*/false).ok());
  }

  void ExpectSame(bool all_ranges = true) { ExpectSameAnswers(mem_, *log_, all_ranges); }

  raft::MemoryStorage& mem() { return mem_; }
  GroupLog& log() { return *log_; }

 private:
  RaftErrc Both(const absl::Status& m, const absl::Status& g, rocksdb::WriteBatch& batch) {
    EXPECT_EQ(m.ok(), g.ok()) << m << " vs " << g;
    EXPECT_EQ(RaftErrcOf(m), RaftErrcOf(g)) << m << " vs " << g;
    if (!g.ok()) {
      EXPECT_EQ(batch.Count(), 0u) << "a refused operation staged rows";
    }
    absl::Status w = engine_->Write(batch, /*sync=*/false);
    EXPECT_TRUE(w.ok()) << w;
    return RaftErrcOf(g);
  }

  GroupId gid_;
  TempDir tmp_;
  raft::MemoryStorage mem_;
  std::unique_ptr<StorageEngine> engine_;
  std::unique_ptr<GroupLog> log_;
};

TEST(GroupLogFormatTest, KeysGolden) {
  EXPECT_EQ(Hex(LogEntryKey(1, 5)),
            "0000000000000001"
            "65"
            "0000000000000005");
  EXPECT_EQ(Hex(HardStateKey(0x0102030405060708)),
            "0102030405060708"
            "68");
  EXPECT_EQ(Hex(SnapshotRecordKey(2)),
            "0000000000000002"
            "73");
  EXPECT_EQ(Hex(CompactionPointKey(2)),
            "0000000000000002"
            "63");
}

TEST(GroupLogFormatTest, RowsGolden) {
  EXPECT_EQ(Hex(EncodeLogEntryValue(Entry{2, 5, EntryType::kConfChange, "ab"})),
            "0000000000000002"
            "01"
            "6162");
  EXPECT_EQ(Hex(EncodeLogEntryValue(Entry{3, 6, EntryType::kNormal, ""})),
            "0000000000000003"
            "00");
  EXPECT_EQ(Hex(EncodeHardState(HardState{7, 2, 6})),
            "0000000000000007"
            "0000000000000002"
            "0000000000000006");
  const Snapshot snap = Snap(100, 4, ConfState{{1, 2}, {3}}, "TSRT");
  const std::string golden =
      "0000000000000064"
      "0000000000000004"  // index 100, term 4
      "00000002"
      "0000000000000001"
      "0000000000000002"  // voters 1, 2
      "00000001"
      "0000000000000003"  // learner 3
      "54535254";         // data
  EXPECT_EQ(Hex(EncodeSnapshotRecord(snap)), golden);
  absl::StatusOr<Snapshot> back = DecodeSnapshotRecord(EncodeSnapshotRecord(snap));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, snap);
}

TEST(GroupLogFormatTest, TruncatedSnapshotRecordRejected) {
  const std::string full = EncodeSnapshotRecord(Snap(100, 4, ConfState{{1, 2}, {3}}));
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(DecodeSnapshotRecord(full.substr(0, n)).status().code(), absl::StatusCode::kDataLoss)
        << n << " bytes";
  }
  // A count larger than the bytes that follow is refused, not allocated.
  std::string huge = full.substr(0, 16) + std::string("\xff\xff\xff\xff", 4);
  EXPECT_FALSE(DecodeSnapshotRecord(huge).ok());
}

TEST(GroupLogConformanceTest, EmptyStorage) {
  Twin t;
  t.ExpectSame();
  EXPECT_EQ(t.log().FirstIndex(), 1u);
  EXPECT_EQ(t.log().LastIndex(), 0u);
  EXPECT_EQ(*t.log().Term(0), 0u);
  EXPECT_EQ(RaftErrcOf(t.log().Term(1).status()), RaftErrc::kUnavailable);
}

TEST(GroupLogConformanceTest, Scripted) {
  Twin t;
  // Payload sizes differ so that the max_size cut lands at different places.
  EXPECT_EQ(t.Append({E(1, 1, ""), E(2, 1, "a"), E(3, 1, "bbbb"), E(4, 2, "cccccccc"),
                      E(5, 2, "dd"), E(6, 2, "eeeeeeeeeeee"), E(7, 3, "f"), E(8, 3, "gggggg")}),
            RaftErrc::kOk);
  t.ExpectSame();
  // A conflicting suffix, shorter than the old one: 7 and 8 go.
  EXPECT_EQ(t.Append({E(5, 4, "x5"), E(6, 4, "x6")}), RaftErrc::kOk);
  t.ExpectSame();
  EXPECT_EQ(t.log().LastIndex(), 6u);
  // A longer replacement, then a plain extension and a re-append of what is there.
  EXPECT_EQ(t.Append({E(6, 5, "y6"), E(7, 5, "y7"), E(8, 5, "y8"), E(9, 5, "y9")}), RaftErrc::kOk);
  EXPECT_EQ(t.Append(Ents(10, 14, 5)), RaftErrc::kOk);
  EXPECT_EQ(t.Append(Ents(12, 13, 5)),
            RaftErrc::kOk);  // same terms: truncates 14 like MemoryStorage
  t.ExpectSame();
  // A gap is refused.
  EXPECT_EQ(t.Append(Ents(20, 21, 5)), RaftErrc::kInvalidArgument);
  t.SetHardState(HardState{5, 2, 9});
  t.ExpectSame();

  EXPECT_EQ(t.Compact(4), RaftErrc::kOk);
  t.ExpectSame();
  EXPECT_EQ(t.log().FirstIndex(), 5u);
  EXPECT_EQ(*t.log().Term(4), 2u);  // the compaction point still answers
  EXPECT_EQ(RaftErrcOf(t.log().Term(3).status()), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(t.log().Entries(4, 6, raft::kNoLimit).status()), RaftErrc::kCompacted);
  EXPECT_EQ(t.Compact(4), RaftErrc::kCompacted);
  EXPECT_EQ(t.Compact(2), RaftErrc::kCompacted);
  EXPECT_EQ(t.Compact(14), RaftErrc::kUnavailable);
  // Appends overlapping the compacted prefix skip it; wholly compacted ones are no-ops.
  EXPECT_EQ(t.Append(Ents(2, 4, 9)), RaftErrc::kOk);
  EXPECT_EQ(t.Append({E(3, 2, "old"), E(4, 2, "old"), E(5, 6, "z5"), E(6, 6, "z6")}),
            RaftErrc::kOk);
  t.ExpectSame();
  EXPECT_EQ(t.Append(Ents(7, 12, 6)), RaftErrc::kOk);

  const ConfState cs{{1, 2}, {7}};
  EXPECT_EQ(t.CreateSnapshot(8, &cs, "token-8"), RaftErrc::kOk);
  EXPECT_EQ(t.CreateSnapshot(8, nullptr, "again"), RaftErrc::kSnapOutOfDate);
  EXPECT_EQ(t.CreateSnapshot(13, nullptr, "beyond"), RaftErrc::kUnavailable);
  EXPECT_EQ(t.CreateSnapshot(10, nullptr, "token-10"), RaftErrc::kOk);  // keeps the ConfState
  t.ExpectSame();
  t.Reopen();
  t.ExpectSame();

  EXPECT_EQ(t.Compact(12), RaftErrc::kOk);  // up to the last entry: the log is empty
  t.ExpectSame();
  EXPECT_EQ(t.log().FirstIndex(), 13u);
  EXPECT_EQ(t.log().LastIndex(), 12u);
  EXPECT_EQ(t.Append(Ents(13, 15, 7)), RaftErrc::kOk);
  t.ExpectSame();

  // A received snapshot behind the log, inside it, and ahead of it: every entry goes.
  EXPECT_EQ(t.ApplySnapshot(Snap(10, 6)), RaftErrc::kSnapOutOfDate);
  EXPECT_EQ(t.ApplySnapshot(Snap(14, 7, ConfState{{1, 2, 3}, {}}, "t14")), RaftErrc::kOk);
  t.ExpectSame();
  EXPECT_EQ(t.log().FirstIndex(), 15u);
  EXPECT_EQ(t.log().LastIndex(), 14u);
  EXPECT_EQ(t.Append(Ents(15, 20, 8)), RaftErrc::kOk);
  EXPECT_EQ(t.ApplySnapshot(Snap(30, 9, ConfState{{4}, {5}}, "t30")), RaftErrc::kOk);
  t.ExpectSame();
  t.Reopen();
  t.ExpectSame();
  EXPECT_EQ(t.Append(Ents(31, 33, 9)), RaftErrc::kOk);
  EXPECT_EQ(t.Append(Ents(30, 31, 10)), RaftErrc::kOk);  // overlaps the compaction point
  t.SetHardState(HardState{10, 4, 31});
  t.Reopen();
  t.ExpectSame();
}

// Seeded random operations, biased towards the edges (just compacted, just past the end).
class GroupLogRandomConformanceTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GroupLogRandomConformanceTest, MatchesMemoryStorage) {
  std::mt19937_64 rng(GetParam());
  auto pick = [&rng](int64_t lo, int64_t hi) {  // inclusive, clamped at 0
    lo = std::max<int64_t>(lo, 0);
    hi = std::max(hi, lo);
    return static_cast<uint64_t>(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
  };
  Twin t(GetParam() % 3 == 0 ? kTopGroup : GetParam());
  uint64_t term = 1;
  for (int step = 0; step < 300; ++step) {
    const auto first = static_cast<int64_t>(t.mem().FirstIndex());
    const auto last = static_cast<int64_t>(t.mem().LastIndex());
    const int op = static_cast<int>(pick(0, 99));
    if (op < 50) {
      term += pick(0, 1);
      const uint64_t start = pick(first - 3, last + (op < 3 ? 3 : 1));
      const uint64_t n = pick(0, 6);
      std::vector<Entry> ents;
      for (uint64_t i = 0; i < n; ++i) {
        ents.push_back(E(std::max<uint64_t>(start, 1) + i, term,
                         std::string(pick(0, 9), 'a' + static_cast<char>(i))));
      }
      t.Append(ents);
    } else if (op < 65) {
      t.Compact(pick(first - 2, last + 1));
    } else if (op < 72) {
      const uint64_t snap_index = t.mem().GetSnapshot()->metadata.index;
      ConfState cs{{pick(1, 3)}, {}};
      t.ApplySnapshot(Snap(pick(static_cast<int64_t>(snap_index) - 1, last + 4), ++term, cs,
                           "s" + std::to_string(step)));
    } else if (op < 80) {
      // MemoryStorage cannot take a snapshot below its compaction point: stay at or above it,
      // or at or below the recorded snapshot (refused before the lookup).
      const uint64_t snap_index = t.mem().GetSnapshot()->metadata.index;
      const uint64_t i =
          pick(0, 3) == 0 ? pick(0, static_cast<int64_t>(snap_index)) : pick(first - 1, last + 1);
      ConfState cs{{1, pick(2, 5)}, {}};
      t.CreateSnapshot(i, pick(0, 1) == 0 ? &cs : nullptr, "c" + std::to_string(step));
    } else if (op < 97) {
      t.SetHardState(HardState{term, pick(0, 3), pick(0, last)});
    } else {
      t.Reopen();
    }
    if (::testing::Test::HasFatalFailure()) return;
    t.ExpectSame(/*all_ranges=*/step % 25 == 0);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "seed " << GetParam() << " step " << step << " op " << op;
      return;
    }
  }
  t.Reopen();
  t.ExpectSame();
}

INSTANTIATE_TEST_SUITE_P(Seeds, GroupLogRandomConformanceTest, ::testing::Range(1u, 9u));

TEST(GroupLogTest, GroupsInOneEngineStayIsolated) {
  TempDir tmp;
  auto engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  const std::vector<GroupId> gids = {1, 2, 256, kTopGroup};
  std::map<GroupId, std::unique_ptr<GroupLog>> logs;
  std::map<GroupId, raft::MemoryStorage> want;
  auto write = [&](rocksdb::WriteBatch& b) { ASSERT_TRUE(engine->Write(b, true).ok()); };
  {
    // One batch for every group, as the driver's group commit does it.
    rocksdb::WriteBatch batch;
    for (GroupId gid : gids) {
      logs[gid] = LoadLog(engine.get(), gid);
      ASSERT_NE(logs[gid], nullptr);
      const uint64_t term = gid % 7 + 1;
      ASSERT_TRUE(logs[gid]->StageAppend(batch, Ents(1, 20, term)).ok());
      logs[gid]->StageHardState(batch, HardState{term, gid, 10});
      ASSERT_TRUE(want[gid].Append(Ents(1, 20, term)).ok());
      want[gid].SetHardState(HardState{term, gid, 10});
    }
    write(batch);
  }
  for (GroupId gid : gids) ExpectSameAnswers(want[gid], *logs[gid], false);

  rocksdb::WriteBatch batch;
  ASSERT_TRUE(logs[1]->StageCompact(batch, 15).ok());
  ASSERT_TRUE(want[1].Compact(15).ok());
  write(batch);
  batch.Clear();
  ASSERT_TRUE(logs[2]->StageSnapshot(batch, Snap(30, 9)).ok());
  ASSERT_TRUE(want[2].ApplySnapshot(Snap(30, 9)).ok());
  write(batch);
  batch.Clear();
  ASSERT_TRUE(logs[256]->StageAppend(batch, Ents(10, 11, 20)).ok());
  ASSERT_TRUE(want[256].Append(Ents(10, 11, 20)).ok());
  write(batch);
  batch.Clear();
  ASSERT_TRUE(logs[kTopGroup]->StageCompact(batch, 20).ok());
  ASSERT_TRUE(want[kTopGroup].Compact(20).ok());
  write(batch);
  for (GroupId gid : gids) ExpectSameAnswers(want[gid], *logs[gid], false);

  // Every row in `raftlog` carries the prefix of a group, and only the rows that group owns.
  std::map<GroupId, int> rows;
  std::unique_ptr<rocksdb::Iterator> it(
      engine->db()->NewIterator(rocksdb::ReadOptions(), engine->raftlog()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSERT_GE(it->key().size(), 9u);
    ++rows[DecodeU64BE(it->key().ToStringView())];
  }
  ASSERT_TRUE(it->status().ok());
  EXPECT_EQ(rows, (std::map<GroupId, int>{{1, 5 + 1 + 1},     // entries 16..20, hard state, point
                                          {2, 1 + 1 + 1},     // hard state, snapshot, point
                                          {256, 11 + 1},      // entries 1..11, hard state
                                          {kTopGroup, 2}}));  // hard state, point

  // And all of it survives a reopen, each group reading only its own rows.
  logs.clear();
  it.reset();
  engine.reset();
  engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  for (GroupId gid : gids) {
    auto log = LoadLog(engine.get(), gid);
    ASSERT_NE(log, nullptr);
    ExpectSameAnswers(want[gid], *log, false);
  }
  // A group never written reads as empty even between two written ones.
  auto fresh = LoadLog(engine.get(), 3);
  ASSERT_NE(fresh, nullptr);
  ExpectSameAnswers(raft::MemoryStorage(), *fresh, true);
}

TEST(GroupLogTest, ReopenRecoversEverything) {
  TempDir tmp;
  raft::MemoryStorage want;
  {
    auto engine = OpenEngine(tmp.path());
    ASSERT_NE(engine, nullptr);
    auto log = LoadLog(engine.get(), 7);
    ASSERT_NE(log, nullptr);
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(log->StageSnapshot(batch, Snap(1, 1, ConfState{{1, 2, 3}, {}})).ok());
    log->StageHardState(batch, HardState{1, 0, 1});
    ASSERT_TRUE(engine->Write(batch, true).ok());
    batch.Clear();
    std::vector<Entry> ents = Ents(2, 40, 2);
    ents[24 - 2].type = EntryType::kConfChange;
    ASSERT_TRUE(log->StageAppend(batch, ents).ok());
    log->StageHardState(batch, HardState{2, 3, 30});
    ASSERT_TRUE(engine->Write(batch, true).ok());
    batch.Clear();
    const ConfState cs{{1, 2, 3}, {4}};
    ASSERT_TRUE(log->StageCreateSnapshot(batch, 25, &cs, "token-25").ok());
    ASSERT_TRUE(log->StageCompact(batch, 20).ok());
    ASSERT_TRUE(engine->Write(batch, true).ok());

    ASSERT_TRUE(want.ApplySnapshot(Snap(1, 1, ConfState{{1, 2, 3}, {}})).ok());
    ASSERT_TRUE(want.Append(ents).ok());
    want.SetHardState(HardState{2, 3, 30});
    ASSERT_TRUE(want.CreateSnapshot(25, &cs, "token-25").ok());
    ASSERT_TRUE(want.Compact(20).ok());
    ExpectSameAnswers(want, *log, true);
  }
  auto engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  auto log = LoadLog(engine.get(), 7);
  ASSERT_NE(log, nullptr);
  ExpectSameAnswers(want, *log, true);
  EXPECT_EQ(log->FirstIndex(), 21u);
  EXPECT_EQ(log->LastIndex(), 40u);
  EXPECT_EQ(log->hard_state(), (HardState{2, 3, 30}));
  EXPECT_EQ(log->GetSnapshot()->metadata.index, 25u);
  EXPECT_EQ(log->GetSnapshot()->data, "token-25");
  EXPECT_EQ(log->GetInitialState()->conf_state, (ConfState{{1, 2, 3}, {4}}));
  absl::StatusOr<std::vector<Entry>> ents = log->Entries(21, 41, raft::kNoLimit);
  ASSERT_TRUE(ents.ok()) << ents.status();
  ASSERT_EQ(ents->size(), 20u);
  EXPECT_EQ((*ents)[24 - 21].type, EntryType::kConfChange);
  EXPECT_EQ((*ents)[24 - 21].data, "t2-24");
}

// The driver stages a whole Ready (snapshot, entries, hard state) and several rewrites of the
// same rows into one batch: later operations in a batch win over earlier ones.
TEST(GroupLogTest, StagedOperationsComposeInOneBatch) {
  TempDir tmp;
  raft::MemoryStorage want;
  auto engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  auto log = LoadLog(engine.get(), 9);
  ASSERT_NE(log, nullptr);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(log->StageAppend(batch, Ents(1, 10, 1)).ok());
  ASSERT_TRUE(engine->Write(batch, true).ok());
  ASSERT_TRUE(want.Append(Ents(1, 10, 1)).ok());

  batch.Clear();
  const Snapshot snap = Snap(20, 3, ConfState{{1, 2}, {}}, "t20");
  ASSERT_TRUE(log->StageSnapshot(batch, snap).ok());  // drops 1..10
  ASSERT_TRUE(log->StageAppend(batch, Ents(21, 30, 3)).ok());
  ASSERT_TRUE(log->StageAppend(batch, Ents(25, 27, 4)).ok());  // truncates 28..30 staged above
  ASSERT_TRUE(log->StageAppend(batch, Ents(28, 29, 4)).ok());  // and re-extends over them
  log->StageHardState(batch, HardState{3, 1, 20});
  log->StageHardState(batch, HardState{4, 2, 26});
  ASSERT_TRUE(engine->Write(batch, true).ok());
  ASSERT_TRUE(want.ApplySnapshot(snap).ok());
  ASSERT_TRUE(want.Append(Ents(21, 30, 3)).ok());
  ASSERT_TRUE(want.Append(Ents(25, 27, 4)).ok());
  ASSERT_TRUE(want.Append(Ents(28, 29, 4)).ok());
  want.SetHardState(HardState{4, 2, 26});
  ExpectSameAnswers(want, *log, true);

  log.reset();
  engine.reset();
  engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  log = LoadLog(engine.get(), 9);
  ASSERT_NE(log, nullptr);
  ExpectSameAnswers(want, *log, true);
  EXPECT_EQ(log->LastIndex(), 29u);
}

TEST(GroupLogTest, LoadRefusesInconsistentRows) {
  TempDir tmp;
  auto engine = OpenEngine(tmp.path());
  ASSERT_NE(engine, nullptr);
  auto put = [&](const std::string& key, const std::string& value) {
    rocksdb::WriteBatch batch;
    batch.Put(engine->raftlog(), key, value);
    ASSERT_TRUE(engine->Write(batch, true).ok());
  };
  // An entry that does not follow the compaction point (a lost DeleteRange, a foreign row).
  put(LogEntryKey(1, 5), EncodeLogEntryValue(E(5, 1)));
  EXPECT_EQ(GroupLog::Load(engine.get(), 1).status().code(), absl::StatusCode::kDataLoss);
  put(CompactionPointKey(1), EncodeU64BE(4) + EncodeU64BE(1));
  EXPECT_TRUE(GroupLog::Load(engine.get(), 1).ok());
  // Rows of the wrong size.
  put(HardStateKey(2), "short");
  EXPECT_EQ(GroupLog::Load(engine.get(), 2).status().code(), absl::StatusCode::kDataLoss);
  put(CompactionPointKey(3), "short");
  EXPECT_EQ(GroupLog::Load(engine.get(), 3).status().code(), absl::StatusCode::kDataLoss);
  put(SnapshotRecordKey(4), "short");
  EXPECT_EQ(GroupLog::Load(engine.get(), 4).status().code(), absl::StatusCode::kDataLoss);
  put(LogEntryKey(5, 1), "short");
  EXPECT_EQ(GroupLog::Load(engine.get(), 5).status().code(), absl::StatusCode::kDataLoss);
  // A hole inside the log surfaces as DATA_LOSS from the reads, never as a shorter answer.
  put(LogEntryKey(6, 1), EncodeLogEntryValue(E(1, 1)));
  put(LogEntryKey(6, 3), EncodeLogEntryValue(E(3, 1)));
  auto log = LoadLog(engine.get(), 6);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->LastIndex(), 3u);
  EXPECT_EQ(log->Entries(1, 4, raft::kNoLimit).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(log->Term(2).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tessera::shard
