// The cold-start skip gate (snapshots-and-cold-start.md §7, §9, §10): decision table with the
// SkipGateFsm double, skip-path verification, the production ShardStateMachine, and metrics.
#include "shard/driver/cold_start.h"

#include <concepts>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "shard/driver/cold_start_testing.h"
#include "shard/driver/shard_state_machine.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/storage/keys.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

using cold_start_testing::FlipByte;
using cold_start_testing::FooterCrc;
using cold_start_testing::GetMeta;
using cold_start_testing::PutMeta;
using cold_start_testing::PutRows;
using cold_start_testing::ReadRows;
using cold_start_testing::RecordingObserver;
using cold_start_testing::Rows;
using cold_start_testing::SnapshotRecord;
using cold_start_testing::WriteSnapshotFile;
using testing::Body;
using testing::ScopedTempDir;
using testing::V1Header;
using testing::WithFooter;

constexpr GroupId kGid = 7;
constexpr uint64_t kCeiling = 1'700'000'000'000;

// §10 double: applied/applied_present/applied_err/parse_err in; records what the gate did.
class SkipGateFsm : public ColdStartFsm, public AppliedIndexReader {
 public:
  uint64_t applied = 0;
  bool applied_present = true;
  absl::Status applied_err;
  absl::Status parse_err;
  uint64_t meta_cutover = 0;

  uint64_t body_bytes = 0;  // bytes after the header that a restore consumed
  std::optional<FsmHeader> restored_header;
  std::optional<uint64_t> applied_ceiling;  // last ApplySnapshotHeader
  std::optional<uint64_t> applied_cutover;
  std::vector<ApplyMode> apply_modes;
  int restores = 0;
  std::optional<RestoreRequest> last_restore;

  absl::StatusOr<AppliedIndex> LastAppliedIndex(GroupId /*gid*/) const override {
    if (!applied_err.ok()) return applied_err;
    return AppliedIndex{applied, applied_present};
  }

  absl::StatusOr<FsmHeader> ParseSnapshotHeader(ByteSource& in) override {
    if (!parse_err.ok()) return parse_err;
    absl::StatusOr<FsmHeader> header = ParseV1(in);
    if (!header.ok()) return header.status();
    if (absl::StatusOr<uint64_t> drained = DrainToEnd(in); !drained.ok()) return drained.status();
    return header;
  }

  void ApplySnapshotHeader(GroupId /*gid*/, const FsmHeader& header,
                           ApplyMode mode) noexcept override {
    apply_modes.push_back(mode);
    applied_ceiling = header.clock_ceiling_ms;
    applied_cutover =
        mode == ApplyMode::kRestore ? header.raft_envelope_cutover_index : meta_cutover;
  }

  absl::StatusOr<RestoreResult> Restore(const RestoreRequest& request) override {
    ++restores;
    last_restore = request;
    FsmHeader header;
    absl::Status verified = VerifyFsmPayload(request.fsm_path, request.token_crc, request.max_bytes,
                                             [&](ByteSource& payload) -> absl::Status {
                                               absl::StatusOr<FsmHeader> parsed = ParseV1(payload);
                                               if (!parsed.ok()) return parsed.status();
                                               header = *parsed;
                                               absl::StatusOr<uint64_t> drained =
                                                   DrainToEnd(payload);
                                               if (!drained.ok()) return drained.status();
                                               body_bytes = *drained;
                                               return absl::OkStatus();
                                             });
    if (!verified.ok()) return verified;
    restored_header = header;
    return RestoreResult{request.index, header, 0};
  }

  const AppliedIndexReader* applied_index_reader() const override { return this; }
  absl::StatusOr<uint64_t> DurableCutoverIndex(GroupId /*gid*/) const override {
    return meta_cutover;
  }
  absl::Status LoadDurableHeaderState(GroupId /*gid*/) override { return absl::OkStatus(); }

  int skip_applies() const { return Count(ApplyMode::kSkip); }
  int restore_applies() const { return Count(ApplyMode::kRestore); }

 private:
  // Reads a kV1HeaderSize-byte v1 header and nothing else.
  static absl::StatusOr<FsmHeader> ParseV1(ByteSource& in) {
    char buf[kV1HeaderSize];
    absl::StatusOr<size_t> n = ReadFull(in, buf, sizeof(buf));
    if (!n.ok()) return n.status();
    if (*n < sizeof(buf)) return SnapshotError(SnapshotErrc::kSnapshotHeaderTruncated);
    if (std::string_view(buf, kFsmMagicSize) != kFsmV1Magic) {
      return SnapshotError(SnapshotErrc::kSnapshotHeaderUnknownMagic);
    }
    return FsmHeader{FsmHeaderVersion::kV1, DecodeU64BE(std::string_view(buf + 8, 8)), 0};
  }
  int Count(ApplyMode mode) const {
    return static_cast<int>(std::count(apply_modes.begin(), apply_modes.end(), mode));
  }
};

class NoReaderFsm final : public SkipGateFsm {
 public:
  const AppliedIndexReader* applied_index_reader() const override { return nullptr; }
};

// One group with a hand-built v1 snapshot file at `snap` in a temp data dir.
class SkipGateTest : public ::testing::Test {
 protected:
  void WriteSnapshot(uint64_t snap, uint64_t ceiling = kCeiling) {
    ASSERT_TRUE(CreateSnapshotDirs(dir_.path(), kGid).ok());
    body_ = Body({{"a", "1"}, {"b", "22"}, {"c", "333"}}, 3);
    const std::string file = WithFooter(V1Header(ceiling) + body_);
    testing::WriteFile(FsmPath(dir_.path(), kGid, snap), file);
    crc_ = FooterCrc(file);
    snap_ = snap;
  }

  ColdStartInput Input(uint64_t commit) const {
    ColdStartInput in;
    in.gid = kGid;
    in.hard_state = raft::HardState{2, raft::kNoNode, commit};
    in.snapshot = SnapshotRecord(snap_, crc_, raft::ConfState{{1, 2, 3}, {}});
    in.data_dir = dir_.path();
    return in;
  }

  ScopedTempDir dir_;
  std::string body_;
  uint32_t crc_ = 0;
  uint64_t snap_ = 0;
  RecordingObserver observer_;
};

TEST_F(SkipGateTest, SkipsWhenFsmFreshEnough) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 150;
  auto result = RunColdStart(fsm, Input(150), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kSkip);
  EXPECT_EQ(result->effective_applied, 150u);
  EXPECT_EQ(fsm.body_bytes, 0u);
  EXPECT_EQ(fsm.restores, 0);
  EXPECT_EQ(fsm.skip_applies(), 1);
  EXPECT_EQ(fsm.applied_ceiling, kCeiling);
  EXPECT_EQ(observer_.groups[kGid].skipped, std::vector<uint64_t>{50});
  EXPECT_TRUE(observer_.groups[kGid].executed.empty());
  EXPECT_TRUE(observer_.groups[kGid].fallback_reasons.empty());
}

TEST_F(SkipGateTest, ExecutesWhenFsmStale) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 60;
  auto result = RunColdStart(fsm, Input(100), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kExecute);
  EXPECT_EQ(result->effective_applied, 100u);
  EXPECT_EQ(fsm.restores, 1);
  EXPECT_EQ(fsm.skip_applies(), 0);
  EXPECT_EQ(fsm.restore_applies(), 1);
  EXPECT_EQ(observer_.groups[kGid].executed, std::vector<uint64_t>{40});
  EXPECT_TRUE(observer_.groups[kGid].skipped.empty());
  // The restore got the recorded file, token CRC, index and ConfState.
  ASSERT_TRUE(fsm.last_restore.has_value());
  EXPECT_EQ(fsm.last_restore->fsm_path, FsmPath(dir_.path(), kGid, 100));
  EXPECT_EQ(fsm.last_restore->token_crc, crc_);
  EXPECT_EQ(fsm.last_restore->index, 100u);
  EXPECT_EQ(fsm.last_restore->conf_state, (raft::ConfState{{1, 2, 3}, {}}));
  EXPECT_FALSE(fsm.last_restore->peers.has_value());
}

TEST_F(SkipGateTest, FallbackMissingMeta) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 150;
  fsm.applied_present = false;
  auto result = RunColdStart(fsm, Input(150), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(result->effective_applied, 100u);
  EXPECT_EQ(fsm.restores, 1);
  EXPECT_EQ(observer_.groups[kGid].fallback_reasons, std::vector<std::string>{"missing_meta"});
}

// The real reader over a real engine: a 7-byte meta:applied_index reads as absent.
TEST_F(SkipGateTest, FallbackShortAppliedValue) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  const Rows rows = {{"k1", "v1"}, {"k2", "v2"}};
  auto file = WriteSnapshotFile(dir_.path(), kGid, 100, FsmHeader{}, rows);
  ASSERT_TRUE(file.ok()) << file.status();
  PutMeta(engine->get(), kGid, meta::kAppliedIndex, EncodeU64BE(150).substr(1));
  PutRows(engine->get(), kGid, {{"stale", "x"}});
  ShardStateMachine fsm(engine->get());
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 150};
  in.snapshot = SnapshotRecord(100, file->crc, raft::ConfState{{1}, {}});
  in.data_dir = dir_.path();
  auto result = RunColdStart(fsm, in, &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(observer_.groups[kGid].fallback_reasons, std::vector<std::string>{"missing_meta"});
  EXPECT_EQ(ReadRows(engine->get(), kGid), rows);
  EXPECT_EQ(*(*engine)->LastAppliedIndex(kGid), (AppliedIndex{100, true}));
}

// A marker left by an interrupted restore hides an otherwise valid applied index.
TEST_F(SkipGateTest, FallbackWhenRestoreMarkerPresent) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  const Rows rows = {{"k1", "v1"}};
  auto file = WriteSnapshotFile(dir_.path(), kGid, 100, FsmHeader{}, rows);
  ASSERT_TRUE(file.ok()) << file.status();
  PutMeta(engine->get(), kGid, meta::kAppliedIndex, EncodeU64BE(150));
  PutMeta(engine->get(), kGid, meta::kRestoreMarker, EncodeU64BE(100));
  ShardStateMachine fsm(engine->get());
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 150};
  in.snapshot = SnapshotRecord(100, file->crc, raft::ConfState{{1}, {}});
  in.restore_marker_present = true;
  in.data_dir = dir_.path();
  auto result = RunColdStart(fsm, in, &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(observer_.groups[kGid].fallback_reasons, std::vector<std::string>{"missing_meta"});
  EXPECT_EQ(ReadRows(engine->get(), kGid), rows);
  EXPECT_FALSE(GetMeta(engine->get(), kGid, meta::kRestoreMarker).has_value());

  // A double whose reader ignores the marker is still not allowed to skip.
  WriteSnapshot(200);
  SkipGateFsm fake;
  fake.applied = 300;
  ColdStartInput fake_in = Input(300);
  fake_in.restore_marker_present = true;
  RecordingObserver fake_observer;
  auto fake_result = RunColdStart(fake, fake_in, &fake_observer);
  ASSERT_TRUE(fake_result.ok()) << fake_result.status();
  EXPECT_EQ(fake_result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(fake.restores, 1);
}

TEST_F(SkipGateTest, FallbackReadErr) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied_err = absl::UnavailableError("injected read error");
  auto result = RunColdStart(fsm, Input(150), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();  // not propagated
  EXPECT_EQ(result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(fsm.restores, 1);
  EXPECT_EQ(observer_.groups[kGid].fallback_reasons, std::vector<std::string>{"read_err"});
}

TEST_F(SkipGateTest, FallbackNotReader) {
  WriteSnapshot(100);
  NoReaderFsm fsm;
  fsm.applied = 150;
  auto result = RunColdStart(fsm, Input(150), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kFallback);
  EXPECT_EQ(fsm.restores, 1);
  EXPECT_EQ(observer_.groups[kGid].fallback_reasons, std::vector<std::string>{"not_reader"});
}

TEST_F(SkipGateTest, ExecutesWhenCommitAheadOfApplied) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 150;
  auto result = RunColdStart(fsm, Input(200), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kExecute);
  EXPECT_EQ(result->effective_applied, 100u);
  EXPECT_EQ(fsm.body_bytes, body_.size());
  EXPECT_EQ(fsm.skip_applies(), 0);
  EXPECT_EQ(fsm.restored_header, (FsmHeader{FsmHeaderVersion::kV1, kCeiling, 0}));
  EXPECT_EQ(observer_.groups[kGid].executed, std::vector<uint64_t>{50});
}

// The gate never sees the log tail: with entries up to 300 but commit 200 and applied 200 the
// threshold is 200 and the group skips.
TEST_F(SkipGateTest, UncommittedLogTailDoesNotForceRestore) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 200;
  constexpr uint64_t kLogTail = 300;
  static_assert(kLogTail > 200);
  EXPECT_EQ(ColdStartSkipThreshold(100, 200), 200u);
  auto result = RunColdStart(fsm, Input(200), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kSkip);
  EXPECT_EQ(fsm.restores, 0);
}

TEST_F(SkipGateTest, ReturnsEffectiveAppliedOnSkip) {
  WriteSnapshot(100, 1'700'000'000'000);
  SkipGateFsm fsm;
  fsm.applied = 200;
  auto result = RunColdStart(fsm, Input(200), &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->effective_applied, 200u);
  EXPECT_EQ(fsm.applied_ceiling, uint64_t{1'700'000'000'000});
  EXPECT_EQ(fsm.applied_cutover, 0u);
}

TEST_F(SkipGateTest, EmitsOnlyAfterSuccess) {
  WriteSnapshot(100);
  crc_ ^= 0xFFFFFFFF;
  SkipGateFsm fsm;
  fsm.applied = 150;
  auto result = RunColdStart(fsm, Input(150), &observer_);
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kSnapshotTokenCrc);
  EXPECT_TRUE(observer_.empty());
  EXPECT_TRUE(fsm.apply_modes.empty());
  EXPECT_EQ(fsm.restores, 0);
}

TEST_F(SkipGateTest, ThresholdIsMaxOfSnapshotAndCommit) {
  struct Case {
    uint64_t snap, commit, want;
  };
  for (const Case& c :
       {Case{100, 100, 100}, Case{100, 50, 100}, Case{100, 150, 150}, Case{100, 0, 100}}) {
    EXPECT_EQ(ColdStartSkipThreshold(c.snap, c.commit), c.want) << c.snap << "," << c.commit;
  }
}

TEST_F(SkipGateTest, DecisionTableInOrder) {
  SkipGateFsm fsm;
  fsm.applied = 99;
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).decision, ColdStartDecision::kExecute);
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).have, 99u);
  fsm.applied = 100;
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).decision, ColdStartDecision::kSkip);
  EXPECT_TRUE(DecideSkipOutcome(fsm, kGid, 100).fallback_reason.empty());
  fsm.applied_present = false;
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).fallback_reason, kFallbackMissingMeta);
  fsm.applied_err = absl::UnavailableError("x");
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).fallback_reason, kFallbackReadErr);
  EXPECT_EQ(DecideSkipOutcome(fsm, kGid, 100).have, 0u);
  NoReaderFsm no_reader;
  EXPECT_EQ(DecideSkipOutcome(no_reader, kGid, 100).fallback_reason, kFallbackNotReader);
}

TEST_F(SkipGateTest, TokenIndexMismatchFails) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 150;
  ColdStartInput in = Input(150);
  in.snapshot.data = EncodeSnapshotToken(SnapshotToken{99, crc_});
  auto result = RunColdStart(fsm, in, &observer_);
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kSnapshotIndexMismatch);
  EXPECT_TRUE(observer_.empty());
  EXPECT_TRUE(fsm.apply_modes.empty());
  EXPECT_EQ(fsm.restores, 0);
}

TEST_F(SkipGateTest, AppliedAheadOfCommitFails) {
  WriteSnapshot(100);
  SkipGateFsm fsm;
  fsm.applied = 201;
  auto result = RunColdStart(fsm, Input(200), &observer_);
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kAppliedAheadOfCommit);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(observer_.empty());
  EXPECT_TRUE(fsm.apply_modes.empty());
  EXPECT_EQ(fsm.restores, 0);
}

TEST_F(SkipGateTest, NoSnapshotUsesDurableApplied) {
  SkipGateFsm fsm;
  fsm.applied = 42;
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 50};  // raft redelivers 43..50
  in.data_dir = dir_.path();
  auto result = RunColdStart(fsm, in, &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->effective_applied, 42u);
  EXPECT_FALSE(result->decision.has_value());
  EXPECT_TRUE(observer_.empty());
  EXPECT_EQ(fsm.restores, 0);

  fsm.applied_present = false;
  result = RunColdStart(fsm, in, &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->effective_applied, 0u);
}

TEST_F(SkipGateTest, NoSnapshotWithRestoreMarkerIsCorrupt) {
  SkipGateFsm fsm;
  fsm.applied_present = false;
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 50};
  in.restore_marker_present = true;
  auto result = RunColdStart(fsm, in, &observer_);
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kCorruptGroupState);
}

TEST_F(SkipGateTest, ProductionFsmHeaderRoundTrip) {
  static_assert(std::derived_from<ShardStateMachine, SnapshotHeaderApplier>);
  static_assert(std::derived_from<ShardStateMachine, AppliedIndexReader>);
  static_assert(std::derived_from<ShardStateMachine, SnapshotRestorer>);
  static_assert(std::derived_from<ShardStateMachine, ColdStartFsm>);
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  ShardStateMachine fsm(engine->get());
  ASSERT_EQ(fsm.applied_index_reader(), &fsm);

  const std::string payload = V1Header(kCeiling) + Body({{"a", "1"}}, 1);
  StringByteSource source(payload);
  auto header = fsm.ParseSnapshotHeader(source);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(*header, (FsmHeader{FsmHeaderVersion::kV1, kCeiling, 0}));
  EXPECT_EQ(source.position(), payload.size());  // drained
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), 0u);     // parse has no side effect

  ASSERT_TRUE(fsm.LoadDurableHeaderState(kGid).ok());
  fsm.ApplySnapshotHeader(kGid, *header, ApplyMode::kSkip);
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), kCeiling);
  EXPECT_EQ(fsm.cutover_index(kGid), 0u);

  // End to end through the gate on the real engine: fresh data skips.
  const Rows rows = {{"a", "1"}};
  auto file = WriteSnapshotFile(dir_.path(), kGid, 100, *header, rows);
  ASSERT_TRUE(file.ok()) << file.status();
  PutRows(engine->get(), kGid, rows);
  PutMeta(engine->get(), kGid, meta::kAppliedIndex, EncodeU64BE(120));
  ShardStateMachine fresh(engine->get());
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 120};
  in.snapshot = SnapshotRecord(100, file->crc, raft::ConfState{{1}, {}});
  in.data_dir = dir_.path();
  auto result = RunColdStart(fresh, in, &observer_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->decision, ColdStartDecision::kSkip);
  EXPECT_EQ(result->effective_applied, 120u);
  EXPECT_EQ(fresh.clock_ceiling_ms(kGid), kCeiling);
}

// A durable ceiling above the header's wins; the in-memory value never goes down.
TEST_F(SkipGateTest, ProductionFsmCeilingIsMonotonic) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  PutMeta(engine->get(), kGid, meta::kClockCeilingMs, EncodeU64BE(kCeiling + 5));
  PutMeta(engine->get(), kGid, meta::kRaftEnvelopeCutoverIndex, EncodeU64BE(150));
  ShardStateMachine fsm(engine->get());
  ASSERT_TRUE(fsm.LoadDurableHeaderState(kGid).ok());
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), kCeiling + 5);
  EXPECT_EQ(fsm.cutover_index(kGid), 150u);
  fsm.ApplySnapshotHeader(kGid, FsmHeader{FsmHeaderVersion::kV2, kCeiling, 150}, ApplyMode::kSkip);
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), kCeiling + 5);
  EXPECT_EQ(fsm.cutover_index(kGid), 150u);
  fsm.ApplySnapshotHeader(kGid, FsmHeader{FsmHeaderVersion::kV2, kCeiling + 9, 170},
                          ApplyMode::kRestore);
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), kCeiling + 9);
  EXPECT_EQ(fsm.cutover_index(kGid), 170u);
  EXPECT_EQ(*fsm.DurableCutoverIndex(kGid), 150u);
  PutMeta(engine->get(), kGid, meta::kRaftEnvelopeCutoverIndex, "short");
  EXPECT_EQ(GetSnapshotErrc(fsm.DurableCutoverIndex(kGid).status()),
            SnapshotErrc::kCorruptGroupState);
}

// Routes the default spdlog logger into a string for the scope.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(SkipGateTest, LogsStructuredFieldsOnlyAfterSuccess) {
  WriteSnapshot(100);
  {
    CapturedLog log;
    SkipGateFsm fsm;
    fsm.applied = 230;
    ASSERT_TRUE(RunColdStart(fsm, Input(230), &observer_).ok());
    // have ≤ commit (else kAppliedAheadOfCommit) and have ≥ T, so the second gap is 0 in practice.
    EXPECT_EQ(log.text(),
              "info restore_snapshot_state skipped group=7 fsm_applied=230 snapshot_index=100 "
              "last_committed_index=230 gap_ahead_snapshot=130 gap_ahead_committed=0\n");
  }
  {
    CapturedLog log;
    SkipGateFsm fsm;
    fsm.applied = 150;
    ASSERT_TRUE(RunColdStart(fsm, Input(200), &observer_).ok());
    EXPECT_EQ(log.text(),
              "info restore_snapshot_state executed (fsm behind committed index) group=7 "
              "fsm_applied=150 snapshot_index=100 last_committed_index=200 gap_to_snapshot=50 "
              "gap_behind_committed=50\n");
  }
  {
    CapturedLog log;
    SkipGateFsm fsm;
    fsm.applied_present = false;
    ASSERT_TRUE(RunColdStart(fsm, Input(200), &observer_).ok());
    EXPECT_EQ(log.text(),
              "info restore_snapshot_state fallback to full restore group=7 snapshot_index=100 "
              "reason=missing_meta\n");
  }
  {
    CapturedLog log;
    SkipGateFsm fsm;
    fsm.applied = 150;
    crc_ ^= 1;
    EXPECT_FALSE(RunColdStart(fsm, Input(150), &observer_).ok());
    EXPECT_EQ(log.text(), "");
  }
}

// ---- SkipVerifyTest: §7.4 on the skip path; state unchanged on every failure. -------------

class SkipVerifyTest : public SkipGateTest {
 protected:
  // Runs the gate in skip territory (applied = commit = 150 ≥ snapshot 100).
  absl::StatusOr<ColdStartResult> RunSkip(SkipGateFsm& fsm) {
    fsm.applied = 150;
    return RunColdStart(fsm, Input(150), &observer_);
  }
  void ExpectUnchanged(const SkipGateFsm& fsm) {
    EXPECT_TRUE(fsm.apply_modes.empty());
    EXPECT_EQ(fsm.restores, 0);
    EXPECT_TRUE(observer_.empty());
  }
};

TEST_F(SkipVerifyTest, TruncatedFile) {
  WriteSnapshot(100);
  testing::WriteFile(FsmPath(dir_.path(), kGid, 100), "");
  SkipGateFsm fsm;
  EXPECT_EQ(GetSnapshotErrc(RunSkip(fsm).status()), SnapshotErrc::kSnapshotTooSmall);
  ExpectUnchanged(fsm);
}

TEST_F(SkipVerifyTest, WrongTokenCrc) {
  WriteSnapshot(100);
  crc_ += 1;
  SkipGateFsm fsm;
  EXPECT_EQ(GetSnapshotErrc(RunSkip(fsm).status()), SnapshotErrc::kSnapshotTokenCrc);
  ExpectUnchanged(fsm);
}

TEST_F(SkipVerifyTest, BodyCorruption) {
  WriteSnapshot(100);
  // An intentional flip inside the body: size and footer still pass, the CRC does not.
  FlipByte(FsmPath(dir_.path(), kGid, 100), static_cast<off_t>(kV1HeaderSize + 10));
  SkipGateFsm fsm;
  EXPECT_EQ(GetSnapshotErrc(RunSkip(fsm).status()), SnapshotErrc::kSnapshotFileCrc);
  ExpectUnchanged(fsm);
}

TEST_F(SkipVerifyTest, HeaderErrorSurfacesBeforeCrc) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  ShardStateMachine fsm(engine->get());
  ASSERT_TRUE(CreateSnapshotDirs(dir_.path(), kGid).ok());
  const std::string path = FsmPath(dir_.path(), kGid, 100);
  // A matching footer: the only problem is the unknown magic.
  const std::string file = WithFooter("TSRSNAP9" + testing::BigEndian64(kCeiling) + Body({}, 0));
  testing::WriteFile(path, file);
  const uint32_t footer = FooterCrc(file);
  auto header = VerifySnapshotOnSkip(fsm, path, footer);
  EXPECT_EQ(GetSnapshotErrc(header.status()), SnapshotErrc::kSnapshotHeaderUnknownMagic);
  // A corrupt header whose footer no longer matches is still reported as the header error.
  FlipByte(path, 7);  // '9' → something else, still "TSRSNAP" + unknown byte
  header = VerifySnapshotOnSkip(fsm, path, footer);
  EXPECT_EQ(GetSnapshotErrc(header.status()), SnapshotErrc::kSnapshotHeaderUnknownMagic);
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), 0u);
}

// A parser that consumes only the header: the verifier drains the rest, so the CRC still
// covers the whole payload and matches.
TEST_F(SkipVerifyTest, DrainMakesCrcCoverWholePayload) {
  WriteSnapshot(100);
  class HeaderOnlyFsm final : public SkipGateFsm {
   public:
    absl::StatusOr<FsmHeader> ParseSnapshotHeader(ByteSource& in) override {
      return ReadFsmHeader(in);
    }
  };
  HeaderOnlyFsm fsm;
  auto header = VerifySnapshotOnSkip(fsm, FsmPath(dir_.path(), kGid, 100), crc_);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->clock_ceiling_ms, kCeiling);
  // And a corrupt body is still caught with that parser.
  FlipByte(FsmPath(dir_.path(), kGid, 100), static_cast<off_t>(kV1HeaderSize + 3));
  EXPECT_EQ(
      GetSnapshotErrc(VerifySnapshotOnSkip(fsm, FsmPath(dir_.path(), kGid, 100), crc_).status()),
      SnapshotErrc::kSnapshotFileCrc);
}

TEST_F(SkipVerifyTest, CutoverDivergenceRejected) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  const FsmHeader v2{FsmHeaderVersion::kV2, kCeiling, 150};
  auto file = WriteSnapshotFile(dir_.path(), kGid, 200, v2, {{"a", "1"}});
  ASSERT_TRUE(file.ok()) << file.status();
  PutMeta(engine->get(), kGid, meta::kAppliedIndex, EncodeU64BE(250));
  PutMeta(engine->get(), kGid, meta::kRaftEnvelopeCutoverIndex, EncodeU64BE(160));
  ShardStateMachine fsm(engine->get());
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 250};
  in.snapshot = SnapshotRecord(200, file->crc, raft::ConfState{{1}, {}});
  in.data_dir = dir_.path();
  auto result = RunColdStart(fsm, in, &observer_);
  EXPECT_EQ(GetSnapshotErrc(result.status()), SnapshotErrc::kEnvelopeCutoverDivergence);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fsm.clock_ceiling_ms(kGid), 0u);  // header not applied
  EXPECT_TRUE(observer_.empty());

  // The rule itself.
  const FsmHeader v1{};
  EXPECT_TRUE(CheckCutoverOnSkip(v1, 200, 0).ok());
  EXPECT_TRUE(CheckCutoverOnSkip(v1, 200, 201).ok());  // cut over after the snapshot
  EXPECT_FALSE(CheckCutoverOnSkip(v1, 200, 200).ok());
  EXPECT_FALSE(CheckCutoverOnSkip(v1, 200, 50).ok());
  EXPECT_TRUE(CheckCutoverOnSkip(v2, 200, 150).ok());
  EXPECT_FALSE(CheckCutoverOnSkip(v2, 200, 0).ok());
  EXPECT_FALSE(CheckCutoverOnSkip(v2, 200, 160).ok());
}

TEST_F(SkipVerifyTest, RegenerateModeRecoversOnlyOnSkip) {
  auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  const Rows rows = {{"a", "1"}, {"b", "2"}};
  auto file = WriteSnapshotFile(dir_.path(), kGid, 100, FsmHeader{}, rows);
  ASSERT_TRUE(file.ok()) << file.status();
  FlipByte(file->path, static_cast<off_t>(kV1HeaderSize + 10));
  PutRows(engine->get(), kGid, rows);
  PutMeta(engine->get(), kGid, meta::kAppliedIndex, EncodeU64BE(150));

  std::vector<std::pair<GroupId, uint64_t>> regenerated;
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 150};
  in.snapshot = SnapshotRecord(100, file->crc, raft::ConfState{{1}, {}});
  in.data_dir = dir_.path();
  in.verify_failure = SnapshotVerifyFailure::kRegenerate;
  in.regenerate = [&](GroupId gid, uint64_t have) {
    regenerated.emplace_back(gid, have);
    return absl::OkStatus();
  };

  // Refuse mode (the default) fails and leaves the file where it is.
  {
    ShardStateMachine fsm(engine->get());
    ColdStartInput refuse = in;
    refuse.verify_failure = SnapshotVerifyFailure::kRefuse;
    EXPECT_EQ(GetSnapshotErrc(RunColdStart(fsm, refuse, &observer_).status()),
              SnapshotErrc::kSnapshotFileCrc);
    EXPECT_TRUE(testing::FileExists(file->path));
    EXPECT_TRUE(regenerated.empty());
  }
  // Execute (commit ahead of applied): the corrupt file is the restore source; startup fails.
  {
    ShardStateMachine fsm(engine->get());
    ColdStartInput execute = in;
    execute.hard_state.commit = 200;
    EXPECT_EQ(GetSnapshotErrc(RunColdStart(fsm, execute, &observer_).status()),
              SnapshotErrc::kSnapshotFileCrc);
    EXPECT_TRUE(testing::FileExists(file->path));
    EXPECT_TRUE(regenerated.empty());
    EXPECT_EQ(ReadRows(engine->get(), kGid), rows);  // verified before mutating
  }
  EXPECT_TRUE(observer_.empty());
  // Skip: quarantined, regenerated at have, reported.
  {
    ShardStateMachine fsm(engine->get());
    auto result = RunColdStart(fsm, in, &observer_);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->decision, ColdStartDecision::kSkip);
    EXPECT_EQ(result->effective_applied, 150u);
    EXPECT_EQ(regenerated, (std::vector<std::pair<GroupId, uint64_t>>{{kGid, 150}}));
    EXPECT_FALSE(testing::FileExists(file->path));
    const std::string quarantine = GroupSnapshotDir(dir_.path(), kGid) + "/quarantine";
    EXPECT_EQ(testing::ListNames(quarantine), std::vector<std::string>{FsmFileName(100)});
    EXPECT_EQ(observer_.groups[kGid].regenerated, 1);
    EXPECT_EQ(observer_.groups[kGid].skipped, std::vector<uint64_t>{50});
    EXPECT_EQ(ReadRows(engine->get(), kGid), rows);
  }
}

// ---- ColdStartObserverTest: the §9 series. ----------------------------------------------

bool HasLine(const std::string& text, const std::string& line) {
  return absl::StrContains(text, line + "\n");
}

TEST(ColdStartObserverTest, ExecutedAbsoluteGap) {
  common::Registry registry;
  MetricsColdStartObserver observer(registry);
  const std::string gauge =
      "tessera_fsm_cold_start_applied_index_gap{group=\"1\",outcome=\"executed\"} ";
  observer.RestoreExecuted(1, 100, 40);  // behind the snapshot
  EXPECT_TRUE(HasLine(registry.Exposition(), gauge + "60")) << registry.Exposition();
  observer.RestoreExecuted(1, 100, 150);  // ahead of the snapshot, behind commit
  EXPECT_TRUE(HasLine(registry.Exposition(), gauge + "50"));
  observer.RestoreExecuted(1, 100, 100);
  EXPECT_TRUE(HasLine(registry.Exposition(), gauge + "0"));
  EXPECT_TRUE(HasLine(registry.Exposition(),
                      "tessera_fsm_cold_start_restore_total{group=\"1\",outcome=\"executed\","
                      "fallback_reason=\"\"} 3"));
  EXPECT_EQ(ExecutedAppliedIndexGap(100, 40), 60u);
  EXPECT_EQ(ExecutedAppliedIndexGap(100, 150), 50u);
  EXPECT_EQ(ExecutedAppliedIndexGap(0, 0), 0u);
}

TEST(ColdStartObserverTest, SkippedGap) {
  common::Registry registry;
  MetricsColdStartObserver observer(registry);
  observer.RestoreSkipped(3, 100, 175);
  const std::string text = registry.Exposition();
  EXPECT_TRUE(
      HasLine(text, "tessera_fsm_cold_start_applied_index_gap{group=\"3\",outcome=\"skipped\"} 75"))
      << text;
  EXPECT_TRUE(HasLine(text,
                      "tessera_fsm_cold_start_restore_total{group=\"3\",outcome=\"skipped\","
                      "fallback_reason=\"\"} 1"));
}

// A null observer disables reporting; the gate runs every path.
TEST(ColdStartObserverTest, NilSafe) {
  ScopedTempDir dir;
  ASSERT_TRUE(CreateSnapshotDirs(dir.path(), kGid).ok());
  const std::string file = WithFooter(V1Header(kCeiling) + Body({}, 0));
  testing::WriteFile(FsmPath(dir.path(), kGid, 100), file);
  const uint32_t crc = FooterCrc(file);
  ColdStartInput in;
  in.gid = kGid;
  in.hard_state = raft::HardState{2, raft::kNoNode, 150};
  in.snapshot = SnapshotRecord(100, crc);
  in.data_dir = dir.path();
  struct Case {
    uint64_t applied;
    bool present;
    ColdStartDecision want;
  };
  for (const Case& c :
       {Case{150, true, ColdStartDecision::kSkip}, Case{120, true, ColdStartDecision::kExecute},
        Case{0, false, ColdStartDecision::kFallback}}) {
    SkipGateFsm fsm;
    fsm.applied = c.applied;
    fsm.applied_present = c.present;
    auto result = RunColdStart(fsm, in, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->decision, c.want);
  }
}

TEST(ColdStartObserverTest, FallbackReasonLabel) {
  common::Registry registry;
  MetricsColdStartObserver observer(registry);
  for (std::string_view reason : {kFallbackNotReader, kFallbackMissingMeta, kFallbackReadErr}) {
    observer.RestoreFallback(5, 100, reason);
  }
  const std::string text = registry.Exposition();
  for (const char* reason : {"not_reader", "missing_meta", "read_err"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("tessera_fsm_cold_start_restore_total{group=\"5\",outcome="
                                  "\"fallback\",fallback_reason=\"") +
                          reason + "\"} 1"))
        << text;
  }
  EXPECT_FALSE(absl::StrContains(text, "tessera_fsm_cold_start_applied_index_gap"));  // not set
}

TEST(ColdStartObserverTest, GroupLabelPartitionsSeries) {
  common::Registry registry;
  MetricsColdStartObserver observer(registry);
  observer.RestoreSkipped(1, 100, 110);
  observer.RestoreExecuted(2, 100, 30);
  observer.SnapshotRegenerated(2);
  const std::string text = registry.Exposition();
  EXPECT_TRUE(
      HasLine(text, "tessera_fsm_cold_start_applied_index_gap{group=\"1\",outcome=\"skipped\"} 10"))
      << text;
  EXPECT_TRUE(HasLine(
      text, "tessera_fsm_cold_start_applied_index_gap{group=\"2\",outcome=\"executed\"} 70"));
  EXPECT_TRUE(HasLine(text,
                      "tessera_fsm_cold_start_restore_total{group=\"1\",outcome=\"skipped\","
                      "fallback_reason=\"\"} 1"));
  EXPECT_TRUE(HasLine(text,
                      "tessera_fsm_cold_start_restore_total{group=\"2\",outcome=\"executed\","
                      "fallback_reason=\"\"} 1"));
  EXPECT_TRUE(HasLine(text, "tessera_fsm_snapshot_regenerated_total{group=\"2\"} 1"));
  EXPECT_FALSE(absl::StrContains(text, "tessera_fsm_snapshot_regenerated_total{group=\"1\"}"));
  // Registering again (a second observer on the same registry) reuses the families.
  MetricsColdStartObserver again(registry);
  again.RestoreSkipped(1, 100, 110);
  EXPECT_TRUE(HasLine(registry.Exposition(),
                      "tessera_fsm_cold_start_restore_total{group=\"1\",outcome=\"skipped\","
                      "fallback_reason=\"\"} 2"));
}

}  // namespace
}  // namespace tessera::shard
