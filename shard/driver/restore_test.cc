// The full restore (snapshots-and-cold-start.md §6) on a real StorageEngine with real .fsm
// files: verify before mutating, the marker across a crash, the final meta batch.
#include "shard/driver/restore.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "shard/driver/bootstrap.h"
#include "shard/driver/cold_start.h"
#include "shard/driver/cold_start_testing.h"
#include "shard/driver/shard_state_machine.h"
#include "shard/membership/node_id.h"
#include "shard/membership/peers_record.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"
#include "shard/storage/group_log.h"
#include "shard/storage/keys.h"

namespace tessera::shard {
namespace {

using cold_start_testing::FlipByte;
using cold_start_testing::GetMeta;
using cold_start_testing::PutMeta;
using cold_start_testing::PutRows;
using cold_start_testing::ReadRows;
using cold_start_testing::RecordingObserver;
using cold_start_testing::Rows;
using cold_start_testing::SnapshotRecord;
using cold_start_testing::WriteSnapshotFile;
using cold_start_testing::WrittenSnapshot;
using testing::ScopedTempDir;

constexpr GroupId kGid = 7;
constexpr uint64_t kIndex = 100;
constexpr uint64_t kCeiling = 1'700'000'000'000;

Server Member(int i) {
  const std::string id = "n" + std::to_string(i);
  return Server{DeriveNodeId(id), id, "10.0.0." + std::to_string(i) + ":5051", true};
}

std::vector<NodeId> Sorted(std::vector<NodeId> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

class RestoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  WrittenSnapshot Snapshot(uint64_t index, const Rows& rows, FsmHeader header = {}) {
    auto file = WriteSnapshotFile(dir_.path(), kGid, index, header, rows);
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? *file : WrittenSnapshot{};
  }

  RestoreRequest Request(const WrittenSnapshot& file, uint64_t index,
                         raft::ConfState cs = raft::ConfState{}) const {
    RestoreRequest r;
    r.gid = kGid;
    r.fsm_path = file.path;
    r.token_crc = file.crc;
    r.index = index;
    r.conf_state = cs.voters.empty() ? raft::ConfState{Sorted({Member(1).node_id}), {}} : cs;
    return r;
  }

  ColdStartInput Input(const WrittenSnapshot& file, uint64_t index, uint64_t commit) const {
    ColdStartInput in;
    in.gid = kGid;
    in.hard_state = raft::HardState{3, raft::kNoNode, commit};
    in.snapshot = SnapshotRecord(index, file.crc, raft::ConfState{{Member(1).node_id}, {}});
    in.restore_marker_present = GetMeta(engine(), kGid, meta::kRestoreMarker).has_value();
    in.data_dir = dir_.path();
    return in;
  }

  StorageEngine* engine() const { return engine_.get(); }

  ScopedTempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
};

class SnapshotInstallTest : public RestoreFixture {};

TEST_F(SnapshotInstallTest, VerifiesBeforeMutating) {
  const Rows before = {{"a", "old"}, {"b", "old"}};
  PutRows(engine(), kGid, before);
  PutMeta(engine(), kGid, meta::kAppliedIndex, EncodeU64BE(50));
  const WrittenSnapshot file = Snapshot(kIndex, {{"x", "new"}, {"y", "new"}});
  FlipByte(file.path, static_cast<off_t>(kV1HeaderSize + 12));

  auto result = RestoreGroupFromFsm(engine(), Request(file, kIndex));
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kSnapshotFileCrc);
  WrittenSnapshot wrong_token = file;
  wrong_token.crc ^= 1;
  EXPECT_EQ(GetSnapshotErrc(RestoreGroupFromFsm(engine(), Request(wrong_token, kIndex)).status()),
            SnapshotErrc::kSnapshotTokenCrc);
  WrittenSnapshot missing = file;
  missing.path += ".gone";
  EXPECT_EQ(GetSnapshotErrc(RestoreGroupFromFsm(engine(), Request(missing, kIndex)).status()),
            SnapshotErrc::kSnapshotNotFound);

  EXPECT_EQ(ReadRows(engine(), kGid), before);
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{50, true}));
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kRestoreMarker).has_value());
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kInitialized).has_value());
}

TEST_F(SnapshotInstallTest, SetsDurableAppliedIndex) {
  const Rows rows = {{"k1", "v1"}, {"k2", "v2"}};
  const WrittenSnapshot file = Snapshot(kIndex, rows, FsmHeader{FsmHeaderVersion::kV1, kCeiling});
  auto result = RestoreGroupFromFsm(engine(), Request(file, kIndex));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->index, kIndex);
  EXPECT_EQ(result->rows, 2u);
  EXPECT_EQ(result->header.clock_ceiling_ms, kCeiling);
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{kIndex, true}));
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kInitialized), std::string(1, '\x01'));

  // The next cold start with commit = X skips.
  ShardStateMachine fsm(engine());
  RecordingObserver observer;
  auto cold = RunColdStart(fsm, Input(file, kIndex, kIndex), &observer);
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_EQ(cold->decision, ColdStartDecision::kSkip);
  EXPECT_EQ(cold->effective_applied, kIndex);
  EXPECT_EQ(observer.groups[kGid].skipped, std::vector<uint64_t>{0});
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), kCeiling);
  EXPECT_EQ(ReadRows(engine(), kGid), rows);
}

// A crash at any point between batch A and batch B: the marker stays, the group reads as absent,
// and the next cold start falls back (missing_meta) to a full restore with correct data.
TEST_F(SnapshotInstallTest, RestoreMarkerCrashFallsBack) {
  for (std::string_view crash_at :
       {kRestoreStageBatchA, kRestoreStageDataBatch, kRestoreStageBeforeBatchB}) {
    SCOPED_TRACE(crash_at);
    const GroupId other = kGid + 1;
    PutRows(engine(), other, {{"other", "untouched"}});
    PutRows(engine(), kGid, {{"a", "stale"}, {"zzz", "stale"}});
    PutMeta(engine(), kGid, meta::kAppliedIndex, EncodeU64BE(40));
    const uint64_t index = kIndex + (crash_at == kRestoreStageBatchA      ? 0
                                     : crash_at == kRestoreStageDataBatch ? 1
                                                                          : 2);
    const Rows rows = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
    const WrittenSnapshot file = Snapshot(index, rows);

    RestoreRequest r = Request(file, index);
    r.after_stage = [&](std::string_view stage) {
      return stage == crash_at ? absl::AbortedError("crash") : absl::OkStatus();
    };
    auto crashed = RestoreGroupFromFsm(engine(), r);
    ASSERT_EQ(crashed.status().code(), absl::StatusCode::kAborted);
    EXPECT_EQ(GetMeta(engine(), kGid, meta::kRestoreMarker), EncodeU64BE(index));
    EXPECT_EQ(*engine()->LastAppliedIndex(kGid), AppliedIndex{});

    ShardStateMachine fsm(engine());
    RecordingObserver observer;
    ColdStartInput in = Input(file, index, index + 5);
    ASSERT_TRUE(in.restore_marker_present);
    auto cold = RunColdStart(fsm, in, &observer);
    ASSERT_TRUE(cold.ok()) << cold.status();
    EXPECT_EQ(cold->decision, ColdStartDecision::kFallback);
    EXPECT_EQ(cold->effective_applied, index);
    EXPECT_EQ(observer.groups[kGid].fallback_reasons, std::vector<std::string>{"missing_meta"});
    EXPECT_EQ(ReadRows(engine(), kGid), rows);
    EXPECT_EQ(ReadRows(engine(), other), (Rows{{"other", "untouched"}}));
    EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{index, true}));
    EXPECT_FALSE(GetMeta(engine(), kGid, meta::kRestoreMarker).has_value());
  }
}

// The runtime path restores even when meta says the group is ahead, and touches no other group.
TEST_F(SnapshotInstallTest, RuntimeInstallAlwaysRestores) {
  PutRows(engine(), kGid - 1, {{"below", "x"}});
  PutRows(engine(), kGid, {{"a", "old"}, {"gone", "old"}, {std::string(300, 'z'), "old"}});
  PutRows(engine(), kGid + 1, {{"", "empty key"}, {"above", "y"}});
  PutMeta(engine(), kGid, meta::kAppliedIndex, EncodeU64BE(500));
  PutMeta(engine(), kGid + 1, meta::kAppliedIndex, EncodeU64BE(77));

  const Rows rows = {{"a", "new"}, {"b", "new"}};
  const WrittenSnapshot file = Snapshot(kIndex, rows);
  auto result = RestoreGroupFromFsm(engine(), Request(file, kIndex));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ReadRows(engine(), kGid), rows);
  // The only writer allowed to lower applied_index.
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{kIndex, true}));
  EXPECT_EQ(ReadRows(engine(), kGid - 1), (Rows{{"below", "x"}}));
  EXPECT_EQ(ReadRows(engine(), kGid + 1), (Rows{{"", "empty key"}, {"above", "y"}}));
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid + 1), (AppliedIndex{77, true}));
}

TEST_F(SnapshotInstallTest, CarriedPeersRecordPopulatesAddresses) {
  // A joiner: no membership records yet.
  const raft::ConfState cs{Sorted({Member(1).node_id, Member(2).node_id}), {Member(3).node_id}};
  PeersRecord carried{90, {Member(4), Member(3), Member(2), Member(1)}};  // unsorted, n4 extra
  const WrittenSnapshot file = Snapshot(kIndex, {{"k", "v"}});
  RestoreRequest r = Request(file, kIndex, cs);
  r.peers = carried;
  auto result = RestoreGroupFromFsm(engine(), r);
  ASSERT_TRUE(result.ok()) << result.status();

  auto peers_bytes = GetMeta(engine(), kGid, meta::kPeers);
  ASSERT_TRUE(peers_bytes.has_value());
  auto peers = DecodePeersRecord(*peers_bytes);
  ASSERT_TRUE(peers.ok()) << peers.status();
  std::vector<Server> want = {Member(1), Member(2), Member(3)};
  want[2].voter = false;  // suffrage from the ConfState, not from the carried record
  std::sort(want.begin(), want.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  EXPECT_EQ(*peers, (PeersRecord{kIndex, want}));
  // Every ConfState member has an address: the joiner can reply to all of them.
  for (NodeId id : cs.voters) {
    EXPECT_TRUE(std::any_of(peers->peers.begin(), peers->peers.end(),
                            [&](const Server& s) { return s.node_id == id && s.voter; }));
  }
  auto conf = ReadConfStateRecord(engine(), kGid);
  ASSERT_TRUE(conf.ok() && conf->has_value());
  EXPECT_EQ(**conf, (ConfStateRecord{kIndex, cs}));
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kInitialized), std::string(1, '\x01'));
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kBootstrapEra).has_value());  // joiner: stays absent

  // A malformed carried record is refused before anything is written.
  RestoreRequest bad = Request(file, kIndex + 1, cs);
  bad.peers = PeersRecord{1, {Server{12345, "n1", "10.0.0.1:5051", true}}};
  const WrittenSnapshot file2 = Snapshot(kIndex + 1, {{"other", "v"}});
  bad.fsm_path = file2.path;
  bad.token_crc = file2.crc;
  EXPECT_EQ(RestoreGroupFromFsm(engine(), bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadRows(engine(), kGid), (Rows{{"k", "v"}}));
}

// ---- RestoreTest: the rest of batch B. ---------------------------------------------------

class RestoreTest : public RestoreFixture {
 protected:
  // Bootstraps kGid with n1..n3 (bootstrap_era = 1, peers and conf_state at index 3).
  void Bootstrap() {
    auto log = GroupLog::Load(engine(), kGid);
    ASSERT_TRUE(log.ok());
    const std::vector<Server> voters = {Member(1), Member(2), Member(3)};
    auto outcome = BootstrapGroupIfNeeded(engine(), log->get(), kGid, &voters);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_EQ(GetMeta(engine(), kGid, meta::kBootstrapEra), std::string(1, '\x01'));
  }
  raft::ConfState Voters(std::vector<int> ids, std::vector<int> learners = {}) {
    raft::ConfState cs;
    for (int i : ids) cs.voters.push_back(Member(i).node_id);
    for (int i : learners) cs.learners.push_back(Member(i).node_id);
    cs.voters = Sorted(cs.voters);
    cs.learners = Sorted(cs.learners);
    return cs;
  }
  void RestoreAt(uint64_t index, const raft::ConfState& cs) {
    const WrittenSnapshot file = Snapshot(index, {{"k", std::to_string(index)}});
    auto result = RestoreGroupFromFsm(engine(), Request(file, index, cs));
    ASSERT_TRUE(result.ok()) << result.status();
  }
  std::optional<std::string> Era() { return GetMeta(engine(), kGid, meta::kBootstrapEra); }
};

TEST_F(RestoreTest, BootstrapEraRule) {
  Bootstrap();
  RestoreAt(10, Voters({3, 1, 2}));  // the bootstrap voter set, any order: era stays
  EXPECT_EQ(Era(), std::string(1, '\x01'));
  RestoreAt(20, Voters({1, 2, 3}, {4}));  // a learner: cleared
  EXPECT_EQ(Era(), std::string(1, '\0'));
  RestoreAt(30, Voters({1, 2, 3}));  // never set back to 1
  EXPECT_EQ(Era(), std::string(1, '\0'));
}

TEST_F(RestoreTest, BootstrapEraClearedWhenVotersDiffer) {
  Bootstrap();
  RestoreAt(10, Voters({1, 2}));
  EXPECT_EQ(Era(), std::string(1, '\0'));
}

// Without a carried record the existing meta:peers keeps the addresses; suffrage and index are
// re-stamped and members outside the ConfState dropped.
TEST_F(RestoreTest, ExistingPeersRestamped) {
  Bootstrap();
  RestoreAt(10, Voters({1, 2}, {3}));
  auto peers = DecodePeersRecord(*GetMeta(engine(), kGid, meta::kPeers));
  ASSERT_TRUE(peers.ok()) << peers.status();
  EXPECT_EQ(peers->index, 10u);
  ASSERT_EQ(peers->peers.size(), 3u);
  for (const Server& s : peers->peers) EXPECT_EQ(s.voter, s.raft_id != "n3") << s.raft_id;
  RestoreAt(20, Voters({1, 3}));
  peers = DecodePeersRecord(*GetMeta(engine(), kGid, meta::kPeers));
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->peers.size(), 2u);
  for (const Server& s : peers->peers) {
    EXPECT_TRUE(s.voter);
    EXPECT_NE(s.raft_id, "n2");
  }
  auto conf = ReadConfStateRecord(engine(), kGid);
  ASSERT_TRUE(conf.ok() && conf->has_value());
  EXPECT_EQ(**conf, (ConfStateRecord{20, Voters({1, 3})}));
}

TEST_F(RestoreTest, CeilingIsMaxAndCutoverIsAssigned) {
  PutMeta(engine(), kGid, meta::kClockCeilingMs, EncodeU64BE(kCeiling + 1000));
  PutMeta(engine(), kGid, meta::kRaftEnvelopeCutoverIndex, EncodeU64BE(300));
  WrittenSnapshot file =
      Snapshot(kIndex, {{"k", "v"}}, FsmHeader{FsmHeaderVersion::kV2, kCeiling, 150});
  ASSERT_TRUE(RestoreGroupFromFsm(engine(), Request(file, kIndex)).ok());
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kClockCeilingMs), EncodeU64BE(kCeiling + 1000));
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kRaftEnvelopeCutoverIndex), EncodeU64BE(150));

  file = Snapshot(kIndex + 1, {{"k", "v"}}, FsmHeader{FsmHeaderVersion::kV1, kCeiling + 5000, 0});
  ASSERT_TRUE(RestoreGroupFromFsm(engine(), Request(file, kIndex + 1)).ok());
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kClockCeilingMs), EncodeU64BE(kCeiling + 5000));
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kRaftEnvelopeCutoverIndex).has_value());  // 0

  // A corrupt durable ceiling fails the restore before anything is written.
  PutMeta(engine(), kGid, meta::kClockCeilingMs, "bad");
  file = Snapshot(kIndex + 2, {{"other", "v"}});
  EXPECT_EQ(GetSnapshotErrc(RestoreGroupFromFsm(engine(), Request(file, kIndex + 2)).status()),
            SnapshotErrc::kCorruptGroupState);
  EXPECT_EQ(ReadRows(engine(), kGid), (Rows{{"k", "v"}}));
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{kIndex + 1, true}));
}

// Rows go to `data` in batches of at most 4 MiB: ~10 MiB of rows take at least three.
TEST_F(RestoreTest, DataBatchesAreBounded) {
  Rows rows;
  for (int i = 0; i < 40; ++i) {
    rows.emplace_back(absl::StrFormat("row%04d", i),
                      std::string(256 << 10, static_cast<char>('a' + i % 26)));
  }
  rows.emplace_back("zbig", std::string(5 << 20, 'z'));  // larger than a batch: alone
  const WrittenSnapshot file = Snapshot(kIndex, rows);
  RestoreRequest r = Request(file, kIndex);
  int data_batches = 0;
  r.after_stage = [&](std::string_view stage) {
    if (stage == kRestoreStageDataBatch) ++data_batches;
    return absl::OkStatus();
  };
  auto result = RestoreGroupFromFsm(engine(), r);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rows, rows.size());
  EXPECT_GE(data_batches, 4);
  EXPECT_EQ(ReadRows(engine(), kGid), rows);
}

// A joiner that crashed inside its first install: nothing carried, nothing durable. Neither
// membership record is written (one without the other is corrupt state).
TEST_F(RestoreTest, NoPeersSourceWritesNeitherRecord) {
  const WrittenSnapshot file = Snapshot(kIndex, {{"k", "v"}});
  ASSERT_TRUE(RestoreGroupFromFsm(engine(), Request(file, kIndex)).ok());
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kPeers).has_value());
  EXPECT_FALSE(GetMeta(engine(), kGid, meta::kConfState).has_value());
  EXPECT_EQ(GetMeta(engine(), kGid, meta::kInitialized), std::string(1, '\x01'));
  EXPECT_EQ(*engine()->LastAppliedIndex(kGid), (AppliedIndex{kIndex, true}));

  // conf_state without peers is already corrupt: refused before mutating.
  PutMeta(engine(), kGid, meta::kConfState, EncodeConfStateRecord(ConfStateRecord{5, {}}));
  const WrittenSnapshot file2 = Snapshot(kIndex + 1, {{"other", "v"}});
  EXPECT_EQ(GetSnapshotErrc(RestoreGroupFromFsm(engine(), Request(file2, kIndex + 1)).status()),
            SnapshotErrc::kCorruptGroupState);
  EXPECT_EQ(ReadRows(engine(), kGid), (Rows{{"k", "v"}}));
}

}  // namespace
}  // namespace tessera::shard
